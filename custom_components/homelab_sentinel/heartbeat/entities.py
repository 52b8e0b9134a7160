"""What the heartbeat kind shows: the job's last calls, whether it is a problem, its runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import Platform, UnitOfTime

from ..binary_sensor import SentinelBinarySensorDescription
from ..event import SentinelEventDescription
from ..sensor import SentinelSensorDescription

if TYPE_CHECKING:
    from .coordinator import HeartbeatData

LAST_RESULTS = ("success", "warning", "failed", "started", "never")
RUN_EVENT_TYPES = ["started", "succeeded", "failed"]


def _reason(data: HeartbeatData) -> dict[str, Any]:
    return {"reason": data.reason.value} if data.reason else {}


def _run_events(data: HeartbeatData) -> Iterable[tuple[str, dict[str, Any]]]:
    for event in data.events:
        attributes = asdict(event)
        yield attributes.pop("event_type"), attributes


HEARTBEAT_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="last_ping",
            translation_key="last_ping",
            per_subject=False,
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda data: data.state.last_ping,
        ),
        SentinelSensorDescription(
            key="last_success",
            translation_key="last_success",
            per_subject=False,
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda data: data.state.last_success,
        ),
        SentinelSensorDescription(
            key="last_result",
            translation_key="last_result",
            per_subject=False,
            device_class=SensorDeviceClass.ENUM,
            options=list(LAST_RESULTS),
            value_fn=lambda data: data.state.last_result,
        ),
        SentinelSensorDescription(
            key="last_duration",
            translation_key="last_duration",
            per_subject=False,
            device_class=SensorDeviceClass.DURATION,
            native_unit_of_measurement=UnitOfTime.SECONDS,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=0,
            value_fn=lambda data: data.state.last_duration,
        ),
    ),
    Platform.BINARY_SENSOR: (
        SentinelBinarySensorDescription(
            key="heartbeat_problem",
            translation_key="heartbeat_problem",
            per_subject=False,
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda data: data.problem,
            attributes_fn=_reason,
        ),
    ),
    Platform.EVENT: (
        SentinelEventDescription(
            key="run",
            translation_key="run",
            per_subject=False,
            event_types=RUN_EVENT_TYPES,
            events_fn=_run_events,
        ),
    ),
}
