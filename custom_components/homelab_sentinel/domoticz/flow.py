"""Config, reconfigure and reauth flow steps of the domoticz kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio
from yarl import URL

from ..const import CONF_KIND, Kind
from ..flow_support import FlowError, SentinelFlowBase, ValidatedEntry
from ..input_rules import validate_host
from .client import (
    DomoticzAuthError,
    DomoticzCertificateError,
    DomoticzConnectionError,
    DomoticzError,
    DomoticzResponseTooLargeError,
    DomoticzTwoFactorError,
)
from .coordinator import CONF_OAUTH_REFUSED, make_client, without_oauth_refusal

_DEFAULT_PORTS = {"http": 80, "https": 443}

_PASSWORD_SELECTOR = selector.TextSelector(
    selector.TextSelectorConfig(
        type=selector.TextSelectorType.PASSWORD, autocomplete="current-password"
    )
)
_USERNAME_SELECTOR = selector.TextSelector(selector.TextSelectorConfig(autocomplete="username"))

DOMOTICZ_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_URL): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
        ),
        probatio.Optional(CONF_USERNAME): _USERNAME_SELECTOR,
        probatio.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
        probatio.Required(CONF_VERIFY_SSL, default=True): selector.BooleanSelector(),
    }
)

_REAUTH_FIELDS = (CONF_USERNAME, CONF_PASSWORD)
REAUTH_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_USERNAME): _USERNAME_SELECTOR,
        probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
    }
)


def normalize_url(raw: str) -> str:
    """The web root as the entry stores it and as its unique_id.

    Lowercase scheme and host, no default port, no trailing slash, no query; a bare
    "host:port" is taken as http. Raises ValueError for anything but an http(s) URL without
    credentials.
    """
    text = raw.strip()
    if "://" not in text:
        text = f"http://{text}"
    url = URL(text)
    scheme = (url.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS or not url.host:
        raise ValueError("not an http:// or https:// URL")
    if url.user is not None or url.password is not None:
        raise ValueError("credentials in the URL")
    validate_host(url.host)
    port = url.explicit_port
    return str(
        URL.build(
            scheme=scheme,
            host=url.host.lower(),
            port=None if port in (None, _DEFAULT_PORTS[scheme]) else port,
            path=url.path.rstrip("/"),
        )
    )


def _title(url: str) -> str:
    parsed = URL(url)
    port = f":{parsed.explicit_port}" if parsed.explicit_port is not None else ""
    return f"{parsed.host}{port}{parsed.path.rstrip('/')}"


async def validate_domoticz(
    hass: HomeAssistant,
    user_input: dict[str, Any],
    *,
    stored_password: str | None = None,
    previous: Mapping[str, Any] | None = None,
) -> ValidatedEntry:
    """Poll Domoticz once with the given credentials, as the coordinator will.

    stored_password stands in for a password left empty (reconfigure keeps the old one).
    previous is the data of the entry being changed: while the server and the credentials stay
    the same, what it learnt of the server's OAuth2 grant still holds.
    """
    try:
        url = normalize_url(str(user_input[CONF_URL]))
    except ValueError as err:
        raise FlowError("invalid_url", CONF_URL) from err
    username = str(user_input.get(CONF_USERNAME) or "").strip()
    password = str(user_input.get(CONF_PASSWORD) or "")
    if username and not password and stored_password:
        password = stored_password
    if password and not username:
        raise FlowError("username_required", CONF_USERNAME)
    verify_ssl = bool(user_input.get(CONF_VERIFY_SSL, True))
    known_refusal: str | None = None
    if previous is not None and (url, username, password) == (
        previous.get(CONF_URL),
        previous.get(CONF_USERNAME, ""),
        previous.get(CONF_PASSWORD, ""),
    ):
        known_refusal = previous.get(CONF_OAUTH_REFUSED)
    client = make_client(
        hass, url, username, password, verify_ssl, oauth_refused=known_refusal is not None
    )
    try:
        snapshot = await client.async_validate()
    except DomoticzTwoFactorError as err:
        raise FlowError("two_factor_required") from err
    except DomoticzAuthError as err:
        raise FlowError("invalid_auth") from err
    except DomoticzCertificateError as err:
        raise FlowError("invalid_certificate") from err
    except DomoticzConnectionError as err:
        raise FlowError("cannot_connect") from err
    except DomoticzResponseTooLargeError as err:
        raise FlowError("response_too_large") from err
    except DomoticzError as err:
        raise FlowError("invalid_response") from err
    finally:
        await client.async_close()
    data: dict[str, Any] = {
        CONF_KIND: Kind.DOMOTICZ.value,
        CONF_URL: url,
        CONF_VERIFY_SSL: verify_ssl,
    }
    if username:
        data[CONF_USERNAME] = username
        data[CONF_PASSWORD] = password
    if client.oauth_refused:
        data[CONF_OAUTH_REFUSED] = snapshot.version or known_refusal or ""
    return ValidatedEntry(url, _title(url), data)


class DomoticzFlowMixin(SentinelFlowBase):
    """The domoticz step, and the reauth step it needs when the password changes."""

    async def async_step_domoticz(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A Domoticz server, with or without credentials."""
        previous: Mapping[str, Any] | None = None
        if self.source == SOURCE_RECONFIGURE:
            previous = self._get_reconfigure_entry().data

        async def validate(hass: HomeAssistant, values: dict[str, Any]) -> ValidatedEntry:
            return await validate_domoticz(
                hass,
                values,
                stored_password=previous.get(CONF_PASSWORD) if previous else None,
                previous=previous,
            )

        return await self._async_form_step(
            Kind.DOMOTICZ,
            DOMOTICZ_SCHEMA,
            validate,
            user_input,
            # hassfest keeps URLs out of the strings; the example comes in as a placeholder.
            placeholders={"https_example": "https://domoticz.lan"},
        )

    async def async_step_reauth_domoticz(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the credentials again after Domoticz rejected them."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                validated = await validate_domoticz(
                    self.hass, {**entry.data, **user_input}, previous=entry.data
                )
            except FlowError as err:
                errors[err.field if err.field in _REAUTH_FIELDS else "base"] = err.error
            else:
                learnt = {
                    key: validated.data[key]
                    for key in (CONF_USERNAME, CONF_PASSWORD, CONF_OAUTH_REFUSED)
                    if key in validated.data
                }
                return self.async_update_reload_and_abort(
                    entry, data={**without_oauth_refusal(entry.data), **learnt}
                )
        return self.async_show_form(
            step_id="reauth_domoticz",
            data_schema=self.add_suggested_values_to_schema(
                REAUTH_SCHEMA, {CONF_USERNAME: entry.data.get(CONF_USERNAME, "")}
            ),
            errors=errors,
            description_placeholders={"name": entry.title, "url": entry.data[CONF_URL]},
        )
