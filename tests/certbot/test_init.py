"""certbot entries in a running Home Assistant: entities, repairs, SSH trouble, persistence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import logging
from types import SimpleNamespace
from unittest.mock import patch

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel import async_remove_config_entry_device
from custom_components.homelab_sentinel.certificate import (
    coordinator as certificate_coordinator,
)
from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics
from custom_components.homelab_sentinel.repairs import (
    ReauthenticateRepairFlow,
    async_create_fix_flow,
)

from ..states import state_of
from .common import LOCAL_TITLE, add_entry, device_of, entity_of, local_data, ssh_data, unique_id_of
from .conftest import ALWAYS_DUE, NOT_DUE, CertbotHome, KeyPair, SshServer, SshUser


def _issue(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{key}")


def _entry_state(entry: MockConfigEntry) -> ConfigEntryState:
    state: ConfigEntryState = entry.state
    return state


async def test_entities_devices_and_repairs(
    hass: HomeAssistant, certbot_home: CertbotHome, device_registry: dr.DeviceRegistry
) -> None:
    data = local_data(certbot_home)
    entry = await add_entry(hass, data)
    prefix = unique_id_of(data)
    expires = entity_of(hass, "sensor", f"{prefix}-{ALWAYS_DUE}-expires")
    assert expires == "sensor.alpha_test_expires"
    state = hass.states.get(expires)
    assert state is not None
    assert state.attributes["device_class"] == "timestamp"
    assert state.attributes["domains"] == [ALWAYS_DUE, f"www.{ALWAYS_DUE}"]
    assert state.attributes["validity"] == "valid"
    assert state_of(hass, "sensor.alpha_test_days_remaining") == "4"
    assert state_of(hass, "sensor.beta_test_days_remaining") == "4"
    assert state_of(hass, "sensor.certbot_local_last_renewal") == STATE_UNKNOWN
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == STATE_UNKNOWN
    result = hass.states.get("sensor.certbot_local_last_renewal_result")
    assert result is not None
    assert result.attributes["options"] == ["renewed", "not_due", "failed"]
    assert entity_of(hass, "button", f"{prefix}-renew") == "button.certbot_local_renew_certificates"

    host = device_registry.async_get(device_of(hass, entry))
    lineage = device_registry.async_get(device_of(hass, entry, ALWAYS_DUE))
    assert isinstance(host, dr.DeviceEntry)
    assert isinstance(lineage, dr.DeviceEntry)
    assert (host.name, host.model) == (LOCAL_TITLE, "certbot")
    assert (lineage.name, lineage.model) == (ALWAYS_DUE, "certbot certificate")
    assert lineage.via_device_id == host.id

    # 5-day certificates are inside the default 14-day window: a fixable issue each.
    issue = _issue(hass, entry, f"certificate_{ALWAYS_DUE}")
    assert issue is not None
    assert issue.translation_key == "certificate_expiring_renewable"
    assert issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["days"] == "4"
    assert issue.data is not None
    assert issue.data["fix_flow"] == "renew_certificate"
    assert issue.data["cert_name"] == ALWAYS_DUE
    assert issue.data["certbot_entry_id"] == entry.entry_id

    # On the day a certificate expires, its issue says so.
    coordinator = entry.runtime_data
    expiry = coordinator.data.subjects[NOT_DUE].lineage.expires
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "custom_components.homelab_sentinel.certbot.coordinator.dt_util.utcnow",
            lambda: expiry,
        )
        await coordinator.async_refresh()
    issue = _issue(hass, entry, f"certificate_{NOT_DUE}")
    assert issue is not None
    assert issue.translation_key == "certificate_expired_renewable"
    assert issue.is_fixable

    # With a 3-day window they are fine; devices of lineages certbot still lists stay.
    hass.config_entries.async_update_entry(entry, options={"warning_days": 3})
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _issue(hass, entry, f"certificate_{ALWAYS_DUE}") is None
    assert lineage is not None
    assert not await async_remove_config_entry_device(hass, entry, lineage)


@pytest.fixture
async def live_files(
    hass: HomeAssistant, certbot_home: CertbotHome
) -> AsyncIterator[MockConfigEntry]:
    """A certificate_file entry on certbot's live/ directory, set up.

    pebble issues 5-day certificates, which count as expiring in their last fifth (1 day): the
    entry reads them as it will four and a half days from now.
    """
    later = SimpleNamespace(utcnow=lambda: dt_util.utcnow() + timedelta(days=4.5))
    with patch.object(certificate_coordinator, "dt_util", later):
        live = certbot_home.config_dir / "live"
        files = MockConfigEntry(
            domain=DOMAIN,
            title="live",
            unique_id=f"file:{live}",
            data={"kind": "certificate_file", "path": str(live)},
        )
        files.add_to_hass(hass)
        assert await hass.config_entries.async_setup(files.entry_id)
        await hass.async_block_till_done()
        yield files


async def test_certificate_entries_get_a_renew_fix_while_certbot_manages_them(
    hass: HomeAssistant, certbot_home: CertbotHome, live_files: MockConfigEntry
) -> None:
    files = live_files
    issue = _issue(hass, files, f"certificate_{NOT_DUE}")
    assert issue is not None
    assert not issue.is_fixable

    # With a narrower window certbot's entry raises no issue of its own for the certificate, so
    # the file entry keeps its issue and gains the fix.
    certbot = await add_entry(hass, local_data(certbot_home), options={"warning_days": 1})
    assert _issue(hass, certbot, f"certificate_{NOT_DUE}") is None
    issue = _issue(hass, files, f"certificate_{NOT_DUE}")
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "certificate_expiring_renewable"
    assert issue.data is not None
    assert issue.data["cert_name"] == NOT_DUE
    assert issue.data["certbot_entry_id"] == certbot.entry_id

    # Renew through the certificate file's own issue.
    before = await asyncio.to_thread(certbot_home.serial, NOT_DUE)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    issue_id = f"{files.entry_id}_certificate_{NOT_DUE}"
    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    # The issue's own placeholders (days, expiry) describe the problem in the confirmation.
    assert placeholders["name"] == NOT_DUE
    assert placeholders["host"] == LOCAL_TITLE
    assert placeholders["error"] == ""
    assert placeholders["expires"] == (issue.translation_placeholders or {})["expires"]
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await asyncio.to_thread(certbot_home.serial, NOT_DUE) != before
    # The renewed certificate file was read again.
    report = files.runtime_data.data.subjects[NOT_DUE].report
    assert report.serial_number == await asyncio.to_thread(certbot_home.serial, NOT_DUE)

    # Without the certbot entry the issue can no longer renew anything.
    assert await hass.config_entries.async_unload(certbot.entry_id)
    await hass.async_block_till_done()
    issue = _issue(hass, files, f"certificate_{NOT_DUE}")
    assert issue is not None
    assert not issue.is_fixable


async def test_a_name_watched_twice_raises_one_repair(
    hass: HomeAssistant, certbot_home: CertbotHome, live_files: MockConfigEntry
) -> None:
    files = live_files
    assert _issue(hass, files, f"certificate_{ALWAYS_DUE}") is not None

    # certbot's entry raises the issue, with its renew-now fix; the file entry's goes.
    certbot = await add_entry(hass, local_data(certbot_home))
    own = _issue(hass, certbot, f"certificate_{ALWAYS_DUE}")
    assert own is not None
    assert own.is_fixable
    assert own.translation_key == "certificate_expiring_renewable"
    assert _issue(hass, files, f"certificate_{ALWAYS_DUE}") is None
    # The file entry's problem sensor stays on and names the entry whose repair covers it.
    problem = er.async_get(hass).async_get_entity_id(
        "binary_sensor", DOMAIN, f"{files.unique_id}-{ALWAYS_DUE}-certificate_problem"
    )
    assert problem is not None
    state = hass.states.get(problem)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["repair_raised_by"] == f"{LOCAL_TITLE} ({ALWAYS_DUE})"
    issues = [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.endswith(f"_certificate_{ALWAYS_DUE}")
    ]
    assert issues == [own]

    # Added in the other order, or with certbot gone, the file entry raises it again.
    assert await hass.config_entries.async_unload(certbot.entry_id)
    await hass.async_block_till_done()
    assert _issue(hass, certbot, f"certificate_{ALWAYS_DUE}") is None
    again = _issue(hass, files, f"certificate_{ALWAYS_DUE}")
    assert again is not None
    assert not again.is_fixable
    assert again.translation_key == "certificate_expiring"
    state = hass.states.get(problem)
    assert state is not None
    assert "repair_raised_by" not in state.attributes


async def test_fix_flow_failures(hass: HomeAssistant, stopped_pebble_home: CertbotHome) -> None:
    entry = await add_entry(hass, local_data(stopped_pebble_home))
    manager = repairs_flow_manager(hass)
    assert manager is not None
    issue_id = f"{entry.entry_id}_certificate_gamma.test"
    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "renewal_failed"}
    assert result["description_placeholders"] is not None
    assert "gamma.test" in result["description_placeholders"]["error"]

    # While another renewal runs on the host, the fix flow says so.
    renewal = hass.async_create_task(entry.runtime_data.async_renew())
    await asyncio.sleep(0)
    result = await manager.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "renewal_failed"}
    assert result["description_placeholders"] is not None
    assert "already running" in result["description_placeholders"]["error"]
    await renewal

    assert await hass.config_entries.async_unload(entry.entry_id)
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "certbot_unavailable"


async def test_last_renewal_survives_a_restart_and_goes_with_the_entry(
    hass: HomeAssistant, certbot_home: CertbotHome, hass_storage: dict[str, object]
) -> None:
    entry = await add_entry(hass, local_data(certbot_home))
    await entry.runtime_data.async_renew(NOT_DUE)
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == "not_due"
    finished = state_of(hass, "sensor.certbot_local_last_renewal")
    assert finished != STATE_UNKNOWN
    result = hass.states.get("sensor.certbot_local_last_renewal_result")
    assert result is not None
    assert result.attributes["certificates"] == {NOT_DUE: "not_due"}

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == "not_due"
    assert state_of(hass, "sensor.certbot_local_last_renewal") == finished

    key = f"{DOMAIN}.certbot.{entry.entry_id}"
    await hass.async_block_till_done()
    assert key in hass_storage
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_certbot_failures_make_entities_unavailable(
    hass: HomeAssistant, certbot_home: CertbotHome, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await add_entry(hass, local_data(certbot_home))
    coordinator = entry.runtime_data
    coordinator.client.config_dir = "/proc/version"
    await coordinator.async_refresh()
    assert state_of(hass, "sensor.alpha_test_expires") == STATE_UNAVAILABLE
    assert "certbot on this machine failed" in caplog.text
    coordinator.client.config_dir = str(certbot_home.config_dir)
    await coordinator.async_refresh()
    assert state_of(hass, "sensor.alpha_test_days_remaining") == "4"

    # certbot cannot be run at all: a translated error; a dry run leaves no trace.
    command = coordinator.client.command
    coordinator.client.command = ["/nonexistent/certbot"]
    with pytest.raises(HomeAssistantError) as caught:
        await coordinator.async_renew(dry_run=True)
    assert caught.value.translation_key == "certbot_command_not_found"
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == STATE_UNKNOWN
    with pytest.raises(HomeAssistantError):
        await coordinator.async_renew()
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == "failed"
    coordinator.client.command = command


async def test_unusable_settings_and_missing_certbot(
    hass: HomeAssistant, certbot_home: CertbotHome
) -> None:
    bad = await add_entry(
        hass,
        {**local_data(certbot_home), "certbot_command": "certbot; reboot"},
        expect_loaded=False,
    )
    assert _entry_state(bad) is ConfigEntryState.SETUP_ERROR
    missing = local_data(certbot_home) | {
        "certbot_command": "/nonexistent/certbot",
        "config_dir": "/srv/other",
    }
    entry = await add_entry(hass, missing, expect_loaded=False)
    assert _entry_state(entry) is ConfigEntryState.SETUP_RETRY


async def test_ssh_entry_and_a_changed_host_key(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    own_sshd: SshServer,
    client_key: KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = ssh_data(own_sshd, certbot_home, key=client_key, use_sudo=True)
    entry = await add_entry(hass, data, title="certbot (127.0.0.1)")
    assert state_of(hass, "sensor.alpha_test_days_remaining") == "4"
    pinned = entry.data["host_key"]

    await asyncio.to_thread(own_sshd.restart_with_new_host_key)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.alpha_test_days_remaining") == STATE_UNAVAILABLE
    issue = _issue(hass, entry, "ssh_host_key_changed")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["presented"] != issue.translation_placeholders["expected"]
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    # The certificate issues of the last good listing stay while the host is unreachable.
    assert _issue(hass, entry, f"certificate_{ALWAYS_DUE}") is not None
    assert entry.data["host_key"] == pinned
    assert "changed from" in caplog.text

    # Renewing is refused as well, with the same explanation.
    with pytest.raises(HomeAssistantError, match="host key") as caught:
        await entry.runtime_data.async_renew()
    assert caught.value.translation_key == "certbot_host_key_changed"
    assert state_of(hass, "sensor.certbot_127_0_0_1_last_renewal_result") == "failed"

    # The issue's fix opens the entry's reauthentication (one, however often it is asked for).
    assert issue.is_fixable
    flow = await async_create_fix_flow(hass, issue.issue_id, issue.data)
    assert isinstance(flow, ReauthenticateRepairFlow)
    flow.hass, flow.issue_id, flow.data = hass, issue.issue_id, issue.data
    form = await flow.async_step_init()
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "confirm"
    done = await flow.async_step_confirm({})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    await hass.config_entries.async_unload(entry.entry_id)
    assert (await flow.async_step_confirm({}))["reason"] == "not_loaded"


async def test_ssh_rejected_credentials_start_reauth(
    hass: HomeAssistant, certbot_home: CertbotHome, sshd: SshServer, ssh_user: SshUser
) -> None:
    data = ssh_data(sshd, certbot_home, username=ssh_user.name, password="wrong")
    entry = await add_entry(hass, data, title="certbot (127.0.0.1)", expect_loaded=False)
    assert _entry_state(entry) is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_sudo_refusal_is_reported(
    hass: HomeAssistant, certbot_home: CertbotHome, sshd: SshServer, ssh_user: SshUser
) -> None:
    data = ssh_data(
        sshd, certbot_home, username=ssh_user.name, password=ssh_user.password, use_sudo=True
    )
    entry = await add_entry(hass, data, title="certbot (127.0.0.1)", expect_loaded=False)
    assert _entry_state(entry) is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "sudo" in entry.reason


async def test_secrets_stay_out_of_logs_and_diagnostics(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    sshd: SshServer,
    client_key: KeyPair,
    ssh_user: SshUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = ssh_data(sshd, certbot_home, key=client_key, password=ssh_user.password)
    entry = await add_entry(hass, data, title="certbot (127.0.0.1)")
    wrong = ssh_data(sshd, certbot_home, username=ssh_user.name, password=ssh_user.password + "x")
    wrong["config_dir"] = "/srv/elsewhere"
    await add_entry(hass, wrong, title="wrong", expect_loaded=False)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    dumped = repr(diagnostics)
    key_body = client_key.private.splitlines()[1]
    for secret in (ssh_user.password, key_body):
        assert secret not in caplog.text
        assert secret not in dumped
    assert diagnostics["entry"]["data"]["private_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["password"] == "**REDACTED**"
    assert set(diagnostics["data"]["subjects"]) == {ALWAYS_DUE, NOT_DUE}
    for state in hass.states.async_all():
        assert ssh_user.password not in repr(state.attributes)
