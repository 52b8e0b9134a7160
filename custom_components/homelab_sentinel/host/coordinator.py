"""Coordinator of the host kind: polls a machine's updates, reboot flag and SSH settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from homeassistant.config_entries import ConfigEntry
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import issue_registry as ir

from ..const import DOMAIN, LOGGER
from ..coordinator import SentinelCoordinator
from ..errors import ErrorKeys, error_key_in
from ..repairs_support import WantedIssue, async_sync_issues
from ..ssh_support import (
    COMMAND_ERROR_KEYS,
    HOST_KEY_ISSUE,
    host_key_issue,
    host_label,
    make_runner,
    update_failure,
)
from ..transport import CommandError, HostKey, HostKeyMismatchError
from .client import HostClient, HostError, HostPaths, HostStatus, UnsupportedOsError
from .entities import HOST_DESCRIPTIONS

# The places the client reads; tests point them at files of their own.
DEFAULT_PATHS: Final = HostPaths()

# Repair issues of the problem binary sensors, by the key of the issue.
REBOOT_ISSUE: Final = "host_reboot_required"
AUTOMATIC_UPDATES_ISSUE: Final = "host_automatic_updates_off"
PASSWORD_LOGIN_ISSUE: Final = "host_ssh_password_login"  # noqa: S105 - an issue ID
ROOT_LOGIN_ISSUE: Final = "host_ssh_root_login"


@dataclass(frozen=True, slots=True)
class HostData:
    """The one machine an entry watches, under the name ``""``."""

    subjects: Mapping[str, HostStatus]


def make_client(data: Mapping[str, Any], host_key: HostKey | None = None) -> HostClient:
    """The client an entry's data describes; InvalidKeyError for a key that cannot be read."""
    return HostClient(make_runner(data, host_key), DEFAULT_PATHS)


_ERROR_KEYS: ErrorKeys = (
    (UnsupportedOsError, "unsupported_os"),
    *COMMAND_ERROR_KEYS[:-1],
    (HostError, "host_command_failed"),
    COMMAND_ERROR_KEYS[-1],
)


def error_key(err: CommandError | HostError) -> str:
    """The translation key, shared by flow errors and exceptions, that names an error."""
    return error_key_in(_ERROR_KEYS, err)


def wanted_issues(entry: ConfigEntry, status: HostStatus) -> dict[str, WantedIssue]:
    """The repair issues of a host's problems, each naming the exact fix."""
    name = entry.title
    host = host_label(entry.data)
    wanted: dict[str, WantedIssue] = {}
    if status.reboot_required:
        wanted[REBOOT_ISSUE] = WantedIssue(
            REBOOT_ISSUE,
            {
                "name": name,
                "host": host,
                "packages": ", ".join(status.reboot_packages) or "-",
            },
        )
    automatic = status.automatic_updates
    if not automatic.enabled:
        wanted[AUTOMATIC_UPDATES_ISSUE] = WantedIssue(
            "host_unattended_upgrades_missing"
            if not automatic.installed
            else AUTOMATIC_UPDATES_ISSUE,
            {"name": name, "host": host},
        )
    ssh = status.ssh
    if ssh.accepts_passwords:
        wanted[PASSWORD_LOGIN_ISSUE] = WantedIssue(
            PASSWORD_LOGIN_ISSUE,
            {
                "name": name,
                "host": host,
                "password_authentication": "yes" if ssh.password_authentication else "no",
                "kbd_interactive_authentication": (
                    "yes" if ssh.kbd_interactive_authentication else "no"
                ),
            },
            severity=ir.IssueSeverity.ERROR,
        )
    if ssh.permit_root_login == "yes":
        wanted[ROOT_LOGIN_ISSUE] = WantedIssue(
            ROOT_LOGIN_ISSUE, {"name": name, "host": host}, severity=ir.IssueSeverity.ERROR
        )
    return wanted


class HostCoordinator(SentinelCoordinator[HostData]):
    """Reads one machine, here or over SSH; each poll runs a handful of read-only commands."""

    descriptions = HOST_DESCRIPTIONS
    device_model = "Linux host"
    client: HostClient

    async def _async_setup(self) -> None:
        # Equal data from a poll that changed nothing writes no state.
        self.always_update = False
        try:
            self.client = make_client(self.config_entry.data)
        except CommandError as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="host_invalid_settings",
                translation_placeholders={"name": self.config_entry.title},
            ) from err

    def _raise_update_failed(self, err: CommandError | HostError) -> NoReturn:
        placeholders = {
            "name": self.config_entry.title,
            "host": host_label(self.config_entry.data),
            "error": err.detail if isinstance(err, HostError) else str(err),
        }
        if isinstance(err, HostKeyMismatchError):
            async_sync_issues(
                self.hass, self.config_entry, host_key_issue(self.config_entry, err, HOST_KEY_ISSUE)
            )
        raise update_failure(
            err,
            translation_domain=DOMAIN,
            translation_key="host_poll_failed",
            translation_placeholders=placeholders,
        ) from err

    async def _async_update_data(self) -> HostData:
        try:
            status = await self.client.poll()
        except (CommandError, HostError) as err:
            self._raise_update_failed(err)
        if status.ssh.unreadable:
            LOGGER.debug(
                "%s: could not read %s; sshd's defaults are assumed for them",
                self.config_entry.title,
                ", ".join(status.ssh.unreadable),
            )
        async_sync_issues(self.hass, self.config_entry, wanted_issues(self.config_entry, status))
        return HostData({"": status})
