"""What the certificate kinds show: one set of entities per certificate."""

from __future__ import annotations

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory, Platform, UnitOfTime

from ..binary_sensor import SentinelBinarySensorDescription
from ..event import SentinelEventDescription
from ..sensor import SentinelSensorDescription
from .client import Trust
from .renewal import EVENT_RENEWED

# Shared with the certbot kind, whose certificates count their days the same way.
DAYS_REMAINING = SentinelSensorDescription(
    key="days_remaining",
    translation_key="days_remaining",
    native_unit_of_measurement=UnitOfTime.DAYS,
    state_class=SensorStateClass.MEASUREMENT,
    value_fn=lambda status: status.days_remaining,
)

CERTIFICATE_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="expires",
            translation_key="expires",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.report.expires,
        ),
        DAYS_REMAINING,
        SentinelSensorDescription(
            key="chain_expires",
            translation_key="chain_expires",
            device_class=SensorDeviceClass.TIMESTAMP,
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=lambda status: status.report.chain_expires,
        ),
        SentinelSensorDescription(
            key="trust",
            translation_key="trust",
            device_class=SensorDeviceClass.ENUM,
            options=[trust.value for trust in Trust],
            value_fn=lambda status: status.report.trust.value,
            attributes_fn=lambda status: (
                {"missing_issuer": status.missing_issuer} if status.missing_issuer else {}
            ),
        ),
        SentinelSensorDescription(
            key="issuer",
            translation_key="issuer",
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=lambda status: status.report.issuer,
        ),
    ),
    Platform.BINARY_SENSOR: (
        SentinelBinarySensorDescription(
            key="certificate_problem",
            translation_key="certificate_problem",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.problem,
            attributes_fn=lambda status: (
                {"threshold": status.threshold} if status.threshold else {}
            ),
        ),
    ),
    Platform.EVENT: (
        SentinelEventDescription(
            key="renewal",
            translation_key="renewal",
            event_types=[EVENT_RENEWED],
            events_fn=lambda status: status.renewals,
            fire_pending_on_add=True,
        ),
    ),
}

# TLS endpoints (not files) are also compared with the certificate files other entries read.
REMOTE_CERTIFICATE_DESCRIPTIONS = {
    **CERTIFICATE_DESCRIPTIONS,
    Platform.BINARY_SENSOR: (
        *CERTIFICATE_DESCRIPTIONS[Platform.BINARY_SENSOR],
        SentinelBinarySensorDescription(
            key="stale_served_certificate",
            translation_key="stale_served_certificate",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.stale_served is not None,
            attributes_fn=lambda status: (
                status.stale_served.attributes if status.stale_served else {}
            ),
        ),
    ),
}
