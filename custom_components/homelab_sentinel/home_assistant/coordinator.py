"""Coordinator of the home_assistant kind: this Home Assistant's posture, read from itself.

Nothing is asked over the network and nothing is written to Home Assistant's configuration,
auth store or files. Failed logins arrive as Home Assistant reports them (its `http-login`
notification) and are counted at once; everything else is read at each poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.components import persistent_notification
from homeassistant.components.backup import async_get_manager as async_get_backup_manager
from homeassistant.components.backup.agent import LocalBackupAgent
from homeassistant.components.backup.config import ScheduleRecurrence
from homeassistant.components.http.ban import (
    IP_BANS_FILE,
    KEY_BAN_MANAGER,
    KEY_LOGIN_THRESHOLD,
    NOTIFICATION_ID_BAN,
    NOTIFICATION_ID_LOGIN,
)
from homeassistant.components.http.config import DATA_STORE, ActiveConfigType
from homeassistant.components.http.const import (
    CONF_LOGIN_ATTEMPTS_THRESHOLD,
    CONF_USE_X_FORWARDED_FOR,
    NO_LOGIN_ATTEMPT_THRESHOLD,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_FRIENDLY_NAME, STATE_ON
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.storage import Store
from homeassistant.helpers.system_info import async_get_system_info
from homeassistant.util import dt as dt_util
from homeassistant.util.network import is_local

from ..const import CONF_TOKEN_MAX_AGE_DAYS, DEFAULT_TOKEN_MAX_AGE_DAYS, DOMAIN, LOGGER
from ..coordinator import SentinelConfigEntry, SentinelCoordinator
from ..repairs_support import WantedIssue, async_sync_issues
from . import privileges
from .bans import Ban, BansFileError, BanTracker, read_bans
from .entities import HOME_ASSISTANT_DESCRIPTIONS
from .logins import FailedLoginSummary, FailedLoginWindow, address_in_notification
from .networks import contains_public_address
from .secrets_scan import ConfigurationError, ConfigurationScanner

CORE_INSTALLATION: Final = "Home Assistant Core"
# Backup agents that keep their backups on this machine.
_ON_MACHINE_AGENTS: Final = frozenset({"backup.local", "hassio.local"})
_PASSWORD_PROVIDERS: Final = frozenset({"homeassistant", "command_line"})
_LOCAL_SUFFIXES: Final = (
    ".local",
    ".lan",
    ".home",
    ".internal",
    ".localdomain",
    ".localhost",
    ".home.arpa",
)
# Failed logins are saved a few seconds after they arrive, so that a burst is one write.
_SAVE_DELAY: Final = 5
_STORE_VERSION: Final = 1
_SUDO_RECHECK: Final = timedelta(hours=24)
MAX_LISTED: Final = 20


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Home Assistant's HTTP settings as the running server uses them."""

    ssl: bool
    use_x_forwarded_for: bool
    trusted_proxies: tuple[str, ...]
    ip_ban_enabled: bool
    login_attempts_threshold: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A long-lived access token, described without the token."""

    user: str
    client_name: str | None
    created: datetime


@dataclass(frozen=True, slots=True)
class HomeAssistantStatus:
    """One poll's findings, and the events since the last update."""

    http: HttpSettings
    external_url_scheme: str | None
    remote_without_tls: bool
    broad_proxies: tuple[str, ...]
    bypass_providers: tuple[str, ...]
    users_without_mfa: tuple[str, ...]
    admins_without_mfa: tuple[str, ...]
    tokens: tuple[TokenInfo, ...]
    old_tokens: tuple[TokenInfo, ...]
    secrets: tuple[str, ...] | None
    secrets_error: str | None
    backups_automatic: bool
    backup_agents: tuple[str, ...]
    backups_off_machine: bool
    last_successful_backup: datetime | None
    updates: tuple[str, ...]
    installation_type: str
    privileges: privileges.Privileges | None
    bans: tuple[Ban, ...] | None
    bans_error: str | None
    failed_logins: FailedLoginSummary
    new_bans: tuple[Ban, ...] = ()
    new_failures: tuple[tuple[str, bool], ...] = ()

    @property
    def privileged(self) -> bool | None:
        """Root, or sudo without a password; None when that could not be told."""
        if self.privileges is None:
            return False
        if self.privileges.root or self.privileges.passwordless_sudo:
            return True
        return None if self.privileges.passwordless_sudo is None else False

    @property
    def privilege_reason(self) -> str | None:
        """Why the account is privileged, or why that does not apply."""
        if self.privileges is None:
            return "not_applicable"
        if self.privileges.root:
            return "root"
        if self.privileges.passwordless_sudo:
            return "passwordless_sudo"
        return None if self.privileges.passwordless_sudo is False else "sudo_check_failed"

    @property
    def login_banning_off(self) -> bool:
        """Failed logins never lead to a ban."""
        return not self.http.ip_ban_enabled or self.http.login_attempts_threshold < 1


