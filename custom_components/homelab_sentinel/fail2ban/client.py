"""Read fail2ban's bans from its SQLite database or from its log file.

Both sources produce the same `Fail2banSnapshot`: the running jails, each with the number of bans
in force, the newest of them, its ban count and its last ban, and the `banned` and `unbanned`
events since the previous poll, found from what the poll read (log lines, new database rows),
never by comparing every ban in force. Every call here blocks on file or SQLite I/O (Home
Assistant runs them in its executor), a source object must not be polled from two threads at
once, and nothing here imports Home Assistant.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
import heapq
import json
from operator import attrgetter
import os
from pathlib import Path
import re
import sqlite3
import time
from typing import BinaryIO, Final, Protocol

from ..user_files import (
    NotRegularFileError,
    UserFileError,
    UserFileNotFoundError,
    UserFilePermissionError,
    open_regular_file,
)

DEFAULT_DATABASE_PATH: Final = "/var/lib/fail2ban/fail2ban.sqlite3"
DEFAULT_LOG_PATH: Final = "/var/log/fail2ban.log"
# fail2ban itself writes with a 5 s busy timeout; a reader waiting longer would stall the executor.
DEFAULT_DATABASE_TIMEOUT: Final = 1.0

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_HEADER_SIZE = 100
_WAL_FORMAT = 2  # file format version bytes 18-19 of a database in WAL mode
# bantime -2 marks rows migrated from databases older than fail2ban 0.11; fail2ban then falls back
# to the jail's bantime, or to 600 s when the jail is unknown, as it is to us.
_LEGACY_BANTIME = -2
_LEGACY_BANTIME_FALLBACK = 600

_CHUNK_SIZE = 1 << 20
# A "line" longer than this without a newline is not fail2ban's; skip it rather than re-read it.
_MAX_PENDING_LINE = 1 << 20
_HEAD_FINGERPRINT = 256
_PROBE_SIZE = 64 * 1024
# Lifted bans a jail remembers beyond the most it ever held at once (see _JailLog.lifted).
_LIFTED_MARGIN = 64
# Beyond this many IPs touched between two polls, a jail's status is rebuilt from scratch.
_MAX_TOUCHED = 1024
# The newest bans in force a jail status lists (its entities show at most this many).
NEWEST_BANS: Final = 50

# The lines of fail2ban 0.10 to 1.1 that change a jail's bans or its running state, e.g.
#   2026-11-22 13:39:41,106 fail2ban.actions        [15875]: NOTICE  [sshd] Ban 192.0.2.10
#   2026-11-22 13:42:09,430 fail2ban.actions        [19696]: WARNING [sshd] 192.0.2.9 already banned
#   2026-11-22 13:39:33,902 fail2ban.jail           [15875]: INFO    Jail 'sshd' started
# The search starts at the literal logger name, so the regex engine skips most bytes quickly; the
# line's start is checked separately (see Fail2banLog._parse).
_EVENT = re.compile(
    rb"fail2ban\.(?:actions|jail) *\[\d+\]: +[A-Z]+ +(?:"
    rb"\[(?P<jail>[^\]\n]+)\] (?:"
    rb"(?P<action>Ban|Unban|Restore Ban|Repeal Ban|Reban) (?P<ip>[^\s,]+)"
    rb"|(?P<known>[^\s\]]+) already banned)"
    rb"|Jail '(?P<state_jail>[^'\n]+)' (?P<state>started|stopped))"
)
_STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:[,.](\d{1,6}))? *")
_STAMP_WIDTH = len("2026-11-22 13:39:41,106 ")
_STAMP_FORMAT = "%Y-%m-%d %H:%M:%S,%f"
_FAIL2BAN_LINE = re.compile(
    rb"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[,.]\d+)? +)?fail2ban\.[\w.]+ *\[\d+\]: +[A-Z]+ ",
    re.MULTILINE,
)
_BANNED_AT = attrgetter("banned_at")
_AT = attrgetter("at")
_LIFTING = frozenset({b"Unban", b"Repeal Ban"})
_EPOCH = datetime.fromtimestamp(0, UTC)


class Fail2banSourceKind(StrEnum):
    """Where the bans are read from; the config flow's `source` choices."""

    DATABASE = "database"
    LOG = "log"


class Fail2banError(Exception):
    """Base class for everything this module raises; messages never quote file contents."""


class Fail2banNotFoundError(Fail2banError):
    """The database or log file does not exist."""


class Fail2banPermissionError(Fail2banError):
    """The file exists but may not be read (fail2ban writes it with mode 0600)."""


class NotFail2banError(Fail2banError):
    """The file is not a fail2ban database, or does not look like a fail2ban log."""


class Fail2banBusyError(Fail2banError):
    """The database stayed locked by another process for longer than the timeout."""


