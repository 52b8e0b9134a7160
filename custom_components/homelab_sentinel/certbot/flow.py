"""Config, reconfigure and reauth flow steps of the certbot kind.

Adding certbot over SSH takes two steps: the connection settings, then the server's host key,
shown as a fingerprint and pinned once the user confirms it. No credential is sent to a server
before its host key is confirmed.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from ..const import (
    CONF_ACME_SERVER,
    CONF_CERTBOT_COMMAND,
    CONF_CONFIG_DIR,
    CONF_HOST_KEY,
    CONF_KIND,
    CONF_PRIVATE_KEY,
    CONF_TRANSPORT,
    CONF_USE_SUDO,
    Kind,
)
from ..flow_support import FlowError, SentinelFlowBase, ValidatedEntry
from ..transport import (
    CommandError,
    HostKey,
    InvalidKeyError,
    async_fetch_host_key,
    load_private_key,
)
from .client import (
    DEFAULT_COMMAND,
    DEFAULT_CONFIG_DIR,
    LETS_ENCRYPT_DIRECTORY,
    CertbotError,
    InvalidSettingError,
    parse_command,
    validate_acme_server,
    validate_config_dir,
)
from .coordinator import TRANSPORT_LOCAL, TRANSPORT_SSH, command_lock, error_key, make_client

_TEXT = selector.TextSelector()
_PASSWORD = selector.TextSelector(
    selector.TextSelectorConfig(
        type=selector.TextSelectorType.PASSWORD, autocomplete="current-password"
    )
)
_PRIVATE_KEY = selector.TextSelector(selector.TextSelectorConfig(multiline=True))

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

_CERTBOT_FIELDS = {
    probatio.Required(CONF_CERTBOT_COMMAND, default=DEFAULT_COMMAND): _TEXT,
    probatio.Required(CONF_CONFIG_DIR, default=DEFAULT_CONFIG_DIR): _TEXT,
    probatio.Required(CONF_ACME_SERVER, default=LETS_ENCRYPT_DIRECTORY): selector.TextSelector(
        selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
    ),
}

LOCAL_SCHEMA = probatio.Schema(_CERTBOT_FIELDS)

SSH_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_HOST): _TEXT,
        probatio.Required(CONF_PORT, default=22): selector.NumberSelector(
            selector.NumberSelectorConfig(min=1, max=65535, mode=selector.NumberSelectorMode.BOX)
        ),
        probatio.Required(CONF_USERNAME): selector.TextSelector(
            selector.TextSelectorConfig(autocomplete="username")
        ),
        probatio.Optional(CONF_PRIVATE_KEY): _PRIVATE_KEY,
        probatio.Optional(CONF_PASSWORD): _PASSWORD,
        probatio.Required(CONF_USE_SUDO, default=False): selector.BooleanSelector(),
        **_CERTBOT_FIELDS,
    }
)

REAUTH_SCHEMA = probatio.Schema(
    {
        probatio.Optional(CONF_PRIVATE_KEY): _PRIVATE_KEY,
        probatio.Optional(CONF_PASSWORD): _PASSWORD,
    }
)


class _CertbotFlowError(FlowError):
    """A flow error with what certbot, sudo or the server said, shown with the error."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(error)
        self.detail = detail


def _detail(err: FlowError) -> str:
    return err.detail if isinstance(err, _CertbotFlowError) else ""


_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:[]_")


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


def _credentials(user_input: dict[str, Any], stored: dict[str, str]) -> dict[str, str]:
    """The private key or password entered, or, when neither is, the stored ones."""
    private_key = str(user_input.get(CONF_PRIVATE_KEY) or "").strip()
    password = str(user_input.get(CONF_PASSWORD) or "")
    if not private_key and not password:
        if not stored:
            raise FlowError("ssh_credentials_required")
        return dict(stored)
    credentials: dict[str, str] = {}
    if private_key:
        try:
            load_private_key(private_key)
        except InvalidKeyError as err:
            raise FlowError("invalid_private_key", CONF_PRIVATE_KEY) from err
        credentials[CONF_PRIVATE_KEY] = private_key + "\n"
    if password:
        credentials[CONF_PASSWORD] = password
    return credentials


