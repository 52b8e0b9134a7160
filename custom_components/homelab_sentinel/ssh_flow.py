"""Config, reconfigure and reauth flow steps shared by every kind that runs commands over SSH.

Adding a kind over SSH takes two steps: the connection settings (with the kind's own fields),
then the server's host key, shown as a fingerprint and pinned once the user confirms it. No
credential is sent to a server before its host key is confirmed. A kind supplies its step IDs,
its fields, a probe that runs its command once as its coordinator will, and how a validated
entry looks; the steps here do the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from .const import CONF_HOST_KEY, CONF_PRIVATE_KEY, CONF_TRANSPORT, CONF_USE_SUDO
from .flow_support import FlowError, SentinelFlowBase, ValidatedEntry, flow_host, flow_number
from .ssh_support import TRANSPORT_LOCAL, TRANSPORT_SSH, command_error_key
from .transport import (
    CommandError,
    HostKey,
    InvalidKeyError,
    async_fetch_host_key,
    load_private_key,
)

TEXT = selector.TextSelector()
# The first step of a kind that runs here or over SSH: which of the two.
TRANSPORT_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_TRANSPORT, default=TRANSPORT_LOCAL): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[TRANSPORT_LOCAL, TRANSPORT_SSH],
                translation_key=CONF_TRANSPORT,
                mode=selector.SelectSelectorMode.LIST,
            )
        )
    }
)
_PASSWORD = selector.TextSelector(
    selector.TextSelectorConfig(
        type=selector.TextSelectorType.PASSWORD, autocomplete="current-password"
    )
)
_PRIVATE_KEY = selector.TextSelector(selector.TextSelectorConfig(multiline=True))

# The connection settings every SSH step starts with; a kind appends its own fields.
SSH_FIELDS = {
    probatio.Required(CONF_HOST): TEXT,
    probatio.Required(CONF_PORT, default=22): selector.NumberSelector(
        selector.NumberSelectorConfig(min=1, max=65535, mode=selector.NumberSelectorMode.BOX)
    ),
    probatio.Required(CONF_USERNAME): selector.TextSelector(
        selector.TextSelectorConfig(autocomplete="username")
    ),
    probatio.Optional(CONF_PRIVATE_KEY): _PRIVATE_KEY,
    probatio.Optional(CONF_PASSWORD): _PASSWORD,
    probatio.Required(CONF_USE_SUDO, default=False): selector.BooleanSelector(),
}

REAUTH_SCHEMA = probatio.Schema(
    {
        probatio.Optional(CONF_PRIVATE_KEY): _PRIVATE_KEY,
        probatio.Optional(CONF_PASSWORD): _PASSWORD,
    }
)

# Runs the kind's command once with the data given, pinning host_key when given; FlowError if not.
type SshProbe = Callable[[HomeAssistant, dict[str, Any], HostKey | None], Awaitable[None]]


class DetailedFlowError(FlowError):
    """A flow error with what the command, sudo or the server said, shown with the error."""

    def __init__(self, error: str, detail: str) -> None:
        """Name the translated error; detail fills its {detail} placeholder."""
        super().__init__(error)
        self.detail = detail


def command_flow_error(err: CommandError) -> DetailedFlowError:
    """The flow error a command layer error shows as."""
    return DetailedFlowError(command_error_key(err), str(err))


def detail(err: FlowError | None) -> str:
    """The {detail} placeholder of an error's form."""
    return err.detail if isinstance(err, DetailedFlowError) else ""


def credentials(user_input: dict[str, Any], stored: dict[str, str]) -> dict[str, str]:
    """The private key or password entered, or, when neither is, the stored ones."""
    private_key = str(user_input.get(CONF_PRIVATE_KEY) or "").strip()
    password = str(user_input.get(CONF_PASSWORD) or "")
    if not private_key and not password:
        if not stored:
            raise FlowError("ssh_credentials_required")
        return dict(stored)
    found: dict[str, str] = {}
    if private_key:
        try:
            load_private_key(private_key)
        except InvalidKeyError as err:
            raise FlowError("invalid_private_key", CONF_PRIVATE_KEY) from err
        found[CONF_PRIVATE_KEY] = private_key + "\n"
    if password:
        found[CONF_PASSWORD] = password
    return found


