"""fail2ban over SSH: a real fail2ban-server's database read with sqlite3 through real OpenSSH."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
import sqlite3
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.fail2ban.client import (
    Fail2banBusyError,
    Fail2banError,
    Fail2banNotFoundError,
    NotFail2banError,
)
from custom_components.homelab_sentinel.fail2ban.remote import (
    QUERY,
    RemoteFail2banDatabase,
    command,
    error_for,
)
from custom_components.homelab_sentinel.transport import (
    CommandResult,
    CommandRunner,
    HostKey,
    LocalRunner,
)

from ..certbot.conftest import make_key_pair
from ..threads import in_worker
from .conftest import SSHD, Fail2banServer, KeyPair, SshServer, SshUser
from .test_init import _record_events, _state

SSHD_BANS = "sensor.fail2ban_sshd_current_bans"


def _entry_state(entry: ConfigEntry) -> ConfigEntryState:
    return entry.state


def _form(server: SshServer, fail2ban: Fail2banServer, **changes: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "username": "root",
        "use_sudo": False,
        "path": str(fail2ban.database),
        **changes,
    }


async def _ssh_step(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "fail2ban"}
    )
    assert result["step_id"] == "fail2ban"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"transport": "ssh", "source": "database"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "fail2ban_ssh"
    return result["flow_id"]


async def _add(hass: HomeAssistant, form: dict[str, Any]) -> ConfigEntry:
    flow_id = await _ssh_step(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, form)
    assert result["step_id"] == "fail2ban_host_key", result.get("errors")
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    assert entry is not None
    return entry


async def test_entities_over_ssh_follow_real_bans(
    hass: HomeAssistant, fail2ban: Fail2banServer, sshd: SshServer, client_key: KeyPair
) -> None:
    await hass.async_add_executor_job(fail2ban.ban, SSHD, "192.0.2.10", "2001:db8::42")
    entry = await _add(hass, _form(sshd, fail2ban, private_key=client_key.private))
    assert entry.unique_id == f"fail2ban:ssh:127.0.0.1:{fail2ban.database}"
    assert entry.title == "fail2ban (127.0.0.1)"
    assert entry.data["transport"] == "ssh"
    assert HostKey.parse(entry.data["host_key"]) == HostKey.parse(sshd.host_key.public)
    assert entry.state is ConfigEntryState.LOADED

    assert _state(hass, SSHD_BANS) == "2"
    attributes = hass.states.get(SSHD_BANS).attributes  # type: ignore[union-attr]
    assert set(attributes["banned_ips"]) == {"192.0.2.10", "2001:db8::42"}
    assert _state(hass, "sensor.fail2ban_sshd_total_bans") == "2"
    assert _state(hass, "sensor.fail2ban_web_app_v2_current_bans") == "0"

    # A new ban fires the event once; totals only grow.
    events = _record_events(hass, "event.fail2ban_sshd_ban")
    await hass.async_add_executor_job(fail2ban.ban, SSHD, "203.0.113.5")
    await entry.runtime_data.async_refresh()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert events == [("banned", "203.0.113.5", SSHD)]
    assert _state(hass, SSHD_BANS) == "3"
    assert _state(hass, "sensor.fail2ban_sshd_total_bans") == "3"
    assert _state(hass, "sensor.fail2ban_sshd_last_ban") == "203.0.113.5"

    # The same place cannot be added twice.
    flow_id = await _ssh_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _form(sshd, fail2ban, private_key=client_key.private)
    )
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

    # Reconfiguring with the same server skips the host key step; stored credentials are kept.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "fail2ban"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"transport": "ssh", "source": "database"}
    )
    assert result["step_id"] == "fail2ban_ssh"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(sshd, fail2ban)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["private_key"] == client_key.private.strip() + "\n"


async def test_flow_errors(
    hass: HomeAssistant,
    fail2ban: Fail2banServer,
    sshd: SshServer,
    client_key: KeyPair,
    ssh_user: SshUser,
    tmp_path: Path,
) -> None:
    other_key = await hass.async_add_executor_job(make_key_pair, tmp_path, "other")
    foreign = tmp_path / "foreign.sqlite3"
    await hass.async_add_executor_job(_make_foreign_database, foreign)
    flow_id = await _ssh_step(hass)

    async def submit(**changes: Any) -> dict[str, str]:
        result = await hass.config_entries.flow.async_configure(
            flow_id, _form(sshd, fail2ban, **changes)
        )
        if result["step_id"] == "fail2ban_host_key":
            result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "fail2ban_ssh"
        return dict(result["errors"] or {})

    assert await submit(private_key=client_key.private, path="relative/db") == {
        "path": "invalid_path"
    }
    assert await submit(private_key=client_key.private, path="/tmp/\x01") == {
        "path": "invalid_path"
    }
    assert await submit() == {"base": "ssh_credentials_required"}
    assert await submit(private_key="not a key") == {"private_key": "invalid_private_key"}
    assert await submit(host="bad host!", private_key=client_key.private) == {
        "host": "invalid_host"
    }
    assert await submit(port=1, private_key=client_key.private) == {"base": "cannot_connect"}
    assert await submit(private_key=other_key.private) == {"base": "ssh_invalid_auth"}
    assert await submit(username=ssh_user.name, password=ssh_user.password, use_sudo=True) == {
        "base": "sudo_refused"
    }
    assert await submit(private_key=client_key.private, path=str(foreign)) == {
        "path": "not_fail2ban"
    }
    assert await submit(private_key=client_key.private, path="/nonexistent/f2b.sqlite3") == {
        "path": "not_found"
    }


def _make_foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes(text TEXT)")
    connection.close()


async def test_changed_host_key_raises_a_repair_and_reauth(
    hass: HomeAssistant, fail2ban: Fail2banServer, own_sshd: SshServer, client_key: KeyPair
) -> None:
    await hass.async_add_executor_job(fail2ban.ban, SSHD, "192.0.2.10")
    entry = await _add(hass, _form(own_sshd, fail2ban, private_key=client_key.private))
    assert _state(hass, SSHD_BANS) == "1"
    pinned = entry.data["host_key"]

    await asyncio.to_thread(own_sshd.restart_with_new_host_key)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, SSHD_BANS) == "unavailable"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_ssh_host_key_changed")
    assert issue is not None
    assert issue.translation_key == "fail2ban_ssh_host_key_changed"
    assert issue.severity is ir.IssueSeverity.ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert entry.data["host_key"] == pinned

    # The reauth flow shows the new key; accepting it reconnects and clears the issue.
    assert flows[0]["step_id"] == "reauth_fail2ban_host_key"
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["host_key"] != pinned
    assert _state(hass, SSHD_BANS) == "1"
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_ssh_host_key_changed") is None
    )


async def test_rejected_credentials_and_reauth(
    hass: HomeAssistant,
    fail2ban: Fail2banServer,
    sshd: SshServer,
    client_key: KeyPair,
    ssh_user: SshUser,
) -> None:
    entry = await _add(hass, _form(sshd, fail2ban, private_key=client_key.private))
    # The server stops accepting the stored credentials: reauth with a password that fails,
    # then with the key that works.
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "private_key": None, "password": "wrong"}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    flow_id = flows[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(flow_id, {"password": "wrong"})
    assert result["errors"] == {"base": "ssh_invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"private_key": client_key.private}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert _entry_state(entry) is ConfigEntryState.LOADED
    assert "password" not in entry.data


async def test_sudo_refusal_and_unusable_settings(
    hass: HomeAssistant, fail2ban: Fail2banServer, sshd: SshServer, ssh_user: SshUser
) -> None:
    data = {
        "kind": "fail2ban",
        "transport": "ssh",
        "source": "database",
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": ssh_user.name,
        "password": ssh_user.password,
        "use_sudo": True,
        "path": str(fail2ban.database),
        "host_key": sshd.host_key.public,
    }
    entry = MockConfigEntry(domain=DOMAIN, title="fail2ban (127.0.0.1)", data=data)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "sudo" in entry.reason
    assert ssh_user.password not in entry.reason

    broken = MockConfigEntry(
        domain=DOMAIN, title="broken", data={**data, "password": None, "private_key": None}
    )
    broken.add_to_hass(hass)
    await hass.config_entries.async_setup(broken.entry_id)
    await hass.async_block_till_done()
    assert broken.state is ConfigEntryState.SETUP_ERROR


def _mark(now: int, newest: int | None) -> dict[str, Any]:
    return {
        "kind": "mark",
        "jail": None,
        "ip": None,
        "at": now,
        "bantime": None,
        "total": newest,
        "new": 4,
    }


def test_snapshot_from_rows_keeps_totals_growing() -> None:
    source = RemoteFail2banDatabase(LocalRunner(), "/db")
    rows = [
        _mark(1000, 10),
        {
            "kind": "jail",
            "jail": "sshd",
            "ip": "192.0.2.1",
            "at": 990,
            "bantime": None,
            "total": 10,
            "new": 10,
        },
        {
            "kind": "ban",
            "jail": "sshd",
            "ip": "192.0.2.1",
            "at": 990,
            "bantime": 600,
            "total": None,
            "new": None,
        },
        {
            "kind": "ban",
            "jail": "sshd",
            "ip": "192.0.2.2",
            "at": 100,
            "bantime": -2,
            "total": None,
            "new": None,
        },
        {
            "kind": "ban",
            "jail": "sshd",
            "ip": "192.0.2.3",
            "at": 50,
            "bantime": -1,
            "total": None,
            "new": None,
        },
    ]
    first = source.update(rows).jails["sshd"]
    assert first.total_bans == 10
    assert [ban.ip for ban in first.newest_bans] == ["192.0.2.1", "192.0.2.3"]
    # Nothing written since: the same status object, as the local sources hand out.
    unchanged = [rows[0], {**rows[1], "new": 0}, *rows[2:]]
    assert source.update(unchanged).jails["sshd"] is first
    # fail2ban purged 8 old rows and wrote 2: the total grows by 2.
    purged = [_mark(1001, 12), {**rows[1], "total": 4, "new": 2}]
    assert source.update(purged).jails["sshd"].total_bans == 12
    for bad in (
        [],
        [{"kind": "jail"}],
        [{**_mark(1, 1), "new": 3}],
        [_mark(1, 1), {"kind": "x", "jail": "j"}],
        [{**_mark(1, 1), "at": "1"}],
    ):
        with pytest.raises(Fail2banError):
            source.update(bad)


def test_command_and_errors() -> None:
    argv = command("/var/lib/fail2ban/fail2ban.sqlite3", 7)
    assert argv[:4] == ["sqlite3", "-readonly", "-json", "/var/lib/fail2ban/fail2ban.sqlite3"]
    assert argv[-1] == QUERY
    assert ".parameter set :since 7" in argv
    assert isinstance(error_for("/db", 1, "Error: database is locked"), Fail2banBusyError)
    assert isinstance(error_for("/db", 1, "Parse error: no such table: bips"), NotFail2banError)
    assert isinstance(
        error_for("/db", 1, 'Error: unable to open database "/db"'), Fail2banNotFoundError
    )
    assert type(error_for("/db", 2, "something else")) is Fail2banError


async def test_local_sqlite3_reads_the_real_database(
    hass: HomeAssistant, fail2ban: Fail2banServer
) -> None:
    await hass.async_add_executor_job(fail2ban.ban, SSHD, "192.0.2.10")
    source = RemoteFail2banDatabase(LocalRunner(), str(fail2ban.database))
    snapshot = await source.poll()
    assert [ban.ip for ban in snapshot.jails[SSHD].newest_bans] == ["192.0.2.10"]
    bad = RemoteFail2banDatabase(LocalRunner(), str(fail2ban.log))
    with pytest.raises(Fail2banError):
        await bad.poll()
    assert in_worker(lambda: 1) == 1


class _Printing(CommandRunner):
    """Answers every command with fixed output, as a broken sqlite3 might."""

    target = "test"

    async def run(
        self, argv: Sequence[str], *, time_limit: float, max_output: int = 0
    ) -> CommandResult:
        return CommandResult(0, "not json", "")


async def test_output_that_is_not_json() -> None:
    with pytest.raises(Fail2banError, match="no JSON"):
        await RemoteFail2banDatabase(_Printing(), "/db").poll()
