"""Config flow steps of the fail2ban kind.

The database or log on this machine, or the database on another machine over SSH: the SSH
settings, host key pinning and reauth steps are the shared ones of `ssh_flow`.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PATH
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from ..const import CONF_KIND, CONF_SOURCE, CONF_TRANSPORT, Kind
from ..flow_support import FlowError, ValidatedEntry
from ..ssh_flow import SSH_FIELDS, TEXT, SshFlowMixin, SshSteps, command_flow_error
from ..ssh_support import TRANSPORT_LOCAL, TRANSPORT_SSH, make_runner
from ..transport import CommandError, HostKey, InvalidCommandError, check_arguments
from ..user_files import UserFileError, resolve_path
from .client import Fail2banError, Fail2banSourceKind, probe
from .coordinator import error_key
from .remote import RemoteFail2banDatabase

DEFAULT_PATHS = {
    Fail2banSourceKind.DATABASE: "/var/lib/fail2ban/fail2ban.sqlite3",
    Fail2banSourceKind.LOG: "/var/log/fail2ban.log",
}

SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_TRANSPORT, default=TRANSPORT_LOCAL): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[TRANSPORT_LOCAL, TRANSPORT_SSH],
                translation_key=CONF_TRANSPORT,
                mode=selector.SelectSelectorMode.LIST,
            )
        ),
        probatio.Required(
            CONF_SOURCE, default=Fail2banSourceKind.DATABASE.value
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[source.value for source in Fail2banSourceKind],
                translation_key=CONF_SOURCE,
                mode=selector.SelectSelectorMode.LIST,
            )
        ),
        probatio.Optional(CONF_PATH): selector.TextSelector(),
    }
)


def _probe(path: str, source: Fail2banSourceKind) -> str:
    try:
        real = resolve_path(path)
    except UserFileError as err:
        raise Fail2banError(str(err)) from err
    probe(real, source)
    return real


async def validate(hass: HomeAssistant, user_input: dict[str, Any]) -> ValidatedEntry:
    """Read the database or log once, as the coordinator will."""
    source = Fail2banSourceKind(user_input[CONF_SOURCE])
    path = str(user_input.get(CONF_PATH) or "").strip() or DEFAULT_PATHS[source]
    try:
        real = await hass.async_add_executor_job(_probe, path, source)
    except Fail2banError as err:
        raise FlowError(error_key(err), CONF_PATH) from err
    title = "fail2ban" if real == DEFAULT_PATHS[source] else f"fail2ban {real}"
    return ValidatedEntry(
        f"fail2ban:{source.value}:{real}",
        title,
        {CONF_KIND: Kind.FAIL2BAN.value, CONF_SOURCE: source.value, CONF_PATH: real},
    )


SSH_SCHEMA = probatio.Schema(
    {
        **SSH_FIELDS,
        probatio.Required(CONF_PATH, default=DEFAULT_PATHS[Fail2banSourceKind.DATABASE]): TEXT,
    }
)


def _remote_settings(user_input: dict[str, Any]) -> dict[str, Any]:
    """The remote database path: absolute, and usable as one argument of the command."""
    path = (
        str(user_input.get(CONF_PATH) or "").strip() or DEFAULT_PATHS[Fail2banSourceKind.DATABASE]
    )
    try:
        check_arguments(["sqlite3", path])
    except InvalidCommandError as err:
        raise FlowError("invalid_path", CONF_PATH) from err
    if not path.startswith("/"):
        raise FlowError("invalid_path", CONF_PATH)
    return {CONF_SOURCE: Fail2banSourceKind.DATABASE.value, CONF_PATH: path}


async def _remote_probe(
    hass: HomeAssistant, data: dict[str, Any], host_key: HostKey | None = None
) -> None:
    """Query the remote database once, as the coordinator will."""
    try:
        await RemoteFail2banDatabase(make_runner(data, host_key), data[CONF_PATH]).poll()
    except CommandError as err:
        raise command_flow_error(err) from err
    except Fail2banError as err:
        raise FlowError(error_key(err), CONF_PATH) from err


def _remote_validated(data: dict[str, Any]) -> ValidatedEntry:
    return ValidatedEntry(
        f"fail2ban:{TRANSPORT_SSH}:{data[CONF_HOST]}:{data[CONF_PATH]}",
        f"fail2ban ({data[CONF_HOST]})",
        {CONF_KIND: Kind.FAIL2BAN.value, **data},
    )


FAIL2BAN_SSH = SshSteps(
    settings_step="fail2ban_ssh",
    host_key_step="fail2ban_host_key",
    reauth_step="reauth_fail2ban",
    reauth_host_key_step="reauth_fail2ban_host_key",
    schema=SSH_SCHEMA,
    kind_settings=_remote_settings,
    probe=_remote_probe,
    validated=_remote_validated,
)


class Fail2banFlowMixin(SshFlowMixin):
    """The fail2ban steps: a local database or log, or a database over SSH."""

    async def async_step_fail2ban(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """fail2ban's database (preferred) or its log, or its database on another machine."""
        if user_input is not None and user_input.get(CONF_TRANSPORT) == TRANSPORT_SSH:
            return await self.async_step_fail2ban_ssh()
        return await self._async_form_step(Kind.FAIL2BAN, SCHEMA, validate, user_input)

    async def async_step_fail2ban_ssh(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """fail2ban's database on another machine, over SSH; next comes its host key."""
        return await self._async_ssh_settings_step(FAIL2BAN_SSH, user_input)

    async def async_step_fail2ban_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the server's host key; pin it and query the database once it is confirmed."""
        return await self._async_ssh_host_key_step(FAIL2BAN_SSH, user_input)

    async def async_step_reauth_fail2ban(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter a new private key or password; first accept a changed host key, if any."""
        return await self._async_ssh_reauth_step(FAIL2BAN_SSH, user_input)

    async def async_step_reauth_fail2ban_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the old and the new host key; trust the new one once the user accepts it."""
        return await self._async_ssh_reauth_host_key_step(FAIL2BAN_SSH, user_input)
