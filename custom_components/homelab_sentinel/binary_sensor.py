"""Binary sensors: thin, every value comes from a system's entity descriptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SentinelConfigEntry
from .entity import SentinelEntity, SentinelEntityDescription, async_add_sentinel_entities

# Coordinators do all the I/O; entities only read their data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SentinelBinarySensorDescription(SentinelEntityDescription, BinarySensorEntityDescription):
    """A binary sensor whose state comes from its subject's data."""

    is_on_fn: Callable[[Any], bool | None]


class SentinelBinarySensor(SentinelEntity, BinarySensorEntity):
    """A Homelab Sentinel binary sensor."""

    entity_description: SentinelBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """The state the last poll found."""
        return self.entity_description.is_on_fn(self.subject_data)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SentinelConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of an entry's system."""
    async_add_sentinel_entities(
        entry, Platform.BINARY_SENSOR, SentinelBinarySensor, async_add_entities
    )