@dataclass(frozen=True, slots=True)
class Ban:
    """One IP address banned in one jail."""

    ip: str
    jail: str
    banned_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class JailStatus:
    """What one running jail holds now."""

    name: str
    banned: int
    """Bans in force."""
    newest_bans: tuple[Ban, ...]
    """The newest bans in force, newest first, at most NEWEST_BANS of them."""
    total_bans: int
    """Bans counted for this jail; only grows while the source object lives."""
    last_ban: Ban | None


class BanEventKind(StrEnum):
    """The event types of the `ban` event entity."""

    BANNED = "banned"
    UNBANNED = "unbanned"


@dataclass(frozen=True, slots=True)
class BanEvent:
    """A ban that started, or ended, between two snapshots."""

    kind: BanEventKind
    ip: str
    jail: str
    at: datetime
    """When the ban started; for an unban, when the unban was noticed."""


@dataclass(frozen=True, slots=True)
class Fail2banSnapshot:
    """The running jails of one fail2ban instance, by name; empty while fail2ban is stopped.

    events are the bans started and ended since the previous poll, each reported once: unbans
    first, then bans oldest first. A jail's first appearance is its baseline (the bans it already
    holds, the whole history at the first poll, bans restored into a new jail, are not news). A
    ban is its IP and ban time, so a ban lifted and imposed again between two polls yields both
    events. A jail that stops keeps its last reported bans: when it returns, only the bans that
    changed meanwhile yield events.
    """

    jails: dict[str, JailStatus]
    events: tuple[BanEvent, ...] = ()

    @property
    def banned_now(self) -> int:
        """Bans in force now, summed over all jails."""
        return sum(jail.banned for jail in self.jails.values())


class Fail2banSource(Protocol):
    """What the coordinator needs from either source."""

    @property
    def path(self) -> Path:
        """The file read."""
        ...

    def poll(self) -> Fail2banSnapshot:
        """Read what changed since the last poll and return the current state (blocking)."""
        ...


def create_source(
    kind: Fail2banSourceKind | str,
    path: str | os.PathLike[str],
    *,
    time_zone: tzinfo | None = None,
) -> Fail2banSource:
    """Build the source for a config entry; time_zone only matters for a log (see Fail2banLog)."""
    if Fail2banSourceKind(kind) is Fail2banSourceKind.DATABASE:
        return Fail2banDatabase(path)
    return Fail2banLog(path, time_zone=time_zone)


def probe(path: str | os.PathLike[str], source: Fail2banSourceKind | str) -> None:
    """Check that path can be read as the given source, for the config flow (blocking).

    An empty log is accepted: logrotate leaves one behind until fail2ban next writes. A log whose
    first 64 KiB hold no line written by fail2ban is refused, and so is a database without
    fail2ban's tables.
    """
    if Fail2banSourceKind(source) is Fail2banSourceKind.DATABASE:
        Fail2banDatabase(path).check()
        return
    log_path = Path(path)
    with _open_regular(log_path) as handle:
        head = handle.read(_PROBE_SIZE)
    if head and _FAIL2BAN_LINE.search(head) is None:
        raise NotFail2banError(f"{log_path} does not look like a fail2ban log")


@contextmanager
def _open_regular(path: Path) -> Iterator[BinaryIO]:
    """Open a regular file for reading, mapping failures to this module's errors."""
    try:
        with open_regular_file(path) as handle:
            yield handle
    except UserFileNotFoundError as err:
        raise Fail2banNotFoundError(str(err)) from err
    except UserFilePermissionError as err:
        raise Fail2banPermissionError(str(err)) from err
    except NotRegularFileError as err:
        raise NotFail2banError(str(err)) from err
    except UserFileError as err:
        raise Fail2banError(str(err)) from err


class _PollEvents:
    """The events one poll finds, in the order a snapshot reports them."""

    def __init__(self, noticed: Callable[[], datetime]) -> None:
        self._noticed_fn = noticed
        self._noticed: datetime | None = None
        self.unbanned: list[BanEvent] = []
        self.banned: list[BanEvent] = []

    def unban(self, ban: Ban) -> None:
        if self._noticed is None:
            self._noticed = self._noticed_fn()
        self.unbanned.append(BanEvent(BanEventKind.UNBANNED, ban.ip, ban.jail, self._noticed))

    def ban(self, ban: Ban) -> None:
        self.banned.append(BanEvent(BanEventKind.BANNED, ban.ip, ban.jail, ban.banned_at))

    def change(self, before: Ban | None, after: Ban | None) -> None:
        """One IP's ban before and after the poll; a ban is its IP and its time."""
        if before is not None and after is not None and before.banned_at == after.banned_at:
            return
        if before is not None:
            self.unban(before)
        if after is not None:
            self.ban(after)

    def ordered(self) -> tuple[BanEvent, ...]:
        self.banned.sort(key=_AT)
        return (*self.unbanned, *self.banned)


def _utc_now() -> datetime:
    return datetime.now(UTC)


type _Ranked = tuple[datetime, int, Ban]
"""A ban with its rank among equal times: of bans with equal times, the later written wins."""


