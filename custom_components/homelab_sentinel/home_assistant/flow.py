"""Config flow step of the home_assistant kind: one entry, nothing to ask."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.core import HomeAssistant
import probatio

from ..const import CONF_KIND, Kind
from ..flow_support import SentinelFlowBase, ValidatedEntry

UNIQUE_ID: Final = "home_assistant"
TITLE: Final = "Home Assistant"


async def validate(hass: HomeAssistant, user_input: dict[str, Any]) -> ValidatedEntry:
    """Nothing can be wrong: everything is read from this Home Assistant itself.

    A configuration file that does not parse is reported by the entry's sensor, not refused.
    """
    return ValidatedEntry(UNIQUE_ID, TITLE, {CONF_KIND: Kind.HOME_ASSISTANT.value})


class HomeAssistantFlowMixin(SentinelFlowBase):
    """The home_assistant step: a confirmation, once."""

    async def async_step_home_assistant(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Watch this Home Assistant; there is only one."""
        if self.source != SOURCE_RECONFIGURE:
            await self.async_set_unique_id(UNIQUE_ID)
            self._abort_if_unique_id_configured()
        return await self._async_form_step(
            Kind.HOME_ASSISTANT, probatio.Schema({}), validate, user_input
        )
