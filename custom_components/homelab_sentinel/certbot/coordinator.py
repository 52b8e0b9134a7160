"""Coordinator of the certbot kind: polls ``certbot certificates`` and runs renewals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, NoReturn, Protocol, runtime_checkable

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from ..const import (
    CONF_ACME_SERVER,
    CONF_CERTBOT_COMMAND,
    CONF_CONFIG_DIR,
    CONF_KIND,
    CONF_TRANSPORT,
    CONF_WARNING_DAYS,
    DEFAULT_WARNING_DAYS,
    DOMAIN,
    LOGGER,
    Kind,
)
from ..coordinator import SentinelConfigEntry, SentinelCoordinator
from ..errors import ErrorKeys, error_key_in
from ..repairs_support import WantedIssue, async_sync_issues
from ..ssh_support import (
    COMMAND_ERROR_KEYS,
    HOST_KEY_ISSUE,
    TRANSPORT_LOCAL,
    TRANSPORT_SSH,
    host_key_issue,
    host_label,
    make_runner,
    needs_reauth,
    update_failure,
)
from ..transport import CommandError, HostKey, HostKeyMismatchError
from .client import (
    LETS_ENCRYPT_DIRECTORY,
    CertbotClient,
    CertbotError,
    InvalidSettingError,
    Lineage,
    NotCertbotDirectoryError,
    RenewalOutcome,
    RenewalResult,
    parse_command,
)
from .entities import CERTBOT_DESCRIPTIONS

# Repair issues with this in their data get the fix flow that renews the certificate.
FIX_RENEW_CERTIFICATE: Final = "renew_certificate"
_STORE_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class LineageStatus:
    """One certificate as entities show it."""

    lineage: Lineage
    days_remaining: int


@dataclass(frozen=True, slots=True)
class LastRenewal:
    """How the last renewal run on the host ended (dry runs are not counted)."""

    finished: datetime
    result: RenewalResult
    certificates: dict[str, RenewalResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CertbotData:
    """The certificates certbot manages, by lineage name, and the host's last renewal."""

    subjects: Mapping[str, LineageStatus]
    last_renewal: LastRenewal | None


def make_client(data: Mapping[str, Any], host_key: HostKey | None = None) -> CertbotClient:
    """The certbot client an entry's data describes.

    Raises InvalidSettingError or InvalidKeyError for settings that cannot be used.
    """
    return CertbotClient(
        make_runner(data, host_key),
        parse_command(data[CONF_CERTBOT_COMMAND]),
        data[CONF_CONFIG_DIR],
        data.get(CONF_ACME_SERVER, LETS_ENCRYPT_DIRECTORY),
    )


_ERROR_KEYS: ErrorKeys = (
    *COMMAND_ERROR_KEYS[:-1],
    (NotCertbotDirectoryError, "not_certbot_config_dir"),
    (CertbotError, "command_failed"),
    COMMAND_ERROR_KEYS[-1],
)


def error_key(err: CommandError | CertbotError) -> str:
    """The translation key, shared by flow errors and exceptions, that names an error."""
    return error_key_in(_ERROR_KEYS, err)


def _placeholders(entry: ConfigEntry, err: CommandError | CertbotError) -> dict[str, str]:
    placeholders = {"name": entry.title, "host": host_label(entry.data)}
    if isinstance(err, CertbotError):
        placeholders["error"] = err.detail or str(err)
    if isinstance(err, HostKeyMismatchError):
        placeholders["expected"] = err.expected
        placeholders["presented"] = err.presented or "-"
    return placeholders


def _error_kwargs(entry: ConfigEntry, err: CommandError | CertbotError) -> dict[str, Any]:
    return {
        "translation_domain": DOMAIN,
        "translation_key": f"certbot_{error_key(err)}",
        "translation_placeholders": _placeholders(entry, err),
    }


_RENEWING: HassKey[set[str]] = HassKey(f"{DOMAIN}_certbot_renewing")
_LOCKS: HassKey[dict[str, asyncio.Lock]] = HassKey(f"{DOMAIN}_certbot_locks")


