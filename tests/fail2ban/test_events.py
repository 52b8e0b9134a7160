"""Ban events, as each source finds them from what it read: the same rules for all three."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from custom_components.homelab_sentinel.fail2ban.client import (
    Ban,
    BanEvent,
    BanEventKind,
    Fail2banDatabase,
    Fail2banLog,
)
from custom_components.homelab_sentinel.fail2ban.remote import RemoteFail2banDatabase
from custom_components.homelab_sentinel.transport import LocalRunner

from .conftest import append, f2b_line
from .database import Fail2banDb

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NOTICED = T0 + timedelta(hours=1)


def ban(ip: str, minutes: int, jail: str = "sshd") -> Ban:
    return Ban(ip, jail, T0 + timedelta(minutes=minutes))


def banned(b: Ban) -> BanEvent:
    return BanEvent(BanEventKind.BANNED, b.ip, b.jail, b.banned_at)


def unbanned(b: Ban) -> BanEvent:
    return BanEvent(BanEventKind.UNBANNED, b.ip, b.jail, NOTICED)


class Source(Protocol):
    """A source made to hold exactly the given jails and bans, then polled for its events."""

    def show(self, **jails: list[Ban]) -> list[BanEvent]: ...


class DatabaseSource:
    """fail2ban's database, written row by row: bans, manual unbans, jails enabled or not."""

    def __init__(self, directory: Path) -> None:
        path = directory / "fail2ban.sqlite3"
        self.db = Fail2banDb(path)
        self.source = Fail2banDatabase(path)
        self.held: dict[str, dict[str, Ban]] = {}

    def show(self, **jails: list[Ban]) -> list[BanEvent]:
        for name in self.held.keys() - jails.keys():
            self.db.enable(name, enabled=False)
        for name, bans in jails.items():
            self.db.enable(name)
            held = self.held.setdefault(name, {})
            wanted = {b.ip: b for b in bans}
            for ip in held.keys() - wanted.keys():
                self.db.unban(name, ip)
                del held[ip]
            for b in sorted(bans, key=lambda b: b.banned_at):
                if held.get(b.ip) != b:
                    self.db.ban(name, b.ip, int(b.banned_at.timestamp()), bantime=-1)
                    held[b.ip] = b
        return list(self.source.poll(now=NOTICED.timestamp()).events)


class RemoteSource:
    """The rows `sqlite3 -json` returns for the same database on another machine."""

    def __init__(self, directory: Path) -> None:
        self.source = RemoteFail2banDatabase(LocalRunner(), str(directory / "fail2ban.sqlite3"))

    def show(self, **jails: list[Ban]) -> list[BanEvent]:
        empty = {"ip": None, "at": None, "bantime": None, "total": None, "new": None}
        rows: list[dict[str, Any]] = [
            {**empty, "kind": "mark", "jail": None, "at": int(NOTICED.timestamp()), "new": 4}
        ]
        rows += [{**empty, "kind": "jail", "jail": name, "total": 0, "new": 0} for name in jails]
        rows += [
            {
                **empty,
                "kind": "ban",
                "jail": name,
                "ip": b.ip,
                "at": int(b.banned_at.timestamp()),
                "bantime": -1,
            }
            for name, bans in jails.items()
            for b in bans
        ]
        events = self.source.update(rows).events
        # The remote host's clock says when an unban was noticed.
        return list(events)


class LogSource:
    """fail2ban's log: Ban and Unban lines, jails stopping and starting with Restore Ban."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "fail2ban.log"
        self.path.touch()
        self.source = Fail2banLog(self.path, time_zone=UTC)
        self.held: dict[str, dict[str, Ban]] = {}
        self.running: set[str] = set()

    def show(self, **jails: list[Ban]) -> list[BanEvent]:
        lines: list[str] = []
        for name in self.running - jails.keys():
            lines.append(f2b_line(f"Jail '{name}' stopped", when=T0, logger="fail2ban.jail"))
            self.running.discard(name)
        for name, bans in jails.items():
            held = self.held.setdefault(name, {})
            wanted = {b.ip: b for b in bans}
            restarting = name not in self.running
            if restarting:
                lines.append(f2b_line(f"Jail '{name}' started", when=T0, logger="fail2ban.jail"))
                self.running.add(name)
            for ip in held.keys() - wanted.keys():
                if not restarting:
                    lines.append(f2b_line(f"[{name}] Unban {ip}", when=NOTICED))
                del held[ip]
            for b in sorted(bans, key=lambda b: b.banned_at):
                if restarting and held.get(b.ip) == b:
                    lines.append(f2b_line(f"[{name}] Restore Ban {b.ip}", when=NOTICED))
                elif held.get(b.ip) != b:
                    if b.ip in held:
                        lines.append(f2b_line(f"[{name}] Unban {b.ip}", when=NOTICED))
                    verb = "Restore Ban" if restarting and not held else "Ban"
                    lines.append(f2b_line(f"[{name}] {verb} {b.ip}", when=b.banned_at))
                    held[b.ip] = b
        append(self.path, *lines)
        events = self.source.poll().events
        # The log source notices unbans on the wall clock; the rest must match exactly.
        return [
            BanEvent(e.kind, e.ip, e.jail, NOTICED) if e.kind is BanEventKind.UNBANNED else e
            for e in events
        ]


SOURCES: dict[str, Callable[[Path], Source]] = {
    "database": DatabaseSource,
    "remote": RemoteSource,
    "log": LogSource,
}


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Source:
    return SOURCES[request.param](tmp_path)


def test_each_ban_is_reported_once(source: Source) -> None:
    old, a, b = ban("192.0.2.1", 0), ban("192.0.2.2", 5), ban("2001:db8::2", 6)

    # The history already there at the first poll is never replayed.
    assert source.show(sshd=[old]) == []
    assert source.show(sshd=[old, b, a]) == [banned(a), banned(b)]
    assert source.show(sshd=[old, a, b]) == []
    assert source.show(sshd=[a, b]) == [unbanned(old)]

    # Lifted and imposed again between two polls: both events, the new ban with its own time.
    again = ban("192.0.2.2", 30)
    events = source.show(sshd=[again, b])
    assert events == [unbanned(a), banned(again)]
    assert events[0].kind == "unbanned"


def test_jails_that_stop_and_come_back(source: Source) -> None:
    a, b = ban("192.0.2.1", 0), ban("192.0.2.2", 1)
    source.show(sshd=[a, b])

    # fail2ban stopped: its jails are gone, and nothing was lifted for good yet.
    assert source.show() == []
    # Back with its bans restored, except one that expired meanwhile.
    assert source.show(sshd=[a]) == [unbanned(b)]


def test_a_new_jail_starts_from_what_it_holds(source: Source) -> None:
    source.show(sshd=[])
    restored = ban("198.51.100.1", 0, jail="web")
    fresh = ban("198.51.100.2", 50, jail="web")

    # A jail seen for the first time brings bans that are not news (restored from the database).
    assert source.show(sshd=[], web=[restored]) == []
    assert source.show(sshd=[], web=[restored, fresh]) == [banned(fresh)]


def test_events_across_jails_are_ordered(source: Source) -> None:
    gone = ban("192.0.2.9", 0)
    source.show(sshd=[gone], web=[])
    late, early = ban("192.0.2.1", 20), ban("198.51.100.1", 10, jail="web")

    events = source.show(sshd=[late], web=[early])
    assert events == [unbanned(gone), banned(early), banned(late)]
