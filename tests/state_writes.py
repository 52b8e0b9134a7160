"""Which entity states a poll writes, seen from Home Assistant's state machine."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry


def written_at(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, float]:
    """When each of the entry's states was last written, changed or not (last_reported)."""
    written = {}
    for registered in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        state = hass.states.get(registered.entity_id)
        if state is not None:
            written[registered.entity_id] = state.last_reported_timestamp
    return written


async def states_written_by_a_poll(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    """Poll the entry's coordinator once and return the entities whose state it wrote."""
    before = written_at(hass, entry)
    assert before, "the entry has no entities"
    coordinator = entry.runtime_data
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert coordinator.last_update_success
    after = written_at(hass, entry)
    return {entity_id for entity_id, at in after.items() if before.get(entity_id) != at}
