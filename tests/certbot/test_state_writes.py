"""A certbot poll that found nothing new writes no state."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from ..state_writes import states_written_by_a_poll
from .common import add_entry, local_data
from .conftest import CertbotHome


async def test_unchanged_certificates_write_no_state(
    hass: HomeAssistant, certbot_home: CertbotHome
) -> None:
    entry = await add_entry(hass, local_data(certbot_home))
    assert await states_written_by_a_poll(hass, entry) == set()