class _NewestBans:
    """The newest bans of one jail, kept as bans come and go at a cost per change, not per ban.

    Holds the top of the ranking (at least NEWEST_BANS entries while the jail has that many,
    at most twice as many); only when removals thin it out is it refilled from every ban in
    force, which random or oldest-first unbans make rare.
    """

    __slots__ = ("_held", "_refill", "_top")

    def __init__(self, refill: Callable[[], Iterable[_Ranked]]) -> None:
        self._refill = refill
        self._top: list[_Ranked] = []  # ascending
        self._held = 0

    def add(self, entry: _Ranked) -> None:
        top = self._top
        self._held += 1
        if len(top) == self._held - 1 or not top or entry > top[0]:
            insort(top, entry)
            if len(top) > 2 * NEWEST_BANS:
                del top[0]

    def remove(self, entry: _Ranked) -> None:
        top = self._top
        self._held -= 1
        if not top or entry < top[0]:
            return
        index = bisect_left(top, entry)
        if index < len(top) and top[index] == entry:
            del top[index]
        if len(top) < NEWEST_BANS and len(top) < self._held:
            self.rebuild(self._refill())

    def rebuild(self, entries: Iterable[_Ranked]) -> None:
        everything = list(entries)
        self._held = len(everything)
        self._top = sorted(heapq.nlargest(2 * NEWEST_BANS, everything))

    def newest(self) -> tuple[Ban, ...]:
        top = self._top
        return tuple(entry[2] for entry in reversed(top[-NEWEST_BANS:]))


# ---------------------------------------------------------------------------------------------
# The SQLite database


@dataclass(frozen=True, slots=True)
class _RowMark:
    """The newest `bips` row at the last poll, and what it held.

    SQLite gives a new row the largest rowid plus one, so while this row is still there unchanged,
    every row with a larger rowid was written after the last poll. Once it is deleted (a manual
    unban of the newest ban, a purge after a quiet day) rowids may be reused, and the bans in
    force are read in full once. Rowid 0 marks a table that was empty: every row is new.
    """

    rowid: int
    identity: tuple[object, ...]


_EMPTY_TABLE = _RowMark(0, ())


@dataclass(frozen=True, slots=True)
class _CurrentBan:
    ban: Ban
    timeofban: int
    ends: int | None  # epoch seconds; None when permanent


