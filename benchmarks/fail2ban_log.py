"""Benchmark the fail2ban sources against Home Assistant core's log parsing.

Run with `scripts/run python benchmarks/fail2ban_log.py [--lines N] [--bans N]`. It writes a
realistic fail2ban log (five jails, IPv4 and IPv6, restarts with Repeal/Restore Ban) and a database
with fail2ban's schema under a temporary directory, then reports:

* the log source: first read, a poll after 100 appended lines (median), memory held (tracemalloc);
* core's `fail2ban` sensor: every update reads the whole file and runs
  `re.findall(r"\\[{jail}\\]\\s*(Ban|Unban) (.*)")` once per jail;
* the database source: first poll, and polls with a few new bans (median) with N rows in `bans`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import gc
import os
from pathlib import Path
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.homelab_sentinel.fail2ban.client import (
    Fail2banDatabase,
    Fail2banLog,
)

JAILS = ("sshd", "nginx-http-auth", "postfix-sasl", "recidive", "hass-web.v2")
# fail2ban 1.1.1's schema (server/database.py, version 4), as in the contract.
SCHEMA = """
CREATE TABLE fail2banDb(version INTEGER);
CREATE TABLE jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
CREATE INDEX jails_name ON jails(name);
CREATE TABLE logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0,
  FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path),
  UNIQUE(jail, path, firstlinemd5));
CREATE INDEX logs_path ON logs(path);
CREATE INDEX logs_jail_path ON logs(jail, path);
CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL,
  bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON,
  FOREIGN KEY(jail) REFERENCES jails(name));
CREATE INDEX bans_jail_timeofban_ip ON bans(jail, timeofban);
CREATE INDEX bans_jail_ip ON bans(jail, ip);
CREATE INDEX bans_ip ON bans(ip);
CREATE TABLE bips(ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL,
  bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON,
  PRIMARY KEY(ip, jail), FOREIGN KEY(jail) REFERENCES jails(name));
