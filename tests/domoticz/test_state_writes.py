"""A Domoticz poll that found nothing new writes no state."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from ..state_writes import states_written_by_a_poll
from .conftest import StartSimulator
from .helpers import add_entry, household


async def test_unchanged_server_writes_no_state(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz(
        "2025.1", users=household(), trusted_networks="192.168.1.*", allow_plain_basic_auth=False
    )
    simulator.log_failed_login("192.168.1.66", "admin")
    entry = await add_entry(hass, simulator)
    assert await states_written_by_a_poll(hass, entry) == set()

    # A new failed login changes the entry's states, and only once.
    simulator.log_failed_login("10.0.0.9", "root", known_user=False)
    assert await states_written_by_a_poll(hass, entry)
    assert await states_written_by_a_poll(hass, entry) == set()
