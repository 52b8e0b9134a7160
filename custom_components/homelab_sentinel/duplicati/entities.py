"""What the duplicati kind shows: a set of entities per backup job, and the server's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import Platform, UnitOfInformation, UnitOfTime

from ..binary_sensor import SentinelBinarySensorDescription
from ..button import SentinelButtonDescription
from ..sensor import SentinelSensorDescription
from .models import BackupResult, ServerState

if TYPE_CHECKING:
    from .coordinator import DuplicatiCoordinator, DuplicatiData, JobStatus


def _server_attributes(data: DuplicatiData) -> dict[str, Any]:
    """Progress in percent, while a task runs and the server tells it."""
    if data.state is ServerState.RUNNING and data.progress is not None:
        return {"progress": data.progress}
    return {}


def _error_attributes(status: JobStatus) -> dict[str, Any]:
    """The first error of a failed run (credentials in it are masked by the client)."""
    return {"error": status.job.last_error} if status.job.last_error else {}


def _problem_attributes(status: JobStatus) -> dict[str, Any]:
    """Why the job is a problem: the first of failed, hung, missed_schedule, overdue."""
    return {"reason": status.reason.value} if status.reason else {}


def _verify_attributes(status: JobStatus) -> dict[str, Any]:
    """How the newest verification ended."""
    result = status.job.verify_result
    return {"result": result.value} if result else {}


async def _start_backup(coordinator: DuplicatiCoordinator, subject: str | None) -> None:
    # Only job devices have this button; "" would be refused as an unknown job.
    await coordinator.async_start_backup(subject or "")


async def _verify(coordinator: DuplicatiCoordinator, subject: str | None) -> None:
    await coordinator.async_verify_backup(subject or "")


DUPLICATI_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="last_backup",
            translation_key="last_backup",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.job.last_backup,
        ),
        SentinelSensorDescription(
            key="last_result",
            translation_key="last_result",
            device_class=SensorDeviceClass.ENUM,
            options=[result.value for result in BackupResult],
            value_fn=lambda status: status.job.last_result.value,
            attributes_fn=_error_attributes,
        ),
        SentinelSensorDescription(
            key="last_duration",
            translation_key="last_duration",
            device_class=SensorDeviceClass.DURATION,
            native_unit_of_measurement=UnitOfTime.SECONDS,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=0,
            value_fn=lambda status: status.job.last_duration,
        ),
        SentinelSensorDescription(
            key="next_run",
            translation_key="next_run",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.job.next_run,
        ),
        SentinelSensorDescription(
            key="last_verified",
            translation_key="last_verified",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.job.last_verified,
            attributes_fn=_verify_attributes,
        ),
        SentinelSensorDescription(
            key="source_size",
            translation_key="source_size",
            device_class=SensorDeviceClass.DATA_SIZE,
            native_unit_of_measurement=UnitOfInformation.BYTES,
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda status: status.job.source_size,
        ),
        SentinelSensorDescription(
            key="backup_size",
            translation_key="backup_size",
            device_class=SensorDeviceClass.DATA_SIZE,
            native_unit_of_measurement=UnitOfInformation.BYTES,
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda status: status.job.backup_size,
        ),
        SentinelSensorDescription(
            key="versions",
            translation_key="versions",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda status: status.job.versions,
        ),
        SentinelSensorDescription(
            key="server_state",
            translation_key="server_state",
            per_subject=False,
            device_class=SensorDeviceClass.ENUM,
            options=[state.value for state in ServerState],
            value_fn=lambda data: data.state.value,
            attributes_fn=_server_attributes,
        ),
    ),
    Platform.BINARY_SENSOR: (
        SentinelBinarySensorDescription(
            key="backup_problem",
            translation_key="backup_problem",
            device_class=BinarySensorDeviceClass.PROBLEM,
            is_on_fn=lambda status: status.problem,
            attributes_fn=_problem_attributes,
        ),
        SentinelBinarySensorDescription(
            key="running",
            translation_key="running",
            device_class=BinarySensorDeviceClass.RUNNING,
            is_on_fn=lambda status: status.job.running,
        ),
    ),
    Platform.BUTTON: (
        SentinelButtonDescription(
            key="start_backup",
            translation_key="start_backup",
            press_fn=_start_backup,
        ),
        SentinelButtonDescription(
            key="verify",
            translation_key="verify",
            press_fn=_verify,
        ),
    ),
}
