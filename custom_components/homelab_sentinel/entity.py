"""The base entity and the way entities follow the things a coordinator watches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import callback
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import SentinelConfigEntry, SentinelCoordinator


@dataclass(frozen=True, kw_only=True)
class SentinelEntityDescription(EntityDescription):
    """Describes an entity; per_subject ones repeat for every watched thing."""

    per_subject: bool = True
    # State attributes from the subject's data, for the entities that have some.
    attributes_fn: Callable[[Any], dict[str, Any]] | None = None


class SentinelEntity(CoordinatorEntity[SentinelCoordinator[Any]]):
    """An entity of one subject (or of the whole entry when subject is None)."""

    _attr_has_entity_name = True
    entity_description: SentinelEntityDescription

    def __init__(
        self,
        coordinator: SentinelCoordinator[Any],
        description: SentinelEntityDescription,
        subject: str | None,
    ) -> None:
        """Name the entity after its entry, its subject and its key."""
        super().__init__(coordinator)
        self.entity_description = description
        self.subject = subject
        entry_unique_id = coordinator.config_entry.unique_id
        parts = (
            [entry_unique_id, subject, description.key]
            if subject
            else [
                entry_unique_id,
                description.key,
            ]
        )
        self._attr_unique_id = "-".join(str(part) for part in parts)
        self._attr_device_info = (
            coordinator.entry_device if subject is None else coordinator.subject_device(subject)
        )

    @property
    def available(self) -> bool:
        """Unavailable when the poll failed or the subject is gone."""
        return super().available and (
            self.subject is None or self.subject in self.coordinator.data.subjects
        )

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when the poll changed this entity's subject."""
        if self.coordinator.subject_changed(self.subject):
            super()._handle_coordinator_update()

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Attributes the description asks for."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.subject_data)

    @property
    def subject_data(self) -> Any:
        """What the last poll said of this entity's subject, or of the whole entry."""
        if self.subject is None:
            return self.coordinator.data
        return self.coordinator.data.subjects[self.subject]


@callback
def async_add_sentinel_entities(
    entry: SentinelConfigEntry,
    platform: Platform,
    entity_factory: Callable[[SentinelCoordinator[Any], Any, str | None], Entity],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the platform's entities, and those of subjects that appear later."""
    coordinator = entry.runtime_data
    descriptions: Sequence[SentinelEntityDescription] = coordinator.descriptions.get(platform, ())
    async_add_entities(
        entity_factory(coordinator, description, None)
        for description in descriptions
        if not description.per_subject
    )
    known: set[str] = set()

    @callback
    def add_new_subjects() -> None:
        if not coordinator.last_update_success:
            return
        new = [subject for subject in coordinator.data.subjects if subject not in known]
        if not new:
            return
        known.update(new)
        async_add_entities(
            entity_factory(coordinator, description, subject)
            for subject in new
            for description in descriptions
            if description.per_subject
        )

    @callback
    def forget_removed_subjects() -> None:
        if coordinator.last_update_success:
            known.intersection_update(coordinator.data.subjects)

    add_new_subjects()
    entry.async_on_unload(coordinator.async_add_listener(add_new_subjects))
    entry.async_on_unload(coordinator.async_add_listener(forget_removed_subjects))
