"""What the Home Assistant tests of the domoticz kind share."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.domoticz.flow import normalize_url

from .simulator import DomoticzSimulator, SimUser

PASSWORD = "Tr0ub4dor&3-sentinel"
TITLE = "dz"


def household() -> list[SimUser]:
    """An admin, a user (switcher) and a viewer, none with a default password."""
    return [
        SimUser("admin", PASSWORD, rights=2),
        SimUser("bob", f"{PASSWORD}-bob", rights=1),
        SimUser("vera", f"{PASSWORD}-vera", rights=0),
    ]


def url_of(simulator: DomoticzSimulator) -> str:
    """The simulator's URL as an entry stores it."""
    return normalize_url(str(simulator.url))


async def add_entry(
    hass: HomeAssistant,
    simulator: DomoticzSimulator,
    username: str | None = "admin",
    password: str | None = PASSWORD,
    *,
    verify_ssl: bool = False,
    setup: bool = True,
) -> MockConfigEntry:
    """Add (and by default set up) an entry watching the simulator, titled TITLE."""
    url = url_of(simulator)
    data: dict[str, Any] = {"kind": "domoticz", "url": url, "verify_ssl": verify_ssl}
    if username is not None:
        data |= {"username": username, "password": password}
    entry = MockConfigEntry(domain=DOMAIN, title=TITLE, unique_id=url, data=data)
    entry.add_to_hass(hass)
    if setup:
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return entry


async def open_form(hass: HomeAssistant) -> str:
    """Start a config flow and pick Domoticz in the menu; return the flow id."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "domoticz"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "domoticz"
    flow_id: str = result["flow_id"]
    return flow_id


def state_of(hass: HomeAssistant, key: str, platform: str = "sensor") -> str:
    """The state of one of the entry's entities, by the entity id Home Assistant gave it."""
    entity_id = {
        "plain_basic_auth": "binary_sensor.dz_basic_auth_over_plain_http",
        "default_password": "binary_sensor.dz_default_admin_password",
        "unprotected": "binary_sensor.dz_unprotected",
    }.get(key, f"{platform}.dz_{key}")
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def attributes_of(hass: HomeAssistant, key: str) -> dict[str, Any]:
    """The attributes of one of the entry's sensors."""
    state = hass.states.get(f"sensor.dz_{key}")
    assert state is not None, key
    return dict(state.attributes)


def suggested(schema: Any, field: str) -> object:
    """The value a form prefills a field with."""
    for key in schema.schema:
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)
