"""Config, reconfigure and options flows of the certificate kinds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN

from .certs import Issued, make_leaf
from .conftest import Servers, free_port


def _suggested(schema: object, field: str) -> object:
    for key in schema.schema:  # type: ignore[attr-defined]
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)


async def _menu(hass: HomeAssistant, kind: str) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert kind in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == kind
    flow_id: str = result["flow_id"]
    return flow_id


async def test_add_remote_certificate(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, ca_bundle: Path
) -> None:
    port = await servers.tls(trusted_leaf)
    flow_id = await _menu(hass, "certificate")
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "host": "127.0.0.1",
            "port": port,
            "server_name": "Service.Test",
            "starttls": "none",
            "ca_file": str(ca_bundle),
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"service.test (127.0.0.1:{port})"
    assert result["data"] == {
        "kind": "certificate",
        "host": "127.0.0.1",
        "port": port,
        "server_name": "service.test",
        "starttls": "none",
        "ca_file": str(ca_bundle),
    }
    entry = result["result"]
    assert entry.unique_id == f"cert:127.0.0.1:{port}:service.test"
    await hass.async_block_till_done()
    state = hass.states.get(f"sensor.service_test_127_0_0_1_{port}_trust")
    assert state is not None
    assert state.state == "trusted"


async def test_server_name_defaults_to_host(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued
) -> None:
    port = await servers.tls(trusted_leaf)
    flow_id = await _menu(hass, "certificate")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"host": "127.0.0.1", "port": port, "starttls": "none"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"127.0.0.1:{port}"
    assert result["data"]["server_name"] == "127.0.0.1"
    assert "ca_file" not in result["data"]


async def test_remote_errors_then_recovery(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, tmp_path: Path
) -> None:
    flow_id = await _menu(hass, "certificate")
    refused = free_port()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"host": "127.0.0.1", "port": refused, "starttls": "none"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        writer.close()

    plain_port = await servers.start(plain)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"host": "127.0.0.1", "port": plain_port, "starttls": "none"}
    )
    assert result["errors"] == {"base": "no_certificate"}

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    silent_port = await servers.start(silent)
    with patch("custom_components.homelab_sentinel.certificate.client.DEFAULT_TIMEOUT", 0.2):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"host": "127.0.0.1", "port": silent_port, "starttls": "none"}
        )
    assert result["errors"] == {"base": "timeout"}

    bad_ca = tmp_path / "bad.pem"
    bad_ca.write_text("no certificates\n")
    port = await servers.tls(trusted_leaf)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {"host": "127.0.0.1", "port": port, "starttls": "none", "ca_file": str(bad_ca)},
    )
    assert result["errors"] == {"ca_file": "invalid_ca_file"}
    # What the user typed is kept in the form.
    assert _suggested(result["data_schema"], "ca_file") == str(bad_ca)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"host": "127.0.0.1", "port": port, "starttls": "none"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_remote_already_configured(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued
) -> None:
    port = await servers.tls(trusted_leaf)
    MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"cert:127.0.0.1:{port}:127.0.0.1",
        data={"kind": "certificate", "host": "127.0.0.1", "port": port},
    ).add_to_hass(hass)
    flow_id = await _menu(hass, "certificate")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"host": "127.0.0.1", "port": port, "starttls": "none"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_add_certificate_directory(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    live = tmp_path / "live"
    (live / "proxy.test").mkdir(parents=True)
    (live / "proxy.test" / "fullchain.pem").write_bytes(
        make_leaf(["proxy.test"], issuer=test_ca).pem_chain()
    )
    link = tmp_path / "link"
    link.symlink_to(live)
    flow_id = await _menu(hass, "certificate_file")
    result = await hass.config_entries.flow.async_configure(flow_id, {"path": str(link)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # Kept as given, read as given at every poll; only the unique_id resolves links.
    assert result["data"] == {"kind": "certificate_file", "path": str(link)}
    assert result["title"] == str(link)
    assert result["result"].unique_id == f"file:{live}"

    flow_id = await _menu(hass, "certificate_file")
    result = await hass.config_entries.flow.async_configure(flow_id, {"path": str(live)})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("missing", "not_found"),
        ("empty_dir", "no_certificate"),
        ("text_file", "no_certificate"),
        ("damaged", "unreadable_certificate"),
        ("forbidden", "permission_denied"),
    ],
)
async def test_file_errors(hass: HomeAssistant, tmp_path: Path, setup: str, error: str) -> None:
    target = tmp_path / setup
    if setup == "empty_dir":
        target.mkdir()
    elif setup == "text_file":
        target.write_text("hello\n")
    elif setup == "damaged":
        target.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    elif setup == "forbidden":
        target.write_text("x")
    flow_id = await _menu(hass, "certificate_file")
    if setup == "forbidden":
        with patch(
            "custom_components.homelab_sentinel.certificate.client.Path.stat",
            side_effect=PermissionError(13, "Permission denied"),
        ):
            result = await hass.config_entries.flow.async_configure(flow_id, {"path": str(target)})
    else:
        result = await hass.config_entries.flow.async_configure(flow_id, {"path": str(target)})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"path": error}


async def test_reconfigure_remote(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, ca_bundle: Path
) -> None:
    port = await servers.tls(trusted_leaf)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"127.0.0.1:{port}",
        unique_id=f"cert:127.0.0.1:{port}:127.0.0.1",
        data={
            "kind": "certificate",
            "host": "127.0.0.1",
            "port": port,
            "server_name": "127.0.0.1",
            "starttls": "none",
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "certificate"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "host": "127.0.0.1",
            "port": port,
            "server_name": "service.test",
            "starttls": "none",
            "ca_file": str(ca_bundle),
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == f"cert:127.0.0.1:{port}:service.test"
    assert entry.data["ca_file"] == str(ca_bundle)
    await hass.async_block_till_done()
    assert entry.title == f"service.test (127.0.0.1:{port})"


async def test_reconfigure_onto_another_entry_aborts(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    paths = []
    for name in ("a.pem", "b.pem"):
        path = tmp_path / name
        path.write_bytes(make_leaf([name], issuer=test_ca).pem_chain())
        paths.append(path)
    entries = []
    for path in paths:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=str(path),
            unique_id=f"file:{path}",
            data={"kind": "certificate_file", "path": str(path)},
        )
        entry.add_to_hass(hass)
        entries.append(entry)
    result = await entries[0].start_reconfigure_flow(hass)
    assert result["step_id"] == "certificate_file"
    # The form starts from the entry's current values.
    assert _suggested(result["data_schema"], "path") == str(paths[0])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"path": str(paths[1])}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_keeping_the_same_target(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    path = tmp_path / "a.pem"
    path.write_bytes(make_leaf(["a.test"], issuer=test_ca).pem_chain())
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="old title",
        unique_id=f"file:{path}",
        data={"kind": "certificate_file", "path": str(path)},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"path": str(path)})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.title == str(path)


async def test_options(hass: HomeAssistant, tmp_path: Path, test_ca: Issued) -> None:
    path = tmp_path / "cert.pem"
    path.write_bytes(make_leaf(["a.test"], issuer=test_ca).pem_chain())
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="cert",
        unique_id=f"file:{path}",
        data={"kind": "certificate_file", "path": str(path)},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.update_interval.total_seconds() == 3600

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"]
    assert schema is not None
    defaults = schema({})
    assert defaults == {"scan_interval": 3600, "warning_days": 14}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 600.0, "warning_days": 90.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"scan_interval": 600, "warning_days": 90}
    await hass.async_block_till_done()
    # Applied without a restart: the entry reloaded with the new interval and threshold.
    assert entry.runtime_data.update_interval.total_seconds() == 600
    problem = hass.states.get("binary_sensor.cert_certificate_problem")
    assert problem is not None
    assert problem.state == "on"
