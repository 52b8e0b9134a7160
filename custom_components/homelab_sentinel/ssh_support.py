"""What every kind that runs commands over SSH shares at run time.

The runner an entry's data describes, how the runner's errors are named (one translation key for
flow errors and exceptions alike), and the repair issue raised when a server presents another
host key than the pinned one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import UpdateFailed

from .const import CONF_HOST_KEY, CONF_PRIVATE_KEY, CONF_TRANSPORT, CONF_USE_SUDO, LOGGER
from .errors import ErrorKeys, error_key_in
from .repairs_support import WantedIssue
from .transport import (
    CommandAuthError,
    CommandError,
    CommandNotFoundError,
    CommandRunner,
    CommandTimeoutError,
    HostKey,
    HostKeyMismatchError,
    LocalRunner,
    OutputTooLargeError,
    SshRunner,
    SudoRefusedError,
)

TRANSPORT_LOCAL: Final = "local"
TRANSPORT_SSH: Final = "ssh"
HOST_KEY_ISSUE: Final = "ssh_host_key_changed"
# The repair issue's fix flow: open the entry's reauthentication.
FIX_REAUTHENTICATE: Final = "reauthenticate"


def is_ssh(data: Mapping[str, Any]) -> bool:
    """Whether an entry reaches its host over SSH (entries without a transport are local)."""
    return bool(data.get(CONF_TRANSPORT, TRANSPORT_LOCAL) == TRANSPORT_SSH)


def make_runner(data: Mapping[str, Any], host_key: HostKey | None = None) -> CommandRunner:
    """The command runner an entry's data describes; host_key overrides the pinned key.

    Raises InvalidKeyError for a key that cannot be read.
    """
    if not is_ssh(data):
        return LocalRunner()
    return SshRunner(
        data[CONF_HOST],
        int(data[CONF_PORT]),
        data[CONF_USERNAME],
        host_key or HostKey.parse(data[CONF_HOST_KEY]),
        private_key=data.get(CONF_PRIVATE_KEY),
        password=data.get(CONF_PASSWORD),
        use_sudo=bool(data.get(CONF_USE_SUDO, False)),
    )


def host_label(data: Mapping[str, Any]) -> str:
    """The machine commands run on, as messages name it."""
    if not is_ssh(data):
        return "this machine"
    return f"{data[CONF_USERNAME]}@{data[CONF_HOST]}"


COMMAND_ERROR_KEYS: ErrorKeys = (
    (HostKeyMismatchError, "host_key_changed"),
    (CommandAuthError, "ssh_invalid_auth"),
    (CommandTimeoutError, "timeout"),
    (SudoRefusedError, "sudo_refused"),
    (CommandNotFoundError, "command_not_found"),
    (OutputTooLargeError, "output_too_large"),
    (CommandError, "cannot_connect"),
)


def command_error_key(err: CommandError) -> str:
    """The translation key that names a command layer error."""
    return error_key_in(COMMAND_ERROR_KEYS, err)


def update_failure(err: Exception, **kwargs: Any) -> UpdateFailed | ConfigEntryAuthFailed:
    """What a failed poll raises: reauthentication when the user must act, else a retry."""
    return ConfigEntryAuthFailed(**kwargs) if needs_reauth(err) else UpdateFailed(**kwargs)


def needs_reauth(err: Exception) -> bool:
    """Whether the user must act (new credentials or a new host key) before it works again."""
    return isinstance(err, (HostKeyMismatchError, CommandAuthError))


def host_key_issue(
    entry: ConfigEntry, err: HostKeyMismatchError, translation_key: str
) -> dict[str, WantedIssue]:
    """The repair issue, by its ID, that a changed host key raises; logs the change once."""
    LOGGER.warning(
        "The SSH host key of %s changed from %s to %s; not connecting",
        host_label(entry.data),
        err.expected,
        err.presented,
    )
    return {
        HOST_KEY_ISSUE: WantedIssue(
            translation_key,
            {
                "name": entry.title,
                "host": host_label(entry.data),
                "expected": err.expected,
                "presented": err.presented or "-",
            },
            severity=ir.IssueSeverity.ERROR,
            fixable=True,
            data={"fix_flow": FIX_REAUTHENTICATE},
        )
    }