def host_id(data: Mapping[str, Any]) -> str:
    """The machine certbot runs on, as a key: one renewal at a time runs there."""
    if data.get(CONF_TRANSPORT, TRANSPORT_LOCAL) == TRANSPORT_LOCAL:
        return TRANSPORT_LOCAL
    return f"{TRANSPORT_SSH}:{data[CONF_HOST]}:{data[CONF_PORT]}"


def command_lock(hass: HomeAssistant, data: Mapping[str, Any]) -> asyncio.Lock:
    """The lock that runs the certbot commands of one configuration directory one at a time.

    certbot refuses to run twice on the same directories ("Another instance of Certbot is
    already running"), so polls, renewals and config flows take turns.
    """
    key = f"{host_id(data)}:{data.get(CONF_CONFIG_DIR)}"
    return hass.data.setdefault(_LOCKS, {}).setdefault(key, asyncio.Lock())


@runtime_checkable
class CertificateWatcher(Protocol):
    """What a certificate or certificate_file coordinator offers to certbot entries."""

    def watched_names(self) -> set[str]:
        """Every name its certificates carry (lineage, server name, DNS names)."""

    @callback
    def async_update_repairs(self) -> None:
        """Raise its repair issues again, e.g. because a certbot entry now manages a name."""

    async def async_request_refresh(self) -> None:
        """Poll again soon."""


def _certificate_watchers(hass: HomeAssistant) -> list[CertificateWatcher]:
    return [
        entry.runtime_data
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
        if entry.data.get(CONF_KIND) in (Kind.CERTIFICATE, Kind.CERTIFICATE_FILE)
        and isinstance(getattr(entry, "runtime_data", None), CertificateWatcher)
    ]


# The certbot coordinators that have listed their certificates, by entry ID, until their entry
# unloads: certificate entries look up here whether a certbot entry manages a certificate.
_MANAGERS: HassKey[dict[str, CertbotCoordinator]] = HassKey(f"{DOMAIN}_certbot_managers")


@callback
def async_find_lineage(
    hass: HomeAssistant, names: Iterable[str]
) -> tuple[CertbotCoordinator, str] | None:
    """The certbot entry, and lineage, that manages a certificate with one of names."""
    wanted = {name.lower() for name in names if name}
    for coordinator in hass.data.get(_MANAGERS, {}).values():
        for name, status in coordinator.data.subjects.items():
            if name.lower() in wanted or wanted & {d.lower() for d in status.lineage.domains}:
                return coordinator, name
    return None


@callback
def async_certbot_coordinator(hass: HomeAssistant, entry_id: str) -> CertbotCoordinator | None:
    """The coordinator of a set-up certbot entry that has listed its certificates."""
    return hass.data.get(_MANAGERS, {}).get(entry_id)


def fix_data(
    coordinator: CertbotCoordinator, cert_name: str
) -> dict[str, str | int | float | None]:
    """Issue data that gives a repair issue the fix flow renewing cert_name."""
    return {
        "fix_flow": FIX_RENEW_CERTIFICATE,
        "certbot_entry_id": coordinator.config_entry.entry_id,
        "cert_name": cert_name,
    }


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, _STORE_VERSION, f"{DOMAIN}.certbot.{entry_id}")


