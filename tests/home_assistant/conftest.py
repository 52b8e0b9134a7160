"""What the tests of the home_assistant kind share: a configuration directory, HTTP, an entry."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
import socket
from typing import Any
from unittest.mock import patch

from homeassistant.components.http.config import DATA_STORE
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN

TITLE = "Home Assistant"
UNIQUE_ID = "home_assistant"
PREFIX = "home_assistant"


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def write(path: Path, text: str) -> None:
    """Write a file, with its directories (blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A configuration directory of the test's own, holding a plain configuration.yaml."""
    directory = tmp_path / "config"
    write(directory / "configuration.yaml", "homeassistant:\n  name: Test\n")
    hass.config.config_dir = str(directory)
    return directory


@pytest.fixture(autouse=True)
def offline_reverse_dns() -> Generator[None]:
    """Home Assistant looks up the name of each address that fails to log in.

    Tests send traffic to loopback only: the lookup answers from here, as an offline resolver
    would, instead of asking a DNS server about documentation addresses.
    """

    def lookup(address: str) -> tuple[str, list[str], list[str]]:
        if address == "127.0.0.1":
            return "localhost", [], [address]
        raise socket.herror(1, "Unknown host")

    with patch("homeassistant.components.http.ban.gethostbyaddr", lookup):
        yield


async def setup_http(hass: HomeAssistant, **settings: Any) -> None:
    """Set up Home Assistant's HTTP server with settings, confirmed as the user would."""
    config = {"server_host": ["127.0.0.1"], "server_port": free_port(), **settings}
    assert await async_setup_component(hass, "http", {"http": config})
    store = hass.data[DATA_STORE]
    if store.pending is not None:
        await store.async_promote_pending()


async def add_entry(
    hass: HomeAssistant, options: dict[str, Any] | None = None, *, setup: bool = True
) -> MockConfigEntry:
    """Add (and by default set up) the home_assistant entry."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=UNIQUE_ID,
        data={"kind": "home_assistant"},
        options=options or {},
    )
    entry.add_to_hass(hass)
    if setup:
        assert await hass.config_entries.async_setup(entry.entry_id)
        # Its first look for new bans follows once its entities exist.
        await hass.async_block_till_done(wait_background_tasks=True)
    return entry


ENTITY_IDS = {
    "remote_access_without_tls": "binary_sensor.home_assistant_remote_access_without_tls",
    "login_banning_off": "binary_sensor.home_assistant_login_banning_off",
    "trusted_proxies_too_broad": "binary_sensor.home_assistant_trusted_proxies_too_broad",
    "login_bypass": "binary_sensor.home_assistant_login_without_password",
    "admin_without_mfa": "binary_sensor.home_assistant_administrator_without_mfa",
    "backups_not_off_machine": "binary_sensor.home_assistant_backups_not_off_the_machine",
    "privileged_account": "binary_sensor.home_assistant_privileged_account",
    "banned_addresses": "sensor.home_assistant_banned_addresses",
    "failed_logins": "sensor.home_assistant_failed_logins",
    "users_without_mfa": "sensor.home_assistant_users_without_mfa",
    "long_lived_tokens": "sensor.home_assistant_long_lived_tokens",
    "old_tokens": "sensor.home_assistant_old_tokens",
    "plaintext_secrets": "sensor.home_assistant_plain_text_secrets",
    "pending_updates": "sensor.home_assistant_pending_updates",
    "ha_ban": "event.home_assistant_ban",
    "ha_login_failed": "event.home_assistant_failed_login",
}


def state(hass: HomeAssistant, key: str) -> State:
    """The state of one of the entry's entities, by its key."""
    found = hass.states.get(ENTITY_IDS[key])
    assert found is not None, key
    return found


def issues(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """The entry's repair issues by key, without the entry prefix."""
    prefix = f"{entry.entry_id}_"
    return {
        issue_id.removeprefix(prefix): issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith(prefix)
    }
