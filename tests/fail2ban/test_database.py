"""The database source on databases with fail2ban's schema, written row by row."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
import sqlite3
import time

import pytest

from custom_components.homelab_sentinel.fail2ban.client import (
    Ban,
    Fail2banBusyError,
    Fail2banDatabase,
    Fail2banNotFoundError,
    Fail2banSnapshot,
    NotFail2banError,
)

from .database import Fail2banDb

NOW = 1_796_000_000


def ips(snapshot: Fail2banSnapshot, jail: str) -> list[str]:
    return [ban.ip for ban in snapshot.jails[jail].newest_bans]


def when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def db(tmp_path: Path) -> Fail2banDb:
    return Fail2banDb(tmp_path / "fail2ban.sqlite3", "sshd", "web-app.v2")


@contextmanager
def exclusive_lock(path: Path) -> Generator[None]:
    """Another process holding the database, as fail2ban does while it writes."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def test_current_bans_follow_fail2bans_rule(db: Fail2banDb) -> None:
    db.ban("sshd", "192.0.2.1", NOW - 86400 * 30, bantime=-1)  # permanent
    db.ban("sshd", "192.0.2.2", NOW - 600, bantime=600)  # ends exactly now: lifted
    db.ban("sshd", "192.0.2.3", NOW - 599, bantime=600)  # one second left
    db.ban("sshd", "2001:db8::3", NOW - 10, bantime=3600)
    # Rows migrated from fail2ban < 0.11 carry -2: fail2ban falls back to 600 s.
    db.ban("web-app.v2", "198.51.100.1", NOW - 300, bantime=-2)
    db.ban("web-app.v2", "198.51.100.2", NOW - 900, bantime=-2)

    # fail2ban compares whole seconds: 0.9 s past the end is still "now".
    snapshot = Fail2banDatabase(db.path).poll(now=NOW + 0.9)

    assert snapshot.jails["sshd"].newest_bans == (
        Ban("2001:db8::3", "sshd", when(NOW - 10)),
        Ban("192.0.2.3", "sshd", when(NOW - 599)),
        Ban("192.0.2.1", "sshd", when(NOW - 86400 * 30)),
    )
    assert ips(snapshot, "web-app.v2") == ["198.51.100.1"]
    assert snapshot.jails["sshd"].total_bans == 4
    assert snapshot.jails["sshd"].last_ban == Ban("2001:db8::3", "sshd", when(NOW - 10))
    assert snapshot.banned_now == 4


def test_only_enabled_jails_are_listed(db: Fail2banDb) -> None:
    db.ban("sshd", "192.0.2.1", NOW)
    db.enable("web-app.v2", enabled=False)
    source = Fail2banDatabase(db.path)
    assert set(source.poll(now=NOW).jails) == {"sshd"}

    # fail2ban stopping disables every jail; starting enables them again.
    db.enable("sshd", enabled=False)
    assert source.poll(now=NOW).jails == {}
    db.enable("sshd")
    db.enable("web-app.v2")
    snapshot = source.poll(now=NOW)
    assert set(snapshot.jails) == {"sshd", "web-app.v2"}
    assert ips(snapshot, "sshd") == ["192.0.2.1"]


def test_polls_follow_new_replaced_and_deleted_rows(db: Fail2banDb) -> None:
    source = Fail2banDatabase(db.path)
    db.ban("sshd", "192.0.2.1", NOW - 50)
    db.ban("sshd", "192.0.2.2", NOW - 40)
    assert ips(source.poll(now=NOW), "sshd") == ["192.0.2.2", "192.0.2.1"]

    db.ban("sshd", "192.0.2.3", NOW - 30)
    db.ban("sshd", "192.0.2.1", NOW - 20)  # banned again: its bips row is replaced
    snapshot = source.poll(now=NOW)
    assert ips(snapshot, "sshd") == ["192.0.2.1", "192.0.2.3", "192.0.2.2"]
    assert snapshot.jails["sshd"].newest_bans[0].banned_at == when(NOW - 20)
    assert snapshot.jails["sshd"].total_bans == 4

    db.unban("sshd", "192.0.2.2")  # an older row deleted
    assert ips(source.poll(now=NOW), "sshd") == ["192.0.2.1", "192.0.2.3"]

    # The newest row deleted, then its rowid reused by the next ban.
    db.unban("sshd", "192.0.2.1")
    db.ban("web-app.v2", "198.51.100.1", NOW - 10)
    snapshot = source.poll(now=NOW)
    assert ips(snapshot, "sshd") == ["192.0.2.3"]
    assert ips(snapshot, "web-app.v2") == ["198.51.100.1"]
    assert snapshot.jails["web-app.v2"].total_bans == 1
    # Deleted history is still counted, and the last ban stays the last one seen.
    assert snapshot.jails["sshd"].total_bans == 4
    assert snapshot.jails["sshd"].last_ban == Ban("192.0.2.1", "sshd", when(NOW - 20))

    # What a first read of the same database sees (Home Assistant restarting).
    fresh = Fail2banDatabase(db.path).poll(now=NOW)
    assert {name: jail.newest_bans for name, jail in fresh.jails.items()} == {
        name: jail.newest_bans for name, jail in snapshot.jails.items()
    }