class Fail2banDatabase:
    """Current bans, ban counts and last bans from fail2ban's SQLite database (version 4).

    The database is opened read-only (`mode=ro`) for each poll and closed at its end: no lock or
    file handle is held between polls, a database that fail2ban recreates is simply picked up,
    and the connection never crosses the executor's threads. Opening costs a fraction of a
    millisecond. Each poll reads in one short read transaction, so its queries agree.

    A poll costs work proportional to what changed and to the bans in force, never to the
    history. The change counter in the database header tells whether fail2ban committed anything
    since the last poll; if not, SQLite is not even opened and only expiries apply. Otherwise the
    `bips` rows written since are found by rowid (fail2ban writes one per ban, replacing the IP's
    previous row), and the bans in force are checked to be still there (a manual unban deletes
    them). The history table `bans` is aggregated once, at the first poll, through fail2ban's
    (jail, timeofban) index; `total_bans` then grows by one for every ban written since, and
    fail2ban's hourly purge of old rows never lowers it, as a total_increasing sensor requires.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = DEFAULT_DATABASE_TIMEOUT
    ) -> None:
        """Remember where the database is; nothing is read until the first poll."""
        self._path = Path(path)
        self._timeout = timeout
        self._signature: tuple[int, int, int] | None = None
        self._mark: _RowMark | None = None  # None until the first poll
        self._jails: list[str] = []
        self._current: dict[int, _CurrentBan] = {}  # by bips rowid
        self._by_key: dict[tuple[str, str], int] = {}
        self._by_jail: dict[str, dict[int, Ban]] = {}
        self._newest: dict[str, _NewestBans] = {}
        # Each IP's ban before the first and after the last change since its jail's last status
        # (see Fail2banSnapshot.events); jails get events once they were listed (their baseline).
        self._journal: dict[str, dict[str, list[Ban | None]]] = {}
        self._baselined: set[str] = set()
        self._expiries: list[tuple[int, int]] = []  # heap of (ends, rowid)
        self._totals: dict[str, int] = {}
        self._last: dict[str, Ban] = {}
        self._statuses: dict[str, JailStatus] = {}
        self._changed: set[str] = set()  # jails whose status must be rebuilt
        self._resort: set[str] = set()  # ... because their bans changed

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def check(self) -> None:
        """Raise unless this is a readable fail2ban database (blocking)."""
        self._read_signature()
        with self._reading() as connection:
            # Compiling each statement checks every table and column a poll needs.
            for statement in (
                "SELECT version FROM fail2banDb LIMIT 0",
                "SELECT name, enabled FROM jails LIMIT 0",
                "SELECT rowid, ip, jail, timeofban, bantime FROM bips LIMIT 0",
                "SELECT jail, ip, timeofban FROM bans LIMIT 0",
            ):
                connection.execute(statement).fetchall()

    def poll(self, *, now: float | None = None) -> Fail2banSnapshot:
        """Read the enabled jails and their bans as of now (epoch seconds; default: the clock)."""
        # fail2ban compares against whole seconds; binding an int also avoids SQLite's
        # INTEGER < TEXT trap of strftime('%s', 'now').
        now_exact = time.time() if now is None else now
        now_seconds = int(now_exact)
        signature = self._read_signature()
        if signature is None or signature != self._signature:
            with self._reading() as connection:
                jails = [
                    name
                    for (name,) in connection.execute("SELECT name FROM jails WHERE enabled = 1")
                ]
                if self._mark is None:
                    self._read_history(connection)
                self._read_bips(connection, now_seconds)
            self._jails = jails
            self._signature = signature
        self._expire(now_seconds)
        return self._snapshot(lambda: datetime.fromtimestamp(now_exact, UTC))

    def _read_signature(self) -> tuple[int, int, int] | None:
        """Identify the committed content, or None when the header cannot tell (WAL mode)."""
        # Reading the file first also tells a missing, unreadable or foreign file apart, which
        # SQLite would all report as "unable to open".
        with _open_regular(self._path) as handle:
            header = handle.read(_SQLITE_HEADER_SIZE)
            info = os.fstat(handle.fileno())
        if not header.startswith(_SQLITE_MAGIC):
            raise NotFail2banError(f"{self._path} is not an SQLite database")
        if len(header) < _SQLITE_HEADER_SIZE or _WAL_FORMAT in header[18:20]:
            return None
        # Rollback-journal databases (fail2ban's) bump this counter on every commit.
        return (info.st_dev, info.st_ino, int.from_bytes(header[24:28]))

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        uri = f"{self._path.absolute().as_uri()}?mode=ro"
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=self._timeout, autocommit=True)
        except sqlite3.Error as err:
            raise self._translate(err) from err
        try:
            connection.execute("BEGIN")
            yield connection
        except sqlite3.Error as err:
            raise self._translate(err) from err
        finally:
            connection.close()

    def _translate(self, err: sqlite3.Error) -> Fail2banError:
        code = getattr(err, "sqlite_errorcode", None)
        if isinstance(code, int):
            code &= 0xFF  # the primary result code of an extended one
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return Fail2banBusyError(
                f"{self._path} stayed locked by another process for more than {self._timeout} s"
            )
        # The statements here are fixed and valid, so a plain SQL error means a missing table
        # or column: a database that is not fail2ban's.
        if code in (sqlite3.SQLITE_ERROR, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            return NotFail2banError(f"{self._path} is not a readable fail2ban database")
        name = getattr(err, "sqlite_errorname", None) or type(err).__name__
        return Fail2banError(f"cannot read the fail2ban database {self._path} ({name})")

    def _read_history(self, connection: sqlite3.Connection) -> None:
        """Count each jail's recorded bans and find its last one; first poll only."""
        counted = connection.execute("SELECT jail, COUNT(*) FROM bans GROUP BY jail").fetchall()
        for jail, count in counted:
            self._totals[jail] = count
            ip, timeofban = connection.execute(
                "SELECT ip, timeofban FROM bans WHERE jail = ? "
                "ORDER BY timeofban DESC, rowid DESC LIMIT 1",
                (jail,),
            ).fetchone()
            self._remember_last(jail, ip, timeofban)

    def _read_bips(self, connection: sqlite3.Connection, now: int) -> None:
        columns = "rowid, ip, jail, timeofban, bantime"
        mark = self._mark
        if mark is None or not _mark_holds(connection, mark):
            rows = connection.execute(
                f"SELECT {columns} FROM bips WHERE bantime < 0 OR timeofban + bantime > ? "  # noqa: S608
                "ORDER BY rowid",
                (now,),
            ).fetchall()
            if mark is not None:
                # Rowids may have been reused: a ban is new unless it was in force already.
                known = {(c.ban.ip, c.ban.jail, c.timeofban) for c in self._current.values()}
                self._count_new(row for row in rows if tuple(row[1:4]) not in known)
            for rowid in list(self._current):
                self._drop(rowid)
            self._add_rows(rows, now)
            newest = connection.execute(
                "SELECT rowid, ip, jail, timeofban FROM bips ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
            self._mark = _EMPTY_TABLE if newest is None else _RowMark(newest[0], newest[1:])
            return
        appended = connection.execute(
            f"SELECT {columns} FROM bips WHERE rowid > ? ORDER BY rowid",  # noqa: S608
            (mark.rowid,),
        ).fetchall()
        # fail2ban never updates a row in place: a new ban of the same IP in the same jail
        # replaces its row (INSERT OR REPLACE), and a manual unban deletes it.
        for _, ip, jail, _, _ in appended:
            if (replaced := self._by_key.get((ip, jail))) is not None:
                self._drop(replaced)
        if self._current:
            remaining = json.dumps(list(self._current))
            (count,) = connection.execute(
                "SELECT COUNT(*) FROM bips WHERE rowid IN (SELECT value FROM json_each(?))",
                (remaining,),
            ).fetchone()
            if count != len(self._current):
                kept = {
                    rowid
                    for (rowid,) in connection.execute(
                        "SELECT rowid FROM bips WHERE rowid IN (SELECT value FROM json_each(?))",
                        (remaining,),
                    )
                }
                for rowid in self._current.keys() - kept:
                    self._drop(rowid)
        self._count_new(appended)
        self._add_rows(appended, now)
        if appended:
            self._mark = _RowMark(appended[-1][0], tuple(appended[-1][1:4]))

    def _count_new(self, rows: Iterable[tuple[int, str, str, int, int]]) -> None:
        for _, ip, jail, timeofban, _ in rows:
            self._totals[jail] = self._totals.get(jail, 0) + 1
            self._changed.add(jail)
            self._remember_last(jail, ip, timeofban)

    def _remember_last(self, jail: str, ip: str, timeofban: int) -> None:
        banned_at = datetime.fromtimestamp(int(timeofban), UTC)
        last = self._last.get(jail)
        if last is not None and (
            banned_at < last.banned_at or (banned_at, ip) == (last.banned_at, last.ip)
        ):
            return
        self._last[jail] = Ban(str(ip), str(jail), banned_at)
        self._changed.add(jail)

    def _add_rows(self, rows: list[tuple[int, str, str, int, int]], now: int) -> None:
        for rowid, ip, jail, timeofban, stored_bantime in rows:
            bantime = (
                _LEGACY_BANTIME_FALLBACK if stored_bantime == _LEGACY_BANTIME else stored_bantime
            )
            ends = None if bantime < 0 else int(timeofban) + int(bantime)
            if ends is not None and ends <= now:
                continue
            ban = Ban(str(ip), str(jail), datetime.fromtimestamp(int(timeofban), UTC))
            self._current[rowid] = _CurrentBan(ban, int(timeofban), ends)
            self._by_key[ip, jail] = rowid
            self._by_jail.setdefault(ban.jail, {})[rowid] = ban
            self._jail_newest(ban.jail).add((ban.banned_at, rowid, ban))
            self._note(ban.jail, ban.ip, None, ban)
            self._resort.add(ban.jail)
            if ends is not None:
                heapq.heappush(self._expiries, (ends, rowid))

    def _drop(self, rowid: int) -> None:
        ban = self._current.pop(rowid).ban
        del self._by_key[ban.ip, ban.jail]
        del self._by_jail[ban.jail][rowid]
        self._jail_newest(ban.jail).remove((ban.banned_at, rowid, ban))
        self._note(ban.jail, ban.ip, ban, None)
        self._resort.add(ban.jail)

    def _jail_newest(self, jail: str) -> _NewestBans:
        newest = self._newest.get(jail)
        if newest is None:
            bans = self._by_jail.setdefault(jail, {})
            newest = self._newest[jail] = _NewestBans(
                lambda: ((ban.banned_at, rowid, ban) for rowid, ban in bans.items())
            )
        return newest

    def _note(self, jail: str, ip: str, before: Ban | None, after: Ban | None) -> None:
        changes = self._journal.setdefault(jail, {})
        change = changes.get(ip)
        if change is None:
            changes[ip] = [before, after]
        else:
            change[1] = after

    def _expire(self, now: int) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            ends, rowid = heapq.heappop(expiries)
            # Entries of bans dropped or replaced meanwhile are left in the heap until due.
            current = self._current.get(rowid)
            if current is not None and current.ends == ends:
                self._drop(rowid)

    def _snapshot(self, noticed: Callable[[], datetime]) -> Fail2banSnapshot:
        statuses: dict[str, JailStatus] = {}
        events = _PollEvents(noticed)
        for name in self._jails:
            changes = self._journal.pop(name, None)
            if name not in self._baselined:
                self._baselined.add(name)
            elif changes:
                for before, after in changes.values():
                    events.change(before, after)
            status = self._statuses.get(name)
            if status is None or name in self._resort:
                bans = self._jail_newest(name).newest()
            elif name in self._changed:
                bans = status.newest_bans
            else:
                statuses[name] = status
                continue
            statuses[name] = JailStatus(
                name=name,
                banned=len(self._by_jail.get(name, ())),
                newest_bans=bans,
                total_bans=self._totals.get(name, 0),
                last_ban=self._last.get(name),
            )
        self._statuses = statuses
        self._changed.clear()
        self._resort.clear()
        return Fail2banSnapshot(dict(statuses), events.ordered())


def _mark_holds(connection: sqlite3.Connection, mark: _RowMark) -> bool:
    if mark is _EMPTY_TABLE:
        return True
    row = connection.execute(
        "SELECT ip, jail, timeofban FROM bips WHERE rowid = ?", (mark.rowid,)
    ).fetchone()
    return row is not None and tuple(row) == mark.identity


def _newest_first(bans: Iterable[Ban]) -> tuple[Ban, ...]:
    """Order bans given oldest written first; of bans with equal times the later written wins."""
    # A stable ascending sort keeps ties in writing order; reversing it ranks the later first.
    ordered = sorted(bans, key=_BANNED_AT)
    ordered.reverse()
    return tuple(ordered)


# ---------------------------------------------------------------------------------------------
# The log file


@dataclass(slots=True)
class _JailLog:
    """What the log has told about one jail; IPs and ban times stay raw bytes until reported."""

    name: str
    bans: dict[bytes, bytes] = field(default_factory=dict)  # IP -> ban timestamp
    # Bans recently lifted, so that "Restore Ban" after a restart keeps the original ban time.
    lifted: dict[bytes, bytes] = field(default_factory=dict)
    most: int = 0  # most bans held at once; bounds `lifted`
    total: int = 0
    last: tuple[bytes, bytes] | None = None
    running: bool = True
    status: JailStatus | None = None  # reused while nothing changes
    # What the last status reported (each ban with its timestamp and its rank among equal
    # times), and the IPs touched since (None: report everything anew), so that a poll costs
    # what changed rather than what the jail holds.
    reported: dict[bytes, tuple[bytes, Ban, int]] = field(default_factory=dict)
    touched: dict[bytes, None] | None = None
    newest: _NewestBans = field(init=False)
    reports: int = 0  # ranks bans of equal times: the later reported wins
    baselined: bool = False  # reported once: from then on, changes are events

    def __post_init__(self) -> None:
        self.newest = _NewestBans(
            lambda: ((ban.banned_at, rank, ban) for _, ban, rank in self.reported.values())
        )


class Fail2banLog:
    """Follow fail2ban's log file and keep each jail's bans, ban count and last ban.

    Only the bytes appended since the last poll are read, in bounded chunks; the first poll reads
    the whole file once, after the rotated `<path>.1` when that is still plain text, so that bans
    imposed before the last rotation are known. Memory holds the jails and their bans, never the
    log. Rotation is noticed both ways: a new file at the path (rename and create; the rest of the
    old file is first read from `<path>.1` when it is there) and a truncated one (copytruncate).
    An unfinished last line waits for the next poll; bytes that are not UTF-8 never break parsing.

    Lines understood (fail2ban 0.10 to 1.1): `Ban`, `Restore Ban` (fail2ban restarting), `Unban`,
    `Repeal Ban` (1.1 stopping), `Reban`, `already banned`, and `Jail '<name>' started|stopped`.
    A jail is listed while it runs, and a restored ban keeps its original ban time when the log
    showed it. Timestamps are fail2ban's local time, read in time_zone (default: this system's).
    """

    def __init__(self, path: str | os.PathLike[str], *, time_zone: tzinfo | None = None) -> None:
        """Remember where the log is; nothing is read until the first poll."""
        self._path = Path(path)
        self._rotated_path = self._path.with_name(f"{self._path.name}.1")
        self._time_zone = time_zone
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._head = b""
        self._inside_long_line = False  # the offset is inside an over-long line being skipped
        self._jails: dict[bytes, _JailLog] = {}
        self._read_stamp = b""

    @property
    def path(self) -> Path:
        """The log file."""
        return self._path

    def poll(self) -> Fail2banSnapshot:
        """Read what fail2ban appended since the last poll and return the jails' state."""
        with _open_regular(self._path) as handle:
            info = os.fstat(handle.fileno())
            identity = (info.st_dev, info.st_ino)
            self._read_stamp = b""
            if self._identity is None:
                self._read_predecessor(identity)
                start = 0
            elif identity != self._identity:
                self._finish_rotated(self._identity)
                start = 0
            elif info.st_size < self._offset or not self._same_head(handle):
                start = 0
            else:
                start = self._offset
            if start == 0:
                self._head = b""
                self._inside_long_line = False
            self._offset, self._inside_long_line = self._consume(
                handle, start, inside_long_line=self._inside_long_line
            )
            self._identity = identity
            if len(self._head) < _HEAD_FINGERPRINT and self._offset > len(self._head):
                self._head = os.pread(handle.fileno(), _HEAD_FINGERPRINT, 0)
        return self._snapshot()

    def _read_predecessor(self, identity: tuple[int, int]) -> None:
        """On the first poll, read the previous log first: it holds bans still in force."""
        try:
            with _open_regular(self._rotated_path) as handle:
                info = os.fstat(handle.fileno())
                # A compressed rotation does not start with a fail2ban line; skip it.
                if (info.st_dev, info.st_ino) != identity and _FAIL2BAN_LINE.search(
                    handle.read(_PROBE_SIZE)
                ):
                    self._consume(handle, 0)
        except Fail2banError:
            return

    def _finish_rotated(self, identity: tuple[int, int]) -> None:
        """Read the rest of the file that was renamed away, if it is still at <path>.1."""
        try:
            with _open_regular(self._rotated_path) as handle:
                info = os.fstat(handle.fileno())
                if (info.st_dev, info.st_ino) == identity:
                    self._consume(handle, self._offset, inside_long_line=self._inside_long_line)
        except Fail2banError:
            # Gone or unreadable: what fail2ban wrote to it after the last poll is lost.
            return

    def _same_head(self, handle: BinaryIO) -> bool:
        # A copytruncate followed by enough new lines would hide behind an unchanged size; the
        # first line (it carries a timestamp) tells the new content apart.
        if not self._head:
            return True
        return os.pread(handle.fileno(), len(self._head), 0) == self._head

    def _consume(
        self, handle: BinaryIO, start: int, *, inside_long_line: bool = False
    ) -> tuple[int, bool]:
        """Parse the complete lines from start on.

        Return the offset after the last complete line (an unfinished one is read again next
        time) and whether that offset lies inside an over-long line, skipped up to its end.
        """
        handle.seek(start)
        offset = start
        pending = b""
        while chunk := handle.read(_CHUNK_SIZE):
            if inside_long_line:
                newline = chunk.find(b"\n")
                if newline < 0:
                    offset += len(chunk)
                    continue
                offset += newline + 1
                chunk = chunk[newline + 1 :]
                inside_long_line = False
            data = pending + chunk if pending else chunk
            end = data.rfind(b"\n") + 1
            if end:
                self._parse(data, end)
                offset += end
                pending = data[end:]
            else:
                pending = data
            if len(pending) > _MAX_PENDING_LINE:
                offset += len(pending)
                pending = b""
                inside_long_line = True
        return offset, inside_long_line

    def _parse(self, data: bytes, end: int) -> None:
        """Apply the events in data[:end], which starts at a line start and ends after a newline.

        This loop runs for every ban and unban of the first read (hundreds of thousands in a
        large log), so the common cases are spelled out inline and an unban never slices out
        its timestamp.
        """
        jails = self._jails
        for match in _EVENT.finditer(data, 0, end):
            start = match.start()
            # fail2ban's own lines start with a fixed-width stamp, "2026-11-22 13:39:41,106 ";
            # checking two of its bytes is much cheaper than a regex (_datetime validates it).
            if (start > _STAMP_WIDTH and data[start - _STAMP_WIDTH - 1] == 0x0A) or (
                start == _STAMP_WIDTH
            ):
                if data[start - 20] != 0x2D:  # the "-" after the year
                    continue
                stamp = None
            elif (stamp := self._unusual_stamp(data, start)) is None:
                continue
            name, action, ip, known, state_name, state = match.groups()
            if action in _LIFTING:
                jail = jails.get(name)
                if jail is None or not jail.running:
                    jail = self._jail(name)
                jail.status = None
                self._lift(jail, ip)
                continue
            if stamp is None:
                stamp = data[start - _STAMP_WIDTH : start - 1]
            if action == b"Ban":
                jail = jails.get(name)
                if jail is None or not jail.running:
                    jail = self._jail(name)
                jail.status = None
                bans = jail.bans
                bans[ip] = stamp
                if len(bans) > jail.most:  # noqa: PLR1730 - max() costs a call per ban
                    jail.most = len(bans)
                jail.total += 1
                jail.last = (ip, stamp)
                if (touched := jail.touched) is not None:
                    touched[ip] = None
                    if len(touched) > _MAX_TOUCHED:
                        jail.touched = None
            elif action is not None:  # Restore Ban, Reban
                self._keep(self._jail(name), ip, stamp)
            elif state is not None:
                self._set_running(state_name, running=state == b"started")
            else:
                self._keep(self._jail(name), known, stamp)

    def _unusual_stamp(self, data: bytes, start: int) -> bytes | None:
        """The stamp of a line not in fail2ban's usual layout; None if it is not fail2ban's."""
        line_start = data.rfind(b"\n", 0, start) + 1
        if line_start == start:
            # No timestamp at all (fail2ban logging to stdout): dated when read.
            if not self._read_stamp:
                self._read_stamp = datetime.now(self._time_zone).strftime(_STAMP_FORMAT).encode()
            return self._read_stamp
        if _STAMP.fullmatch(data, line_start, start):
            return data[line_start:start].rstrip()
        # fail2ban's logger name inside some other line (a quoted log line): not an event.
        return None

    def _jail(self, name: bytes) -> _JailLog:
        jail = self._jails.get(name)
        if jail is None:
            jail = self._jails[name] = _JailLog(name.decode(errors="replace"))
        jail.running = True
        jail.status = None
        return jail

    def _set_running(self, name: bytes, *, running: bool) -> None:
        jail = self._jail(name)
        if not running:
            # fail2ban lifts every ban with an Unban or Repeal Ban line before this one; remember
            # anything left over for its Restore Ban all the same.
            for ip in list(jail.bans):
                self._lift(jail, ip)
            jail.running = False

    def _keep(self, jail: _JailLog, ip: bytes, stamp: bytes) -> None:
        """Hold ip as a ban restored or repeated, not as a new one."""
        if ip not in jail.bans:
            jail.bans[ip] = jail.lifted.pop(ip, stamp)
            jail.most = max(jail.most, len(jail.bans))
            self._touch(jail, ip)

    @staticmethod
    def _touch(jail: _JailLog, ip: bytes) -> None:
        if (touched := jail.touched) is not None:
            touched[ip] = None
            if len(touched) > _MAX_TOUCHED:
                jail.touched = None

    def _lift(self, jail: _JailLog, ip: bytes) -> None:
        stamp = jail.bans.pop(ip, None)
        if stamp is None:
            return
        self._touch(jail, ip)
        lifted = jail.lifted
        lifted.pop(ip, None)  # re-inserted last: the newest lifts are kept
        lifted[ip] = stamp
        # Everything lifted by one stop (at most `most` bans) stays; trimming in bulk keeps the
        # cost per line constant.
        keep = jail.most + _LIFTED_MARGIN
        if len(lifted) > 2 * keep:
            jail.lifted = dict(list(lifted.items())[-keep:])

    def _snapshot(self) -> Fail2banSnapshot:
        jails: dict[str, JailStatus] = {}
        events = _PollEvents(_utc_now)
        for jail in self._jails.values():
            if not jail.running:
                continue
            if jail.status is None:
                jail.status = self._status(jail, events)
            jails[jail.name] = jail.status
        return Fail2banSnapshot(jails, events.ordered())

    def _status(self, jail: _JailLog, events: _PollEvents) -> JailStatus:
        touched, jail.touched = jail.touched, {}
        # A jail's first report is its baseline; what it held then is not news.
        announce = events if jail.baselined else None
        jail.baselined = True
        if touched is None:
            self._report_all(jail, announce)
        elif touched:
            self._report_changes(jail, touched, announce)
        last = None
        if jail.last is not None:
            ip, stamp = jail.last
            entry = jail.reported.get(ip)
            last = (
                entry[1] if entry is not None and entry[0] == stamp else self._ban(jail, ip, stamp)
            )
        return JailStatus(
            name=jail.name,
            banned=len(jail.reported),
            newest_bans=jail.newest.newest(),
            total_bans=jail.total,
            last_ban=last,
        )

    def _report_all(self, jail: _JailLog, events: _PollEvents | None) -> None:
        """Report every ban anew: the first time, or after more changes than are worth following."""
        previous = jail.reported
        reported: dict[bytes, tuple[bytes, Ban, int]] = {}
        for ip, stamp in jail.bans.items():
            entry = previous.get(ip)
            jail.reports += 1
            if entry is None or entry[0] != stamp:
                reported[ip] = (stamp, self._ban(jail, ip, stamp), jail.reports)
            else:
                reported[ip] = (stamp, entry[1], jail.reports)
        if events is not None:
            for ip, entry in previous.items():
                now = reported.get(ip)
                if now is None or now[0] != entry[0]:
                    events.unban(entry[1])
            for ip, entry in reported.items():
                before = previous.get(ip)
                if before is None or before[0] != entry[0]:
                    events.ban(entry[1])
        jail.reported = reported
        jail.newest.rebuild((ban.banned_at, rank, ban) for _, ban, rank in reported.values())

    def _report_changes(
        self, jail: _JailLog, touched: dict[bytes, None], events: _PollEvents | None
    ) -> None:
        reported = jail.reported
        newest = jail.newest
        for ip in touched:  # in the order the log touched them
            stamp = jail.bans.get(ip)
            entry = reported.get(ip)
            if entry is not None:
                if entry[0] == stamp:
                    continue  # lifted and held again with the same time: unchanged
                del reported[ip]
                newest.remove((entry[1].banned_at, entry[2], entry[1]))
                if events is not None:
                    events.unban(entry[1])
            if stamp is not None:
                ban = self._ban(jail, ip, stamp)
                jail.reports += 1
                reported[ip] = (stamp, ban, jail.reports)
                newest.add((ban.banned_at, jail.reports, ban))
                if events is not None:
                    events.ban(ban)

    def _ban(self, jail: _JailLog, ip: bytes, stamp: bytes) -> Ban:
        return Ban(ip.decode(errors="replace"), jail.name, self._datetime(stamp))

    def _datetime(self, stamp: bytes) -> datetime:
        match = _STAMP.fullmatch(stamp)
        if match is None:
            return _EPOCH
        year, month, day, hour, minute, second, fraction = match.groups()
        try:
            naive = datetime(  # noqa: DTZ001 - fail2ban writes local time; the zone is set below
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                int(fraction.ljust(6, b"0")) if fraction else 0,
            )
        except ValueError:
            # Not a real date, so not written by fail2ban; a fixed value keeps the ban stable.
            return _EPOCH
        local = naive.replace(tzinfo=self._time_zone) if self._time_zone else naive.astimezone()
        return local.astimezone(UTC)
