"""Sensors: thin, every value comes from a system's entity descriptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .coordinator import SentinelConfigEntry
from .entity import SentinelEntity, SentinelEntityDescription, async_add_sentinel_entities

# Coordinators do all the I/O; entities only read their data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SentinelSensorDescription(SentinelEntityDescription, SensorEntityDescription):
    """A sensor whose value and attributes come from its subject's data."""

    value_fn: Callable[[Any], StateType | datetime]


class SentinelSensor(SentinelEntity, SensorEntity):
    """A Homelab Sentinel sensor."""

    entity_description: SentinelSensorDescription

    @property
    def native_value(self) -> StateType | datetime:
        """The value the last poll found."""
        return self.entity_description.value_fn(self.subject_data)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SentinelConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of an entry's system."""
    async_add_sentinel_entities(entry, Platform.SENSOR, SentinelSensor, async_add_entities)
