"""Config flow step of the fail2ban kind."""

from __future__ import annotations

import os
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_PATH
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from ..const import CONF_KIND, CONF_SOURCE, Kind
from ..flow_support import FlowError, SentinelFlowBase, ValidatedEntry
from .client import Fail2banError, Fail2banSourceKind, probe
from .coordinator import error_key

DEFAULT_PATHS = {
    Fail2banSourceKind.DATABASE: "/var/lib/fail2ban/fail2ban.sqlite3",
    Fail2banSourceKind.LOG: "/var/log/fail2ban.log",
}

SCHEMA = probatio.Schema(
    {
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
    real = os.path.realpath(os.path.expanduser(path))  # noqa: PTH111
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


class Fail2banFlowMixin(SentinelFlowBase):
    """The fail2ban step."""

    async def async_step_fail2ban(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """fail2ban's database (preferred) or its log."""
        return await self._async_form_step(Kind.FAIL2BAN, SCHEMA, validate, user_input)
