"""A poll writes the states of the jails it changed, and nothing when nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN

from ..state_writes import states_written_by_a_poll, written_at
from .conftest import append, f2b_line
from .database import Fail2banDb

SSHD_ENTITIES = {
    "sensor.fail2ban_sshd_current_bans",
    "sensor.fail2ban_sshd_total_bans",
    "sensor.fail2ban_sshd_last_ban",
    "event.fail2ban_sshd_ban",
}


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


async def test_log_polls_write_only_the_jails_that_changed(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    log = tmp_path / "fail2ban.log"
    append(
        log,
        f2b_line("[sshd] Ban 192.0.2.1"),
        f2b_line("[web] Ban 198.51.100.1"),
        f2b_line("[mail] Ban 203.0.113.1"),
    )
    entry = await _setup(hass, "log", log)
    assert hass.states.get("sensor.fail2ban_banned_now").state == "3"  # type: ignore[union-attr]

    assert await states_written_by_a_poll(hass, entry) == set()

    # Lines that change no ban (a filter's Found lines) change nothing either.
    found = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    append(log, *(f2b_line(f"[web] Found 192.0.2.{n} - {found}") for n in range(1, 100)))
    assert await states_written_by_a_poll(hass, entry) == set()

    append(log, f2b_line("[sshd] Ban 192.0.2.2"))
    assert await states_written_by_a_poll(hass, entry) == SSHD_ENTITIES | {
        "sensor.fail2ban_banned_now"
    }
    assert hass.states.get("sensor.fail2ban_sshd_current_bans").state == "2"  # type: ignore[union-attr]
    assert hass.states.get("sensor.fail2ban_banned_now").state == "4"  # type: ignore[union-attr]

    # The entry's own sensor follows every change of the data, as its value may.
    append(log, f2b_line("[sshd] Unban 192.0.2.1"), f2b_line("[sshd] Ban 192.0.2.3"))
    assert await states_written_by_a_poll(hass, entry) == SSHD_ENTITIES | {
        "sensor.fail2ban_banned_now"
    }
    assert await states_written_by_a_poll(hass, entry) == set()


async def test_database_polls_write_only_the_jails_that_changed(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    db = Fail2banDb(tmp_path / "fail2ban.sqlite3", "sshd", "web")
    now = int(datetime.now(UTC).timestamp())
    db.ban("sshd", "192.0.2.1", now - 10)
    db.ban("web", "198.51.100.1", now - 10)
    entry = await _setup(hass, "database", db.path)

    assert await states_written_by_a_poll(hass, entry) == set()

    db.ban("sshd", "192.0.2.2", now)
    assert await states_written_by_a_poll(hass, entry) == SSHD_ENTITIES | {
        "sensor.fail2ban_banned_now"
    }
    assert await states_written_by_a_poll(hass, entry) == set()

    # Listeners told again without a new poll: nothing to write either.
    before = written_at(hass, entry)
    entry.runtime_data.async_update_listeners()
    await hass.async_block_till_done()
    assert written_at(hass, entry) == before
