"""The `renewal` event: the last leaf seen per certificate, remembered across restarts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from ..const import DOMAIN
from .client import CertificateReport

EVENT_RENEWED: Final = "renewed"
_STORE_VERSION: Final = 1

type RenewalEvent = tuple[str, dict[str, Any]]


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, _STORE_VERSION, f"{DOMAIN}.certificate.{entry_id}")


async def async_remove_renewal_store(hass: HomeAssistant, entry_id: str) -> None:
    """Forget the leaves a deleted certificate entry has seen."""
    await _store(hass, entry_id).async_remove()


class RenewalTracker:
    """Tells, poll after poll, which certificates were replaced by a later-expiring leaf."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Remember leaves in the entry's own store."""
        self._store = _store(hass, entry_id)
        self._seen: dict[str, dict[str, str]] = {}

    async def async_load(self) -> None:
        """Read what the entry saw before this load."""
        stored = await self._store.async_load()
        if stored:
            self._seen = stored["leaves"]

    async def async_note(self, reports: Mapping[str, CertificateReport]) -> dict[str, RenewalEvent]:
        """Remember the leaves of this poll; return a `renewed` event per replaced certificate.

        The first leaf seen of a certificate is only remembered; a replacement by a leaf that
        expires earlier (a rollback) is remembered without an event.
        """
        events: dict[str, RenewalEvent] = {}
        seen: dict[str, dict[str, str]] = {}
        for name, report in reports.items():
            seen[name] = {
                "fingerprint": report.fingerprint_sha256,
                "expires": report.expires.isoformat(),
            }
            previous = self._seen.get(name)
            if previous is None or previous["fingerprint"] == report.fingerprint_sha256:
                continue
            previous_expires = datetime.fromisoformat(previous["expires"])
            if report.expires > previous_expires:
                events[name] = (
                    EVENT_RENEWED,
                    {
                        "previous_expires": previous_expires.isoformat(),
                        "expires": report.expires.isoformat(),
                        "issuer": report.issuer,
                    },
                )
        if seen != self._seen:
            # Written at once, not delayed: an entry reloaded right after must not fire again.
            self._seen = seen
            await self._store.async_save({"leaves": seen})
        return events
