"""Config, reconfigure and reauth flow steps of the certbot kind.

Certbot runs on this machine, or on another one over SSH: the SSH settings, host key pinning
and reauth steps are the shared ones of `ssh_flow`, with certbot's fields and probe.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from ..const import (
    CONF_ACME_SERVER,
    CONF_CERTBOT_COMMAND,
    CONF_CONFIG_DIR,
    CONF_KIND,
    CONF_TRANSPORT,
    CONF_USE_SUDO,
    Kind,
)
from ..flow_support import FlowError, ValidatedEntry
from ..ssh_flow import (
    SSH_FIELDS,
    TEXT,
    TRANSPORT_SCHEMA,
    DetailedFlowError,
    SshFlowMixin,
    SshSteps,
)
from ..ssh_support import TRANSPORT_LOCAL, TRANSPORT_SSH, make_runner
from ..transport import CommandError, HostKey
from .client import (
    DEFAULT_COMMAND,
    DEFAULT_CONFIG_DIR,
    LETS_ENCRYPT_DIRECTORY,
    CertbotError,
    InvalidSettingError,
    NotCertbotDirectoryError,
    check_config_dir,
    parse_command,
    validate_acme_server,
    validate_config_dir,
)
from .coordinator import command_lock, error_key, make_client

_CERTBOT_FIELDS = {
    probatio.Required(CONF_CERTBOT_COMMAND, default=DEFAULT_COMMAND): TEXT,
    probatio.Required(CONF_CONFIG_DIR, default=DEFAULT_CONFIG_DIR): TEXT,
    probatio.Required(CONF_ACME_SERVER, default=LETS_ENCRYPT_DIRECTORY): selector.TextSelector(
        selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
    ),
}

LOCAL_SCHEMA = probatio.Schema(_CERTBOT_FIELDS)
SSH_SCHEMA = probatio.Schema({**SSH_FIELDS, **_CERTBOT_FIELDS})


def _certbot_settings(user_input: dict[str, Any]) -> dict[str, Any]:
    """The certbot command, its configuration directory and the ACME server, validated."""
    try:
        command = str(user_input.get(CONF_CERTBOT_COMMAND) or DEFAULT_COMMAND).strip()
        parse_command(command)
        return {
            CONF_CERTBOT_COMMAND: command,
            CONF_CONFIG_DIR: validate_config_dir(str(user_input[CONF_CONFIG_DIR])),
            CONF_ACME_SERVER: validate_acme_server(
                str(user_input.get(CONF_ACME_SERVER) or LETS_ENCRYPT_DIRECTORY)
            ),
        }
    except InvalidSettingError as err:
        raise FlowError(f"invalid_{err.field}", err.field) from err


async def _probe(
    hass: HomeAssistant, data: dict[str, Any], host_key: HostKey | None = None
) -> None:
    """List the certificates once, as the coordinator will."""
    try:
        async with command_lock(hass, data):
            runners = [make_runner({**data, CONF_USE_SUDO: False}, host_key)]
            if data.get(CONF_USE_SUDO):
                runners.append(make_runner(data, host_key))
            await check_config_dir(runners, data[CONF_CONFIG_DIR])
            await make_client(data, host_key).certificates()
    except NotCertbotDirectoryError as err:
        raise FlowError(error_key(err), CONF_CONFIG_DIR) from err
    except CertbotError as err:
        raise DetailedFlowError(error_key(err), err.detail) from err
    except CommandError as err:
        raise DetailedFlowError(error_key(err), str(err)) from err


def _validated(data: dict[str, Any]) -> ValidatedEntry:
    transport = data[CONF_TRANSPORT]
    host = data.get(CONF_HOST) or "local"
    title = "certbot (local)" if transport == TRANSPORT_LOCAL else f"certbot ({host})"
    return ValidatedEntry(
        f"certbot:{transport}:{host}:{data[CONF_CONFIG_DIR]}",
        title,
        {CONF_KIND: Kind.CERTBOT.value, **data},
    )


CERTBOT_SSH = SshSteps(
    settings_step="certbot_ssh",
    host_key_step="certbot_host_key",
    reauth_step="reauth_certbot",
    reauth_host_key_step="reauth_certbot_host_key",
    schema=SSH_SCHEMA,
    kind_settings=_certbot_settings,
    probe=_probe,
    validated=_validated,
)


class CertbotFlowMixin(SshFlowMixin):
    """The certbot steps: where certbot runs, how to reach it, and its SSH host key."""

    async def async_step_certbot(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Certbot on this machine, or on another one over SSH."""
        if user_input is None:
            return self._ssh_form(Kind.CERTBOT, TRANSPORT_SCHEMA, None)
        if user_input[CONF_TRANSPORT] == TRANSPORT_SSH:
            return await self.async_step_certbot_ssh()
        return await self.async_step_certbot_local()

    async def async_step_certbot_local(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Certbot on the machine Home Assistant runs on."""
        if user_input is None:
            return self._ssh_form("certbot_local", LOCAL_SCHEMA, None)
        try:
            data = {CONF_TRANSPORT: TRANSPORT_LOCAL, **_certbot_settings(user_input)}
            await _probe(self.hass, data)
        except FlowError as err:
            return self._ssh_form("certbot_local", LOCAL_SCHEMA, user_input, err)
        return await self._async_finish(_validated(data))

    async def async_step_certbot_ssh(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Certbot on another machine, over SSH; next comes its host key."""
        return await self._async_ssh_settings_step(CERTBOT_SSH, user_input)

    async def async_step_certbot_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the server's host key; pin it and log in once the user confirms it."""
        return await self._async_ssh_host_key_step(CERTBOT_SSH, user_input)

    async def async_step_reauth_certbot(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter a new private key or password; first accept a changed host key, if any."""
        return await self._async_ssh_reauth_step(CERTBOT_SSH, user_input)

    async def async_step_reauth_certbot_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the old and the new host key; trust the new one once the user accepts it."""
        return await self._async_ssh_reauth_host_key_step(CERTBOT_SSH, user_input)
