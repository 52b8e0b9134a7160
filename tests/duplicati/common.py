"""Helpers for the Duplicati tests that run a Home Assistant: adding entries, reading states."""

from __future__ import annotations

from typing import Any

import aiohttp
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.duplicati.coordinator import server_title
from tests.duplicati.simulator import DuplicatiSimulator

# In the backup list, unmasked: never to be seen in logs, states or diagnostics.
LEAKY_TARGET = "ftp://backupuser:hunter2-target@ftp.example.com/backups?auth-password=hunter3"


async def start_flow(hass: HomeAssistant) -> str:
    """Open the menu and pick duplicati; return the flow's ID."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "duplicati"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "duplicati"
    flow_id: str = result["flow_id"]
    return flow_id


async def run_flow(
    hass: HomeAssistant, url: str, method: str, secret: str, *, verify_ssl: bool = True
) -> ConfigFlowResult:
    """Both steps of the flow; return the second step's result."""
    flow_id = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": url, "auth_method": method, "verify_ssl": verify_ssl}
    )
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == f"duplicati_{method}"
    field = "password" if method == "password" else "token"
    return await hass.config_entries.flow.async_configure(flow_id, {field: secret})


async def add_entry(
    hass: HomeAssistant, simulator: DuplicatiSimulator, method: str, secret: str
) -> ConfigEntry:
    """Add an entry through the real flow and wait until it is set up."""
    result = await run_flow(hass, simulator.url, method, secret)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    return entry


async def password_entry(
    hass: HomeAssistant,
    simulator: DuplicatiSimulator,
    *,
    url: str | None = None,
    options: dict[str, Any] | None = None,
    setup: bool = True,
) -> MockConfigEntry:
    """An entry signing in with the password, set up unless told otherwise."""
    url = url or simulator.url
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=server_title(url),
        unique_id=url,
        data={
            "kind": "duplicati",
            "url": url,
            "auth_method": "password",
            "verify_ssl": True,
            "password": simulator.password,
        },
        options=options or {},
    )
    entry.add_to_hass(hass)
    if setup:
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return entry


def calls(simulator: DuplicatiSimulator) -> list[tuple[str, str]]:
    """Method and path of each request received since the last clear."""
    return [(request.method, request.path) for request in simulator.requests]


async def issue_forever_token(simulator: DuplicatiSimulator, session: aiohttp.ClientSession) -> str:
    """What `duplicati-server-util issue-forever-token` does: log in, then ask for the token."""
    async with session.post(
        f"{simulator.url}/api/v1/auth/login", json={"Password": simulator.password}
    ) as response:
        access = (await response.json())["AccessToken"]
    async with session.post(
        f"{simulator.url}/api/v1/auth/issue-forever-token",
        headers={"Authorization": f"Bearer {access}"},
    ) as response:
        assert response.status == 200
        token: str = (await response.json())["AccessToken"]
    return token


def entity_id(
    hass: HomeAssistant, platform: str, entry: ConfigEntry, key: str, backup_id: str = ""
) -> str:
    """The entity ID of an entry's entity, found by its unique ID."""
    parts = [str(entry.unique_id), backup_id, key] if backup_id else [str(entry.unique_id), key]
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, "-".join(parts))
    assert found is not None, parts
    return found
