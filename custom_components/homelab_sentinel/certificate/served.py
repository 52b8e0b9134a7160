"""Renewed on disk, still served old: compare endpoints with the certificate files entries read.

Every certificate_file entry publishes the leaves it read, with their names and when their file
last changed; every certificate entry looks there for a leaf of a name it serves that was issued
later than the one served. Whichever entry is set up first, the other's arrival (or removal)
makes the endpoints judge again, without connecting to their servers again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
from typing import Final

from cryptography import x509
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN
from ..coordinator import SentinelConfigEntry
from ..ssh_support import is_ssh
from .client import CertificateError, CertificateFileReader, CertificateReport

# A renewed file gets this long for the server to be reloaded (certbot's deploy hook, a cron).
RELOAD_GRACE: Final = timedelta(hours=1)
_LINEAGE_FILES: Final = ("fullchain.pem", "cert.pem")
_CERTIFICATE_SUFFIXES: Final = (".pem", ".crt", ".cer", ".PEM", ".CRT", ".CER")


@dataclass(frozen=True, slots=True)
class OnDiskLeaf:
    """A leaf certificate read from a file, as an endpoint's check needs it."""

    names: frozenset[str]
    not_before: datetime
    expires: datetime
    modified: datetime
    entry_title: str
    file: str


@dataclass(frozen=True, slots=True)
class StaleServed:
    """An endpoint serving an older certificate than the file renewed for its names."""

    served_expires: datetime
    on_disk_expires: datetime
    on_disk: str

    @property
    def attributes(self) -> dict[str, str]:
        """The `stale_served_certificate` attributes."""
        return {
            "served_expires": self.served_expires.isoformat(),
            "on_disk_expires": self.on_disk_expires.isoformat(),
            "on_disk": self.on_disk,
        }


def leaf_names(names: Iterable[str]) -> frozenset[str]:
    """Names compared case-insensitively and without a trailing dot."""
    return frozenset(name.lower().rstrip(".") for name in names if name)


def certificate_source(path: Path, name: str) -> Path | None:
    """The file a certificate_file entry read the certificate `name` from (blocking).

    Mirrors the reader's layout: the path itself for a single file; in a directory, a lineage's
    ``fullchain.pem`` (else ``cert.pem``), or a loose ``<name>.pem``/``.crt``/``.cer``.
    """
    if not name:
        return path
    candidates = [path / name / file for file in _LINEAGE_FILES]
    candidates += [path / f"{name}{suffix}" for suffix in _CERTIFICATE_SUFFIXES]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def read_on_disk_leaves(
    path: Path, title: str, chains: Mapping[str, list[x509.Certificate]]
) -> tuple[OnDiskLeaf, ...]:
    """The leaves of one certificate_file entry's poll, with their files' times (blocking)."""
    leaves: list[OnDiskLeaf] = []
    for name, chain in chains.items():
        source = certificate_source(path, name)
        if source is None:
            continue
        try:
            # Following links: certbot's live/ link's target is the file the renewal wrote.
            modified = datetime.fromtimestamp(os.stat(source).st_mtime, UTC)  # noqa: PTH116
        except OSError:
            continue
        leaf = chain[0]
        try:
            extension = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            continue
        leaves.append(
            OnDiskLeaf(
                names=leaf_names(extension.value.get_values_for_type(x509.DNSName)),
                not_before=leaf.not_valid_before_utc,
                expires=leaf.not_valid_after_utc,
                modified=modified,
                entry_title=title,
                file=str(source),
            )
        )
    return tuple(leaves)


class OnDiskIndex:
    """The leaves every loaded certificate_file entry read, by entry."""

    def __init__(self) -> None:
        """Start empty."""
        self._leaves: dict[str, tuple[OnDiskLeaf, ...]] = {}
        self._listeners: list[CALLBACK_TYPE] = []

    @callback
    def async_publish(self, entry_id: str, leaves: tuple[OnDiskLeaf, ...]) -> None:
        """Record an entry's leaves; endpoints judge again when they changed."""
        if self._leaves.get(entry_id) == leaves:
            return
        self._leaves[entry_id] = leaves
        self._notify()

    @callback
    def async_withdraw(self, entry_id: str) -> None:
        """Forget an unloaded entry's leaves."""
        if self._leaves.pop(entry_id, None) is not None:
            self._notify()

    @callback
    def async_listen(self, listener: CALLBACK_TYPE) -> Callable[[], None]:
        """Call listener whenever the published leaves change; returns the unsubscriber."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _newer(self, served: CertificateReport) -> list[OnDiskLeaf]:
        names = leaf_names(served.dns_names)
        return [
            leaf
            for leaves in self._leaves.values()
            for leaf in leaves
            if leaf.names & names and leaf.not_before > served.not_before
        ]

    def stale_from(self, served: CertificateReport, now: datetime) -> datetime | None:
        """When a renewed file still in its hour of grace will make served stale, if ever."""
        pending = [
            leaf.modified + RELOAD_GRACE
            for leaf in self._newer(served)
            if now - leaf.modified <= RELOAD_GRACE
        ]
        return min(pending, default=None)

    def stale(self, served: CertificateReport, now: datetime) -> StaleServed | None:
        """The latest-issued file leaf that should be served instead, if any."""
        candidates = [leaf for leaf in self._newer(served) if now - leaf.modified > RELOAD_GRACE]
        if not candidates:
            return None
        newest = max(candidates, key=lambda leaf: leaf.not_before)
        return StaleServed(
            served_expires=served.expires,
            on_disk_expires=newest.expires,
            on_disk=f"{newest.entry_title} ({newest.file})",
        )


_INDEX: HassKey[OnDiskIndex] = HassKey(f"{DOMAIN}_on_disk_certificates")


def read_certbot_leaves(title: str, files: Iterable[str]) -> tuple[OnDiskLeaf, ...]:
    """The leaves of the certificate files certbot lists, on this machine (blocking).

    A file Home Assistant may not read (certbot run through sudo) is left out.
    """
    leaves: list[OnDiskLeaf] = []
    for file in files:
        try:
            chains = CertificateFileReader(file).read()
        except CertificateError:
            continue
        leaves.extend(read_on_disk_leaves(Path(file), title, chains))
    return tuple(leaves)


@callback
def async_follow_certbot(hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
    """Publish the certificates a certbot entry on this machine manages, as they change.

    A certbot entry reached over SSH lists files of another machine, which are not read.
    """
    if is_ssh(entry.data):
        return
    coordinator = entry.runtime_data
    index = async_on_disk_index(hass)

    async def publish(files: list[str]) -> None:
        leaves = await hass.async_add_executor_job(read_certbot_leaves, entry.title, files)
        index.async_publish(entry.entry_id, leaves)

    @callback
    def lineages_changed() -> None:
        if not coordinator.last_update_success:
            return
        files = [
            status.lineage.certificate_path
            for status in coordinator.data.subjects.values()
            if status.lineage.certificate_path
        ]
        entry.async_create_background_task(
            hass, publish(files), f"{DOMAIN} certbot certificate files {entry.title}"
        )

    entry.async_on_unload(coordinator.async_add_listener(lineages_changed))
    entry.async_on_unload(lambda: index.async_withdraw(entry.entry_id))
    lineages_changed()


@callback
def async_on_disk_index(hass: HomeAssistant) -> OnDiskIndex:
    """The index every certificate entry shares."""
    if _INDEX not in hass.data:
        hass.data[_INDEX] = OnDiskIndex()
    return hass.data[_INDEX]
