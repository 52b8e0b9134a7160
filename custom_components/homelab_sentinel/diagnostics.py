"""Diagnostics: what an entry is configured with and what its last poll saw, secrets redacted."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .coordinator import SentinelConfigEntry

# Keys that may hold credentials anywhere in an entry's data or a poll's result.
TO_REDACT = {
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_URL,
    "private_key",
    "refresh_token",
    "refresh_nonce",
    "access_token",
    "target_url",
    "TargetURL",
    "signin_state",
    "nonce",
    # Domoticz: whom an anonymous caller is mapped to, and who failed to log in from where.
    "anonymous_user",
    "new_failed_logins",
    # heartbeat: whoever knows it can report for the job.
    "webhook_id",
    # home_assistant: who has no MFA or holds tokens, and who failed to log in from where.
    "users_without_mfa",
    "admins_without_mfa",
    "user",
    "addresses",
    "new_failures",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SentinelConfigEntry
) -> dict[str, Any]:
    """Return the entry's configuration and its coordinator's last result."""
    coordinator = entry.runtime_data
    data = coordinator.data
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "update_interval": str(coordinator.update_interval),
            "last_exception": (
                type(coordinator.last_exception).__name__ if coordinator.last_exception else None
            ),
        },
        "data": async_redact_data(
            asdict(data) if is_dataclass(data) and not isinstance(data, type) else {}, TO_REDACT
        ),
    }
