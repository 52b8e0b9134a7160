"""Both sources against a real fail2ban-server banning real (documentation-range) addresses."""

from __future__ import annotations

import re
import sqlite3
import time

import pytest

from custom_components.homelab_sentinel.fail2ban.client import (
    BanEvent,
    BanEventKind,
    Fail2banBusyError,
    Fail2banDatabase,
    Fail2banLog,
    Fail2banSnapshot,
    probe,
)

from .conftest import SSHD, WEB, WEB_BANTIME, Fail2banServer, wait_until
from .database import SCHEMA


class Watcher:
    """One source and the events it reported, polled as the coordinator will poll it."""

    def __init__(self, source: Fail2banDatabase | Fail2banLog) -> None:
        self.source = source
        self.events: list[BanEvent] = []
        self.snapshot = Fail2banSnapshot({})

    def poll(self) -> Fail2banSnapshot:
        self.snapshot = self.source.poll()
        self.events += self.snapshot.events
        return self.snapshot

    def banned(self, jail: str) -> set[str]:
        status = self.snapshot.jails.get(jail)
        return set() if status is None else {ban.ip for ban in status.newest_bans}

    def until(self, jail: str, ips: set[str]) -> None:
        """Poll until the source holds exactly ips in jail (the database is written just after
        the Ban line, by fail2ban's observer thread)."""
        wait_until(
            lambda: self.poll() and self.banned(jail) == ips,
            what=f"{type(self.source).__name__} to hold {ips} in {jail}",
        )

    def take_events(self) -> list[tuple[BanEventKind, str, str]]:
        events, self.events = self.events, []
        return sorted((event.kind, event.jail, event.ip) for event in events)


def watchers(fail2ban: Fail2banServer) -> tuple[Watcher, Watcher]:
    database, log = Watcher(Fail2banDatabase(fail2ban.database)), Watcher(Fail2banLog(fail2ban.log))
    for watcher in (database, log):
        watcher.poll()
    return database, log


def test_both_sources_report_real_bans_once(fail2ban: Fail2banServer) -> None:
    probe(fail2ban.database, "database")
    probe(fail2ban.log, "log")
    database, log = watchers(fail2ban)
    assert set(database.snapshot.jails) == set(log.snapshot.jails) == {SSHD, WEB}
    assert database.snapshot.banned_now == log.snapshot.banned_now == 0

    fail2ban.ban(SSHD, "192.0.2.10", "2001:db8::42")
    fail2ban.ban(SSHD, "198.51.100.7")
    expected = {"192.0.2.10", "2001:db8::42", "198.51.100.7"}
    for watcher in (database, log):
        watcher.until(SSHD, expected)
        for _ in range(3):
            watcher.poll()  # polling again reports nothing new
        assert watcher.take_events() == sorted((BanEventKind.BANNED, SSHD, ip) for ip in expected)
        sshd = watcher.snapshot.jails[SSHD]
        assert sshd.total_bans == 3
        assert sshd.last_ban is not None
        assert sshd.last_ban.ip == "198.51.100.7"
        assert sshd.newest_bans[0].ip == "198.51.100.7"
        assert watcher.snapshot.banned_now == 3
        assert watcher.banned(WEB) == set()
    assert fail2ban.banned(SSHD) == expected


def test_unban_with_fail2ban_client(fail2ban: Fail2banServer) -> None:
    database, log = watchers(fail2ban)
    fail2ban.ban(SSHD, "192.0.2.20", "2001:db8::20")
    for watcher in (database, log):
        watcher.until(SSHD, {"192.0.2.20", "2001:db8::20"})
        watcher.take_events()

    assert fail2ban.client("set", SSHD, "unbanip", "2001:db8::20").strip() == "1"
    for watcher in (database, log):
        watcher.until(SSHD, {"192.0.2.20"})
        assert watcher.take_events() == [(BanEventKind.UNBANNED, SSHD, "2001:db8::20")]
        # fail2ban deletes the history of a manual unban; the count does not go down.
        assert watcher.snapshot.jails[SSHD].total_bans == 2


def test_bans_expire_naturally(fail2ban: Fail2banServer) -> None:
    database, log = watchers(fail2ban)
    fail2ban.ban(WEB, "203.0.113.30")
    for watcher in (database, log):
        watcher.until(WEB, {"203.0.113.30"})

    # fail2ban lifts the ban after its bantime and logs an Unban line.
    wait_until(
        lambda: "Unban 203.0.113.30" in fail2ban.log.read_text(),
        timeout=WEB_BANTIME + 10,
        what="fail2ban to lift the ban",
    )
    for watcher in (database, log):
        watcher.until(WEB, set())
        assert watcher.take_events() == [
            (BanEventKind.BANNED, WEB, "203.0.113.30"),
            (BanEventKind.UNBANNED, WEB, "203.0.113.30"),
        ]
        assert watcher.snapshot.jails[WEB].total_bans == 1


def test_restart_restores_bans(fail2ban: Fail2banServer) -> None:
    database, log = watchers(fail2ban)
    fail2ban.ban(SSHD, "192.0.2.40", "2001:db8::40")
    expected = {"192.0.2.40", "2001:db8::40"}
    for watcher in (database, log):
        watcher.until(SSHD, expected)
        watcher.take_events()
    banned_at = {ban.ip: ban.banned_at for ban in log.snapshot.jails[SSHD].newest_bans}

    fail2ban.stop()
    for watcher in (database, log):
        # A stopped fail2ban has no running jail, and nothing was lifted for good.
        assert watcher.poll().jails == {}
        assert watcher.take_events() == []

    fail2ban.start()
    wait_until(
        lambda: fail2ban.log.read_text().count("Restore Ban") == 2,
        what="fail2ban to restore its bans",
    )
    assert expected <= fail2ban.banned(SSHD)
    for watcher in (database, log):
        watcher.until(SSHD, expected)
        assert watcher.take_events() == []
        assert watcher.snapshot.jails[SSHD].total_bans == 2
    # The restored bans keep the time of the original ban.
    assert {ban.ip: ban.banned_at for ban in log.snapshot.jails[SSHD].newest_bans} == banned_at

    # Home Assistant restarting reads the log and the database from scratch.
    for fresh in (Fail2banLog(fail2ban.log), Fail2banDatabase(fail2ban.database)):
        snapshot = fresh.poll()
        assert {ban.ip for ban in snapshot.jails[SSHD].newest_bans} == expected


def test_locked_real_database(fail2ban: Fail2banServer) -> None:
    fail2ban.ban(SSHD, "192.0.2.50")
    wait_until(lambda: Fail2banDatabase(fail2ban.database).poll().banned_now == 1)

    holder = sqlite3.connect(fail2ban.database, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(Fail2banBusyError, match="stayed locked"):
            Fail2banDatabase(fail2ban.database, timeout=0.3).poll()
        assert time.monotonic() - started < 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert Fail2banDatabase(fail2ban.database).poll().banned_now == 1


def test_schema_of_the_tests_is_fail2bans(fail2ban: Fail2banServer) -> None:
    def statements(sql: str) -> set[str]:
        return {re.sub(r"\s+", "", statement) for statement in sql.split(";") if statement.strip()}

    connection = sqlite3.connect(f"{fail2ban.database.as_uri()}?mode=ro", uri=True)
    try:
        real = ";".join(
            sql for (sql,) in connection.execute("SELECT sql FROM sqlite_master WHERE sql NOT NULL")
        )
    finally:
        connection.close()
    assert statements(real) == statements(SCHEMA)
