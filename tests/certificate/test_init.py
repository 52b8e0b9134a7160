"""Certificate entries in a running Home Assistant: entities, repairs, recovery, diagnostics."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
import shutil
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.helpers.update_coordinator import UpdateFailed
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel import async_remove_config_entry_device
from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics

from .certs import Issued, make_leaf
from .conftest import Servers, days_from_now


async def _setup_remote(
    hass: HomeAssistant, port: int, ca_bundle: Path | None, **options: int
) -> MockConfigEntry:
    data = {
        "kind": "certificate",
        "host": "127.0.0.1",
        "port": port,
        "server_name": "service.test",
        "starttls": "none",
    }
    if ca_bundle:
        data["ca_file"] = str(ca_bundle)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="proxy",
        unique_id=f"cert:127.0.0.1:{port}:service.test",
        data=data,
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _setup_files(hass: HomeAssistant, path: Path) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="letsencrypt",
        unique_id=f"file:{path}",
        data={"kind": "certificate_file", "path": str(path)},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _entry_state(entry: MockConfigEntry) -> ConfigEntryState:
    state: ConfigEntryState = entry.state
    return state


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_remote_entities(
    hass: HomeAssistant,
    servers: Servers,
    trusted_leaf: Issued,
    ca_bundle: Path,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    port = await servers.tls(trusted_leaf)
    entry = await _setup_remote(hass, port, ca_bundle)
    leaf = trusted_leaf.certificate
    assert _state(hass, "sensor.proxy_expires") == leaf.not_valid_after_utc.isoformat()
    assert _state(hass, "sensor.proxy_days_remaining") == "59"
    # The intermediate outlives the leaf, so the leaf is the chain's first to expire.
    assert _state(hass, "sensor.proxy_chain_expires") == leaf.not_valid_after_utc.isoformat()
    assert _state(hass, "sensor.proxy_trust") == "trusted"
    assert _state(hass, "sensor.proxy_issuer") == "Sentinel Test Intermediate"
    assert _state(hass, "binary_sensor.proxy_certificate_problem") == "off"
    days = hass.states.get("sensor.proxy_days_remaining")
    assert days is not None
    assert days.attributes["unit_of_measurement"] == "d"
    assert days.attributes["state_class"] == "measurement"
    assert hass.states.get("sensor.proxy_trust").attributes["options"] == [  # type: ignore[union-attr]
        "expired",
        "not_yet_valid",
        "self_signed",
        "untrusted_issuer",
        "incomplete_chain",
        "hostname_mismatch",
        "trusted",
    ]
    problem = hass.states.get("binary_sensor.proxy_certificate_problem")
    assert problem is not None
    assert problem.attributes["threshold"] == "P14D"
    assert _state(hass, "binary_sensor.proxy_renewed_certificate_not_served") == "off"
    assert _state(hass, "event.proxy_renewal") == STATE_UNKNOWN

    registered = entity_registry.async_get("sensor.proxy_expires")
    assert registered is not None
    assert registered.unique_id == f"cert:127.0.0.1:{port}:service.test-expires"
    assert entity_registry.async_get("sensor.proxy_issuer").entity_category == "diagnostic"  # type: ignore[union-attr]
    device = device_registry.async_get(registered.device_id)  # type: ignore[arg-type]
    assert isinstance(device, dr.DeviceEntry)
    assert device.name == "proxy"
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert _entry_state(entry) is ConfigEntryState.LOADED

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert _entry_state(entry) is ConfigEntryState.NOT_LOADED
    assert _state(hass, "sensor.proxy_expires") == STATE_UNAVAILABLE


async def test_expiring_certificate_raises_a_repair_issue_that_clears(
    hass: HomeAssistant,
    servers: Servers,
    test_ca: Issued,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    # A 90-day certificate: the fixed 14-day warning applies.
    expiring = make_leaf(
        ["service.test"],
        issuer=test_ca,
        not_before=days_from_now(-86.96),
        not_after=days_from_now(3.04),
    )
    port = await servers.tls(expiring)
    entry = await _setup_remote(hass, port, ca_bundle)
    assert _state(hass, "sensor.proxy_days_remaining") == "3"
    assert _state(hass, "sensor.proxy_trust") == "trusted"
    assert _state(hass, "binary_sensor.proxy_certificate_problem") == "on"
    issue = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_certificate_")
    assert issue is not None
    assert issue.translation_key == "certificate_expiring"
    assert issue.translation_placeholders == {
        "name": "proxy",
        "days": "3",
        "expires": expiring.certificate.not_valid_after_utc.date().isoformat(),
    }

    # Renewed: the server now presents a fresh certificate on the same port.
    await servers.close()
    await servers.tls(make_leaf(["service.test"], issuer=test_ca), port=port)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, "binary_sensor.proxy_certificate_problem") == "off"
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_certificate_") is None


async def test_expired_certificate(
    hass: HomeAssistant,
    servers: Servers,
    test_ca: Issued,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    expired = make_leaf(
        ["service.test"],
        issuer=test_ca,
        not_before=days_from_now(-90),
        not_after=days_from_now(-1.5),
    )
    entry = await _setup_remote(hass, await servers.tls(expired), ca_bundle)
    assert _state(hass, "sensor.proxy_trust") == "expired"
    assert _state(hass, "sensor.proxy_days_remaining") == "-1"
    assert _state(hass, "binary_sensor.proxy_certificate_problem") == "on"
    issue = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_certificate_")
    assert issue is not None
    assert issue.translation_key == "certificate_expired"
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_certificate_") is None


async def test_untrusted_is_a_problem_without_repair(
    hass: HomeAssistant,
    servers: Servers,
    trusted_leaf: Issued,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await _setup_remote(hass, await servers.tls(trusted_leaf), None)
    assert _state(hass, "sensor.proxy_trust") == "untrusted_issuer"
    assert _state(hass, "sensor.proxy_days_remaining") == "59"
    assert _state(hass, "binary_sensor.proxy_certificate_problem") == "on"
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_certificate_") is None


async def test_unavailable_then_recovers(
    hass: HomeAssistant,
    servers: Servers,
    trusted_leaf: Issued,
    ca_bundle: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = await servers.tls(trusted_leaf)
    entry = await _setup_remote(hass, port, ca_bundle)
    await servers.close()
    coordinator = entry.runtime_data
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    assert _state(hass, "sensor.proxy_trust") == STATE_UNAVAILABLE
    assert _state(hass, "binary_sensor.proxy_certificate_problem") == STATE_UNAVAILABLE
    # Logged once when it went away, not at every poll.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(": ", 1)[1] for r in errors] == [
        f"Could not connect to 127.0.0.1:{port}"
    ]
    await servers.tls(trusted_leaf, port=port)
    await coordinator.async_refresh()
    assert _state(hass, "sensor.proxy_trust") == "trusted"
    assert "Fetching homelab_sentinel proxy data recovered" in caplog.text


async def test_setup_retries_when_unreachable(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="gone",
        unique_id="cert:127.0.0.1:9:127.0.0.1",
        data={
            "kind": "certificate",
            "host": "127.0.0.1",
            "port": 9,
            "server_name": "127.0.0.1",
            "starttls": "none",
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_ca_file_gone_at_setup(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="x",
        unique_id="cert:127.0.0.1:9:127.0.0.1",
        data={
            "kind": "certificate",
            "host": "127.0.0.1",
            "port": 9,
            "server_name": "127.0.0.1",
            "starttls": "none",
            "ca_file": str(tmp_path / "gone.pem"),
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_directory_devices_follow_the_certificates(
    hass: HomeAssistant,
    tmp_path: Path,
    test_ca: Issued,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    live = tmp_path / "live"

    def lineage(name: str, days: float) -> None:
        (live / name).mkdir(parents=True, exist_ok=True)
        issued = make_leaf([name], issuer=test_ca, not_after=days_from_now(days))
        (live / name / "fullchain.pem").write_bytes(issued.pem_chain())

    lineage("alpha.test", 80)
    lineage("beta.test", 5)
    entry = await _setup_files(hass, live)
    assert _state(hass, "sensor.alpha_test_days_remaining") == "79"
    assert _state(hass, "sensor.beta_test_days_remaining") == "4"
    assert _state(hass, "binary_sensor.beta_test_certificate_problem") == "on"
    # Files are judged without a host name: a private CA is simply not trusted.
    assert _state(hass, "sensor.alpha_test_trust") == "untrusted_issuer"
    registered = entity_registry.async_get("sensor.alpha_test_expires")
    assert registered is not None
    assert registered.unique_id == f"file:{live}-alpha.test-expires"
    alpha = device_registry.async_get(registered.device_id)  # type: ignore[arg-type]
    parent = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert isinstance(alpha, dr.DeviceEntry)
    assert parent is not None
    assert alpha.via_device_id == parent.id

    lineage("gamma.test", 30)
    shutil.rmtree(live / "beta.test")
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, "sensor.gamma_test_days_remaining") == "29"
    assert hass.states.get("sensor.beta_test_days_remaining") is None
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, f"{entry.entry_id}-beta.test"), entry.entry_id
        )
        is None
    )

    gamma = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}-gamma.test"), entry.entry_id
    )
    assert gamma is not None
    assert not await async_remove_config_entry_device(hass, entry, gamma)
    assert not await async_remove_config_entry_device(hass, entry, parent)
    shutil.rmtree(live / "gamma.test")
    await entry.runtime_data.async_refresh()
    # Once its certificate is gone, a device may be removed.
    assert await async_remove_config_entry_device(hass, entry, gamma)


async def test_missing_file_then_recovery(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    path = tmp_path / "cert.pem"
    content = make_leaf(["a.test"], issuer=test_ca).pem_chain()
    path.write_bytes(content)
    entry = await _setup_files(hass, path)
    assert _state(hass, "sensor.letsencrypt_trust") == "untrusted_issuer"
    path.unlink()
    await entry.runtime_data.async_refresh()
    assert _state(hass, "sensor.letsencrypt_trust") == STATE_UNAVAILABLE
    path.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    await entry.runtime_data.async_refresh()
    assert _state(hass, "sensor.letsencrypt_trust") == STATE_UNAVAILABLE
    path.write_bytes(content)
    await entry.runtime_data.async_refresh()
    assert _state(hass, "sensor.letsencrypt_trust") == "untrusted_issuer"


async def test_diagnostics(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, ca_bundle: Path
) -> None:
    entry = await _setup_remote(hass, await servers.tls(trusted_leaf), ca_bundle)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"]["host"] == "127.0.0.1"
    assert diagnostics["coordinator"]["last_update_success"] is True
    status = diagnostics["data"]["subjects"][""]
    assert status["report"]["trust"] == "trusted"
    assert status["days_remaining"] == 59
    assert "PRIVATE KEY" not in repr(diagnostics)


async def test_update_errors_are_translated(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, ca_bundle: Path
) -> None:
    port = await servers.tls(trusted_leaf)
    entry = await _setup_remote(hass, port, ca_bundle)
    coordinator = entry.runtime_data
    await servers.close()

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        writer.close()

    await servers.start(plain, port=port)
    await coordinator.async_refresh()
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "no_certificate"
    await servers.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    await servers.start(silent, port=port)
    with patch("custom_components.homelab_sentinel.certificate.client.DEFAULT_TIMEOUT", 0.2):
        await coordinator.async_refresh()
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "timeout"
    assert _state(hass, "sensor.proxy_trust") == STATE_UNAVAILABLE