CREATE INDEX bips_timeofban ON bips(timeofban);
CREATE INDEX bips_ip ON bips(ip);
INSERT INTO fail2banDb(version) VALUES(4);
"""
INSERT_BAN = (
    "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?, ?, ?, ?, ?, ?)"
)
# fail2ban writes both tables for every ban, bips keeping the latest ban per (ip, jail).
INSERT_BIP = (
    "INSERT OR REPLACE INTO bips(jail, ip, timeofban, bantime, bancount, data) "
    "VALUES(?, ?, ?, ?, ?, ?)"
)


def seeded(seed: int) -> random.Random:
    """A reproducible generator: the data must be the same on every run, it protects nothing."""
    return random.Random(seed)  # noqa: S311


def random_ip(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randrange(1 << 16):x}::{rng.randrange(1 << 16):x}"
    return (
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


class LogWriter:
    """Produces fail2ban 1.1 log lines in the proportions of a busy server."""

    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = seeded(seed)
        self.now = start
        self.pid = 1000
        self.banned: dict[str, list[str]] = {jail: [] for jail in JAILS}

    def line(self, logger: str, level: str, message: str) -> str:
        self.now += timedelta(milliseconds=self.rng.randrange(1, 900))
        stamp = self.now.strftime("%Y-%m-%d %H:%M:%S,") + f"{self.now.microsecond // 1000:03d}"
        return f"{stamp} {logger:<24}[{self.pid}]: {level:<7} {message}\n"

    def restart(self) -> list[str]:
        lines = [self.line("fail2ban.server", "INFO", "Shutdown in progress...")]
        for jail, ips in self.banned.items():
            lines += [
                self.line("fail2ban.actions", "NOTICE", f"[{jail}] Repeal Ban {ip}") for ip in ips
            ]
            lines.append(self.line("fail2ban.jail", "INFO", f"Jail '{jail}' stopped"))
        self.pid += 1
        lines.append(self.line("fail2ban.server", "INFO", "Starting Fail2ban v1.1.1"))
        for jail, ips in self.banned.items():
            lines.append(self.line("fail2ban.jail", "INFO", f"Jail '{jail}' started"))
            lines += [
                self.line("fail2ban.actions", "NOTICE", f"[{jail}] Restore Ban {ip}") for ip in ips
            ]
        return lines

    def step(self) -> list[str]:
        """One event: mostly failures, as many bans as unbans, and a little noise."""
        rng = self.rng
        jail = rng.choice(JAILS)
        ips = self.banned[jail]
        roll = rng.random()
        if roll < 0.6:
            ip = random_ip(rng)
            found = f"[{jail}] Found {ip} - {self.now:%Y-%m-%d %H:%M:%S}"
            return [self.line("fail2ban.filter", "INFO", found)]
        if roll < 0.78 or not ips:
            ip = random_ip(rng)
            ips.append(ip)
            return [self.line("fail2ban.actions", "NOTICE", f"[{jail}] Ban {ip}")]
        if roll < 0.96:
            ip = ips.pop(rng.randrange(len(ips)))
            return [self.line("fail2ban.actions", "NOTICE", f"[{jail}] Unban {ip}")]
        if roll < 0.975:
            known = f"[{jail}] {rng.choice(ips)} already banned"
            return [self.line("fail2ban.actions", "WARNING", known)]
        if roll < 0.99:
            increase = (
                f"[{jail}] Increase Ban {rng.choice(ips)} (2 # 2:00:00 -> 2026-11-23 10:00:00)"
            )
            return [self.line("fail2ban.observer", "NOTICE", increase)]
        if roll < 0.99995:
            return [self.line("fail2ban.filterpoll", "INFO", f"[{jail}] Log rotation detected")]
        return self.restart()

    def lines(self, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            out += self.step()
        return out[:count] if len(out) > count else out


def write_log(path: Path, count: int, writer: LogWriter) -> None:
    with path.open("w", encoding="utf-8") as handle:
        written = 0
        while written < count:
            batch = writer.lines(min(100_000, count - written))
            handle.writelines(batch)
            written += len(batch)


def core_update(path: Path) -> int:
    """One update of core's fail2ban sensors: each jail's sensor re-reads and re-scans the file."""
    found = 0
    for jail in JAILS:
        regex = re.compile(rf"\[{re.escape(jail)}\]\s*(Ban|Unban) (.*)")
        with path.open(encoding="utf-8") as handle:
            found += len(regex.findall(handle.read()))
    return found


type Timing = tuple[float, float]  # wall-clock and CPU seconds


def timed(function: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def median(timings: list[Timing]) -> Timing:
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def bench_log(directory: Path, lines: int, rounds: int) -> dict[str, Timing]:
    path = directory / "fail2ban.log"
    writer = LogWriter(7, datetime(2026, 11, 1, tzinfo=UTC))
    start = time.perf_counter()
    write_log(path, lines, writer)
    print(
        f"log: {lines:,} lines, {path.stat().st_size / 1e6:.1f} MB written in "
        f"{time.perf_counter() - start:.1f} s"
    )

    tailer = Fail2banLog(path, time_zone=UTC)
    first = timed(tailer.poll)
    snapshot = tailer.poll()
    polls = []
    for _ in range(rounds):
        with path.open("a", encoding="utf-8") as handle:
            handle.writelines(writer.lines(100))
        polls.append(timed(tailer.poll))
    core = [timed(lambda: core_update(path)) for _ in range(3)]

    gc.collect()
    tracemalloc.start()
    measured = Fail2banLog(path, time_zone=UTC)
    measured.poll()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"log: {len(snapshot.jails)} jails, {snapshot.banned_now} bans in force")
    return {
        "first": first,
        "poll": median(polls),
        "core": median(core),
        "memory": (held, peak),
    }


def build_database(path: Path, bans: int, now: int) -> None:
    rng = seeded(11)
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    connection.executemany("INSERT INTO jails(name, enabled) VALUES(?, 1)", [(j,) for j in JAILS])
    offenders = [random_ip(rng) for _ in range(max(1, bans * 2 // 5))]
    times = sorted(rng.randrange(now - 30 * 86400, now) for _ in range(bans))
    rows = []
    for timeofban in times:
        bantime = rng.choices((600, 3600, 86400, 604800, -1), (20, 60, 15, 4, 1))[0]
        rows.append(
            (rng.choice(JAILS), rng.choice(offenders), timeofban, bantime, 1, '{"matches": []}')
        )
    with connection:
        connection.executemany(INSERT_BAN, rows)
        connection.executemany(INSERT_BIP, rows)
    connection.close()


def add_bans(path: Path, count: int, now: int, rng: random.Random) -> None:
    connection = sqlite3.connect(path)
    with connection:
        for _ in range(count):
            row = (rng.choice(JAILS), random_ip(rng), now, 3600, 1, '{"matches": []}')
            connection.execute(INSERT_BAN, row)
            connection.execute(INSERT_BIP, row)
    connection.close()


def bench_database(directory: Path, bans: int, rounds: int) -> dict[str, Timing]:
    path = directory / "fail2ban.sqlite3"
    now = int(time.time())
    build_database(path, bans, now)
    connection = sqlite3.connect(path)
    bips = connection.execute("SELECT COUNT(*) FROM bips").fetchone()[0]
    connection.close()

    source = Fail2banDatabase(path)
    first = timed(lambda: source.poll(now=now))
    idle = [timed(lambda: source.poll(now=now)) for _ in range(rounds)]
    rng = seeded(5)
    changed = []
    for _ in range(rounds):
        add_bans(path, 5, now, rng)
        changed.append(timed(lambda: source.poll(now=now)))
    print(
        f"database: {bans:,} rows in bans, {bips:,} in bips, {path.stat().st_size / 1e6:.1f} MB, "
        f"{source.poll(now=now).banned_now} bans in force"
    )
    return {"first": first, "idle": median(idle), "changed": median(changed)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the fail2ban sources.")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=21)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="f2b-bench-") as name:
        directory = Path(name)
        log = bench_log(directory, arguments.lines, arguments.rounds)
        database = bench_database(directory, arguments.bans, arguments.rounds)

    ms = 1e3
    ratio = log["core"][0] / log["poll"][0]
    held, peak = log["memory"]
    rows = [
        ("log: first read", log["first"], "< 3,000 ms"),
        ("log: poll, 100 new lines (median)", log["poll"], "< 5 ms"),
        ("core: one update of 5 jails (median)", log["core"], ""),
        ("db: first poll (whole history)", database["first"], ""),
        ("db: poll, nothing new (median)", database["idle"], "< 10 ms"),
        ("db: poll, 5 new bans (median)", database["changed"], "< 10 ms"),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    print(f"{'measure':<{width}}  {'wall ms':>10}  {'CPU ms':>10}  goal")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}  {'-' * 10}")
    for label, (wall, cpu), goal in rows:
        print(f"{label:<{width}}  {wall * ms:>10,.2f}  {cpu * ms:>10,.2f}  {goal}")
    print(f"{'core update / our poll':<{width}}  {ratio:>9,.0f}x  {'':>10}  >= 500x")
    print(f"{'log: memory held / peak':<{width}}  {held / 1e3:>7,.0f} kB  {peak / 1e6:>7.1f} MB")


if __name__ == "__main__":
    main()
