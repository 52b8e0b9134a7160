"""A TLS endpoint's posture in a running Home Assistant: entities, option, repairs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from types import SimpleNamespace

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.json import json_bytes
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.certificate import posture
from custom_components.homelab_sentinel.certificate.client import StartTLS
from custom_components.homelab_sentinel.certificate.entities import PLAIN_HTTP
from custom_components.homelab_sentinel.certificate.posture import (
    PostureReport,
    ProtocolSupport,
    TLSProtocol,
)
from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics

from .certs import Issued
from .conftest import Servers
from .nginx import HSTS, LEGACY, MODERN, SERVE_SITE, TLS13_ONLY, Nginx, Site, nginx
from .test_client import _mail_server

__all__ = ["nginx"]


async def _setup(
    hass: HomeAssistant, host: str, port: int, ca_bundle: Path, starttls: str = "none"
) -> MockConfigEntry:
    # As an entry made before the posture checks existed: no options at all.
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="proxy",
        unique_id=f"cert:{host}:{port}:service.test",
        data={
            "kind": "certificate",
            "host": host,
            "port": port,
            "server_name": "service.test",
            "starttls": starttls,
            "ca_file": str(ca_bundle),
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _state(hass: HomeAssistant, entity_id: str) -> tuple[str, dict[str, object]]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state, dict(state.attributes)


async def test_legacy_site_without_hsts_serving_plain_http_then_fixed(
    hass: HomeAssistant, nginx: Nginx, ca_bundle: Path, issue_registry: ir.IssueRegistry
) -> None:
    await nginx.start(Site(protocols=LEGACY, tls_extra="", port80=SERVE_SITE))
    entry = await _setup(hass, nginx.address, 443, ca_bundle)

    state, attributes = _state(hass, "sensor.proxy_lowest_tls_version")
    assert state == "tls1_0"
    assert attributes["accepted"] == ["tls1_0", "tls1_1", "tls1_2"]
    assert "reason" not in attributes
    assert _state(hass, "binary_sensor.proxy_legacy_tls")[0] == "on"
    state, attributes = _state(hass, "sensor.proxy_hsts_max_age")
    assert float(state) == 0
    assert attributes["unit_of_measurement"] == "d"
    assert attributes["include_subdomains"] is False
    assert attributes["preload"] is False
    state, attributes = _state(hass, "binary_sensor.proxy_plain_http")
    assert state == "on"
    assert attributes["status"] == 200
    assert attributes["location"] is None
    # The certificate itself is fine: the posture is a problem of its own.
    assert _state(hass, "binary_sensor.proxy_certificate_problem")[0] == "off"

    legacy = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_legacy_tls")
    assert legacy is not None
    assert legacy.translation_key == "legacy_tls"
    assert legacy.translation_placeholders == {"name": "proxy", "versions": "TLS 1.0, TLS 1.1"}
    plain = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_plain_http")
    assert plain is not None
    assert plain.translation_key == "plain_http"
    placeholders = plain.translation_placeholders or {}
    assert placeholders["status"] == "200"
    assert placeholders["location"] == "-"
    assert "server_name service.test;" in placeholders["nginx"]
    assert "return 301 https://$host$request_uri;" in placeholders["nginx"]
    assert "Redirect permanent / https://service.test/" in placeholders["apache"]

    # The fix the repairs give: modern protocols only, HSTS, port 80 redirecting.
    await nginx.start(Site(protocols=MODERN, tls_extra=HSTS))
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    state, attributes = _state(hass, "sensor.proxy_lowest_tls_version")
    assert state == "tls1_2"
    assert attributes["accepted"] == ["tls1_2", "tls1_3"]
    assert _state(hass, "binary_sensor.proxy_legacy_tls")[0] == "off"
    state, attributes = _state(hass, "sensor.proxy_hsts_max_age")
    assert float(state) == 365
    assert attributes["include_subdomains"] is True
    state, attributes = _state(hass, "binary_sensor.proxy_plain_http")
    assert state == "off"
    assert attributes == {
        "status": 301,
        "location": "https://service.test/",
        "device_class": "problem",
        "friendly_name": "proxy Plain HTTP",
    }
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_legacy_tls") is None
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_plain_http") is None

    # As the download serializes it.
    diagnostics = json.loads(json_bytes(await async_get_config_entry_diagnostics(hass, entry)))
    found = diagnostics["data"]["subjects"][""]["posture"]
    assert found["protocols"] == {"accepted": ["tls1_2", "tls1_3"], "untested": {}}
    assert found["hsts"] == {"max_age": 31536000, "include_subdomains": True, "preload": False}


async def test_tls13_only_and_port_80_closed(
    hass: HomeAssistant, nginx: Nginx, ca_bundle: Path, issue_registry: ir.IssueRegistry
) -> None:
    await nginx.start(Site(protocols=TLS13_ONLY, port80=None))
    entry = await _setup(hass, nginx.address, 443, ca_bundle)
    assert _state(hass, "sensor.proxy_lowest_tls_version")[0] == "tls1_3"
    assert _state(hass, "binary_sensor.proxy_legacy_tls")[0] == "off"
    state, attributes = _state(hass, "binary_sensor.proxy_plain_http")
    assert state == "off"
    assert attributes["status"] is None
    assert not [issue for (domain, issue) in issue_registry.issues if domain == DOMAIN], (
        entry.entry_id
    )


async def test_starttls_endpoint_gets_the_protocol_check_only(
    hass: HomeAssistant,
    servers: Servers,
    trusted_leaf: Issued,
    ca_bundle: Path,
    entity_registry: er.EntityRegistry,
) -> None:
    port = await servers.start(_mail_server(servers, servers.context(trusted_leaf), StartTLS.SMTP))
    entry = await _setup(hass, "127.0.0.1", port, ca_bundle, starttls="smtp")
    state, attributes = _state(hass, "sensor.proxy_lowest_tls_version")
    assert state == "tls1_2"
    assert attributes["accepted"] == ["tls1_2", "tls1_3"]
    assert _state(hass, "binary_sensor.proxy_legacy_tls")[0] == "off"
    keys = {
        entity.unique_id.rsplit("-", 1)[-1]
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert {"lowest_tls_version", "legacy_tls"} <= keys
    assert not {"hsts_max_age", "plain_http"} & keys


async def test_the_port_80_check_can_be_switched_off(
    hass: HomeAssistant,
    nginx: Nginx,
    ca_bundle: Path,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    # Port 80 open on purpose, e.g. for ACME challenges only.
    await nginx.start(Site(port80=SERVE_SITE))
    entry = await _setup(hass, nginx.address, 443, ca_bundle)
    assert _state(hass, "binary_sensor.proxy_plain_http")[0] == "on"
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_plain_http") is not None

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {"scan_interval": 3600, "warning_days": 14, "check_plain_http": True}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 3600, "warning_days": 14, "check_plain_http": False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"scan_interval": 3600, "warning_days": 14, "check_plain_http": False}
    await hass.async_block_till_done()

    assert hass.states.get("binary_sensor.proxy_plain_http") is None
    assert entity_registry.async_get("binary_sensor.proxy_plain_http") is None
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_plain_http") is None
    assert _state(hass, "sensor.proxy_hsts_max_age")[0] != "unknown"


async def test_a_tls_endpoint_that_is_not_a_web_server(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, ca_bundle: Path
) -> None:
    async def mqtt_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readline()
            writer.write(b"\x20\x02\x00\x00\r\n\r\n")
            await writer.drain()
        writer.close()

    port = await servers.start(mqtt_like, servers.context(trusted_leaf))
    await _setup(hass, "127.0.0.1", port, ca_bundle)
    state, attributes = _state(hass, "sensor.proxy_hsts_max_age")
    assert state == "unknown"
    assert "include_subdomains" not in attributes
    assert _state(hass, "sensor.proxy_lowest_tls_version")[0] == "tls1_2"


def test_port_80_that_is_not_http_has_no_attributes() -> None:
    status = SimpleNamespace(
        posture=PostureReport(
            protocols=ProtocolSupport(accepted=(), untested={}), hsts=None, plain_http=None
        )
    )
    assert PLAIN_HTTP.is_on_fn(status) is None
    assert PLAIN_HTTP.attributes_fn is not None
    assert PLAIN_HTTP.attributes_fn(status) == {}


async def test_a_version_this_machine_cannot_offer_leaves_the_lowest_unknown(
    hass: HomeAssistant, nginx: Nginx, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(posture._PINNED_CONTEXTS, TLSProtocol.TLS1_0, None)
    await nginx.start(Site(protocols=MODERN))
    entry = await _setup(hass, nginx.address, 443, ca_bundle)
    state, attributes = _state(hass, "sensor.proxy_lowest_tls_version")
    assert state == "unknown"
    assert attributes["accepted"] == ["tls1_2", "tls1_3"]
    assert attributes["reason"] == "not_offered_locally"
    # Whether TLS 1.0 is accepted cannot be told, so neither can "legacy".
    assert _state(hass, "binary_sensor.proxy_legacy_tls")[0] == "unknown"
    diagnostics = json.loads(json_bytes(await async_get_config_entry_diagnostics(hass, entry)))
    assert diagnostics["data"]["subjects"][""]["posture"]["protocols"]["untested"] == {
        "tls1_0": "not_offered_locally"
    }
