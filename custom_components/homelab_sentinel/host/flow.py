"""Config, reconfigure and reauth flow steps of the host kind.

The machine Home Assistant runs on, or another one over SSH: the SSH settings, host key pinning
and reauth steps are the shared ones of `ssh_flow`; the probe reads the host once, as the
coordinator will, and refuses a system without apt (`unsupported_os`).
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
import probatio

from ..const import CONF_KIND, CONF_TRANSPORT, Kind
from ..flow_support import FlowError, ValidatedEntry
from ..ssh_flow import SSH_FIELDS, TRANSPORT_SCHEMA, DetailedFlowError, SshFlowMixin, SshSteps
from ..ssh_support import TRANSPORT_LOCAL, TRANSPORT_SSH
from ..transport import CommandError, HostKey
from .client import HostError
from .coordinator import error_key, make_client

SSH_SCHEMA = probatio.Schema(SSH_FIELDS)
_LOCAL_STEP = "host_local"


async def _probe(
    hass: HomeAssistant, data: dict[str, Any], host_key: HostKey | None = None
) -> None:
    """Read the host once, as the coordinator will."""
    try:
        await make_client(data, host_key).poll()
    except HostError as err:
        raise DetailedFlowError(error_key(err), err.detail) from err
    except CommandError as err:
        raise DetailedFlowError(error_key(err), str(err)) from err


def _validated(data: dict[str, Any]) -> ValidatedEntry:
    transport = data[CONF_TRANSPORT]
    host = data.get(CONF_HOST) or "local"
    return ValidatedEntry(
        f"host:{transport}:{host}",
        f"Host ({host})",
        {CONF_KIND: Kind.HOST.value, **data},
    )


HOST_SSH = SshSteps(
    settings_step="host_ssh",
    host_key_step="host_host_key",
    reauth_step="reauth_host",
    reauth_host_key_step="reauth_host_host_key",
    schema=SSH_SCHEMA,
    kind_settings=lambda user_input: {},
    probe=_probe,
    validated=_validated,
)


class HostFlowMixin(SshFlowMixin):
    """The host steps: this machine or another one, how to reach it, and its SSH host key."""

    async def async_step_host(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose between the machine Home Assistant runs on and another one over SSH."""
        if user_input is None:
            return self._ssh_form(Kind.HOST, TRANSPORT_SCHEMA, None)
        if user_input[CONF_TRANSPORT] == TRANSPORT_SSH:
            return await self.async_step_host_ssh()
        return await self.async_step_host_local()

    async def async_step_host_local(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The machine Home Assistant runs on; read once on confirmation."""
        schema = probatio.Schema({})
        if user_input is None:
            return self._ssh_form(_LOCAL_STEP, schema, None)
        data = {CONF_TRANSPORT: TRANSPORT_LOCAL}
        try:
            await _probe(self.hass, data)
        except FlowError as err:
            return self._ssh_form(_LOCAL_STEP, schema, user_input, err)
        return await self._async_finish(_validated(data))

    async def async_step_host_ssh(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another machine, over SSH; next comes its host key."""
        return await self._async_ssh_settings_step(HOST_SSH, user_input)

    async def async_step_host_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the server's host key; pin it and log in once the user confirms it."""
        return await self._async_ssh_host_key_step(HOST_SSH, user_input)

    async def async_step_reauth_host(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter a new private key or password; first accept a changed host key, if any."""
        return await self._async_ssh_reauth_step(HOST_SSH, user_input)

    async def async_step_reauth_host_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the old and the new host key; trust the new one once the user accepts it."""
        return await self._async_ssh_reauth_host_key_step(HOST_SSH, user_input)
