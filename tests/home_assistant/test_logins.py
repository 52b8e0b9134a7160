"""Real failed logins against Home Assistant's own HTTP server, and the bans it writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant import auth
from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.homelab_sentinel.const import DOMAIN

from .conftest import ENTITY_IDS, add_entry, setup_http, state, write

CLIENT_ID = "https://example.com/app"
REDIRECT_URI = "https://example.com/app/callback"
PASSWORD = "Correct-Horse-Battery"
WRONG = "Wrong-Password-Guess"
EXTERNAL = "203.0.113.5"
OTHER = "198.51.100.7"

type ClientFactory = Callable[[], Awaitable[ClientSession]]


@pytest.fixture
async def http_client(
    hass: HomeAssistant, config_dir: Path, hass_client_no_auth: ClientFactory
) -> ClientSession:
    """Home Assistant behind a proxy on loopback, banning after 3 failures, and a client."""
    hass.auth = await auth.auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    provider = hass.auth.auth_providers[0]
    user = await hass.auth.async_create_user("Owner", group_ids=["system-admin"])
    await provider.async_add_auth("owner", PASSWORD)  # type: ignore[attr-defined]
    credentials = await provider.async_get_or_create_credentials({"username": "owner"})
    await hass.auth.async_link_user(user, credentials)
    await setup_http(
        hass,
        use_x_forwarded_for=True,
        trusted_proxies=["127.0.0.1"],
        ip_ban_enabled=True,
        login_attempts_threshold=3,
    )
    # Everything that registers views comes before the test client, which freezes the router.
    for component in ("auth", "api", "repairs", "webhook"):
        assert await async_setup_component(hass, component, {})
    return await hass_client_no_auth()


def _from(address: str | None) -> dict[str, str]:
    """Requests come from the proxy on loopback; it names the client, if not local."""
    return {"X-Forwarded-For": address} if address else {}


async def wrong_password(client: ClientSession, address: str | None = None) -> int:
    """Log in with a wrong password through the login flow; the HTTP status of the attempt."""
    response = await client.post(
        "/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": ["homeassistant", None],
            "redirect_uri": REDIRECT_URI,
        },
        headers=_from(address),
    )
    if response.status != 200:
        return response.status
    flow = await response.json()
    response = await client.post(
        f"/auth/login_flow/{flow['flow_id']}",
        json={"client_id": CLIENT_ID, "username": "owner", "password": WRONG},
        headers=_from(address),
    )
    if response.status == 200:
        assert (await response.json())["errors"] == {"base": "invalid_auth"}
    return response.status


async def bad_token(client: ClientSession, address: str | None = None) -> int:
    """Call the API with a token Home Assistant never issued."""
    response = await client.get(
        "/api/", headers={"Authorization": "Bearer not-a-token", **_from(address)}
    )
    return response.status


def _fired(events: list[Event[Any]], key: str) -> list[dict[str, Any]]:
    """The attributes of each event an event entity fired; a restored last event is not new."""
    fired: dict[str, dict[str, Any]] = {}
    for event in events:
        new_state = event.data["new_state"]
        if (
            event.data["entity_id"] == ENTITY_IDS[key]
            and new_state is not None
            and new_state.attributes.get("event_type") is not None
        ):
            fired.setdefault(new_state.state, dict(new_state.attributes))
    return list(fired.values())


def _failures(events: list[Event[Any]]) -> list[tuple[str, bool]]:
    return [(fired["ip"], fired["local"]) for fired in _fired(events, "ha_login_failed")]


def _bans(events: list[Event[Any]]) -> list[str]:
    return [fired["ip"] for fired in _fired(events, "ha_ban")]


async def test_failed_logins_and_bans(
    hass: HomeAssistant,
    http_client: ClientSession,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await add_entry(hass)
    events = async_capture_events(hass, "state_changed")

    assert await wrong_password(http_client, EXTERNAL) == 200
    assert await wrong_password(http_client) == 200
    assert await bad_token(http_client, OTHER) == 401
    assert await wrong_password(http_client, EXTERNAL) == 200
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _failures(events) == [
        (EXTERNAL, False),
        ("127.0.0.1", True),
        (OTHER, False),
        (EXTERNAL, False),
    ]
    assert _bans(events) == []
    failed = state(hass, "failed_logins")
    assert failed.state == "4"
    assert failed.attributes["external"] == 3
    assert [(a["ip"], a["count"], a["local"]) for a in failed.attributes["addresses"]] == [
        (EXTERNAL, 2, False),
        ("127.0.0.1", 1, True),
        (OTHER, 1, False),
    ]

    # The third failure: Home Assistant bans the address, and the entry looks at once (or, right
    # after another look, as soon as its ten-second cool-down ends).
    assert await wrong_password(http_client, EXTERNAL) == 200
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _bans(events) == [EXTERNAL]
    assert state(hass, "banned_addresses").state == "1"
    assert state(hass, "banned_addresses").attributes["banned"][0]["ip"] == EXTERNAL
    ban = state(hass, "ha_ban").attributes
    assert ban["banned_at"] is not None
    # Banned: Home Assistant refuses the address before any login.
    assert await wrong_password(http_client, EXTERNAL) == 403
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, "failed_logins").state == "5"

    # A day and two minutes later the failures have left the window.
    freezer.tick(timedelta(hours=24, minutes=2))
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state(hass, "failed_logins").state == "0"
    assert state(hass, "failed_logins").attributes["addresses"] == []
    assert _bans(events) == [EXTERNAL]
    for text in (caplog.text, str(hass.states.async_all())):
        assert WRONG not in text
        assert "not-a-token" not in text


async def test_failures_leave_the_window_between_polls(
    hass: HomeAssistant, http_client: ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    # A week between polls: only the window's own clock can take the failures out.
    entry = await add_entry(hass, {"scan_interval": 7 * 24 * 3600})
    polls = entry.runtime_data.data
    assert await wrong_password(http_client, EXTERNAL) == 200
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, "failed_logins").state == "1"
    freezer.tick(timedelta(hours=23))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state(hass, "failed_logins").state == "1"
    freezer.tick(timedelta(hours=1, minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state(hass, "failed_logins").state == "0"
    assert entry.runtime_data.data.subjects[""].http == polls.subjects[""].http


async def test_counts_survive_a_restart(
    hass: HomeAssistant, http_client: ClientSession, hass_storage: dict[str, Any]
) -> None:
    entry = await add_entry(hass)
    await wrong_password(http_client, EXTERNAL)
    await bad_token(http_client, OTHER)
    await hass.async_block_till_done()
    # Saved as they come, a few seconds later: not only when the entry stops.
    freezer_key = f"{DOMAIN}.home_assistant.failed_logins"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert len(hass_storage[freezer_key]["data"]["buckets"]) == 2
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert state(hass, "failed_logins").state == "2"
    assert state(hass, "failed_logins").attributes["external"] == 2


async def test_ban_while_not_loaded_fires_once(
    hass: HomeAssistant, http_client: ClientSession, config_dir: Path
) -> None:
    # Bans from before the entry existed are not news.
    await hass.async_add_executor_job(
        write, config_dir / "ip_bans.yaml", "192.0.2.1:\n  banned_at: '2026-01-01T00:00:00+00:00'\n"
    )
    entry = await add_entry(hass)
    events = async_capture_events(hass, "state_changed")
    assert state(hass, "banned_addresses").state == "1"

    # Home Assistant bans an address while the entry is not loaded (e.g. during its start).
    assert await hass.config_entries.async_unload(entry.entry_id)
    for _ in range(3):
        await wrong_password(http_client, EXTERNAL)
    await hass.async_block_till_done()
    assert _bans(events) == []
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _bans(events) == [EXTERNAL]
    assert state(hass, "banned_addresses").state == "2"

    # Reloaded: nothing fires twice.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _bans(events) == [EXTERNAL]

    # Lifted by hand, then banned again: news again.
    await hass.async_add_executor_job(write, config_dir / "ip_bans.yaml", "")
    await entry.runtime_data.async_refresh()
    await hass.async_add_executor_job(
        write,
        config_dir / "ip_bans.yaml",
        f"{EXTERNAL}:\n  banned_at: '{dt_util.utcnow().isoformat()}'\n",
    )
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _bans(events) == [EXTERNAL, EXTERNAL]

    # A file that is not what Home Assistant writes: unknown, and nothing fires.
    await hass.async_add_executor_job(write, config_dir / "ip_bans.yaml", "- [broken\n")
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state(hass, "banned_addresses").state == "unknown"
    assert state(hass, "banned_addresses").attributes["error"]
    assert _bans(events) == [EXTERNAL, EXTERNAL]


async def test_bad_tokens_only_reported_while_banning(
    hass: HomeAssistant, config_dir: Path, hass_client_no_auth: ClientFactory
) -> None:
    """Without IP banning, Home Assistant reports failed logins, not requests with bad tokens."""
    hass.auth = await auth.auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    await setup_http(hass, ip_ban_enabled=False)
    for component in ("auth", "api", "repairs", "webhook"):
        assert await async_setup_component(hass, component, {})
    client = await hass_client_no_auth()
    await add_entry(hass)
    events = async_capture_events(hass, "state_changed")
    assert await bad_token(client) == 401
    assert await wrong_password(client) == 200
    await hass.async_block_till_done()
    assert _failures(events) == [("127.0.0.1", True)]


async def test_other_notifications_are_ignored(hass: HomeAssistant, config_dir: Path) -> None:
    from homeassistant.components import persistent_notification

    await setup_http(hass)
    entry = await add_entry(hass)
    events = async_capture_events(hass, "state_changed")
    persistent_notification.async_create(hass, "Hello", "Hi", "something-else")
    persistent_notification.async_create(hass, "Not an address (x).", "Login", "http-login")
    persistent_notification.async_dismiss(hass, "http-login")
    await hass.async_block_till_done()
    assert _failures(events) == []
    assert state(hass, "failed_logins").state == "0"
    del entry
