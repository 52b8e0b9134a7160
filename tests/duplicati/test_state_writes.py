"""A Duplicati poll that found nothing new writes no state."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest

from ..state_writes import states_written_by_a_poll
from .common import password_entry
from .conftest import SimulatorFactory

pytestmark = pytest.mark.usefixtures("fast_task_follow")


async def test_unchanged_server_writes_no_state(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success", "Warning"])
    simulator.add_backup("Photos", history=["Error"])
    entry = await password_entry(hass, simulator)

    assert await states_written_by_a_poll(hass, entry) == set()
