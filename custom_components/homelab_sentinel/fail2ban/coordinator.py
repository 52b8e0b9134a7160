"""Coordinator of the fail2ban kind: reads the database or tails the log, in the executor.

Over SSH it runs one `sqlite3 -json` query per poll on the remote database (see remote.py); a
changed host key raises a repair issue and, like rejected credentials, asks for reauth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from homeassistant.const import CONF_PATH
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util

from ..const import CONF_SOURCE, DOMAIN
from ..coordinator import SentinelCoordinator
from ..errors import ErrorKeys, error_key_in
from ..repairs_support import async_sync_issues
from ..ssh_support import host_key_issue, host_label, is_ssh, make_runner, update_failure
from ..transport import CommandError, HostKeyMismatchError
from .client import (
    BanEvent,
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
from .remote import RemoteFail2banDatabase

HOST_KEY_ISSUE: Final = "fail2ban_ssh_host_key_changed"

_ERROR_KEYS: ErrorKeys = (
    (Fail2banNotFoundError, "not_found"),
    (Fail2banPermissionError, "permission_denied"),
    (NotFail2banError, "not_fail2ban"),
    (Fail2banBusyError, "database_locked"),
    (Fail2banError, "unreadable_fail2ban"),
)


def error_key(err: Fail2banError) -> str:
    """The translation key, shared by flow errors and exceptions, that names an error."""
    return error_key_in(_ERROR_KEYS, err)


@dataclass(frozen=True, slots=True)
class JailView:
    """One jail as its entities show it: its state, and what happened since the last poll.

    The events are left out of comparisons: they are fired by the event entity as they come,
    while the jail's sensors are written only when its state changed.
    """

    status: JailStatus
    events: tuple[BanEvent, ...] = field(compare=False)


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
    _remote: RemoteFail2banDatabase | None = None
    # The views of the last poll, handed out again for jails that did not change, so that their
    # entities see an unchanged subject (see SentinelCoordinator.subject_changed).
    _views: Mapping[str, JailView] = {}

    async def _async_setup(self) -> None:
        data = self.config_entry.data
        if is_ssh(data):
            try:
                runner = make_runner(data)
            except CommandError as err:
                raise ConfigEntryError(
                    translation_domain=DOMAIN,
                    translation_key="fail2ban_ssh_failed",
                    translation_placeholders=self._ssh_placeholders(err),
                ) from err
            self._remote = RemoteFail2banDatabase(runner, data[CONF_PATH])
            return
        # fail2ban writes its log in the server's local time; Home Assistant's zone is the guess.
        self._source = create_source(
            data[CONF_SOURCE], data[CONF_PATH], time_zone=dt_util.get_default_time_zone()
        )

    def subject_name(self, subject: str) -> str:
        """Jail devices read as "fail2ban sshd"."""
        return f"fail2ban {subject}"

    def _ssh_placeholders(self, err: CommandError) -> dict[str, str]:
        return {
            "name": self.config_entry.title,
            "host": host_label(self.config_entry.data),
            "error": str(err),
        }

    def _raise_command_failed(self, err: CommandError) -> NoReturn:
        kwargs: dict[str, Any] = {
            "translation_domain": DOMAIN,
            "translation_key": "fail2ban_ssh_failed",
            "translation_placeholders": self._ssh_placeholders(err),
        }
        if isinstance(err, HostKeyMismatchError):
            async_sync_issues(
                self.hass, self.config_entry, host_key_issue(self.config_entry, err, HOST_KEY_ISSUE)
            )
        raise update_failure(err, **kwargs) from err

    async def _async_poll(self) -> Fail2banSnapshot:
        if self._remote is None:
            return await self.hass.async_add_executor_job(self._source.poll)
        try:
            snapshot = await self._remote.poll()
        except CommandError as err:
            self._raise_command_failed(err)
        # Connected with the pinned key: a host key issue, if any, is resolved.
        async_sync_issues(self.hass, self.config_entry, {})
        return snapshot

    async def _async_update_data(self) -> Fail2banData:
        try:
            snapshot = await self._async_poll()
        except Fail2banError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key(err),
                translation_placeholders={"path": str(self.config_entry.data[CONF_PATH])},
            ) from err
        by_jail: dict[str, list[BanEvent]] = defaultdict(list)
        for event in snapshot.events:
            by_jail[event.jail].append(event)
        views: dict[str, JailView] = {}
        for name, status in snapshot.jails.items():
            view = self._views.get(name)
            events = by_jail.get(name)
            if events or view is None or view.status is not status or view.events:
                view = JailView(status, tuple(events or ()))
            views[name] = view
        self._views = views
        return Fail2banData(subjects=views, banned_now=snapshot.banned_now)
