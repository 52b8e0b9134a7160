"""Event entities: thin, they fire what a system's coordinator saw happen since its last poll."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SentinelConfigEntry
from .entity import SentinelEntity, SentinelEntityDescription, async_add_sentinel_entities

# Coordinators do all the I/O; entities only read their data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SentinelEventDescription(SentinelEntityDescription, EventEntityDescription):
    """An event entity; events_fn gives the (event type, attributes) pairs of the last poll."""

    events_fn: Callable[[Any], Iterable[tuple[str, dict[str, Any]]]]


class SentinelEvent(SentinelEntity, EventEntity):
    """A Homelab Sentinel event entity."""

    entity_description: SentinelEventDescription

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire each event the last poll brought, each as its own state write.

        One write per event: automations trigger on state changes, and two bans seen in one
        poll must not collapse into the last of them.
        """
        if self.available:
            for event_type, attributes in self.entity_description.events_fn(self.subject_data):
                self._trigger_event(event_type, attributes)
                self.async_write_ha_state()
        super()._handle_coordinator_update()


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SentinelConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the event entities of an entry's system."""
    async_add_sentinel_entities(entry, Platform.EVENT, SentinelEvent, async_add_entities)