@dataclass(frozen=True, slots=True)
class HomeAssistantData:
    """The one Home Assistant an entry watches, under the name ``""``."""

    subjects: Mapping[str, HomeAssistantStatus]


def read_http_settings(hass: HomeAssistant) -> HttpSettings:
    """The HTTP settings in force: the running server's, and the stored slot it started with.

    Home Assistant keeps a confirmed ("stable") and a trial ("pending") slot; the one the server
    started with is in force, whatever was saved since or what configuration.yaml says.
    """
    store = hass.data[DATA_STORE]
    slot: Mapping[str, Any]
    if store.active_config_type is ActiveConfigType.PENDING and store.pending is not None:
        slot = store.pending
    elif store.active_config_type is ActiveConfigType.STABLE:
        slot = store.stable
    else:
        slot = store.default
    server = hass.http
    ban_enabled = KEY_BAN_MANAGER in server.app
    return HttpSettings(
        ssl=server.ssl_certificate is not None,
        use_x_forwarded_for=bool(slot.get(CONF_USE_X_FORWARDED_FOR, False)),
        trusted_proxies=tuple(str(proxy) for proxy in server.trusted_proxies),
        ip_ban_enabled=ban_enabled,
        login_attempts_threshold=int(
            server.app[KEY_LOGIN_THRESHOLD]
            if ban_enabled
            else slot.get(CONF_LOGIN_ATTEMPTS_THRESHOLD, NO_LOGIN_ATTEMPT_THRESHOLD)
        ),
    )


def host_is_local(host: str) -> bool:
    """Whether a URL's host is on the local network: a local address or a local name."""
    try:
        return is_local(ip_address(host.strip("[]")))
    except ValueError:
        name = host.lower().rstrip(".")
        return "." not in name or name == "localhost" or name.endswith(_LOCAL_SUFFIXES)


def _login_store(hass: HomeAssistant) -> Store[dict[str, Any]]:
    return Store(hass, _STORE_VERSION, f"{DOMAIN}.home_assistant.failed_logins")


def _ban_store(hass: HomeAssistant) -> Store[dict[str, Any]]:
    return Store(hass, _STORE_VERSION, f"{DOMAIN}.home_assistant.bans")


async def async_remove_stores(hass: HomeAssistant) -> None:
    """Forget the failed logins and bans seen by a deleted entry."""
    await _login_store(hass).async_remove()
    await _ban_store(hass).async_remove()


def _user_name(user: Any) -> str:
    return str(user.name or user.id)


