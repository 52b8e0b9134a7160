"""Duplicati entries in a running Home Assistant: entities, auth, recovery, repairs, secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
import logging
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import UpdateFailed
import pytest

from custom_components.homelab_sentinel import async_remove_config_entry_device
from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics
from custom_components.homelab_sentinel.duplicati.auth import SigninState, parse_signin_token
from custom_components.homelab_sentinel.duplicati.coordinator import (
    is_plain_http_to_remote,
    normalize_url,
    server_title,
)
from custom_components.homelab_sentinel.repairs import async_create_fix_flow

from ..states import attributes_of, state_of
from .common import LEAKY_TARGET, add_entry, calls, entity_id, issue_forever_token, password_entry
from .conftest import SimulatorFactory
from .simulator import DuplicatiSimulator

pytestmark = pytest.mark.usefixtures("fast_task_follow")

PREAUTH = "ha-preauth_0123456789"
NEXT_RUN = datetime(2031, 1, 6, 3, 0, tzinfo=UTC)


def _entry_state(entry: Any) -> ConfigEntryState:
    state: ConfigEntryState = entry.state
    return state


async def _simulator_with_jobs(
    make_simulator: SimulatorFactory, **options: Any
) -> DuplicatiSimulator:
    simulator = await make_simulator("2.3", **options)
    simulator.add_backup("Documents", history=["Success", "Warning"], schedule=NEXT_RUN)
    simulator.add_backup("Photos", history=["Error"])
    simulator.add_backup("Music")
    return simulator


def _issue(hass: HomeAssistant, entry: Any, key: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{key}")


async def test_entities_devices_and_unload(
    hass: HomeAssistant,
    make_simulator: SimulatorFactory,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator = await _simulator_with_jobs(make_simulator)
    entry = await password_entry(hass, simulator)
    assert _entry_state(entry) is ConfigEntryState.LOADED
    documents = simulator.backups["1"]

    def job(key: str, backup_id: str = "1", platform: str = "sensor") -> str:
        return entity_id(hass, platform, entry, key, backup_id)

    assert job("last_backup") == "sensor.documents_last_backup"
    finished = datetime.strptime(
        documents.metadata["LastBackupFinished"] + "+0000", "%Y%m%dT%H%M%SZ%z"
    )
    assert state_of(hass, job("last_backup")) == finished.isoformat()
    assert state_of(hass, job("last_result")) == "warning"
    assert attributes_of(hass, job("last_result"))["options"] == [
        "success",
        "warning",
        "error",
        "fatal",
        "never",
    ]
    assert float(state_of(hass, job("last_duration"))) == pytest.approx(252.3456789)
    duration = attributes_of(hass, job("last_duration"))
    assert (duration["unit_of_measurement"], duration["device_class"]) == ("s", "duration")
    assert state_of(hass, job("next_run")) == NEXT_RUN.isoformat()
    assert state_of(hass, job("source_size")) == str(1_000_000 + 2 * 4096)
    assert state_of(hass, job("backup_size")) == str((1_000_000 + 2 * 4096) // 2)
    size = attributes_of(hass, job("backup_size"))
    assert (size["unit_of_measurement"], size["device_class"]) == ("B", "data_size")
    assert state_of(hass, job("versions")) == "2"
    assert state_of(hass, job("backup_problem", platform="binary_sensor")) == "off"
    assert state_of(hass, job("running", platform="binary_sensor")) == "off"
    assert state_of(hass, job("start_backup", platform="button")) == STATE_UNKNOWN

    assert state_of(hass, job("last_result", "2")) == "error"
    assert attributes_of(hass, job("last_result", "2"))["error"] == (
        "Failed to connect to the destination"
    )
    assert state_of(hass, job("backup_problem", "2", "binary_sensor")) == "on"
    assert state_of(hass, job("last_result", "3")) == "never"
    assert state_of(hass, job("last_backup", "3")) == STATE_UNKNOWN
    assert state_of(hass, job("next_run", "3")) == STATE_UNKNOWN
    assert state_of(hass, job("backup_problem", "3", "binary_sensor")) == "on"

    server_state = entity_id(hass, "sensor", entry, "server_state")
    assert state_of(hass, server_state) == "idle"
    assert "progress" not in attributes_of(hass, server_state)

    registered = entity_registry.async_get(job("last_backup"))
    assert registered is not None
    assert registered.unique_id == f"{simulator.url}-1-last_backup"
    device = device_registry.async_get(registered.device_id)  # type: ignore[arg-type]
    server = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert isinstance(device, dr.DeviceEntry)
    assert isinstance(server, dr.DeviceEntry)
    assert (device.name, device.model, device.via_device_id) == (
        "Documents",
        "Backup job",
        server.id,
    )
    assert (server.name, server.model) == (server_title(simulator.url), "Duplicati server")
    assert (server.sw_version, server.configuration_url) == ("2.3.1.0", simulator.url)

    failed = _issue(hass, entry, "duplicati_backup_2")
    assert failed is not None
    assert failed.translation_key == "duplicati_backup_failed"
    assert failed.is_fixable
    assert failed.translation_placeholders == {
        "name": "Photos",
        "server": entry.title,
        "result": "error",
        "error": "Failed to connect to the destination",
    }
    never = _issue(hass, entry, "duplicati_backup_3")
    assert never is not None
    assert never.translation_key == "duplicati_backup_never_ran"
    assert _issue(hass, entry, "duplicati_backup_1") is None
    assert _issue(hass, entry, "duplicati_insecure_http") is None

    assert simulator.family_count == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # The password login's token family is not left behind in Duplicati's database.
    assert simulator.family_count == 0
    assert state_of(hass, job("last_result")) == STATE_UNAVAILABLE


@pytest.mark.parametrize("profile", ["2.1.0", "2.0.8"])
async def test_older_servers(
    hass: HomeAssistant, make_simulator: SimulatorFactory, profile: str
) -> None:
    simulator = await make_simulator(profile)
    simulator.add_backup("Documents", history=["Fatal"])
    entry = await password_entry(hass, simulator)
    assert state_of(hass, "sensor.documents_last_result") == "fatal"
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.documents_back_up_now"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ("POST", "/api/v1/backup/1/run") in calls(simulator)
    assert state_of(hass, "sensor.documents_last_result") == "success"
    assert _entry_state(entry) is ConfigEntryState.LOADED


@pytest.mark.parametrize("method", ["password", "signin_token", "preauth_token", "forever_token"])
async def test_every_auth_method_across_expiry_and_restarts(
    hass: HomeAssistant, make_simulator: SimulatorFactory, method: str
) -> None:
    simulator = await make_simulator("2.3", preauth_tokens=[PREAUTH], enable_forever_token=True)
    simulator.add_backup("Documents", history=["Success"])
    secrets = {
        "password": simulator.password,
        "signin_token": simulator.signin_link(),
        "preauth_token": PREAUTH,
        "forever_token": await issue_forever_token(simulator, async_get_clientsession(hass)),
    }
    entry = await add_entry(hass, simulator, method, secrets[method])
    coordinator = entry.runtime_data
    assert state_of(hass, "sensor.documents_last_result") == "success"
    if method == "signin_token":
        # Only the refresh state is kept, never the one-time token.
        assert set(entry.data) == {"kind", "url", "auth_method", "verify_ssl", "signin_state"}
        assert parse_signin_token(secrets[method]) not in json.dumps(dict(entry.data))
    stored = dict(entry.data)

    # The access token expires on the server; the next poll renews it.
    simulator.advance(16 * 60)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    if method == "signin_token":
        assert entry.data["signin_state"] != stored["signin_state"]
    else:
        assert dict(entry.data) == stored

    # The server restarts: tokens outlive it (their key is in its database).
    await simulator.restart()
    simulator.advance(16 * 60)
    await coordinator.async_refresh()
    assert coordinator.last_update_success

    # Home Assistant restarts: only what the entry stored is left.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _entry_state(entry) is ConfigEntryState.LOADED
    assert state_of(hass, "sensor.documents_last_result") == "success"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_revoked_family_asks_for_a_new_sign_in(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await add_entry(hass, simulator, "signin_token", simulator.signin_link())
    simulator.revoke_all_families()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.documents_last_result") == STATE_UNAVAILABLE
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["step_id"] == "reauth_duplicati"

    # A rotation reported by the old client after it was closed is not written.
    stored = dict(entry.data)
    coordinator = entry.runtime_data
    await coordinator.async_close()
    coordinator._store_signin_state(SigninState("RefreshToken_1", "a.b.c", None))
    assert dict(entry.data) == stored

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"token": simulator.signin_link()}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert _entry_state(entry) is ConfigEntryState.LOADED
    assert state_of(hass, "sensor.documents_last_result") == "success"


async def test_rejected_credentials_at_setup(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    entry = await password_entry(hass, simulator, setup=False)
    simulator.password = "changed on the server"
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _entry_state(entry) is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_unusable_stored_sign_in_asks_for_a_new_one(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    entry = await password_entry(hass, simulator, setup=False)
    data = {**entry.data, "auth_method": "signin_token", "signin_state": {"cookie_name": "x"}}
    del data["password"]
    hass.config_entries.async_update_entry(entry, data=data)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _entry_state(entry) is ConfigEntryState.SETUP_ERROR
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_unreachable_at_setup_retries(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    entry = await password_entry(hass, simulator, setup=False)
    await simulator.stop()
    await hass.config_entries.async_setup(entry.entry_id)
    assert _entry_state(entry) is ConfigEntryState.SETUP_RETRY


async def test_malformed_json_and_timeouts_then_recovery(
    hass: HomeAssistant, make_simulator: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    with patch("custom_components.homelab_sentinel.duplicati.coordinator.REQUEST_TIMEOUT", 0.3):
        entry = await password_entry(hass, simulator)
    coordinator = entry.runtime_data
    problem = "binary_sensor.documents_backup_problem"
    server = entity_id(hass, "sensor", entry, "server_state")

    simulator.malformed_json = True
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    assert state_of(hass, problem) == STATE_UNAVAILABLE
    assert state_of(hass, server) == STATE_UNAVAILABLE
    simulator.malformed_json = False
    await coordinator.async_refresh()
    assert state_of(hass, problem) == "off"

    simulator.delay = 0.6
    await coordinator.async_refresh()
    assert state_of(hass, problem) == STATE_UNAVAILABLE
    simulator.delay = 0
    await coordinator.async_refresh()
    assert state_of(hass, problem) == "off"

    await simulator.stop()
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    assert state_of(hass, server) == STATE_UNAVAILABLE
    await simulator.start()
    await coordinator.async_refresh()
    assert state_of(hass, server) == "idle"

    # Each outage is logged once, and its end once.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [message.split(": ", 1)[1] for message in errors] == [
        f"{entry.title} gave an answer that cannot be used",
        f"Could not connect to {entry.title}",
        f"Could not connect to {entry.title}",
    ]
    assert caplog.text.count("data recovered") == 3


async def test_jobs_appear_disappear_and_follow_renames(
    hass: HomeAssistant,
    make_simulator: SimulatorFactory,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    coordinator = entry.runtime_data

    simulator.add_backup("Photos", history=["Success"])
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.photos_last_result") == "success"
    photos = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}-2"), entry.entry_id
    )
    assert photos is not None
    assert photos.name == "Photos"
    assert not await async_remove_config_entry_device(hass, entry, photos)

    simulator.backups["2"].name = "Pictures"
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    renamed = device_registry.async_get(photos.id)
    assert renamed is not None
    assert renamed.name == "Pictures"

    simulator.remove_backup("2")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert device_registry.async_get(photos.id) is None
    assert hass.states.get("sensor.photos_last_result") is None
    assert entity_registry.async_get("sensor.photos_last_result") is None
    assert state_of(hass, "sensor.documents_last_result") == "success"


async def test_button_starts_a_backup_and_follows_it(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Music")
    entry = await password_entry(hass, simulator)
    assert state_of(hass, "sensor.music_last_result") == "never"
    assert _issue(hass, entry, "duplicati_backup_1") is not None
    simulator.requests.clear()

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.music_back_up_now"}, blocking=True
    )
    assert calls(simulator)[0] == ("POST", "/api/v1/backup/1/run")
    assert simulator.requests[0].query == {}
    await hass.async_block_till_done(wait_background_tasks=True)
    # The task was followed to its end, then the coordinator polled again.
    assert ("GET", "/api/v1/task/2") in calls(simulator)
    assert state_of(hass, "sensor.music_last_result") == "success"
    assert state_of(hass, "sensor.music_versions") == "1"
    assert state_of(hass, "binary_sensor.music_backup_problem") == "off"
    assert _issue(hass, entry, "duplicati_backup_1") is None


async def test_running_paused_and_progress(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents", history=["Error"])
    entry = await password_entry(hass, simulator)
    coordinator = entry.runtime_data
    server = entity_id(hass, "sensor", entry, "server_state")

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.documents_back_up_now"}, blocking=True
    )
    simulator.progress = 0.42
    await coordinator.async_refresh()
    assert state_of(hass, "binary_sensor.documents_running") == "on"
    assert state_of(hass, server) == "running"
    assert attributes_of(hass, server)["progress"] == 42.0
    # While the fix runs, the failure is not nagged about.
    assert state_of(hass, "binary_sensor.documents_backup_problem") == "on"
    assert _issue(hass, entry, "duplicati_backup_1") is None

    simulator.progress = None
    simulator.complete_task()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "binary_sensor.documents_running") == "off"
    assert state_of(hass, server) == "idle"
    assert state_of(hass, "sensor.documents_last_result") == "success"

    simulator.paused = True
    await coordinator.async_refresh()
    assert state_of(hass, server) == "paused"
    assert "progress" not in attributes_of(hass, server)


async def test_lost_task_still_refreshes(
    hass: HomeAssistant, make_simulator: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    task_id = await entry.runtime_data.async_start_backup("1")
    simulator.answer("GET", f"/api/v1/task/{task_id}", status=503, json_body={"Error": "x"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert f"Lost track of Duplicati task {task_id}" in caplog.text
    assert state_of(hass, "binary_sensor.documents_running") == "on"
    simulator.complete_task()


async def test_overdue_jobs_and_the_max_age_option(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator, options={"max_age_hours": 12})
    assert state_of(hass, "binary_sensor.documents_backup_problem") == "on"
    issue = _issue(hass, entry, "duplicati_backup_1")
    assert issue is not None
    assert issue.translation_key == "duplicati_backup_overdue"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["hours"] == "12"

    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {"scan_interval": 300, "max_age_hours": 36}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 600.0, "max_age_hours": 48.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.update_interval == timedelta(minutes=10)
    assert state_of(hass, "binary_sensor.documents_backup_problem") == "off"
    assert _issue(hass, entry, "duplicati_backup_1") is None


async def test_fix_flow_starts_the_backup(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Fatal"])
    simulator.add_backup("Photos", history=["Error"])
    entry = await password_entry(hass, simulator)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    issue_id = f"{entry.entry_id}_duplicati_backup_1"

    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["name"] == "Documents"
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ("POST", "/api/v1/backup/1/run") in calls(simulator)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.documents_last_result") == "success"
    assert _issue(hass, entry, "duplicati_backup_1") is None

    # Photos: the server refuses, then the entry is gone.
    issue_id = f"{entry.entry_id}_duplicati_backup_2"
    simulator.answer("POST", "/api/v1/backup/2/run", status=500, json_body={"Error": "x"})
    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "start_failed"
    assert await hass.config_entries.async_unload(entry.entry_id)
    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"
    assert _issue(hass, entry, "duplicati_backup_2") is not None

    # Issues without a fix of their own get the plain confirmation.
    plain = await async_create_fix_flow(hass, "other", None)
    assert type(plain).__name__ == "ConfirmRepairFlow"


async def test_plain_http_to_another_host_raises_an_issue(
    hass: HomeAssistant,
    make_simulator: SimulatorFactory,
    named_session: aiohttp.ClientSession,
) -> None:
    simulator = await make_simulator("2.3", allowed_hostnames=["nas.lan"])
    simulator.add_backup("Documents", history=["Success"])
    url = f"http://nas.lan:{simulator.port}"
    with patch(
        "custom_components.homelab_sentinel.duplicati.coordinator.async_get_clientsession",
        return_value=named_session,
    ):
        entry = await password_entry(hass, simulator, url=url)
        # It still works: the issue is a warning.
        assert state_of(hass, "sensor.documents_last_result") == "success"
        issue = _issue(hass, entry, "duplicati_insecure_http")
        assert issue is not None
        assert issue.severity is ir.IssueSeverity.WARNING
        assert not issue.is_fixable
        assert issue.translation_placeholders == {"server": entry.title, "url": url}

        # Duplicati restarted without the name among its allowed host names.
        simulator.allowed_hostnames = []
        await entry.runtime_data.async_refresh()
        assert state_of(hass, "sensor.documents_last_result") == STATE_UNAVAILABLE
        assert isinstance(entry.runtime_data.last_exception, UpdateFailed)
        assert entry.runtime_data.last_exception.translation_key == (
            "duplicati_hostname_not_allowed"
        )
        await hass.config_entries.async_unload(entry.entry_id)


def test_url_helpers() -> None:
    assert normalize_url("  HTTP://NAS.lan:8200/ ") == "http://nas.lan:8200"
    assert normalize_url("nas.lan:8200") == "http://nas.lan:8200"
    assert normalize_url("https://proxy.lan:443/duplicati/?x=1#y") == "https://proxy.lan/duplicati"
    for bad in ("ftp://nas.lan", "http://", "http://user:pw@nas.lan:8200", "http://[zz"):
        with pytest.raises(ValueError):  # noqa: PT011
            normalize_url(bad)
    assert server_title("https://proxy.lan/duplicati") == "Duplicati proxy.lan/duplicati"
    assert is_plain_http_to_remote("http://nas.lan:8200")
    assert is_plain_http_to_remote("http://192.168.1.2:8200")
    assert not is_plain_http_to_remote("https://nas.lan:8200")
    assert not is_plain_http_to_remote("http://localhost:8200")
    assert not is_plain_http_to_remote("http://127.0.0.1:8200")
    assert not is_plain_http_to_remote("http://[::1]:8200")


async def test_stop_logs_out_once(hass: HomeAssistant, make_simulator: SimulatorFactory) -> None:
    simulator = await make_simulator("2.3")
    entry = await password_entry(hass, simulator)
    assert simulator.family_count == 1
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert simulator.family_count == 0
    simulator.requests.clear()
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert calls(simulator) == []


async def test_no_secret_in_logs_states_or_diagnostics(
    hass: HomeAssistant, make_simulator: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    options = {
        "password": "pw-Sup3rSecret",
        "preauth_tokens": ["preauth-Sup3rSecret"],
        "enable_forever_token": True,
    }
    servers = [await make_simulator("2.3", **options) for _ in range(4)]
    for simulator in servers:
        backup = simulator.add_backup("Documents", target_url=LEAKY_TARGET, history=["Success"])
        backup.next_error = f"Connection to {LEAKY_TARGET} refused"
        backup.next_result = "Fatal"
    forever = await issue_forever_token(servers[2], async_get_clientsession(hass))
    link = servers[1].signin_link()
    entries = [
        await add_entry(hass, servers[0], "password", "pw-Sup3rSecret"),
        await add_entry(hass, servers[1], "signin_token", link),
        await add_entry(hass, servers[2], "forever_token", forever),
        await add_entry(hass, servers[3], "preauth_token", "preauth-Sup3rSecret"),
    ]
    for entry in entries:
        await entry.runtime_data.async_start_backup("1")
    await hass.async_block_till_done(wait_background_tasks=True)
    for simulator in servers:
        simulator.advance(16 * 60)
    for entry in entries:
        await entry.runtime_data.async_refresh()
        issue = _issue(hass, entry, "duplicati_backup_1")
        assert issue is not None
        assert issue.translation_placeholders is not None
        assert "***" in issue.translation_placeholders["error"]
    result = entity_id(hass, "sensor", entries[0], "last_result", "1")
    assert state_of(hass, result) == "fatal"
    assert "***" in attributes_of(hass, result)["error"]

    state = entries[1].data["signin_state"]
    secrets = [
        "Sup3rSecret",
        "hunter2",
        "hunter3",
        forever,
        parse_signin_token(link),
        state["refresh_token"],
        state["nonce"],
    ]
    diagnostics = [await async_get_config_entry_diagnostics(hass, entry) for entry in entries]
    dumped = json.dumps(diagnostics, default=str)
    assert "Documents" in dumped
    states = json.dumps([s.as_dict() for s in hass.states.async_all()], default=str)
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in dumped
        assert secret not in states
