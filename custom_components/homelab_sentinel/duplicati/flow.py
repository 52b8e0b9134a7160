"""Config, reconfigure and reauth steps of the duplicati kind.

Step ``duplicati`` asks for the server and the way to sign in; a second step, one per method,
asks for the password or the token. Only what is needed to sign in again is stored: the password,
the pre-auth or forever token, or for a sign-in token the refresh state it was exchanged for,
never the one-time sign-in token itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from ..const import CONF_AUTH_METHOD, CONF_KIND, CONF_SIGNIN_STATE, Kind
from ..flow_support import FlowError, SentinelFlowBase, ValidatedEntry
from .auth import AuthMethod, SigninState
from .coordinator import create_client, normalize_url, server_title
from .exceptions import (
    DuplicatiAuthError,
    DuplicatiConnectionError,
    DuplicatiError,
    DuplicatiHostnameError,
    DuplicatiInvalidTokenError,
    DuplicatiResponseTooLargeError,
)

SERVER_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_URL): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
        ),
        probatio.Required(
            CONF_AUTH_METHOD, default=AuthMethod.PASSWORD.value
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[method.value for method in AuthMethod],
                translation_key=CONF_AUTH_METHOD,
                mode=selector.SelectSelectorMode.LIST,
            )
        ),
        probatio.Required(CONF_VERIFY_SSL, default=True): selector.BooleanSelector(),
    }
)
_SECRET = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
)


def secret_field(method: AuthMethod) -> str:
    """The form field, and the entry's data key, of a method's secret."""
    return CONF_PASSWORD if method is AuthMethod.PASSWORD else CONF_TOKEN


def _secret_schema(method: AuthMethod, *, optional: bool) -> probatio.Schema:
    marker = probatio.Optional if optional else probatio.Required
    return probatio.Schema({marker(secret_field(method)): _SECRET})


async def validate_credentials(
    hass: HomeAssistant,
    server: Mapping[str, Any],
    method: AuthMethod,
    secret: str | None,
    stored: Mapping[str, Any],
) -> ValidatedEntry:
    """Sign in once, as the coordinator will, and build the entry's data.

    ``secret`` is what the user typed; None means "keep the stored credentials" (``stored``
    being the entry's data).
    """
    url: str = server[CONF_URL]
    verify_ssl = bool(server[CONF_VERIFY_SSL])
    field = secret_field(method)
    states: list[SigninState] = []
    kept = CONF_SIGNIN_STATE if method is AuthMethod.SIGNIN_TOKEN else field
    if secret is None and not stored.get(kept):
        # A blank field and nothing stored to keep: the form asks again.
        raise FlowError("secret_required", field)
    try:
        if secret is None and method is AuthMethod.SIGNIN_TOKEN:
            client = create_client(
                hass,
                url,
                verify_ssl=verify_ssl,
                auth_method=method,
                signin_state=SigninState.from_dict(stored.get(CONF_SIGNIN_STATE) or {}),
                on_signin_state=states.append,
            )
        else:
            secret = secret if secret is not None else str(stored[field])
            client = create_client(
                hass,
                url,
                verify_ssl=verify_ssl,
                auth_method=method,
                secret=secret,
                on_signin_state=states.append,
            )
    except DuplicatiAuthError as err:
        # Not even the shape of a token (or a stored sign-in state gone bad).
        raise FlowError("invalid_token", field) from err
    try:
        await client.get_system_info()
    except DuplicatiInvalidTokenError as err:
        raise FlowError("invalid_token", field) from err
    except DuplicatiAuthError as err:
        raise FlowError("invalid_auth", field) from err
    except DuplicatiHostnameError as err:
        raise FlowError("hostname_not_allowed") from err
    except DuplicatiConnectionError as err:
        if isinstance(err.__cause__, aiohttp.ClientSSLError):
            raise FlowError("invalid_certificate") from err
        raise FlowError("cannot_connect") from err
    except DuplicatiResponseTooLargeError as err:
        raise FlowError("response_too_large") from err
    except DuplicatiError as err:
        raise FlowError("cannot_connect") from err
    finally:
        # A password login's token family is dropped; the coordinator starts its own.
        await client.close()

    data: dict[str, Any] = {
        CONF_KIND: Kind.DUPLICATI.value,
        CONF_URL: url,
        CONF_AUTH_METHOD: method.value,
        CONF_VERIFY_SSL: verify_ssl,
    }
    if method is AuthMethod.SIGNIN_TOKEN:
        data[CONF_SIGNIN_STATE] = states[-1].as_dict()
    else:
        data[field] = secret
    return ValidatedEntry(url, server_title(url), data)


class DuplicatiFlowMixin(SentinelFlowBase):
    """The duplicati steps: server, then the password or token; and reauth."""

    _duplicati_server: dict[str, Any]

    async def async_step_duplicati(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A Duplicati server and how to sign in to it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                url = normalize_url(str(user_input[CONF_URL]))
            except ValueError:
                errors[CONF_URL] = "invalid_url"
            else:
                if self.source != SOURCE_RECONFIGURE:
                    await self.async_set_unique_id(url)
                    self._abort_if_unique_id_configured()
                method = AuthMethod(user_input[CONF_AUTH_METHOD])
                self._duplicati_server = {
                    CONF_URL: url,
                    CONF_AUTH_METHOD: method,
                    CONF_VERIFY_SSL: bool(user_input.get(CONF_VERIFY_SSL, True)),
                }
                return await self._async_secret_step(method, None)
        return self.async_show_form(
            step_id=Kind.DUPLICATI.value,
            data_schema=self.add_suggested_values_to_schema(
                SERVER_SCHEMA,
                self._suggestions(user_input if user_input is not None else self._current_values()),
            ),
            errors=errors,
            # hassfest keeps URLs out of the strings; the example comes in as a placeholder.
            description_placeholders={"url_example": "http://nas.lan:8200"},
        )

    async def async_step_duplicati_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The web UI's password."""
        return await self._async_secret_step(AuthMethod.PASSWORD, user_input)

    async def async_step_duplicati_signin_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A sign-in link or token, exchanged once for a refresh token."""
        return await self._async_secret_step(AuthMethod.SIGNIN_TOKEN, user_input)

    async def async_step_duplicati_preauth_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A token from --webservice-pre-auth-tokens."""
        return await self._async_secret_step(AuthMethod.PREAUTH_TOKEN, user_input)

    async def async_step_duplicati_forever_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A forever token from `duplicati-server-util issue-forever-token`."""
        return await self._async_secret_step(AuthMethod.FOREVER_TOKEN, user_input)

    def _stored_credentials(self, method: AuthMethod) -> Mapping[str, Any] | None:
        """When reconfiguring without changing the method, the credentials to keep."""
        if self.source != SOURCE_RECONFIGURE:
            return None
        data = self._get_reconfigure_entry().data
        return data if data.get(CONF_AUTH_METHOD) == method.value else None

    async def _async_secret_step(
        self, method: AuthMethod, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        stored = self._stored_credentials(method)
        errors: dict[str, str] = {}
        if user_input is not None:
            secret = str(user_input.get(secret_field(method)) or "").strip() or None
            try:
                validated = await validate_credentials(
                    self.hass, self._duplicati_server, method, secret, stored or {}
                )
            except FlowError as err:
                errors[err.field] = err.error
            else:
                return await self._async_finish(validated)
        return self.async_show_form(
            step_id=f"{Kind.DUPLICATI.value}_{method.value}",
            data_schema=_secret_schema(method, optional=stored is not None),
            errors=errors,
            description_placeholders={"url": self._duplicati_server[CONF_URL]},
        )

    async def async_step_reauth_duplicati(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New credentials for a server that refused the stored ones.

        A sign-in-token entry whose token family is gone accepts a new sign-in token, or the
        password (the entry then signs in with the password from now on).
        """
        entry = self._get_reauth_entry()
        method = AuthMethod(entry.data[CONF_AUTH_METHOD])
        server = {
            CONF_URL: entry.data[CONF_URL],
            CONF_VERIFY_SSL: entry.data.get(CONF_VERIFY_SSL, True),
        }
        signin = method is AuthMethod.SIGNIN_TOKEN
        errors: dict[str, str] = {}
        if user_input is not None:
            token = str(user_input.get(CONF_TOKEN) or "").strip()
            password = str(user_input.get(CONF_PASSWORD) or "")
            if signin and password and not token:
                method = AuthMethod.PASSWORD
            secret = password if method is AuthMethod.PASSWORD else token
            if not secret:
                errors["base"] = "credentials_required"
            else:
                try:
                    validated = await validate_credentials(
                        self.hass, server, method, secret, entry.data
                    )
                except FlowError as err:
                    errors[err.field] = err.error
                else:
                    return self.async_update_reload_and_abort(entry, data=validated.data)
        if signin:
            schema = probatio.Schema(
                {probatio.Optional(CONF_TOKEN): _SECRET, probatio.Optional(CONF_PASSWORD): _SECRET}
            )
        else:
            schema = _secret_schema(method, optional=False)
        return self.async_show_form(
            step_id="reauth_duplicati",
            data_schema=schema,
            errors=errors,
            description_placeholders={"url": server[CONF_URL], "server": entry.title},
        )
