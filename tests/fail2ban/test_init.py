"""fail2ban entries in a running Home Assistant against a real fail2ban-server."""

from __future__ import annotations

from pathlib import Path
import sqlite3
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics

from .conftest import SSHD, WEB, Fail2banServer, append, f2b_line
from .database import Fail2banDb

SSHD_BANS = "sensor.fail2ban_sshd_current_bans"
SSHD_EVENTS = "event.fail2ban_sshd_ban"


async def _setup(hass: HomeAssistant, source: str, path: Path) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="fail2ban",
        unique_id=f"fail2ban:{source}:{path}",
        data={"kind": "fail2ban", "source": source, "path": str(path)},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _attribute(hass: HomeAssistant, entity_id: str, name: str) -> object:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.attributes.get(name)


def _record_events(hass: HomeAssistant, entity_id: str) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state != STATE_UNAVAILABLE:
            seen.append(
                (new.attributes["event_type"], new.attributes["ip"], new.attributes["jail"])
            )

    async_track_state_change_event(hass, entity_id, record)
    return seen


async def _both_sources_follow_real_bans(
    hass: HomeAssistant, fail2ban: Fail2banServer, source: str
) -> None:
    await hass.async_add_executor_job(fail2ban.ban, SSHD, "192.0.2.10", "2001:db8::42")
    await hass.async_add_executor_job(fail2ban.ban, WEB, "198.51.100.7")
    path = fail2ban.database if source == "database" else fail2ban.log
    entry = await _setup(hass, source, path)
    coordinator = entry.runtime_data

    assert _state(hass, SSHD_BANS) == "2"
    banned_ips = _attribute(hass, SSHD_BANS, "banned_ips")
    assert isinstance(banned_ips, list)
    assert set(banned_ips) == {"192.0.2.10", "2001:db8::42"}
    assert _state(hass, "sensor.fail2ban_sshd_total_bans") == "2"
    assert _state(hass, "sensor.fail2ban_sshd_last_ban") in {"192.0.2.10", "2001:db8::42"}
    assert _attribute(hass, "sensor.fail2ban_sshd_last_ban", "banned_at")
    assert _state(hass, "sensor.fail2ban_web_app_v2_current_bans") == "1"
    assert _state(hass, "sensor.fail2ban_banned_now") == "3"
    # History is not replayed at start-up.
    assert _state(hass, SSHD_EVENTS) == "unknown"

    events = _record_events(hass, SSHD_EVENTS)
    await hass.async_add_executor_job(fail2ban.ban, SSHD, "203.0.113.5", "203.0.113.6")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert sorted(events) == [
        ("banned", "203.0.113.5", SSHD),
        ("banned", "203.0.113.6", SSHD),
    ]
    assert _state(hass, SSHD_BANS) == "4"
    assert _state(hass, "sensor.fail2ban_sshd_last_ban") in {"203.0.113.5", "203.0.113.6"}
    # Nothing new: nothing fires again.
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert len(events) == 2

    await hass.async_add_executor_job(fail2ban.client, "set", SSHD, "unbanip", "203.0.113.5")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert events[2:] == [("unbanned", "203.0.113.5", SSHD)]
    assert _state(hass, SSHD_BANS) == "3"
    # The web jail's three-second ban may have run out meanwhile: the sum follows either way.
    web = int(_state(hass, "sensor.fail2ban_web_app_v2_current_bans"))
    assert _state(hass, "sensor.fail2ban_banned_now") == str(3 + web)
    assert _state(hass, "sensor.fail2ban_sshd_total_bans") == "4"


async def test_database_source(hass: HomeAssistant, fail2ban: Fail2banServer) -> None:
    await _both_sources_follow_real_bans(hass, fail2ban, "database")


async def test_log_source(hass: HomeAssistant, fail2ban: Fail2banServer) -> None:
    await _both_sources_follow_real_bans(hass, fail2ban, "log")


async def test_jails_come_and_go(
    hass: HomeAssistant, tmp_path: Path, device_registry: dr.DeviceRegistry
) -> None:
    log = tmp_path / "fail2ban.log"
    append(
        log,
        f2b_line("Jail 'sshd' started", logger="fail2ban.jail"),
        f2b_line("Jail 'nginx-http-auth' started", logger="fail2ban.jail"),
        f2b_line("[sshd] Ban 192.0.2.1"),
    )
    entry = await _setup(hass, "log", log)
    assert _state(hass, SSHD_BANS) == "1"
    assert _state(hass, "sensor.fail2ban_nginx_http_auth_current_bans") == "0"
    nginx = (DOMAIN, f"{entry.entry_id}-nginx-http-auth")
    assert device_registry.async_get_device_by_identifier(nginx, entry.entry_id) is not None

    append(log, f2b_line("Jail 'nginx-http-auth' stopped", logger="fail2ban.jail"))
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert device_registry.async_get_device_by_identifier(nginx, entry.entry_id) is None
    assert hass.states.get("sensor.fail2ban_nginx_http_auth_current_bans") is None
    assert _state(hass, SSHD_BANS) == "1"


async def test_missing_file_then_recovery(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("[sshd] Ban 192.0.2.1"))
    entry = await _setup(hass, "log", log)
    assert _state(hass, SSHD_BANS) == "1"
    log.unlink()
    await entry.runtime_data.async_refresh()
    assert _state(hass, SSHD_BANS) == STATE_UNAVAILABLE
    assert _state(hass, "sensor.fail2ban_banned_now") == STATE_UNAVAILABLE
    append(log, f2b_line("[sshd] Ban 192.0.2.2"))
    await entry.runtime_data.async_refresh()
    assert _state(hass, SSHD_BANS) != STATE_UNAVAILABLE


async def test_garbage_database_then_recovery(hass: HomeAssistant, tmp_path: Path) -> None:
    database = tmp_path / "fail2ban.sqlite3"
    database.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="fail2ban",
        unique_id=f"fail2ban:database:{database}",
        data={"kind": "fail2ban", "source": "database", "path": str(database)},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY

    database.unlink()
    db = await hass.async_add_executor_job(Fail2banDb, database, SSHD)
    await hass.async_add_executor_job(db.ban, SSHD, "192.0.2.9", int(time.time()))
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, SSHD_BANS) == "1"

    # A database another process keeps locked after a change: unavailable, then back.
    await hass.async_add_executor_job(db.ban, SSHD, "192.0.2.10", int(time.time()))
    locker = await hass.async_add_executor_job(_lock, database)
    await entry.runtime_data.async_refresh()
    assert entry.runtime_data.last_exception.translation_key == "database_locked"
    assert _state(hass, SSHD_BANS) == STATE_UNAVAILABLE
    await hass.async_add_executor_job(locker.close)
    await entry.runtime_data.async_refresh()
    assert _state(hass, SSHD_BANS) == "2"


def _lock(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN EXCLUSIVE")
    return connection


async def test_diagnostics(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("[sshd] Ban 192.0.2.1"))
    entry = await _setup(hass, "log", log)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"]["source"] == "log"
    jail = diagnostics["data"]["subjects"]["sshd"]
    assert jail["status"]["total_bans"] == 1
    assert diagnostics["data"]["banned_now"] == 1
