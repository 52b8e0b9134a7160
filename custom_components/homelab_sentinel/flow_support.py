"""What every kind's config flow step shares: validation results, errors and finishing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant
import probatio

from .input_rules import InvalidHostError, InvalidNumberError, finite_number, validate_host

# Never sent back to the browser as a form's suggested value.
# Never shown again in a form: credentials, and the heartbeat's webhook ID (whoever knows it can
# report for the job).
SECRET_FIELDS = frozenset({CONF_PASSWORD, CONF_TOKEN, "private_key", CONF_WEBHOOK_ID})


class FlowError(Exception):
    """Validation failed; shown as a form error on a field, or on the whole form."""

    def __init__(self, error: str, field: str = "base") -> None:
        """Name the translated error and the field it belongs to."""
        super().__init__(error)
        self.error = error
        self.field = field


def flow_host(value: object, field: str) -> str:
    """A host or server name from a form (see input_rules.validate_host); FlowError if not."""
    try:
        return validate_host(value)
    except InvalidHostError as err:
        raise FlowError("invalid_host", field) from err


def flow_number(value: object, field: str, *, minimum: float, maximum: float) -> int:
    """A whole number from a form's number field; ``nan``, infinities, out of range: FlowError."""
    try:
        return finite_number(value, minimum=minimum, maximum=maximum)
    except InvalidNumberError as err:
        raise FlowError("invalid_number", field) from err


@dataclass(frozen=True, slots=True)
class ValidatedEntry:
    """What a successful validation yields: the entry to create or update."""

    unique_id: str
    title: str
    data: dict[str, Any]


type Validator = Callable[[HomeAssistant, dict[str, Any]], Awaitable[ValidatedEntry]]


class SentinelFlowBase(ConfigFlow):
    """Runs a kind's form for both adding and reconfiguring an entry."""

    def _current_values(self) -> Mapping[str, Any]:
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry().data
        return {}

    @staticmethod
    def _suggestions(values: Mapping[str, Any]) -> dict[str, Any]:
        """Values to prefill a form with; secrets are left out."""
        return {key: value for key, value in values.items() if key not in SECRET_FIELDS}

    async def _async_form_step(
        self,
        step_id: str,
        schema: probatio.Schema,
        validate: Validator,
        user_input: dict[str, Any] | None,
        *,
        placeholders: Mapping[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Show the form; on submission validate, then create or update the entry."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                validated = await validate(self.hass, user_input)
            except FlowError as err:
                errors[err.field] = err.error
            else:
                return await self._async_finish(validated)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema,
                self._suggestions(user_input if user_input is not None else self._current_values()),
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_finish(self, validated: ValidatedEntry) -> ConfigFlowResult:
        await self.async_set_unique_id(validated.unique_id)
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if validated.unique_id != entry.unique_id:
                self._abort_if_unique_id_configured()
            return self.async_update_reload_and_abort(
                entry, unique_id=validated.unique_id, title=validated.title, data=validated.data
            )
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=validated.title, data=validated.data)
