"""Config, reconfigure and options flows of the heartbeat kind, and the examples they show."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.homelab_sentinel.const import DOMAIN

from .common import WEBHOOK_ID, add_heartbeat
from .conftest import Caller

CURL = "curl -fsS -m 10 --retry 3"


async def _open_step(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "heartbeat" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "heartbeat"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "heartbeat"
    schema = result["data_schema"]
    assert schema is not None
    assert schema({"name": "x"}) == {"name": "x", "period_hours": 24, "grace_minutes": 60}
    flow_id: str = result["flow_id"]
    return flow_id


@pytest.fixture
async def local_url(hass: HomeAssistant) -> None:
    """Home Assistant knows its local address, and an external one."""
    await hass.config.async_update(
        internal_url="http://192.168.1.10:8123", external_url="https://home.example.org"
    )


@pytest.mark.usefixtures("local_url")
async def test_adding_a_heartbeat_shows_its_address_and_examples(hass: HomeAssistant) -> None:
    flow_id = await _open_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"name": " Nightly borg ", "period_hours": 24.0, "grace_minutes": 90.0}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "heartbeat_ready"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    internal = placeholders["internal_url"].strip("`")
    assert internal.startswith("http://192.168.1.10:8123/api/webhook/")
    webhook_id = internal.rsplit("/", 1)[1]
    assert len(webhook_id) == 64
    # The internet is not allowed by default: no external address is offered.
    assert placeholders["external_url"] == "-"
    assert placeholders["name"] == "Nightly borg"
    assert f'{CURL} "{internal}?exit_code=$?"' in placeholders["cron"]
    assert placeholders["cron"].startswith("```\n0 3 * * * ")
    wrapper = placeholders["wrapper"]
    assert f"url={internal}" in wrapper
    assert f'{CURL} "$url?status=start"' in wrapper
    assert f'{CURL} "$url?exit_code=$code"' in wrapper
    assert "restic backup" in wrapper
    assert f"--send-http-url={internal}\n" in placeholders["duplicati"]
    assert "--send-http-result-output-format=Json" in placeholders["duplicati"]

    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    assert entry.title == "Nightly borg"
    assert entry.unique_id == "heartbeat:nightly_borg"
    assert entry.data == {
        "kind": "heartbeat",
        "name": "Nightly borg",
        "period_hours": 24,
        "grace_minutes": 90,
        "webhook_id": webhook_id,
    }
    assert hass.states.get("sensor.nightly_borg_last_result") is not None


@pytest.mark.parametrize("name", [" -- ", "x" * 101, "nightly\nborg", "borg\x1b[2J"])
async def test_unusable_names(hass: HomeAssistant, name: str) -> None:
    flow_id = await _open_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"name": name, "period_hours": 24, "grace_minutes": 60}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"name": "invalid_name"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("period_hours", "nan"), ("period_hours", float("nan")), ("grace_minutes", float("nan"))],
)
async def test_numbers_out_of_bounds(hass: HomeAssistant, field: str, value: object) -> None:
    flow_id = await _open_step(hass)
    answers = {"name": "Dump", "period_hours": 24, "grace_minutes": 60, field: value}
    result = await hass.config_entries.flow.async_configure(flow_id, answers)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: "invalid_number"}


async def test_the_same_job_twice(hass: HomeAssistant) -> None:
    await add_heartbeat(hass, setup=False)
    flow_id = await _open_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"name": "nightly BORG", "period_hours": 24, "grace_minutes": 60}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_without_a_known_address(hass: HomeAssistant) -> None:
    """Before the http integration runs Home Assistant knows no address: a stand-in is shown."""
    flow_id = await _open_step(hass)
    # Opening the flow set up the http integration; as if it could not bind its port:
    hass.config.api = None
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"name": "Dump", "period_hours": 1, "grace_minutes": 0}
    )
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["internal_url"] == "-"
    assert "http://homeassistant.local:8123/api/webhook/" in placeholders["cron"]


@pytest.mark.usefixtures("local_url")
async def test_reconfigure_rotates_the_webhook(hass: HomeAssistant, call: Caller) -> None:
    entry = await add_heartbeat(
        hass, options={"allow_internet": True, "period_hours": 24, "grace_minutes": 60}
    )
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "heartbeat"
    schema = result["data_schema"]
    assert schema is not None
    suggested = {str(key): (key.description or {}).get("suggested_value") for key in schema.schema}
    assert suggested == {"name": "Nightly borg", "period_hours": 24, "grace_minutes": 60}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Nightly borg", "period_hours": 12, "grace_minutes": 30}
    )
    assert result["step_id"] == "heartbeat_ready"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert WEBHOOK_ID not in str(placeholders)
    # Calls from the internet are allowed for this entry: its external address is shown.
    external = placeholders["external_url"].strip("`")
    assert external.startswith("https://home.example.org/api/webhook/")
    new_id = external.rsplit("/", 1)[1]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["webhook_id"] == new_id
    assert entry.data["period_hours"] == 12
    # The options held the schedule: they take the new one too, and keep the rest.
    assert entry.options == {"allow_internet": True, "period_hours": 12, "grace_minutes": 30}
    assert entry.runtime_data.schedule.period.total_seconds() == 12 * 3600

    # The old address is dead: its calls are answered as for any unknown hook, and lost.
    assert await call("POST", "status=fail", webhook_id=WEBHOOK_ID) == (200, "")
    assert await call("POST", "status=fail", webhook_id=new_id) == (200, "failed\n")


async def test_reconfigure_to_a_name_in_use(hass: HomeAssistant) -> None:
    await add_heartbeat(hass, name="Photos", setup=False)
    entry = await add_heartbeat(hass, setup=False)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "photos", "period_hours": 24, "grace_minutes": 60}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_to_a_new_name(hass: HomeAssistant) -> None:
    entry = await add_heartbeat(hass, setup=False, options={"period_hours": 48})
    result = await entry.start_reconfigure_flow(hass)
    schema = result["data_schema"]
    assert schema is not None
    suggested = {str(key): (key.description or {}).get("suggested_value") for key in schema.schema}
    # What the options set is what the form offers.
    assert suggested["period_hours"] == 48
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Nightly restic", "period_hours": 24, "grace_minutes": 60}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.unique_id == "heartbeat:nightly_restic"
    assert entry.title == "Nightly restic"
    assert entry.options == {"period_hours": 24, "grace_minutes": 60}


@pytest.mark.usefixtures("local_url")
async def test_options(hass: HomeAssistant, call: Caller) -> None:
    entry = await add_heartbeat(hass, period_hours=12, grace_minutes=15)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "heartbeat"
    schema = result["data_schema"]
    assert schema is not None
    suggested: dict[str, Any] = {
        str(key): (key.description or {}).get("suggested_value") for key in schema.schema
    }
    assert suggested == {"period_hours": 12, "grace_minutes": 15, "allow_internet": None}
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["internal_url"] == f"`http://192.168.1.10:8123/api/webhook/{WEBHOOK_ID}`"
    assert placeholders["external_url"] == "-"
    assert "status=start" in placeholders["wrapper"]

    flow_id = result["flow_id"]
    result = await hass.config_entries.options.async_configure(
        flow_id, {"period_hours": float("nan"), "grace_minutes": 0, "allow_internet": True}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"period_hours": "invalid_number"}
    assert entry.options == {}
    result = await hass.config_entries.options.async_configure(
        flow_id, {"period_hours": 48.0, "grace_minutes": 0.0, "allow_internet": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {"period_hours": 48, "grace_minutes": 0, "allow_internet": True}
    coordinator = entry.runtime_data
    assert coordinator.allow_internet
    assert coordinator.schedule.period.total_seconds() == 48 * 3600
    assert coordinator.update_interval is None

    result = await hass.config_entries.options.async_init(entry.entry_id)
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["external_url"] == f"`https://home.example.org/api/webhook/{WEBHOOK_ID}`"
    # The examples use the local address when there is one.
    assert "http://192.168.1.10:8123" in placeholders["cron"]
