"""Setting up certificate entries in the tests of the checks users live by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN


async def setup_endpoint(
    hass: HomeAssistant,
    port: int,
    ca_bundle: Path | None,
    *,
    title: str = "proxy",
    server_name: str = "service.test",
    options: dict[str, int] | None = None,
) -> MockConfigEntry:
    """A certificate entry for a loopback endpoint, set up."""
    data: dict[str, Any] = {
        "kind": "certificate",
        "host": "127.0.0.1",
        "port": port,
        "server_name": server_name,
        "starttls": "none",
    }
    if ca_bundle:
        data["ca_file"] = str(ca_bundle)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=f"cert:127.0.0.1:{port}:{server_name}",
        data=data,
        options=options or {},
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def setup_file(hass: HomeAssistant, path: Path, *, title: str = "disk") -> MockConfigEntry:
    """A certificate_file entry reading path, set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=f"file:{path.resolve()}",
        data={"kind": "certificate_file", "path": str(path)},
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


class FiredEvents:
    """The events an event entity fires, told apart from its state being restored."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        """Listen to the entity's state changes."""
        self.fired: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self.unsubscribe = async_track_state_change_event(hass, entity_id, self._changed)

    @callback
    def _changed(self, event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is None or new.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return
        # An event entity's state is the moment of its last event; coming back after an unload
        # restores a moment already seen, which is no new event.
        if new.state in self._seen:
            return
        self._seen.add(new.state)
        self.fired.append(dict(new.attributes))
