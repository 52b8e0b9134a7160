"""The homelab_sentinel.start_backup action."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from tests.certificate.certs import make_leaf

from ..states import state_of
from .common import calls, password_entry
from .conftest import SimulatorFactory

pytestmark = pytest.mark.usefixtures("fast_task_follow")


def _job_device(hass: HomeAssistant, entry: MockConfigEntry, backup_id: str) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}-{backup_id}"), entry.entry_id
    )
    assert device is not None
    return device.id


async def test_registered_without_entries_and_documented(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    assert hass.services.has_service(DOMAIN, "start_backup")
    description = (await async_get_all_descriptions(hass))[DOMAIN]["start_backup"]
    assert set(description["fields"]) == {"device_id", "skip_queue"}
    assert description["response"] == {"optional": True}


async def test_start_backup_answers_with_the_task(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents", history=["Success"])
    simulator.add_backup("Photos", history=["Success"])
    entry = await password_entry(hass, simulator)
    simulator.requests.clear()

    response = await hass.services.async_call(
        DOMAIN,
        "start_backup",
        {"device_id": _job_device(hass, entry, "1")},
        blocking=True,
        return_response=True,
    )
    assert response == {"task_id": 2}
    run = simulator.requests[0]
    assert (run.method, run.path, run.query) == ("POST", "/api/v1/backup/1/run", {})

    # The same job again: Duplicati answers with the task already running.
    again = await hass.services.async_call(
        DOMAIN,
        "start_backup",
        {"device_id": _job_device(hass, entry, "1")},
        blocking=True,
        return_response=True,
    )
    assert again == {"task_id": 2}
    # One follower for the one task.
    assert entry.runtime_data._followed == {2}

    simulator.requests.clear()
    result = await hass.services.async_call(
        DOMAIN,
        "start_backup",
        {"device_id": _job_device(hass, entry, "2"), "skip_queue": True},
        blocking=True,
    )
    assert result is None
    runs = [request for request in simulator.requests if request.method == "POST"]
    assert [(run.path, run.query) for run in runs] == [
        ("/api/v1/backup/2/run", {"skipQueue": "true"})
    ]
    assert [task.backup_id for task in simulator.queue] == ["2"]

    simulator.complete_task()
    await hass.async_block_till_done()
    simulator.complete_task()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.documents_versions") == "2"
    assert state_of(hass, "sensor.photos_versions") == "2"


async def test_invalid_targets(
    hass: HomeAssistant, make_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    registry = dr.async_get(hass)
    server = registry.async_get_device_by_identifier((DOMAIN, entry.entry_id), entry.entry_id)
    assert server is not None
    other_entry = MockConfigEntry(domain="other_integration")
    other_entry.add_to_hass(hass)
    other = registry.async_get_or_create(
        config_entry_id=other_entry.entry_id, identifiers={("other_integration", "x")}
    )
    job = _job_device(hass, entry, "1")

    async def start(device_id: str) -> ServiceValidationError:
        with pytest.raises(ServiceValidationError) as caught:
            await hass.services.async_call(
                DOMAIN, "start_backup", {"device_id": device_id}, blocking=True
            )
        return caught.value

    error = await start(server.id)
    assert (error.translation_domain, error.translation_key) == (DOMAIN, "not_a_backup_job")
    assert error.translation_placeholders == {"device": server.name}
    error = await start("no-such-device")
    assert error.translation_key == "service_device_not_found"
    error = await start(other.id)
    assert error.translation_key == "service_device_wrong_domain"

    # A device of another kind of this integration.
    pem = tmp_path / "cert.pem"
    pem.write_bytes(make_leaf(["a.test"], issuer=None).pem_chain())
    certificate = MockConfigEntry(
        domain=DOMAIN,
        title="cert",
        unique_id=f"file:{pem}",
        data={"kind": "certificate_file", "path": str(pem)},
    )
    certificate.add_to_hass(hass)
    assert await hass.config_entries.async_setup(certificate.entry_id)
    await hass.async_block_till_done()
    certificate_device = registry.async_get_device_by_identifier(
        (DOMAIN, certificate.entry_id), certificate.entry_id
    )
    assert certificate_device is not None
    error = await start(certificate_device.id)
    assert error.translation_key == "not_a_backup_job"

    await hass.config_entries.async_unload(entry.entry_id)
    error = await start(job)
    assert error.translation_key == "service_config_entry_not_loaded"
    assert not [c for c in calls(simulator) if c[0] == "POST" and c[1].endswith("/run")]


async def test_server_failures(hass: HomeAssistant, make_simulator: SimulatorFactory) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    job = _job_device(hass, entry, "1")

    async def start() -> HomeAssistantError:
        with pytest.raises(HomeAssistantError) as caught:
            await hass.services.async_call(
                DOMAIN, "start_backup", {"device_id": job}, blocking=True
            )
        assert not isinstance(caught.value, ServiceValidationError)
        assert caught.value.translation_domain == DOMAIN
        return caught.value

    run = "/api/v1/backup/1/run"
    simulator.answer("POST", run, status=500, json_body={"Error": "An error occurred", "Code": 500})
    error = await start()
    assert error.translation_key == "duplicati_start_failed"
    assert error.translation_placeholders == {"name": "Documents", "server": entry.title}
    assert str(error) == f"{entry.title} could not start a backup of Documents"

    simulator.answer("POST", run, status=404, json_body={"Error": "Backup not found", "Code": 404})
    error = await start()
    assert error.translation_key == "duplicati_backup_not_found"

    # Refused even after a new login: the entry needs new credentials.
    simulator.answer("POST", run, status=401, text="")
    error = await start()
    assert error.translation_key == "duplicati_auth_failed"
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]

    del simulator.canned[("POST", run)]
    await simulator.stop()
    error = await start()
    assert error.translation_key == "duplicati_start_failed"


async def test_verify_backup_registered_and_documented(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    assert hass.services.has_service(DOMAIN, "verify_backup")
    description = (await async_get_all_descriptions(hass))[DOMAIN]["verify_backup"]
    assert set(description["fields"]) == {"device_id"}
    assert description["response"] == {"optional": True}


async def test_verify_backup_answers_with_the_task_and_shows_the_result(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    documents = simulator.add_backup("Documents", history=["Success"])
    documents.next_verify_result = "Warning"
    entry = await password_entry(hass, simulator)
    simulator.requests.clear()

    response = await hass.services.async_call(
        DOMAIN,
        "verify_backup",
        {"device_id": _job_device(hass, entry, "1")},
        blocking=True,
        return_response=True,
    )
    assert response == {"task_id": 2}
    assert calls(simulator)[0] == ("POST", "/api/v1/backup/1/verify")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ("GET", "/api/v1/task/2") in calls(simulator)
    state = hass.states.get("sensor.documents_last_verified")
    assert state is not None
    assert state.attributes["result"] == "warning"

    result = await hass.services.async_call(
        DOMAIN, "verify_backup", {"device_id": _job_device(hass, entry, "1")}, blocking=True
    )
    assert result is None
    await hass.async_block_till_done(wait_background_tasks=True)
    verifications = [c for c in calls(simulator) if c == ("POST", "/api/v1/backup/1/verify")]
    assert len(verifications) == 2


async def test_verify_backup_errors(hass: HomeAssistant, make_simulator: SimulatorFactory) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    job = _job_device(hass, entry, "1")
    server = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert server is not None

    with pytest.raises(ServiceValidationError) as invalid:
        await hass.services.async_call(
            DOMAIN, "verify_backup", {"device_id": server.id}, blocking=True
        )
    assert invalid.value.translation_key == "not_a_backup_job"
    with pytest.raises(ServiceValidationError) as invalid:
        await hass.services.async_call(
            DOMAIN, "verify_backup", {"device_id": "no-such-device"}, blocking=True
        )
    assert invalid.value.translation_key == "service_device_not_found"

    async def verify() -> HomeAssistantError:
        with pytest.raises(HomeAssistantError) as caught:
            await hass.services.async_call(
                DOMAIN, "verify_backup", {"device_id": job}, blocking=True
            )
        assert not isinstance(caught.value, ServiceValidationError)
        assert caught.value.translation_domain == DOMAIN
        return caught.value

    path = "/api/v1/backup/1/verify"
    simulator.answer(
        "POST", path, status=500, json_body={"Error": "An error occurred", "Code": 500}
    )
    error = await verify()
    assert error.translation_key == "duplicati_verify_failed"
    assert error.translation_placeholders == {"name": "Documents", "server": entry.title}
    assert str(error) == f"{entry.title} could not start verifying Documents"

    simulator.answer("POST", path, status=404, json_body={"Error": "Backup not found", "Code": 404})
    assert (await verify()).translation_key == "duplicati_backup_not_found"

    simulator.answer("POST", path, status=401, text="")
    assert (await verify()).translation_key == "duplicati_auth_failed"
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]

    del simulator.canned[("POST", path)]
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as invalid:
        await hass.services.async_call(DOMAIN, "verify_backup", {"device_id": job}, blocking=True)
    assert invalid.value.translation_key == "service_config_entry_not_loaded"
    assert ("POST", path) not in calls(simulator)[-1:]
