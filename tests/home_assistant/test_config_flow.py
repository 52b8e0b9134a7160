"""Adding, reconfiguring and tuning the home_assistant entry."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.homelab_sentinel.const import DOMAIN

from .conftest import TITLE, UNIQUE_ID, add_entry, setup_http


async def _pick(hass: HomeAssistant) -> dict[str, object]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "home_assistant" in result["menu_options"]
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "home_assistant"}
        )
    )


async def test_add_once(hass: HomeAssistant, config_dir: Path) -> None:
    await setup_http(hass)
    result = await _pick(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "home_assistant"
    result = dict(await hass.config_entries.flow.async_configure(str(result["flow_id"]), {}))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TITLE
    assert result["data"] == {"kind": "home_assistant"}
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.unique_id == UNIQUE_ID

    # There is one Home Assistant: adding it again stops before any form.
    result = await _pick(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_and_options(hass: HomeAssistant, config_dir: Path) -> None:
    await setup_http(hass)
    entry = await add_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "home_assistant"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["data_schema"] is not None
    schema = {str(key): key for key in result["data_schema"].schema}
    assert schema["scan_interval"].default() == 3600
    assert schema["token_max_age_days"].default() == 365
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 600, "token_max_age_days": 90}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.options == {"scan_interval": 600, "token_max_age_days": 90}
    assert entry.runtime_data.update_interval.total_seconds() == 600
    assert entry.runtime_data.token_max_age.days == 90
