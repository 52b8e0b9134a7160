"""Config and options flow steps of the heartbeat kind, and the examples they show."""

from __future__ import annotations

from collections.abc import Mapping
import shlex
from typing import Any

from homeassistant.components import webhook
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_NAME, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util import slugify
import probatio

from ..const import (
    CONF_ALLOW_INTERNET,
    CONF_GRACE_MINUTES,
    CONF_KIND,
    CONF_PERIOD_HOURS,
    DEFAULT_GRACE_MINUTES,
    DEFAULT_PERIOD_HOURS,
    Kind,
)
from ..flow_support import FlowError, SentinelFlowBase, ValidatedEntry, flow_number

# Shown where Home Assistant knows no address of its own; the user puts in the real one.
_UNKNOWN_BASE = "http://homeassistant.local:8123"
_CURL = "curl -fsS -m 10 --retry 3"
MAX_NAME_LENGTH = 100


# The bounds of the schedule's fields, checked again on submission (nan passes the selector).
_BOUNDS = {CONF_PERIOD_HOURS: (1, 24 * 366), CONF_GRACE_MINUTES: (0, 7 * 24 * 60)}


def _period() -> selector.NumberSelector:
    low, high = _BOUNDS[CONF_PERIOD_HOURS]
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=low, max=high, unit_of_measurement="h", mode=selector.NumberSelectorMode.BOX
        )
    )


def _grace() -> selector.NumberSelector:
    low, high = _BOUNDS[CONF_GRACE_MINUTES]
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=low, max=high, unit_of_measurement="min", mode=selector.NumberSelectorMode.BOX
        )
    )


def _usable_name(name: str) -> bool:
    """A name for a device and its unique ID: short, printable, not only punctuation."""
    return (
        len(name) <= MAX_NAME_LENGTH
        and name.isprintable()
        # slugify() turns a name without letters or digits into "unknown".
        and any(character.isalnum() for character in name)
    )


def schedule_numbers(user_input: Mapping[str, Any]) -> dict[str, int]:
    """Period and grace time from a form, as whole numbers; FlowError for one out of bounds."""
    return {
        key: flow_number(user_input[key], key, minimum=low, maximum=high)
        for key, (low, high) in _BOUNDS.items()
    }


HEARTBEAT_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_NAME): selector.TextSelector(),
        probatio.Required(CONF_PERIOD_HOURS, default=DEFAULT_PERIOD_HOURS): _period(),
        probatio.Required(CONF_GRACE_MINUTES, default=DEFAULT_GRACE_MINUTES): _grace(),
    }
)

OPTIONS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_PERIOD_HOURS, default=DEFAULT_PERIOD_HOURS): _period(),
        probatio.Required(CONF_GRACE_MINUTES, default=DEFAULT_GRACE_MINUTES): _grace(),
        probatio.Required(CONF_ALLOW_INTERNET, default=False): selector.BooleanSelector(),
    }
)


def _base_url(hass: HomeAssistant, *, external: bool) -> str | None:
    try:
        return get_url(
            hass,
            allow_internal=not external,
            allow_external=external,
            allow_cloud=False,
            prefer_external=external,
        )
    except NoURLAvailableError:
        return None


def usage_placeholders(
    hass: HomeAssistant, webhook_id: str, *, allow_internet: bool
) -> dict[str, str]:
    """The webhook's addresses and copy-ready examples, as description placeholders."""
    path = webhook.async_generate_path(webhook_id)
    internal = _base_url(hass, external=False)
    external = _base_url(hass, external=True) if allow_internet else None
    url = f"{internal or external or _UNKNOWN_BASE}{path}"
    quoted = shlex.quote(url)
    wrapper = "\n".join(
        (
            "#!/bin/sh",
            f"url={quoted}",
            f'{_CURL} "$url?status=start" > /dev/null',
            "restic backup /srv/data  # or borg create, pg_dump, rsync ...",
            "code=$?",
            f'{_CURL} "$url?exit_code=$code" > /dev/null',
            'exit "$code"',
        )
    )
    cron = f'0 3 * * * /usr/local/bin/backup.sh; {_CURL} "{url}?exit_code=$?" > /dev/null'
    return {
        "internal_url": f"`{internal}{path}`" if internal else "-",
        "external_url": f"`{external}{path}`" if external else "-",
        "cron": f"```\n{cron}\n```",
        "wrapper": f"```\n{wrapper}\n```",
        "duplicati": f"```\n--send-http-url={url}\n--send-http-result-output-format=Json\n```",
    }


