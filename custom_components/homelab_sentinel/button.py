"""Buttons: thin, every press is handed to a system's entity description."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SentinelConfigEntry
from .entity import SentinelEntity, SentinelEntityDescription, async_add_sentinel_entities

# Presses only ask the coordinator to act; a long certbot run must not hold up a backup start.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SentinelButtonDescription(SentinelEntityDescription, ButtonEntityDescription):
    """A button; press_fn gets the coordinator and the subject (None for the entry's own)."""

    press_fn: Callable[[Any, str | None], Awaitable[None]]


class SentinelButton(SentinelEntity, ButtonEntity):
    """A Homelab Sentinel button."""

    entity_description: SentinelButtonDescription

    async def async_press(self) -> None:
        """Act; failures are raised as translated HomeAssistantError."""
        await self.entity_description.press_fn(self.coordinator, self.subject)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SentinelConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons of an entry's system."""
    async_add_sentinel_entities(entry, Platform.BUTTON, SentinelButton, async_add_entities)
