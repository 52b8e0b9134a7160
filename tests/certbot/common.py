"""Helpers the certbot tests share: entries, states, devices."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.transport import HostKey

from .conftest import CertbotHome, KeyPair, SshServer

LOCAL_TITLE = "certbot (local)"


def local_data(home: CertbotHome) -> dict[str, Any]:
    """Entry data of a local certbot entry on the test's certbot directories."""
    return {
        "kind": "certbot",
        "transport": "local",
        "certbot_command": home.command,
        "config_dir": str(home.config_dir),
        "acme_server": home.pebble.url,
    }


def ssh_data(
    server: SshServer,
    home: CertbotHome,
    *,
    key: KeyPair | None = None,
    username: str = "root",
    password: str | None = None,
    use_sudo: bool = False,
) -> dict[str, Any]:
    """Entry data of a certbot entry reaching the test's sshd, with its host key pinned."""
    data: dict[str, Any] = {
        "kind": "certbot",
        "transport": "ssh",
        "host": "127.0.0.1",
        "port": server.port,
        "username": username,
        "use_sudo": use_sudo,
        "certbot_command": home.command,
        "config_dir": str(home.config_dir),
        "acme_server": home.pebble.url,
        "host_key": HostKey.parse(server.host_key.public).openssh,
    }
    if key is not None:
        data["private_key"] = key.private
    if password is not None:
        data["password"] = password
    return data


def unique_id_of(data: dict[str, Any]) -> str:
    """The entry's unique_id, as the config flow makes it."""
    return f"certbot:{data['transport']}:{data.get('host', 'local')}:{data['config_dir']}"


async def add_entry(
    hass: HomeAssistant,
    data: dict[str, Any],
    *,
    title: str = LOCAL_TITLE,
    options: dict[str, Any] | None = None,
    expect_loaded: bool = True,
) -> MockConfigEntry:
    """Add a certbot entry and set it up."""
    entry = MockConfigEntry(
        domain=DOMAIN, title=title, unique_id=unique_id_of(data), data=data, options=options or {}
    )
    entry.add_to_hass(hass)
    loaded = await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert loaded is expect_loaded
    return entry


def entity_of(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    """The entity ID of an entity of this integration, by unique_id."""
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def device_of(hass: HomeAssistant, entry: MockConfigEntry, subject: str | None = None) -> str:
    """The ID of an entry's own device, or of one of its subjects' devices."""
    identifier = entry.entry_id if subject is None else f"{entry.entry_id}-{subject}"
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, identifier), entry.entry_id)
    assert device is not None, identifier
    return device.id