class HeartbeatFlowMixin(SentinelFlowBase):
    """The heartbeat step, then the step that shows the new webhook's address and examples."""

    _heartbeat: ValidatedEntry

    async def async_step_heartbeat(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Name the job and how often it must succeed."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip()
            try:
                schedule = schedule_numbers(user_input)
            except FlowError as err:
                errors[err.field] = err.error
            if not _usable_name(name):
                errors[CONF_NAME] = "invalid_name"
            if not errors:
                unique_id = f"heartbeat:{slugify(name)}"
                await self.async_set_unique_id(unique_id)
                if (
                    self.source != SOURCE_RECONFIGURE
                    or unique_id != self._get_reconfigure_entry().unique_id
                ):
                    self._abort_if_unique_id_configured()
                # A new id on every pass: reconfiguring is how a leaked address is replaced.
                self._heartbeat = ValidatedEntry(
                    unique_id,
                    name,
                    {
                        CONF_KIND: Kind.HEARTBEAT.value,
                        CONF_NAME: name,
                        **schedule,
                        CONF_WEBHOOK_ID: webhook.async_generate_id(),
                    },
                )
                return await self.async_step_heartbeat_ready()
        current: Mapping[str, Any] = user_input or self._current_values()
        if user_input is None and self.source == SOURCE_RECONFIGURE:
            # Period and grace time set in the options are the ones in force.
            current = {**current, **self._get_reconfigure_entry().options}
        return self.async_show_form(
            step_id=Kind.HEARTBEAT,
            data_schema=self.add_suggested_values_to_schema(
                HEARTBEAT_SCHEMA,
                self._suggestions(current),
            ),
            errors=errors,
        )

    async def async_step_heartbeat_ready(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the address to call and how; the entry is saved once the user has it."""
        if user_input is not None:
            if self.source != SOURCE_RECONFIGURE:
                return await self._async_finish(self._heartbeat)
            entry = self._get_reconfigure_entry()
            schedule = {
                key: self._heartbeat.data[key] for key in (CONF_PERIOD_HOURS, CONF_GRACE_MINUTES)
            }
            # The options win over the entry's data: the answer given here replaces both.
            return self.async_update_reload_and_abort(
                entry,
                unique_id=self._heartbeat.unique_id,
                title=self._heartbeat.title,
                data=self._heartbeat.data,
                options={**entry.options, **schedule} if entry.options else entry.options,
            )
        allow_internet = False
        if self.source == SOURCE_RECONFIGURE:
            allow_internet = bool(
                self._get_reconfigure_entry().options.get(CONF_ALLOW_INTERNET, False)
            )
        return self.async_show_form(
            step_id="heartbeat_ready",
            data_schema=probatio.Schema({}),
            description_placeholders={
                "name": self._heartbeat.title,
                **usage_placeholders(
                    self.hass,
                    self._heartbeat.data[CONF_WEBHOOK_ID],
                    allow_internet=allow_internet,
                ),
            },
        )


class HeartbeatOptionsFlow(OptionsFlowWithReload):
    """Period, grace and who may call; shows the address and examples again."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The heartbeat's own options step."""
        return await self.async_step_heartbeat()

    async def async_step_heartbeat(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the options."""
        entry = self.config_entry
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                schedule = schedule_numbers(user_input)
            except FlowError as err:
                errors[err.field] = err.error
            else:
                return self.async_create_entry(
                    data={
                        **schedule,
                        CONF_ALLOW_INTERNET: bool(user_input[CONF_ALLOW_INTERNET]),
                    }
                )
        current = {
            CONF_PERIOD_HOURS: entry.data.get(CONF_PERIOD_HOURS, DEFAULT_PERIOD_HOURS),
            CONF_GRACE_MINUTES: entry.data.get(CONF_GRACE_MINUTES, DEFAULT_GRACE_MINUTES),
            **entry.options,
        }
        return self.async_show_form(
            step_id=Kind.HEARTBEAT,
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, current),
            errors=errors,
            description_placeholders={
                "name": entry.title,
                **usage_placeholders(
                    self.hass,
                    entry.data[CONF_WEBHOOK_ID],
                    allow_internet=bool(entry.options.get(CONF_ALLOW_INTERNET, False)),
                ),
            },
        )