async def async_remove_store(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Forget the last renewal of a deleted certbot entry."""
    await _store(hass, entry.entry_id).async_remove()


class CertbotCoordinator(SentinelCoordinator[CertbotData]):
    """Lists the certificates certbot manages on one host, and renews them on demand.

    Every certbot command of an entry runs one at a time (certbot itself refuses to run twice
    on the same directories), and one renewal at most runs on a host at any time.
    """

    descriptions = CERTBOT_DESCRIPTIONS
    device_model = "certbot"
    subject_model = "certbot certificate"

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Read the settings; nothing runs before the first refresh."""
        super().__init__(hass, entry)
        self.warning_days: int = entry.options.get(CONF_WARNING_DAYS, DEFAULT_WARNING_DAYS)
        self._store = _store(hass, entry.entry_id)
        self._last_renewal: LastRenewal | None = None
        self._certificate_issues: dict[str, WantedIssue] = {}
        self._known_names: frozenset[str] = frozenset()
        self._known_issues: frozenset[str] = frozenset()
        self.client: CertbotClient
        data = entry.data
        self.host_id = host_id(data)
        self._commands = command_lock(hass, data)
        entry.async_on_unload(self._async_stop_managing)
        entry.async_on_unload(self.async_add_listener(self._async_names_may_have_changed))

    async def _async_setup(self) -> None:
        try:
            self.client = make_client(self.config_entry.data)
        except (InvalidSettingError, CommandError) as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="certbot_invalid_settings",
                translation_placeholders={"name": self.config_entry.title},
            ) from err
        stored = await self._store.async_load()
        if stored:
            self._last_renewal = LastRenewal(
                datetime.fromisoformat(stored["finished"]),
                RenewalResult(stored["result"]),
                {name: RenewalResult(result) for name, result in stored["certificates"].items()},
            )

    @callback
    def _async_stop_managing(self) -> None:
        """Certificate entries' repair issues stop offering a renewal through this entry."""
        managers = self.hass.data.get(_MANAGERS, {})
        if managers.get(self.config_entry.entry_id) is self:
            del managers[self.config_entry.entry_id]
        # One problem, one repair: the certificate entries raise their own again, so this
        # entry's go (their renew-now fix needs this entry loaded anyway).
        for key in self._certificate_issues:
            ir.async_delete_issue(self.hass, DOMAIN, f"{self.config_entry.entry_id}_{key}")
        self._certificate_issues = {}
        self._resync_certificate_repairs()

    def has_certificate_issue(self, cert_name: str) -> bool:
        """Whether this entry raises the expiring or expired issue of a certificate it manages."""
        return f"certificate_{cert_name}" in self._certificate_issues

    @callback
    def _async_names_may_have_changed(self) -> None:
        """Let certificate entries know when the managed names, or their issues, changed."""
        if not self.last_update_success:
            return
        names = frozenset(
            name.lower()
            for status in self.data.subjects.values()
            for name in (status.lineage.name, *status.lineage.domains)
        )
        issues = frozenset(self._certificate_issues)
        managers = self.hass.data.setdefault(_MANAGERS, {})
        if (
            managers.get(self.config_entry.entry_id) is not self
            or names != self._known_names
            or issues != self._known_issues
        ):
            managers[self.config_entry.entry_id] = self
            self._known_names = names
            self._known_issues = issues
            self._resync_certificate_repairs()

    @callback
    def _resync_certificate_repairs(self) -> None:
        for watcher in _certificate_watchers(self.hass):
            watcher.async_update_repairs()

    def _raise_update_failed(self, err: CommandError | CertbotError) -> NoReturn:
        kwargs = _error_kwargs(self.config_entry, err)
        if isinstance(err, HostKeyMismatchError):
            self._sync_repairs(host_key_changed=err)
        raise update_failure(err, **kwargs) from err

    async def _async_update_data(self) -> CertbotData:
        try:
            async with self._commands:
                lineages = await self.client.certificates()
        except (CommandError, CertbotError) as err:
            self._raise_update_failed(err)
        now = dt_util.utcnow()
        data = CertbotData(
            {
                lineage.name: LineageStatus(lineage, lineage.days_remaining(now))
                for lineage in lineages
            },
            self._last_renewal,
        )
        self._certificate_issues = self._wanted_certificate_issues(data, now)
        self._sync_repairs()
        return data

    def _wanted_certificate_issues(
        self, data: CertbotData, now: datetime
    ) -> dict[str, WantedIssue]:
        wanted: dict[str, WantedIssue] = {}
        for name, status in data.subjects.items():
            lineage = status.lineage
            fix = fix_data(self, name)
            if lineage.expires <= now:
                wanted[f"certificate_{name}"] = WantedIssue(
                    "certificate_expired_renewable",
                    {"name": name, "expires": lineage.expires.date().isoformat()},
                    fixable=True,
                    data=fix,
                )
            elif status.days_remaining < self.warning_days:
                wanted[f"certificate_{name}"] = WantedIssue(
                    "certificate_expiring_renewable",
                    {
                        "name": name,
                        "days": str(status.days_remaining),
                        "expires": lineage.expires.date().isoformat(),
                    },
                    fixable=True,
                    data=fix,
                )
        return wanted

    def _sync_repairs(self, *, host_key_changed: HostKeyMismatchError | None = None) -> None:
        wanted = dict(self._certificate_issues)
        if host_key_changed is not None:
            wanted.update(host_key_issue(self.config_entry, host_key_changed, HOST_KEY_ISSUE))
        async_sync_issues(self.hass, self.config_entry, wanted)

    def known_paths(self) -> dict[str, str]:
        """Lineage names by certificate path, as certbot's renewal report names them."""
        return {
            status.lineage.certificate_path: name
            for name, status in self.data.subjects.items()
            if status.lineage.certificate_path
        }

    async def async_renew(
        self, cert_name: str | None = None, *, force: bool = False, dry_run: bool = False
    ) -> RenewalOutcome:
        """Run certbot renew now; refuse while another renewal runs on the same host.

        When a certificate was renewed, the certificates are listed again, and certificate
        entries watching the renewed names are asked to check again. Failures to run certbot
        at all raise a translated HomeAssistantError; certbot's own failures are an outcome.
        """
        renewing = self.hass.data.setdefault(_RENEWING, set())
        if self.host_id in renewing:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="certbot_renewal_in_progress",
                translation_placeholders={"name": self.config_entry.title},
            )
        renewing.add(self.host_id)
        try:
            outcome = await self._async_run_renewal(cert_name, force=force, dry_run=dry_run)
        finally:
            renewing.discard(self.host_id)
        if dry_run:
            return outcome
        await self._async_note_renewal(outcome)
        if RenewalResult.RENEWED in outcome.certificates.values():
            # New certificates: list them again, and have their watchers look again.
            await self.async_refresh()
            self._request_certificate_refreshes(outcome)
        return outcome

    async def _async_run_renewal(
        self, cert_name: str | None, *, force: bool, dry_run: bool
    ) -> RenewalOutcome:
        LOGGER.debug(
            "Renewing %s on %s (force=%s, dry_run=%s)",
            cert_name or "every due certificate",
            host_label(self.config_entry.data),
            force,
            dry_run,
        )
        try:
            async with self._commands:
                return await self.client.renew(
                    cert_name, force=force, dry_run=dry_run, known_paths=self.known_paths()
                )
        except CommandError as err:
            if not dry_run:
                await self._async_note_renewal(RenewalOutcome(RenewalResult.FAILED))
            if isinstance(err, HostKeyMismatchError):
                self._sync_repairs(host_key_changed=err)
            if needs_reauth(err):
                self.config_entry.async_start_reauth(self.hass)
            raise HomeAssistantError(**_error_kwargs(self.config_entry, err)) from err

    async def _async_note_renewal(self, outcome: RenewalOutcome) -> None:
        self._last_renewal = LastRenewal(dt_util.utcnow(), outcome.result, outcome.certificates)
        await self._store.async_save(
            {
                "finished": self._last_renewal.finished.isoformat(),
                "result": outcome.result.value,
                "certificates": {name: r.value for name, r in outcome.certificates.items()},
            }
        )
        self.async_set_updated_data(replace(self.data, last_renewal=self._last_renewal))

    def _request_certificate_refreshes(self, outcome: RenewalOutcome) -> None:
        renewed = {
            name for name, result in outcome.certificates.items() if result is RenewalResult.RENEWED
        }
        names = {name.lower() for name in renewed}
        for name, status in self.data.subjects.items():
            if name in renewed:
                names.update(domain.lower() for domain in status.lineage.domains)
        for watcher in _certificate_watchers(self.hass):
            if names & {name.lower() for name in watcher.watched_names()}:
                self.config_entry.async_create_background_task(
                    self.hass,
                    watcher.async_request_refresh(),
                    name=f"{DOMAIN} refresh after renewal",
                )