def ssh_settings(
    user_input: dict[str, Any],
    stored: dict[str, str],
    kind_settings: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """The connection settings, the kind's settings and the credentials entered, validated."""
    host = flow_host(user_input[CONF_HOST], CONF_HOST)
    username = str(user_input[CONF_USERNAME]).strip()
    if (
        not username
        or username.startswith("-")
        or any(c.isspace() or not c.isprintable() for c in username)
    ):
        raise FlowError("invalid_username", CONF_USERNAME)
    return {
        CONF_TRANSPORT: TRANSPORT_SSH,
        CONF_HOST: host,
        CONF_PORT: flow_number(user_input[CONF_PORT], CONF_PORT, minimum=1, maximum=65535),
        CONF_USERNAME: username,
        CONF_USE_SUDO: bool(user_input.get(CONF_USE_SUDO, False)),
        **kind_settings(user_input),
        **credentials(user_input, stored),
    }


def stored_credentials(data: dict[str, Any]) -> dict[str, str]:
    """The private key and password in an entry's data or a flow's settings."""
    return {key: data[key] for key in (CONF_PRIVATE_KEY, CONF_PASSWORD) if data.get(key)}


def fingerprint_placeholders(host: str, port: int, host_key: HostKey) -> dict[str, str]:
    """What a host key step shows of the key."""
    return {
        "host": host,
        "port": str(port),
        "algorithm": host_key.algorithm,
        "fingerprint": host_key.fingerprint,
    }


@dataclass(frozen=True, slots=True)
class SshSteps:
    """One kind's SSH steps: their IDs, the settings form, its probe and entry."""

    settings_step: str
    host_key_step: str
    reauth_step: str
    reauth_host_key_step: str
    schema: probatio.Schema
    # The kind's own settings from the settings form, validated (FlowError otherwise).
    kind_settings: Callable[[dict[str, Any]], dict[str, Any]]
    probe: SshProbe
    validated: Callable[[dict[str, Any]], ValidatedEntry]


class SshFlowMixin(SentinelFlowBase):
    """The SSH settings, host key and reauth steps, for the kind whose SshSteps are passed."""

    # The SSH settings entered, and the host key the server presented, until it is confirmed.
    _ssh_data: dict[str, Any]
    _ssh_host_key: HostKey
    # In a reauth flow: the changed host key the server presents, once seen.
    _ssh_new_host_key: HostKey | None = None

    def _ssh_stored(self) -> dict[str, str]:
        """Credentials entered earlier in this flow, or stored in the reconfigured entry."""
        if hasattr(self, "_ssh_data"):
            return stored_credentials(self._ssh_data)
        return stored_credentials(dict(self._current_values()))

    def _ssh_form(
        self,
        step_id: str,
        schema: probatio.Schema,
        user_input: dict[str, Any] | None,
        error: FlowError | None = None,
    ) -> ConfigFlowResult:
        values = dict(self._current_values()) if user_input is None else user_input
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, self._suggestions(values)),
            errors={error.field: error.error} if error else {},
            description_placeholders={"detail": detail(error)},
        )

    async def _async_ssh_settings_step(
        self, steps: SshSteps, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """The connection settings; then the host key step."""
        if user_input is None:
            return self._ssh_form(steps.settings_step, steps.schema, None)
        try:
            data = ssh_settings(user_input, self._ssh_stored(), steps.kind_settings)
            host_key = await async_fetch_host_key(data[CONF_HOST], data[CONF_PORT])
        except FlowError as err:
            return self._ssh_form(steps.settings_step, steps.schema, user_input, err)
        except CommandError as err:
            return self._ssh_form(
                steps.settings_step, steps.schema, user_input, command_flow_error(err)
            )
        self._ssh_data = data
        self._ssh_host_key = host_key
        current = self._current_values()
        if (
            current.get(CONF_HOST_KEY) == host_key.openssh
            and current.get(CONF_HOST) == data[CONF_HOST]
            and current.get(CONF_PORT) == data[CONF_PORT]
        ):
            # Reconfiguring, and the server still presents the key pinned for it.
            return await self._async_ssh_host_key_step(steps, {})
        return await self._async_ssh_host_key_step(steps, None)

    async def _async_ssh_host_key_step(
        self, steps: SshSteps, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show the server's host key; pin it and log in once the user confirms it."""
        data, host_key = self._ssh_data, self._ssh_host_key
        if user_input is None:
            return self.async_show_form(
                step_id=steps.host_key_step,
                data_schema=probatio.Schema({}),
                description_placeholders=fingerprint_placeholders(
                    data[CONF_HOST], data[CONF_PORT], host_key
                ),
            )
        try:
            await steps.probe(self.hass, data, host_key)
        except FlowError as err:
            return self._ssh_form(steps.settings_step, steps.schema, data, err)
        return await self._async_finish(steps.validated({**data, CONF_HOST_KEY: host_key.openssh}))

    def _ssh_reauth_form(self, steps: SshSteps, error: FlowError | None = None) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        # An error on one of the kind's settings (not on this form) is shown for the whole form.
        field = error.field if error and error.field in REAUTH_SCHEMA.schema else "base"
        return self.async_show_form(
            step_id=steps.reauth_step,
            data_schema=REAUTH_SCHEMA,
            errors={field: error.error} if error else {},
            description_placeholders={
                "name": entry.title,
                "host": entry.data[CONF_HOST],
                "username": entry.data[CONF_USERNAME],
                "detail": detail(error),
            },
        )

    async def _async_ssh_reauth_step(
        self, steps: SshSteps, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Enter a new private key or password; first accept a changed host key, if any."""
        entry = self._get_reauth_entry()
        data = dict(entry.data)
        pinned = HostKey.parse(data[CONF_HOST_KEY])
        if user_input is None:
            # Reached once, when the reauth flow starts: has the host key changed?
            try:
                presented = await async_fetch_host_key(data[CONF_HOST], data[CONF_PORT])
            except CommandError:
                presented = pinned
            if presented != pinned:
                self._ssh_new_host_key = presented
                return await self._async_ssh_reauth_host_key_step(steps, None)
            return self._ssh_reauth_form(steps)
        host_key = self._ssh_new_host_key or pinned
        try:
            updated = {
                key: value
                for key, value in data.items()
                if key not in (CONF_PRIVATE_KEY, CONF_PASSWORD)
            }
            updated.update(credentials(user_input, {}))
            updated[CONF_HOST_KEY] = host_key.openssh
            await steps.probe(self.hass, updated, host_key)
        except FlowError as err:
            return self._ssh_reauth_form(steps, err)
        return self.async_update_reload_and_abort(entry, data=updated)

    async def _async_ssh_reauth_host_key_step(
        self, steps: SshSteps, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show the old and the new host key; trust the new one once the user accepts it."""
        entry = self._get_reauth_entry()
        data = dict(entry.data)
        presented = self._ssh_new_host_key or HostKey.parse(data[CONF_HOST_KEY])
        error: FlowError | None = None
        if user_input is not None:
            try:
                await steps.probe(self.hass, data, presented)
            except FlowError as err:
                if err.error == "ssh_invalid_auth":
                    # The new key is trusted now; the stored credentials are not accepted.
                    return self._ssh_reauth_form(steps, err)
                error = err
            else:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_HOST_KEY: presented.openssh}
                )
        return self.async_show_form(
            step_id=steps.reauth_host_key_step,
            data_schema=probatio.Schema({}),
            errors={"base": error.error} if error else {},
            description_placeholders={
                "name": entry.title,
                "detail": detail(error),
                "old_fingerprint": HostKey.parse(data[CONF_HOST_KEY]).fingerprint,
                **fingerprint_placeholders(data[CONF_HOST], data[CONF_PORT], presented),
            },
        )