class HomeAssistantCoordinator(SentinelCoordinator[HomeAssistantData]):
    """Reads this Home Assistant's posture; counts the failed logins it reports as they come."""

    descriptions = HOME_ASSISTANT_DESCRIPTIONS
    device_model = "Home Assistant"

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Prepare the stores; nothing is read before the first refresh."""
        super().__init__(hass, entry)
        self.token_max_age = timedelta(
            days=entry.options.get(CONF_TOKEN_MAX_AGE_DAYS, DEFAULT_TOKEN_MAX_AGE_DAYS)
        )
        self._logins = FailedLoginWindow(is_local)
        self._login_store = _login_store(hass)
        self._ban_store = _ban_store(hass)
        self._bans = BanTracker()
        # New bans are only looked for once the event entity exists to report them.
        self._entities_added = False
        self._scanner = ConfigurationScanner(Path(hass.config.config_dir))
        self._privileges: tuple[datetime, privileges.Privileges] | None = None
        self._cancel_expiry: CALLBACK_TYPE | None = None

    @callback
    def _async_stop_expiry(self) -> None:
        if self._cancel_expiry is not None:
            self._cancel_expiry()
            self._cancel_expiry = None

    async def _async_setup(self) -> None:
        self._logins.load(await self._login_store.async_load())
        stored_bans = await self._ban_store.async_load()
        if stored_bans is not None:
            self._bans = BanTracker(stored_bans.get("seen", []))
        self.config_entry.async_on_unload(
            persistent_notification.async_register_callback(self.hass, self._notified)
        )
        self.config_entry.async_on_unload(
            self.config_entry.async_on_state_change(self._entry_state_changed)
        )
        # Backup agents and update entities come with integrations that may load after this one:
        # look again once Home Assistant has started, not an hour later.
        self.config_entry.async_on_unload(async_at_started(self.hass, self._async_started))

    async def _async_started(self, _hass: HomeAssistant) -> None:
        await self.async_request_refresh()

    @callback
    def _entry_state_changed(self) -> None:
        """Once the entities exist, look for the bans written while the entry was not loaded."""
        if self.config_entry.state is ConfigEntryState.LOADED and not self._entities_added:
            self._entities_added = True
            self.config_entry.async_create_background_task(
                self.hass, self.async_request_refresh(), name=f"{DOMAIN} bans since last look"
            )

    async def async_shutdown(self) -> None:
        """Stop, and keep the failed logins counted so far."""
        self._async_stop_expiry()
        await super().async_shutdown()
        await self._login_store.async_save(self._logins.as_dict())

    @callback
    def _notified(
        self,
        update_type: persistent_notification.UpdateType,
        notifications: dict[str, persistent_notification.Notification],
    ) -> None:
        """Count a failed login as Home Assistant reports it; look for a new ban at once."""
        if update_type not in (
            persistent_notification.UpdateType.ADDED,
            persistent_notification.UpdateType.UPDATED,
        ):
            return
        if NOTIFICATION_ID_BAN in notifications:
            self.config_entry.async_create_background_task(
                self.hass, self.async_request_refresh(), name=f"{DOMAIN} new ban"
            )
        if (notification := notifications.get(NOTIFICATION_ID_LOGIN)) is None:
            return
        address = address_in_notification(notification["message"])
        if address is None:
            return
        self._count_failure(address, notification["created_at"])

    @callback
    def _count_failure(self, address: IPv4Address | IPv6Address, when: datetime) -> None:
        self._logins.add(address, when)
        self._logins.expire(when)
        self._login_store.async_delay_save(self._logins.as_dict, _SAVE_DELAY)
        self._show_failed_logins(((str(address), is_local(address)),))

    @callback
    def _async_window_moved(self, now: datetime) -> None:
        """Failures 24 hours old leave the count when they do, not at the next poll."""
        self._cancel_expiry = None
        if self._logins.expire(now):
            self._login_store.async_delay_save(self._logins.as_dict, _SAVE_DELAY)
            self._show_failed_logins(())
        else:
            self._schedule_window_expiry()

    @callback
    def _schedule_window_expiry(self) -> None:
        self._async_stop_expiry()
        if (moment := self._logins.next_expiry()) is not None:
            self._cancel_expiry = async_track_point_in_utc_time(
                self.hass, self._async_window_moved, moment
            )

    @callback
    def _show_failed_logins(self, new_failures: tuple[tuple[str, bool], ...]) -> None:
        self._schedule_window_expiry()
        # Before the first poll there is nothing to show yet; the poll will show the count.
        current: HomeAssistantData | None = getattr(self, "data", None)
        if current is None:
            return
        status = current.subjects[""]
        self.data = HomeAssistantData(
            {
                "": replace(
                    status,
                    failed_logins=self._logins.summary(),
                    new_bans=(),
                    new_failures=new_failures,
                )
            }
        )
        # Not async_set_updated_data: failures must not push the next poll away.
        self.async_update_listeners()

    async def _async_update_data(self) -> HomeAssistantData:
        hass = self.hass
        now = dt_util.utcnow()
        http = read_http_settings(hass)
        external_url = hass.config.external_url
        parts = urlsplit(external_url) if external_url else None
        scheme = parts.scheme.lower() if parts else None
        remote_without_tls = bool(
            parts and scheme == "http" and parts.hostname and not host_is_local(parts.hostname)
        )
        broad = tuple(
            proxy
            for proxy in http.trusted_proxies
            if http.use_x_forwarded_for and contains_public_address(ip_network(proxy))
        )
        users, admins, tokens = await self._async_read_auth()
        scan_error: str | None = None
        secrets: tuple[str, ...] | None
        try:
            report = await hass.async_add_executor_job(self._scanner.scan)
        except ConfigurationError as err:
            secrets, scan_error = None, err.location
            LOGGER.debug("Configuration not scanned: %s", err)
        else:
            secrets = report.locations
        backup = self._read_backups()
        installation = str((await async_get_system_info(hass)).get("installation_type"))
        account = await self._async_privileges(now) if installation == CORE_INSTALLATION else None
        bans, bans_error, new_bans = await self._async_read_bans()
        self._logins.expire(now)
        self._schedule_window_expiry()
        status = HomeAssistantStatus(
            http=http,
            external_url_scheme=scheme,
            remote_without_tls=remote_without_tls,
            broad_proxies=broad,
            bypass_providers=self._bypass_providers(),
            users_without_mfa=users,
            admins_without_mfa=admins,
            tokens=tokens,
            old_tokens=tuple(t for t in tokens if now - t.created > self.token_max_age),
            secrets=secrets,
            secrets_error=scan_error,
            backups_automatic=backup[0],
            backup_agents=backup[1],
            backups_off_machine=backup[2],
            last_successful_backup=backup[3],
            updates=tuple(
                sorted(
                    str(state.attributes.get(ATTR_FRIENDLY_NAME) or state.entity_id)
                    for state in hass.states.async_all("update")
                    if state.state == STATE_ON
                )
            ),
            installation_type=installation,
            privileges=account,
            bans=bans,
            bans_error=bans_error,
            failed_logins=self._logins.summary(),
            new_bans=new_bans,
        )
        async_sync_issues(hass, self.config_entry, self._wanted_issues(status))
        return HomeAssistantData({"": status})

    async def _async_privileges(self, now: datetime) -> privileges.Privileges:
        """The account's privileges; sudo is asked once a day at most.

        Each refused `sudo` is logged by the system, and by default mailed to root for a user
        without sudo rights: an hourly question would flood both.
        """
        if self._privileges is None or now - self._privileges[0] >= _SUDO_RECHECK:
            self._privileges = (now, await privileges.probe_privileges())
        return self._privileges[1]

    async def _async_read_auth(
        self,
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[TokenInfo, ...]]:
        """Users with a password and no MFA, the admins among them, and long-lived tokens."""
        without_mfa: list[str] = []
        admins: list[str] = []
        tokens: list[TokenInfo] = []
        for user in await self.hass.auth.async_get_users():
            tokens.extend(
                TokenInfo(_user_name(user), token.client_name, token.created_at)
                for token in user.refresh_tokens.values()
                if token.token_type == TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
            )
            if not user.is_active or user.system_generated:
                continue
            if not any(c.auth_provider_type in _PASSWORD_PROVIDERS for c in user.credentials):
                continue
            if await self.hass.auth.async_get_enabled_mfa(user):
                continue
            without_mfa.append(_user_name(user))
            if user.is_admin:
                admins.append(_user_name(user))
        tokens.sort(key=lambda token: token.created)
        return tuple(sorted(without_mfa)), tuple(sorted(admins)), tuple(tokens)

    def _bypass_providers(self) -> tuple[str, ...]:
        """Auth providers that let someone in without a password from where they should not."""
        found: list[str] = []
        for provider in self.hass.auth.auth_providers:
            if provider.type == "trusted_networks":
                networks = provider.config.get("trusted_networks", [])
                if provider.config.get("allow_bypass_login"):
                    found.append("trusted_networks: allow_bypass_login")
                found.extend(
                    f"trusted_networks: {network}"
                    for network in networks
                    if contains_public_address(ip_network(network))
                )
        return tuple(found)

    def _read_backups(self) -> tuple[bool, tuple[str, ...], bool, datetime | None]:
        """Automatic backups on, their agents, whether one is off this machine, the last one."""
        try:
            manager = async_get_backup_manager(self.hass)
        except HomeAssistantError:
            return False, (), False, None
        config = manager.config.data
        schedule = config.schedule
        automatic = schedule.recurrence is not ScheduleRecurrence.NEVER and not (
            schedule.recurrence is ScheduleRecurrence.CUSTOM_DAYS and not schedule.days
        )
        agent_ids = tuple(config.create_backup.agent_ids)
        off_machine = any(
            agent_id in manager.backup_agents
            and agent_id not in _ON_MACHINE_AGENTS
            and not isinstance(manager.backup_agents[agent_id], LocalBackupAgent)
            for agent_id in agent_ids
        )
        return automatic, agent_ids, off_machine, config.last_completed_automatic_backup

    async def _async_read_bans(self) -> tuple[tuple[Ban, ...] | None, str | None, tuple[Ban, ...]]:
        path = Path(self.hass.config.path(IP_BANS_FILE))
        try:
            bans = await self.hass.async_add_executor_job(read_bans, path)
        except BansFileError as err:
            LOGGER.debug("%s not read: %s", IP_BANS_FILE, err)
            return None, str(err), ()
        if not self._entities_added:
            return tuple(bans), None, ()
        new, changed = self._bans.update(bans)
        if changed:
            await self._ban_store.async_save({"seen": sorted(self._bans.seen)})
        return tuple(bans), None, tuple(new)

    def _wanted_issues(self, status: HomeAssistantStatus) -> dict[str, WantedIssue]:
        """A repair issue per problem, saying what to change."""
        wanted: dict[str, WantedIssue] = {}
        http = status.http
        if status.remote_without_tls:
            wanted["ha_remote_access_without_tls"] = WantedIssue(
                "ha_remote_access_without_tls", severity=ir.IssueSeverity.ERROR
            )
        if status.login_banning_off:
            wanted["ha_login_banning_off"] = WantedIssue(
                "ha_login_banning_off",
                {
                    "ip_ban_enabled": str(http.ip_ban_enabled).lower(),
                    "threshold": str(http.login_attempts_threshold),
                },
            )
        if status.broad_proxies:
            wanted["ha_trusted_proxies_too_broad"] = WantedIssue(
                "ha_trusted_proxies_too_broad",
                {"proxies": ", ".join(status.broad_proxies)},
                severity=ir.IssueSeverity.ERROR,
            )
        if status.bypass_providers:
            wanted["ha_login_bypass"] = WantedIssue(
                "ha_login_bypass",
                {"providers": "; ".join(status.bypass_providers)},
                severity=ir.IssueSeverity.ERROR,
            )
        if status.admins_without_mfa:
            wanted["ha_admin_without_mfa"] = WantedIssue(
                "ha_admin_without_mfa", {"users": ", ".join(status.admins_without_mfa)}
            )
        if status.old_tokens:
            wanted["ha_old_tokens"] = WantedIssue(
                "ha_old_tokens",
                {
                    "count": str(len(status.old_tokens)),
                    "days": str(self.token_max_age.days),
                    "tokens": ", ".join(
                        f"{token.client_name or '-'} ({token.user})"
                        for token in status.old_tokens[:MAX_LISTED]
                    ),
                },
            )
        if status.secrets:
            wanted["ha_plaintext_secrets"] = WantedIssue(
                "ha_plaintext_secrets",
                {
                    "count": str(len(status.secrets)),
                    "locations": ", ".join(status.secrets[:MAX_LISTED]),
                },
            )
        if not status.backups_automatic or not status.backups_off_machine:
            wanted["ha_backups_not_off_machine"] = WantedIssue(
                "ha_backups_not_on_schedule"
                if not status.backups_automatic
                else "ha_backups_not_off_machine"
            )
        if status.privileged:
            wanted["ha_privileged_account"] = WantedIssue(
                f"ha_privileged_account_{status.privilege_reason}",
                severity=ir.IssueSeverity.ERROR,
            )
        return wanted
