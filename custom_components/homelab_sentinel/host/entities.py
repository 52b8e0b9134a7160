"""What the host kind shows: one set of entities on the entry's device."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory, Platform

from ..binary_sensor import SentinelBinarySensorDescription
from ..sensor import SentinelSensorDescription
from .client import MAX_LISTED_PACKAGES, HostStatus, PendingUpdate


def _package_list(updates: tuple[PendingUpdate, ...]) -> list[str]:
    return [update.name for update in updates[:MAX_LISTED_PACKAGES]]


def _last_run_attributes(status: HostStatus) -> dict[str, Any]:
    last = status.last_run
    return {"result": last.result.value if last and last.result else None}


def _automatic_update_attributes(status: HostStatus) -> dict[str, Any]:
    automatic = status.automatic_updates
    return {
        "installed": automatic.installed,
        "unattended_upgrade": automatic.unattended_upgrade or None,
        "update_package_lists": automatic.update_package_lists or None,
    }


def _ssh_attributes(status: HostStatus) -> dict[str, Any]:
    ssh = status.ssh
    return {
        "source": ssh.source.value,
        "password_authentication": ssh.password_authentication,
        "kbd_interactive_authentication": ssh.kbd_interactive_authentication,
        "permit_root_login": ssh.permit_root_login,
        "unreadable": list(ssh.unreadable),
    }


HOST_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="pending_updates",
            translation_key="pending_updates",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda status: len(status.updates),
            attributes_fn=lambda status: {"packages": _package_list(status.updates)},
        ),
        SentinelSensorDescription(
            key="security_updates",
            translation_key="security_updates",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda status: len(status.security_updates),
            attributes_fn=lambda status: {"packages": _package_list(status.security_updates)},
        ),
        SentinelSensorDescription(
            key="package_lists_updated",
            translation_key="package_lists_updated",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.lists_updated,
        ),
        SentinelSensorDescription(
            key="last_automatic_update",
            translation_key="last_automatic_update",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.last_run.finished if status.last_run else None,
            attributes_fn=_last_run_attributes,
        ),
        SentinelSensorDescription(
            key="operating_system",
            translation_key="operating_system",
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=lambda status: status.os_name[:255],
            attributes_fn=lambda status: {
                "kernel": status.kernel,
                "booted_at": status.booted_at.isoformat() if status.booted_at else None,
            },
        ),
    ),
    Platform.BINARY_SENSOR: (
        SentinelBinarySensorDescription(
            key="reboot_required",
            translation_key="reboot_required",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.reboot_required,
            attributes_fn=lambda status: {"packages": list(status.reboot_packages)},
        ),
        SentinelBinarySensorDescription(
            key="automatic_updates_off",
            translation_key="automatic_updates_off",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: not status.automatic_updates.enabled,
            attributes_fn=_automatic_update_attributes,
        ),
        SentinelBinarySensorDescription(
            key="ssh_password_login",
            translation_key="ssh_password_login",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.ssh.accepts_passwords,
            attributes_fn=_ssh_attributes,
        ),
        SentinelBinarySensorDescription(
            key="ssh_root_login",
            translation_key="ssh_root_login",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.ssh.permit_root_login == "yes",
            attributes_fn=_ssh_attributes,
        ),
    ),
}