def _ssh_settings(user_input: dict[str, Any], stored: dict[str, str]) -> dict[str, Any]:
    host = str(user_input[CONF_HOST]).strip().lower()
    if not host or not set(host) <= _HOST_CHARACTERS or host.startswith("-"):
        raise FlowError("invalid_host", CONF_HOST)
    username = str(user_input[CONF_USERNAME]).strip()
    if not username or username.startswith("-") or any(c.isspace() for c in username):
        raise FlowError("invalid_username", CONF_USERNAME)
    return {
        CONF_TRANSPORT: TRANSPORT_SSH,
        CONF_HOST: host,
        CONF_PORT: int(user_input[CONF_PORT]),
        CONF_USERNAME: username,
        CONF_USE_SUDO: bool(user_input.get(CONF_USE_SUDO, False)),
        **_certbot_settings(user_input),
        **_credentials(user_input, stored),
    }


def _stored_credentials(data: dict[str, Any]) -> dict[str, str]:
    return {key: data[key] for key in (CONF_PRIVATE_KEY, CONF_PASSWORD) if data.get(key)}


async def _probe(
    hass: HomeAssistant, data: dict[str, Any], host_key: HostKey | None = None
) -> None:
    """List the certificates once, as the coordinator will."""
    try:
        async with command_lock(hass, data):
            await make_client(data, host_key).certificates()
    except CertbotError as err:
        raise _CertbotFlowError(error_key(err), err.detail) from err
    except CommandError as err:
        raise _CertbotFlowError(error_key(err), str(err)) from err


def _validated(data: dict[str, Any]) -> ValidatedEntry:
    transport = data[CONF_TRANSPORT]
    host = data.get(CONF_HOST) or "local"
    title = "certbot (local)" if transport == TRANSPORT_LOCAL else f"certbot ({host})"
    return ValidatedEntry(
        f"certbot:{transport}:{host}:{data[CONF_CONFIG_DIR]}",
        title,
        {CONF_KIND: Kind.CERTBOT.value, **data},
    )


def _fingerprint_placeholders(host: str, port: int, host_key: HostKey) -> dict[str, str]:
    return {
        "host": host,
        "port": str(port),
        "algorithm": host_key.algorithm,
        "fingerprint": host_key.fingerprint,
    }


