"""Coordinator of the fail2ban kind: reads the database or tails the log, in the executor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from homeassistant.const import CONF_PATH
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util

from ..const import CONF_SOURCE, DOMAIN
from ..coordinator import SentinelCoordinator
from .client import (
    BanEvent,
    BanEventTracker,
    Fail2banBusyError,
    Fail2banError,
    Fail2banNotFoundError,
    Fail2banPermissionError,
    Fail2banSnapshot,
    Fail2banSource,
    JailStatus,
    NotFail2banError,
    create_source,
)
from .entities import FAIL2BAN_DESCRIPTIONS

# Most specific first: the first class an error is an instance of names its translation.
_ERROR_KEYS: tuple[tuple[type[Fail2banError], str], ...] = (
    (Fail2banNotFoundError, "not_found"),
    (Fail2banPermissionError, "permission_denied"),
    (NotFail2banError, "not_fail2ban"),
    (Fail2banBusyError, "database_locked"),
    (Fail2banError, "unreadable_fail2ban"),
)


def error_key(err: Fail2banError) -> str:
    """The translation key, shared by flow errors and exceptions, that names an error."""
    return next(key for kind, key in _ERROR_KEYS if isinstance(err, kind))


@dataclass(frozen=True, slots=True)
class JailView:
    """One jail as its entities show it: its state, and what happened since the last poll."""

    status: JailStatus
    events: tuple[BanEvent, ...]


@dataclass(frozen=True, slots=True)
class Fail2banData:
    """Every running jail by name, and the bans in force over all of them."""

    subjects: Mapping[str, JailView]
    banned_now: int


class Fail2banCoordinator(SentinelCoordinator[Fail2banData]):
    """Polls one fail2ban database or log; each poll costs what changed, not the history."""

    descriptions = FAIL2BAN_DESCRIPTIONS
    device_model = "fail2ban"
    subject_model = "Jail"
    _source: Fail2banSource
    _tracker: BanEventTracker

    async def _async_setup(self) -> None:
        data = self.config_entry.data
        # fail2ban writes its log in the server's local time; Home Assistant's zone is the guess.
        self._source = create_source(
            data[CONF_SOURCE], data[CONF_PATH], time_zone=dt_util.get_default_time_zone()
        )
        self._tracker = BanEventTracker()

    def subject_name(self, subject: str) -> str:
        """Jail devices read as "fail2ban sshd"."""
        return f"fail2ban {subject}"

    def _poll(self) -> tuple[Fail2banSnapshot, list[BanEvent]]:
        snapshot = self._source.poll()
        return snapshot, self._tracker.update(snapshot)

    async def _async_update_data(self) -> Fail2banData:
        try:
            snapshot, events = await self.hass.async_add_executor_job(self._poll)
        except Fail2banError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key(err),
                translation_placeholders={"path": str(self.config_entry.data[CONF_PATH])},
            ) from err
        by_jail: dict[str, list[BanEvent]] = defaultdict(list)
        for event in events:
            by_jail[event.jail].append(event)
        return Fail2banData(
            subjects={
                name: JailView(status, tuple(by_jail.get(name, ())))
                for name, status in snapshot.jails.items()
            },
            banned_now=snapshot.banned_now,
        )
