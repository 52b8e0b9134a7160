"""The homelab_sentinel.renew_certificates action and the renew button, with real certbot."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
import ssl
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from tests.certificate.certs import Issued, make_ca, make_leaf

from ..states import state_of
from .common import add_entry, device_of, entity_of, local_data
from .conftest import ALWAYS_DUE, NOT_DUE, CertbotHome


async def _renew(hass: HomeAssistant, device_id: str, **fields: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "renew_certificates",
        {"device_id": device_id, **fields},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


async def test_registered_without_entries_and_documented(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    assert hass.services.has_service(DOMAIN, "renew_certificates")
    description = (await async_get_all_descriptions(hass))[DOMAIN]["renew_certificates"]
    assert set(description["fields"]) == {"device_id", "cert_name", "force", "dry_run"}
    assert description["response"] == {"optional": True}


async def test_renewed_not_due_and_dry_run(hass: HomeAssistant, certbot_home: CertbotHome) -> None:
    entry = await add_entry(hass, local_data(certbot_home))
    host = device_of(hass, entry)
    before = await asyncio.to_thread(certbot_home.serial, ALWAYS_DUE)

    renewed = await _renew(hass, host, cert_name=ALWAYS_DUE)
    assert renewed["result"] == "renewed"
    assert renewed["dry_run"] is False
    (certificate,) = renewed["certificates"]
    assert certificate["name"] == ALWAYS_DUE
    assert certificate["result"] == "renewed"
    # The certificates were listed again: the answer and the sensor show the new expiry.
    assert certificate["expires"] == state_of(hass, "sensor.alpha_test_expires")
    serial = await asyncio.to_thread(certbot_home.serial, ALWAYS_DUE)
    assert serial != before
    assert entry.runtime_data.data.subjects[ALWAYS_DUE].lineage.serial_number == serial
    assert "all renewals succeeded" in renewed["output"]
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == "renewed"

    # A certificate's own device names the certificate; no response asked for.
    assert (
        await hass.services.async_call(
            DOMAIN,
            "renew_certificates",
            {"device_id": device_of(hass, entry, NOT_DUE)},
            blocking=True,
        )
        is None
    )
    result = hass.states.get("sensor.certbot_local_last_renewal_result")
    assert result is not None
    assert result.state == "not_due"
    assert result.attributes["certificates"] == {NOT_DUE: "not_due"}

    simulated = await _renew(hass, host, cert_name=NOT_DUE, force=True, dry_run=True)
    assert simulated["result"] == "renewed"
    assert simulated["dry_run"] is True
    assert "simulated renewals succeeded" in simulated["output"]
    # A dry run is not a renewal.
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == "not_due"


async def test_failed_renewal_is_a_response(
    hass: HomeAssistant, stopped_pebble_home: CertbotHome
) -> None:
    entry = await add_entry(hass, local_data(stopped_pebble_home))
    failed = await _renew(hass, device_of(hass, entry))
    assert failed["result"] == "failed"
    assert failed["certificates"][0]["name"] == "gamma.test"
    assert failed["certificates"][0]["result"] == "failed"
    assert "Connection refused" in failed["output"]
    assert state_of(hass, "sensor.certbot_local_last_renewal_result") == "failed"

    # The button says so too.
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": "button.certbot_local_renew_certificates"},
            blocking=True,
        )
    assert caught.value.translation_key == "certbot_renewal_failed"
    assert "gamma.test" in str(caught.value)


async def test_button_and_one_renewal_at_a_time_per_host(
    hass: HomeAssistant, certbot_home: CertbotHome
) -> None:
    entry = await add_entry(hass, local_data(certbot_home))
    button = entity_of(hass, "button", f"{entry.unique_id}-renew")
    pressed = hass.async_create_task(
        hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)
    )
    await asyncio.sleep(0)
    with pytest.raises(HomeAssistantError) as caught:
        await _renew(hass, device_of(hass, entry), cert_name=NOT_DUE)
    assert not isinstance(caught.value, ServiceValidationError)
    assert caught.value.translation_key == "certbot_renewal_in_progress"
    assert "already running" in str(caught.value)
    await pressed
    # The button renewed every certificate that was due.
    result = hass.states.get("sensor.certbot_local_last_renewal_result")
    assert result is not None
    assert result.state == "renewed"
    assert result.attributes["certificates"] == {ALWAYS_DUE: "renewed", NOT_DUE: "not_due"}


async def test_refreshes_certificate_entries_of_the_renewed_names(
    hass: HomeAssistant, certbot_home: CertbotHome, tmp_path: Path
) -> None:
    live = certbot_home.config_dir / "live"
    files = MockConfigEntry(
        domain=DOMAIN,
        title="live",
        unique_id=f"file:{live}",
        data={"kind": "certificate_file", "path": str(live)},
    )
    files.add_to_hass(hass)
    assert await hass.config_entries.async_setup(files.entry_id)

    # A TLS endpoint presenting alpha.test (as a reverse proxy would), and unrelated ones.
    connections: list[str] = []

    def handler(name: str, context: ssl.SSLContext) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(name)
            # The endpoint's posture probes offer versions it refuses: a quiet failure.
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.start_tls(context)
            writer.transport.abort()

        return handle

    ca = make_ca()
    servers = []
    names = (ALWAYS_DUE, "unrelated.test", "gone.test")
    for name in names:
        context = await asyncio.to_thread(
            _tls_context, make_leaf([name], issuer=ca), tmp_path, name
        )
        servers.append(await asyncio.start_server(handler(name, context), "127.0.0.1", 0))
    remote = []
    for name, server in zip(names, servers, strict=True):
        port = server.sockets[0].getsockname()[1]
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=name,
            unique_id=f"cert:127.0.0.1:{port}:{name}",
            data={
                "kind": "certificate",
                "host": "127.0.0.1",
                "port": port,
                "server_name": name,
                "starttls": "none",
            },
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        remote.append(entry)
    # One endpoint went away: its entry knows no names now.
    servers[2].close()
    await servers[2].wait_closed()
    await remote[2].runtime_data.async_refresh()
    certbot = await add_entry(hass, local_data(certbot_home))
    await hass.async_block_till_done()
    connections.clear()

    await _renew(hass, device_of(hass, certbot), cert_name=ALWAYS_DUE)
    await hass.async_block_till_done(wait_background_tasks=True)
    serial = await asyncio.to_thread(certbot_home.serial, ALWAYS_DUE)
    assert files.runtime_data.data.subjects[ALWAYS_DUE].report.serial_number == serial
    # Only the endpoint presenting the renewed name was asked again.
    assert set(connections) == {ALWAYS_DUE}
    for server in servers[:2]:
        server.close()
        server.close_clients()
        await server.wait_closed()


def _tls_context(issued: Issued, directory: Path, name: str) -> ssl.SSLContext:
    """A server context presenting issued (blocking: writes and loads files)."""
    certfile, keyfile = issued.write(directory, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


async def test_invalid_targets_and_names(
    hass: HomeAssistant, certbot_home: CertbotHome, device_registry: dr.DeviceRegistry
) -> None:
    entry = await add_entry(hass, local_data(certbot_home))
    host = device_of(hass, entry)

    async def refused(device_id: str, **fields: Any) -> ServiceValidationError:
        with pytest.raises(ServiceValidationError) as caught:
            await _renew(hass, device_id, **fields)
        return caught.value

    for hostile in ("../../etc", "-rf", "a b", "$(reboot)", "x;id"):
        error = await refused(host, cert_name=hostile)
        assert error.translation_key == "invalid_cert_name"
    assert (await refused(host, cert_name="nope.test")).translation_key == "unknown_cert_name"
    mismatch = await refused(device_of(hass, entry, NOT_DUE), cert_name=ALWAYS_DUE)
    assert mismatch.translation_key == "cert_name_mismatch"
    # Devices that are not certbot hosts, and unknown ones.
    other = MockConfigEntry(domain=DOMAIN, title="other", data={"kind": "certificate_file"})
    other.add_to_hass(hass)
    other.mock_state(hass, state=entry.state)
    device = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={(DOMAIN, other.entry_id)}
    )
    assert (await refused(device.id)).translation_key == "not_a_certbot_host"
    assert (await refused("no-such-device")).translation_key == "service_device_not_found"
