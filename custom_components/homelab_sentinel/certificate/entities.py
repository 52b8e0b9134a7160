"""What the certificate kinds show: one set of entities per certificate."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory, Platform, UnitOfTime

from ..binary_sensor import SentinelBinarySensorDescription
from ..event import SentinelEventDescription
from ..sensor import SentinelSensorDescription
from .client import Trust
from .posture import HstsPolicy, PlainHttp, ProtocolSupport, TLSProtocol
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
            attributes_fn=lambda status: {
                key: value
                for key, value in (
                    ("threshold", status.threshold),
                    ("repair_raised_by", status.repair_raised_by),
                )
                if value
            },
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

_SECONDS_PER_DAY = 86400


def _protocol_attributes(status: Any) -> dict[str, Any]:
    protocols: ProtocolSupport = status.posture.protocols
    attributes: dict[str, Any] = {"accepted": [protocol.value for protocol in protocols.accepted]}
    if protocols.reason is not None:
        attributes["reason"] = protocols.reason.value
    return attributes


def _hsts_max_age(status: Any) -> float | None:
    hsts: HstsPolicy | None = status.posture.hsts
    return None if hsts is None else round(hsts.max_age / _SECONDS_PER_DAY, 3)


def _hsts_attributes(status: Any) -> dict[str, Any]:
    hsts: HstsPolicy | None = status.posture.hsts
    if hsts is None:
        return {}
    return {"include_subdomains": hsts.include_subdomains, "preload": hsts.preload}


def _plain_http_attributes(status: Any) -> dict[str, Any]:
    plain: PlainHttp | None = status.posture.plain_http
    if plain is None:
        return {}
    return {"status": plain.status, "location": plain.location}


# What a TLS endpoint offers besides its certificate; files have none of these.
LOWEST_TLS_VERSION = SentinelSensorDescription(
    key="lowest_tls_version",
    translation_key="lowest_tls_version",
    device_class=SensorDeviceClass.ENUM,
    options=[protocol.value for protocol in TLSProtocol],
    value_fn=lambda status: (
        lowest.value if (lowest := status.posture.protocols.lowest) is not None else None
    ),
    attributes_fn=_protocol_attributes,
)
LEGACY_TLS = SentinelBinarySensorDescription(
    key="legacy_tls",
    translation_key="legacy_tls",
    device_class=BinarySensorDeviceClass.PROBLEM,
    is_on_fn=lambda status: status.posture.protocols.legacy,
)
HSTS_MAX_AGE = SentinelSensorDescription(
    key="hsts_max_age",
    translation_key="hsts_max_age",
    device_class=SensorDeviceClass.DURATION,
    native_unit_of_measurement=UnitOfTime.DAYS,
    suggested_display_precision=0,
    value_fn=_hsts_max_age,
    attributes_fn=_hsts_attributes,
)
PLAIN_HTTP = SentinelBinarySensorDescription(
    key="plain_http",
    translation_key="plain_http",
    device_class=BinarySensorDeviceClass.PROBLEM,
    is_on_fn=lambda status: None if (plain := status.posture.plain_http) is None else plain.problem,
    attributes_fn=_plain_http_attributes,
)
POSTURE_KEYS = frozenset(
    description.key for description in (LOWEST_TLS_VERSION, LEGACY_TLS, HSTS_MAX_AGE, PLAIN_HTTP)
)


def remote_certificate_descriptions(
    *, web: bool, check_plain_http: bool
) -> dict[Platform, tuple[Any, ...]]:
    """An endpoint's certificate entities plus the posture ones that apply to it.

    HSTS and port 80 are web questions, asked only of direct TLS (no STARTTLS) endpoints.
    """
    posture: dict[Platform, tuple[Any, ...]] = {
        Platform.SENSOR: (LOWEST_TLS_VERSION, *((HSTS_MAX_AGE,) if web else ())),
        Platform.BINARY_SENSOR: (
            LEGACY_TLS,
            *((PLAIN_HTTP,) if web and check_plain_http else ()),
        ),
    }
    return {
        platform: (*REMOTE_CERTIFICATE_DESCRIPTIONS.get(platform, ()), *posture.get(platform, ()))
        for platform in {**REMOTE_CERTIFICATE_DESCRIPTIONS, **posture}
    }