def test_total_bans_never_decrease(db: Fail2banDb) -> None:
    source = Fail2banDatabase(db.path)
    for n in range(5):
        db.ban("sshd", f"192.0.2.{n}", NOW - 86400 * 2 + n, bantime=600)
    assert source.poll(now=NOW).jails["sshd"].total_bans == 5

    db.purge(before=NOW - 86400)  # the whole history is older than dbpurgeage
    assert source.poll(now=NOW).jails["sshd"].total_bans == 5
    db.ban("sshd", "192.0.2.9", NOW - 5)
    snapshot = source.poll(now=NOW)
    assert snapshot.jails["sshd"].total_bans == 6
    assert snapshot.jails["sshd"].last_ban == Ban("192.0.2.9", "sshd", when(NOW - 5))


def test_expiry_without_changes_needs_no_query(db: Fail2banDb) -> None:
    db.ban("sshd", "192.0.2.1", NOW - 100, bantime=200)
    db.ban("sshd", "192.0.2.2", NOW - 100, bantime=-1)
    source = Fail2banDatabase(db.path)
    first = source.poll(now=NOW)
    assert ips(first, "sshd") == ["192.0.2.2", "192.0.2.1"]

    # Nothing was committed since: the held lock is never met, the expiry still applies.
    with exclusive_lock(db.path):
        assert source.poll(now=NOW).jails["sshd"] is first.jails["sshd"]
        assert ips(source.poll(now=NOW + 100), "sshd") == ["192.0.2.2"]


def test_bans_written_already_expired_are_counted(db: Fail2banDb) -> None:
    source = Fail2banDatabase(db.path)
    db.ban("sshd", "192.0.2.1", NOW - 100, bantime=300)
    first = source.poll(now=NOW)

    # Written late (a backlog read after fail2ban started): counted, never in force.
    db.ban("sshd", "192.0.2.2", NOW - 1000, bantime=300)
    snapshot = source.poll(now=NOW)
    assert snapshot.jails["sshd"].newest_bans is first.jails["sshd"].newest_bans
    assert snapshot.jails["sshd"].total_bans == 2
    assert snapshot.jails["sshd"].last_ban == Ban("192.0.2.1", "sshd", when(NOW - 100))

    # Banned again before the first ban ended: the old end time no longer applies.
    db.ban("sshd", "192.0.2.1", NOW + 100, bantime=300)
    assert ips(source.poll(now=NOW + 250), "sshd") == ["192.0.2.1"]
    assert ips(source.poll(now=NOW + 399), "sshd") == ["192.0.2.1"]
    assert ips(source.poll(now=NOW + 400), "sshd") == []


def test_locked_database_is_a_clear_error(db: Fail2banDb) -> None:
    db.ban("sshd", "192.0.2.1", NOW)
    source = Fail2banDatabase(db.path, timeout=0.2)
    with exclusive_lock(db.path):
        started = time.monotonic()
        with pytest.raises(Fail2banBusyError, match="locked by another process") as caught:
            source.poll(now=NOW)
        assert time.monotonic() - started < 2
        assert str(db.path) in str(caught.value)
    assert ips(source.poll(now=NOW), "sshd") == ["192.0.2.1"]


def test_wal_mode_database_is_read(db: Fail2banDb) -> None:
    connection = sqlite3.connect(db.path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()
    source = Fail2banDatabase(db.path)
    assert source.poll(now=NOW).banned_now == 0
    # WAL commits leave the header's change counter alone; the database is queried each time.
    writer = sqlite3.connect(db.path)
    with writer:
        writer.execute(
            "INSERT INTO bips(ip, jail, timeofban, bantime) VALUES('192.0.2.1', 'sshd', ?, 600)",
            (NOW,),
        )
    assert ips(source.poll(now=NOW), "sshd") == ["192.0.2.1"]
    writer.close()


def test_missing_database_then_back(db: Fail2banDb, tmp_path: Path) -> None:
    db.ban("sshd", "192.0.2.1", NOW)
    source = Fail2banDatabase(db.path)
    source.poll(now=NOW)
    moved = db.path.rename(tmp_path / "elsewhere.sqlite3")
    with pytest.raises(Fail2banNotFoundError, match="does not exist"):
        source.poll(now=NOW)

    moved.rename(db.path)
    db.ban("sshd", "192.0.2.2", NOW)
    assert ips(source.poll(now=NOW), "sshd") == ["192.0.2.2", "192.0.2.1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an SQLite database"),
        (b"\x00\x01garbage" * 100, "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "not a readable fail2ban database"),
    ],
)
def test_garbage_is_not_a_fail2ban_database(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(content)
    with pytest.raises(NotFail2banError, match=message):
        Fail2banDatabase(path).poll()


def test_other_sqlite_database_is_not_fail2bans(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE bips(ip TEXT)")
    connection.close()
    with pytest.raises(NotFail2banError, match="not a readable fail2ban database"):
        Fail2banDatabase(path).poll()
