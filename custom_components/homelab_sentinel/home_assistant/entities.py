"""What the home_assistant kind shows: one set of entities on the entry's device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import Platform

from ..binary_sensor import SentinelBinarySensorDescription
from ..event import SentinelEventDescription
from ..sensor import SentinelSensorDescription

if TYPE_CHECKING:
    from .coordinator import HomeAssistantStatus, TokenInfo

# Attributes are stored with every state change: lists stay short.
MAX_LISTED_BANS = 20
MAX_LISTED_ITEMS = 50


def _tokens(tokens: tuple[TokenInfo, ...]) -> dict[str, Any]:
    return {
        "tokens": [
            {"user": t.user, "client_name": t.client_name, "created": t.created.isoformat()}
            for t in tokens[:MAX_LISTED_ITEMS]
        ]
    }


def _remote_access(status: HomeAssistantStatus) -> dict[str, Any]:
    return {
        "external_url_scheme": status.external_url_scheme,
        "ssl": status.http.ssl,
        "behind_proxy": status.http.use_x_forwarded_for,
    }


def _banning(status: HomeAssistantStatus) -> dict[str, Any]:
    return {
        "ip_ban_enabled": status.http.ip_ban_enabled,
        "login_attempts_threshold": status.http.login_attempts_threshold,
    }


def _banned(status: HomeAssistantStatus) -> dict[str, Any]:
    if status.bans is None:
        return {"banned": [], "error": status.bans_error}
    return {
        "banned": [
            {"ip": ban.ip, "banned_at": ban.banned_at.isoformat() if ban.banned_at else None}
            for ban in status.bans[:MAX_LISTED_BANS]
        ]
    }


def _failed_logins(status: HomeAssistantStatus) -> dict[str, Any]:
    summary = status.failed_logins
    return {
        "external": summary.external,
        "addresses": [
            {
                "ip": item.ip,
                "count": item.count,
                "last_at": item.last_at.isoformat(),
                "local": item.local,
            }
            for item in summary.addresses
        ],
    }


def _secrets(status: HomeAssistantStatus) -> dict[str, Any]:
    attributes: dict[str, Any] = {"locations": list((status.secrets or ())[:MAX_LISTED_ITEMS])}
    if status.secrets_error is not None:
        attributes["error"] = status.secrets_error
    return attributes


def _backups(status: HomeAssistantStatus) -> dict[str, Any]:
    last = status.last_successful_backup
    return {
        "agents": list(status.backup_agents),
        "last_successful_backup": last.isoformat() if last else None,
    }


def _ban_events(status: HomeAssistantStatus) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "banned",
            {"ip": ban.ip, "banned_at": ban.banned_at.isoformat() if ban.banned_at else None},
        )
        for ban in status.new_bans
    ]


def _login_events(status: HomeAssistantStatus) -> list[tuple[str, dict[str, Any]]]:
    return [("failed_login", {"ip": ip, "local": local}) for ip, local in status.new_failures]


def _problem(key: str, is_on: Any, attributes: Any = None) -> SentinelBinarySensorDescription:
    return SentinelBinarySensorDescription(
        key=key,
        translation_key=key,
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=is_on,
        attributes_fn=attributes,
    )


HOME_ASSISTANT_DESCRIPTIONS = {
    Platform.BINARY_SENSOR: (
        _problem("remote_access_without_tls", lambda s: s.remote_without_tls, _remote_access),
        _problem("login_banning_off", lambda s: s.login_banning_off, _banning),
        _problem(
            "trusted_proxies_too_broad",
            lambda s: bool(s.broad_proxies),
            lambda s: {"proxies": list(s.broad_proxies)},
        ),
        _problem(
            "login_bypass",
            lambda s: bool(s.bypass_providers),
            lambda s: {"providers": list(s.bypass_providers)},
        ),
        _problem(
            "admin_without_mfa",
            lambda s: bool(s.admins_without_mfa),
            lambda s: {"users": list(s.admins_without_mfa)},
        ),
        _problem(
            "backups_not_off_machine",
            lambda s: not s.backups_automatic or not s.backups_off_machine,
            _backups,
        ),
        _problem(
            "privileged_account",
            lambda s: s.privileged,
            lambda s: {"reason": s.privilege_reason},
        ),
    ),
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="banned_addresses",
            translation_key="banned_addresses",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: len(s.bans) if s.bans is not None else None,
            attributes_fn=_banned,
        ),
        SentinelSensorDescription(
            key="failed_logins",
            translation_key="failed_logins",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: s.failed_logins.total,
            attributes_fn=_failed_logins,
        ),
        SentinelSensorDescription(
            key="users_without_mfa",
            translation_key="users_without_mfa",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: len(s.users_without_mfa),
            attributes_fn=lambda s: {"users": list(s.users_without_mfa)},
        ),
        SentinelSensorDescription(
            key="long_lived_tokens",
            translation_key="long_lived_tokens",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: len(s.tokens),
            attributes_fn=lambda s: _tokens(s.tokens),
        ),
        SentinelSensorDescription(
            key="old_tokens",
            translation_key="old_tokens",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: len(s.old_tokens),
            attributes_fn=lambda s: _tokens(s.old_tokens),
        ),
        SentinelSensorDescription(
            key="plaintext_secrets",
            translation_key="plaintext_secrets",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: len(s.secrets) if s.secrets is not None else None,
            attributes_fn=_secrets,
        ),
        SentinelSensorDescription(
            key="pending_updates",
            translation_key="pending_updates",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda s: len(s.updates),
            attributes_fn=lambda s: {"updates": list(s.updates[:MAX_LISTED_ITEMS])},
        ),
    ),
    Platform.EVENT: (
        SentinelEventDescription(
            key="ha_ban",
            translation_key="ha_ban",
            event_types=["banned"],
            events_fn=_ban_events,
        ),
        SentinelEventDescription(
            key="ha_login_failed",
            translation_key="ha_login_failed",
            event_types=["failed_login"],
            events_fn=_login_events,
        ),
    ),
}
