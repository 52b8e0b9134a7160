"""What the domoticz kind shows: one set of entities on the entry's device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory, Platform

from ..binary_sensor import SentinelBinarySensorDescription
from ..sensor import SentinelSensorDescription
from .models import Access, DomoticzSnapshot, FailedLogin, Login, Rights

# Home Assistant refuses states longer than this.
_MAX_STATE_LENGTH = 255


@dataclass(frozen=True, slots=True)
class DomoticzStatus:
    """One poll's snapshot, and the newest failed login seen since the entry was set up."""

    snapshot: DomoticzSnapshot
    last_failed_login: FailedLogin | None = None


def _access_attributes(status: DomoticzStatus) -> dict[str, Any]:
    snapshot = status.snapshot
    return {
        # "trusted_network": Home Assistant's address is trusted, others may still need a login.
        # "everyone": any address gets in without a login.
        "open_reason": snapshot.open_reason.value if snapshot.open_reason else None,
        "open_cause": snapshot.open_cause.value if snapshot.open_cause else None,
        "catch_all_networks": list(snapshot.catch_all_networks),
    }


def _login_attributes(status: DomoticzStatus) -> dict[str, Any]:
    snapshot = status.snapshot
    return {
        "method": snapshot.login_method.value if snapshot.login_method else None,
        "problem": snapshot.login_problem.value if snapshot.login_problem else None,
    }


def _rights(status: DomoticzStatus) -> str | None:
    rights = status.snapshot.rights
    return rights.value if rights is not None else None


def _failed_logins(status: DomoticzStatus) -> int | None:
    snapshot = status.snapshot
    return snapshot.failed_logins if snapshot.log_available else None


def _failed_login_attributes(status: DomoticzStatus) -> dict[str, Any]:
    last = status.last_failed_login
    return {
        "last_address": last.address if last else None,
        "last_logged_at": last.logged_at if last else None,
    }


def _trusted_networks(status: DomoticzStatus) -> str | None:
    networks = status.snapshot.trusted_networks
    return networks[:_MAX_STATE_LENGTH] if networks is not None else None


def _trusted_network_attributes(status: DomoticzStatus) -> dict[str, Any]:
    networks = status.snapshot.trusted_networks
    return {
        "networks": (
            [entry.strip() for entry in networks.split(";") if entry.strip()]
            if networks is not None
            else None
        )
    }


def _default_password(status: DomoticzStatus) -> bool | None:
    snapshot = status.snapshot
    return snapshot.default_password_warning if snapshot.log_available else None


DOMOTICZ_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="access",
            translation_key="access",
            device_class=SensorDeviceClass.ENUM,
            options=[access.value for access in Access],
            value_fn=lambda status: status.snapshot.access.value,
            attributes_fn=_access_attributes,
        ),
        SentinelSensorDescription(
            key="login",
            translation_key="login",
            device_class=SensorDeviceClass.ENUM,
            options=[login.value for login in Login],
            value_fn=lambda status: status.snapshot.login.value,
            attributes_fn=_login_attributes,
        ),
        SentinelSensorDescription(
            key="rights",
            translation_key="rights",
            device_class=SensorDeviceClass.ENUM,
            options=[rights.value for rights in Rights],
            value_fn=_rights,
        ),
        SentinelSensorDescription(
            key="failed_logins",
            translation_key="failed_logins",
            state_class=SensorStateClass.TOTAL_INCREASING,
            value_fn=_failed_logins,
            attributes_fn=_failed_login_attributes,
        ),
        SentinelSensorDescription(
            key="trusted_networks",
            translation_key="trusted_networks",
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=_trusted_networks,
            attributes_fn=_trusted_network_attributes,
        ),
        SentinelSensorDescription(
            key="version",
            translation_key="version",
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=lambda status: status.snapshot.version,
            attributes_fn=lambda status: {
                "era": status.snapshot.era.value if status.snapshot.era else None
            },
        ),
    ),
    Platform.BINARY_SENSOR: (
        SentinelBinarySensorDescription(
            key="unprotected",
            translation_key="unprotected",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.snapshot.access is Access.OPEN,
        ),
        SentinelBinarySensorDescription(
            key="plain_basic_auth",
            translation_key="plain_basic_auth",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.snapshot.plain_basic_auth,
        ),
        SentinelBinarySensorDescription(
            key="default_password",
            translation_key="default_password",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=_default_password,
        ),
    ),
}
