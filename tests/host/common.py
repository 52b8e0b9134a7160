"""Helpers the host tests share: entries on the private apt world."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.host import coordinator as host_coordinator
from custom_components.homelab_sentinel.transport import HostKey
from tests.certbot.conftest import KeyPair, SshServer

from .conftest import AptWorld

LOCAL_DATA: dict[str, Any] = {"kind": "host", "transport": "local"}


def use_world(monkeypatch: pytest.MonkeyPatch, world: AptWorld) -> None:
    """Home Assistant's commands see the private apt world and its host files."""
    monkeypatch.setenv("APT_CONFIG", str(world.apt_config))
    monkeypatch.setattr(host_coordinator, "DEFAULT_PATHS", world.paths())


def ssh_data(server: SshServer, key: KeyPair, username: str = "root") -> dict[str, Any]:
    """Entry data of a host reached over the test's sshd, its host key pinned."""
    return {
        "kind": "host",
        "transport": "ssh",
        "host": "127.0.0.1",
        "port": server.port,
        "username": username,
        "use_sudo": False,
        "private_key": key.private,
        "host_key": HostKey.parse(server.host_key.public).openssh,
    }


async def add_entry(
    hass: HomeAssistant, data: dict[str, Any], *, expect_loaded: bool = True
) -> MockConfigEntry:
    """Add a host entry and set it up."""
    host = data.get("host") or "local"
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Host ({host})",
        unique_id=f"host:{data['transport']}:{host}",
        data=data,
    )
    entry.add_to_hass(hass)
    loaded = await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert loaded is expect_loaded
    return entry