class CertbotFlowMixin(SentinelFlowBase):
    """The certbot steps: where certbot runs, how to reach it, and its SSH host key."""

    # The SSH settings entered, and the host key the server presented, until it is confirmed.
    _certbot_data: dict[str, Any]
    _certbot_host_key: HostKey
    # In a reauth flow: the changed host key the server presents, once seen.
    _certbot_new_host_key: HostKey | None = None

    def _certbot_stored(self) -> dict[str, str]:
        """Credentials entered earlier in this flow, or stored in the reconfigured entry."""
        if hasattr(self, "_certbot_data"):
            return _stored_credentials(self._certbot_data)
        return _stored_credentials(dict(self._current_values()))

    def _certbot_form(
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
            description_placeholders={"detail": _detail(error) if error else ""},
        )

    async def async_step_certbot(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Certbot on this machine, or on another one over SSH."""
        if user_input is None:
            return self._certbot_form(Kind.CERTBOT, TRANSPORT_SCHEMA, None)
        if user_input[CONF_TRANSPORT] == TRANSPORT_SSH:
            return await self.async_step_certbot_ssh()
        return await self.async_step_certbot_local()

    async def async_step_certbot_local(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Certbot on the machine Home Assistant runs on."""
        if user_input is None:
            return self._certbot_form("certbot_local", LOCAL_SCHEMA, None)
        try:
            data = {CONF_TRANSPORT: TRANSPORT_LOCAL, **_certbot_settings(user_input)}
            await _probe(self.hass, data)
        except FlowError as err:
            return self._certbot_form("certbot_local", LOCAL_SCHEMA, user_input, err)
        return await self._async_finish(_validated(data))

    async def async_step_certbot_ssh(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Certbot on another machine, over SSH; next comes its host key."""
        if user_input is None:
            return self._certbot_form("certbot_ssh", SSH_SCHEMA, None)
        try:
            data = _ssh_settings(user_input, self._certbot_stored())
            host_key = await async_fetch_host_key(data[CONF_HOST], data[CONF_PORT])
        except FlowError as err:
            return self._certbot_form("certbot_ssh", SSH_SCHEMA, user_input, err)
        except CommandError as err:
            return self._certbot_form(
                "certbot_ssh", SSH_SCHEMA, user_input, _CertbotFlowError(error_key(err), str(err))
            )
        self._certbot_data = data
        self._certbot_host_key = host_key
        current = self._current_values()
        if (
            current.get(CONF_HOST_KEY) == host_key.openssh
            and current.get(CONF_HOST) == data[CONF_HOST]
            and current.get(CONF_PORT) == data[CONF_PORT]
        ):
            # Reconfiguring, and the server still presents the key pinned for it.
            return await self.async_step_certbot_host_key({})
        return await self.async_step_certbot_host_key()

    async def async_step_certbot_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the server's host key; pin it and log in once the user confirms it."""
        data, host_key = self._certbot_data, self._certbot_host_key
        if user_input is None:
            return self.async_show_form(
                step_id="certbot_host_key",
                data_schema=probatio.Schema({}),
                description_placeholders=_fingerprint_placeholders(
                    data[CONF_HOST], data[CONF_PORT], host_key
                ),
            )
        try:
            await _probe(self.hass, data, host_key)
        except FlowError as err:
            return self._certbot_form("certbot_ssh", SSH_SCHEMA, data, err)
        return await self._async_finish(_validated({**data, CONF_HOST_KEY: host_key.openssh}))

    def _reauth_form(self, error: FlowError | None = None) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        return self.async_show_form(
            step_id="reauth_certbot",
            data_schema=REAUTH_SCHEMA,
            errors={error.field: error.error} if error else {},
            description_placeholders={
                "name": entry.title,
                "host": entry.data[CONF_HOST],
                "username": entry.data[CONF_USERNAME],
                "detail": _detail(error) if error else "",
            },
        )

    async def async_step_reauth_certbot(
        self, user_input: dict[str, Any] | None = None
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
                self._certbot_new_host_key = presented
                return await self.async_step_reauth_certbot_host_key()
            return self._reauth_form()
        host_key = self._certbot_new_host_key or pinned
        try:
            updated = {
                key: value
                for key, value in data.items()
                if key not in (CONF_PRIVATE_KEY, CONF_PASSWORD)
            }
            updated.update(_credentials(user_input, {}))
            updated[CONF_HOST_KEY] = host_key.openssh
            await _probe(self.hass, updated, host_key)
        except FlowError as err:
            return self._reauth_form(err)
        return self.async_update_reload_and_abort(entry, data=updated)

    async def async_step_reauth_certbot_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the old and the new host key; trust the new one once the user accepts it."""
        entry = self._get_reauth_entry()
        data = dict(entry.data)
        presented = self._certbot_new_host_key or HostKey.parse(data[CONF_HOST_KEY])
        error: FlowError | None = None
        if user_input is not None:
            try:
                await _probe(self.hass, data, presented)
            except FlowError as err:
                if err.error == "ssh_invalid_auth":
                    # The new key is trusted now; the stored credentials are not accepted.
                    return self._reauth_form(err)
                error = err
            else:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_HOST_KEY: presented.openssh}
                )
        return self.async_show_form(
            step_id="reauth_certbot_host_key",
            data_schema=probatio.Schema({}),
            errors={"base": error.error} if error else {},
            description_placeholders={
                "name": entry.title,
                "detail": _detail(error) if error else "",
                "old_fingerprint": HostKey.parse(data[CONF_HOST_KEY]).fingerprint,
                **_fingerprint_placeholders(data[CONF_HOST], data[CONF_PORT], presented),
            },
        )
