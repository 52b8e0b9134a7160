"""Config, reconfigure, reauth and options flows of the host kind, against real hosts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.transport import HostKey
from tests.certbot.conftest import KeyPair, SshUser

from .common import LOCAL_DATA, add_entry, ssh_data, use_world
from .conftest import AptWorld, HostSshServer


async def _transport(hass: HomeAssistant, transport: str) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "host"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "host"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"transport": transport}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"host_{transport}"
    return result


def _ssh_form(server: HostSshServer, **changes: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port, "username": "root", "use_sudo": False} | (
        changes
    )


def _without_apt(world: AptWorld) -> Path:
    """Alpine's os-release, and a PATH with grep, find and tail but no apt (blocking)."""
    (world.root / "os-release").write_text('PRETTY_NAME="Alpine Linux v3.20"\n')
    tools = world.root / "bin"
    tools.mkdir()
    for tool in ("grep", "find", "tail"):
        (tools / tool).symlink_to(f"/usr/bin/{tool}")
    return tools


async def test_add_this_machine(
    hass: HomeAssistant, apt_world: AptWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_world(monkeypatch, apt_world)
    result = await _transport(hass, "local")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Host (local)"
    assert result["data"] == LOCAL_DATA
    assert result["result"].unique_id == "host:local:local"
    await hass.async_block_till_done()
    assert hass.states.get("sensor.host_local_pending_updates") is not None
    # The same machine again.
    result = await _transport(hass, "local")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_unsupported_os_is_refused(
    hass: HomeAssistant, apt_world: AptWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_world(monkeypatch, apt_world)
    tools = await asyncio.to_thread(_without_apt, apt_world)
    result = await _transport(hass, "local")
    monkeypatch.setenv("PATH", str(tools))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "host_local"
    assert result["errors"] == {"base": "unsupported_os"}
    assert result["description_placeholders"] == {"detail": "Alpine Linux v3.20"}


async def test_apt_that_fails_is_shown(
    hass: HomeAssistant, apt_world: AptWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_world(monkeypatch, apt_world)
    await asyncio.to_thread(
        (apt_world.root / "etc" / "sources.list").write_text, "not a sources.list\n"
    )
    result = await _transport(hass, "local")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "host_command_failed"}
    assert "sources.list" in (result["description_placeholders"] or {})["detail"]


async def test_add_a_host_over_ssh(
    hass: HomeAssistant,
    apt_world: AptWorld,
    host_sshd: HostSshServer,
    client_key: KeyPair,
    ssh_user: SshUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_world(monkeypatch, apt_world)
    result = await _transport(hass, "ssh")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _ssh_form(host_sshd, username=ssh_user.name, password="wrong")
    )
    assert result["step_id"] == "host_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "host_ssh"
    assert result["errors"] == {"base": "ssh_invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _ssh_form(host_sshd, username=ssh_user.name, password=ssh_user.password)
    )
    assert result["step_id"] == "host_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Host (127.0.0.1)"
    assert result["result"].unique_id == "host:ssh:127.0.0.1"
    assert result["data"]["host_key"] == HostKey.parse(host_sshd.host_key.public).openssh
    assert result["data"]["password"] == ssh_user.password
    await hass.async_block_till_done()
    assert hass.states.get("sensor.host_127_0_0_1_security_updates") is not None


async def test_reauth_after_a_host_key_change(
    hass: HomeAssistant,
    apt_world: AptWorld,
    own_host_sshd: HostSshServer,
    client_key: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_world(monkeypatch, apt_world)
    entry = await add_entry(hass, ssh_data(own_host_sshd, client_key))
    await asyncio.to_thread(own_host_sshd.restart_with_new_host_key)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_host_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["host_key"] == HostKey.parse(own_host_sshd.host_key.public).openssh
    await hass.async_block_till_done()

    # New credentials, same key.
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_host"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"private_key": client_key.private}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()


async def test_reconfigure_and_options(
    hass: HomeAssistant, apt_world: AptWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_world(monkeypatch, apt_world)
    entry = await add_entry(hass, dict(LOCAL_DATA))
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "host"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"transport": "local"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"]
    assert schema is not None
    assert {str(key): key.default() for key in schema.schema} == {"scan_interval": 3600}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 1800}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {"scan_interval": 1800}
