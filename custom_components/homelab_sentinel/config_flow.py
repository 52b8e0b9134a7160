"""Config, reconfigure and options flows: a menu of kinds, one step per kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlowResult,
    OptionsFlow,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import callback
from homeassistant.helpers import selector
import probatio

from .certbot.flow import CertbotFlowMixin
from .certificate.flow import CertificateFlowMixin
from .const import (
    CONF_CHECK_PLAIN_HTTP,
    CONF_KIND,
    CONF_MAX_AGE_HOURS,
    CONF_TOKEN_MAX_AGE_DAYS,
    CONF_WARNING_DAYS,
    DEFAULT_CHECK_PLAIN_HTTP,
    DEFAULT_MAX_AGE_HOURS,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_TOKEN_MAX_AGE_DAYS,
    DEFAULT_WARNING_DAYS,
    DOMAIN,
    Kind,
)
from .domoticz.flow import DomoticzFlowMixin
from .duplicati.flow import DuplicatiFlowMixin
from .fail2ban.flow import Fail2banFlowMixin
from .flow_support import FlowError, flow_number
from .heartbeat.flow import HeartbeatFlowMixin, HeartbeatOptionsFlow
from .home_assistant.flow import HomeAssistantFlowMixin
from .host.flow import HostFlowMixin


def _seconds(minimum: int) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=7 * 24 * 3600,
            unit_of_measurement="s",
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def _days() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=1, max=365, unit_of_measurement="d", mode=selector.NumberSelectorMode.BOX
        )
    )


def _hours() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=1, max=24 * 366, unit_of_measurement="h", mode=selector.NumberSelectorMode.BOX
        )
    )


# Thresholds each kind offers beside the scan interval, with their defaults.
_KIND_OPTIONS: dict[Kind, dict[str, tuple[Any, selector.Selector[Any]]]] = {
    Kind.CERTIFICATE: {
        CONF_WARNING_DAYS: (DEFAULT_WARNING_DAYS, _days()),
        CONF_CHECK_PLAIN_HTTP: (DEFAULT_CHECK_PLAIN_HTTP, selector.BooleanSelector()),
    },
    Kind.CERTIFICATE_FILE: {CONF_WARNING_DAYS: (DEFAULT_WARNING_DAYS, _days())},
    Kind.FAIL2BAN: {},
    Kind.DUPLICATI: {CONF_MAX_AGE_HOURS: (DEFAULT_MAX_AGE_HOURS, _hours())},
    Kind.DOMOTICZ: {},
    Kind.CERTBOT: {CONF_WARNING_DAYS: (DEFAULT_WARNING_DAYS, _days())},
    Kind.HOST: {},
    Kind.HOME_ASSISTANT: {
        CONF_TOKEN_MAX_AGE_DAYS: (
            DEFAULT_TOKEN_MAX_AGE_DAYS,
            selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=3650, unit_of_measurement="d", mode=selector.NumberSelectorMode.BOX
                )
            ),
        )
    },
    # Not polled; its own options flow (heartbeat/flow.py) has no scan interval.
}
_MINIMUM_SCAN_INTERVAL = 10
# The bounds of each option's field, checked again on submission (nan passes the selector).
_BOUNDS: dict[str, tuple[int, int]] = {
    CONF_SCAN_INTERVAL: (_MINIMUM_SCAN_INTERVAL, 7 * 24 * 3600),
    CONF_WARNING_DAYS: (1, 365),
    CONF_MAX_AGE_HOURS: (1, 24 * 366),
    CONF_TOKEN_MAX_AGE_DAYS: (1, 3650),
}


def options_schema(kind: Kind) -> probatio.Schema:
    """The options form of a kind."""
    fields: dict[Any, Any] = {
        probatio.Required(
            CONF_SCAN_INTERVAL, default=int(DEFAULT_SCAN_INTERVAL[kind].total_seconds())
        ): _seconds(_MINIMUM_SCAN_INTERVAL),
    }
    for key, (default, field_selector) in _KIND_OPTIONS[kind].items():
        fields[probatio.Required(key, default=default)] = field_selector
    return probatio.Schema(fields)


class HomelabSentinelConfigFlow(
    CertificateFlowMixin,
    Fail2banFlowMixin,
    DuplicatiFlowMixin,
    DomoticzFlowMixin,
    CertbotFlowMixin,
    HostFlowMixin,
    HomeAssistantFlowMixin,
    HeartbeatFlowMixin,
    domain=DOMAIN,
):
    """Add one monitored thing per entry."""

    VERSION = 1
    # 1.2: certificate_file entries keep certbot's live/ link instead of its archive/ target.
    MINOR_VERSION = 2

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask what to monitor."""
        return self.async_show_menu(step_id="user", menu_options=[kind.value for kind in Kind])

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change what an entry monitors, through its kind's own step."""
        kind = Kind(self._get_reconfigure_entry().data[CONF_KIND])
        step = getattr(self, f"async_step_{kind.value}")
        result: ConfigFlowResult = await step()
        return result

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Ask again for credentials the server stopped accepting, through the kind's step."""
        step = getattr(self, f"async_step_reauth_{Kind(entry_data[CONF_KIND]).value}")
        result: ConfigFlowResult = await step()
        return result

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Options: scan interval and the kind's thresholds."""
        if config_entry.data[CONF_KIND] == Kind.HEARTBEAT:
            return HeartbeatOptionsFlow()
        return SentinelOptionsFlow()


class SentinelOptionsFlow(OptionsFlowWithReload):
    """Scan interval and thresholds; the entry reloads when they change."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and store the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                data = {
                    key: value
                    if isinstance(value, bool)
                    else flow_number(value, key, minimum=_BOUNDS[key][0], maximum=_BOUNDS[key][1])
                    for key, value in user_input.items()
                }
            except FlowError as err:
                errors[err.field] = err.error
            else:
                return self.async_create_entry(data=data)
        schema = options_schema(Kind(self.config_entry.data[CONF_KIND]))
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input if user_input is not None else self.config_entry.options
            ),
            errors=errors,
        )
