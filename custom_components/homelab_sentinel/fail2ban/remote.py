"""Read fail2ban's database on another machine with one `sqlite3 -json` command per poll.

The command runs through the command layer (`transport`), locally or over SSH, with a time limit
and an output cap. Its SQL is a fixed string; the only value that varies is bound as a
parameter (`.parameter set :since N`, an integer kept here), and the database path is an
argument that the runner validates and quotes. `sqlite3 -safe` refuses dot-commands that would
run programs or touch other files.

One query answers a poll: the enabled jails with their ban totals and last ban (through
fail2ban's `(jail, timeofban, ip)` index on `bans`), the bans in force from `bips` (fail2ban's own
condition, with the remote host's clock as an integer, never `strftime('%s', 'now')` as text),
and the highest `bans` rowid. Totals never decrease: the first poll counts each jail's history,
later ones add the rows written since (rowid above the last poll's highest), so fail2ban's purge
of old rows does not lower a total_increasing sensor. Nothing here imports Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from ..capped_read import InvalidJSONError, parse_json
from ..transport import CommandRunner
from .client import (
    _LEGACY_BANTIME,
    _LEGACY_BANTIME_FALLBACK,
    NEWEST_BANS,
    Ban,
    Fail2banBusyError,
    Fail2banError,
    Fail2banNotFoundError,
    Fail2banSnapshot,
    JailStatus,
    NotFail2banError,
    _newest_first,
    _PollEvents,
)

PROGRAM: Final = "sqlite3"
TIME_LIMIT: Final = 30.0
# Bans in force are listed in full; a jail under attack may hold tens of thousands.
MAX_OUTPUT: Final = 16 * 1024 * 1024
# Fixed: nothing is ever formatted into it. "Now" is the remote clock as an integer. One line:
# arguments may hold no control characters.
_QUERY_LINES: Final = """\
SELECT 'mark' AS kind, NULL AS jail, NULL AS ip, CAST(strftime('%s', 'now') AS INTEGER) AS at,
  NULL AS bantime, (SELECT MAX(rowid) FROM bans) AS total,
  (SELECT version FROM fail2banDb) AS new
UNION ALL
SELECT 'jail', j.name,
  (SELECT b.ip FROM bans b WHERE b.jail = j.name
    ORDER BY b.timeofban DESC, b.rowid DESC LIMIT 1),
  (SELECT b.timeofban FROM bans b WHERE b.jail = j.name
    ORDER BY b.timeofban DESC, b.rowid DESC LIMIT 1),
  NULL,
  (SELECT COUNT(*) FROM bans b WHERE b.jail = j.name),
  (SELECT COUNT(*) FROM bans b WHERE b.jail = j.name AND b.rowid > :since)
FROM jails j WHERE j.enabled = 1
UNION ALL
SELECT * FROM (
  SELECT 'ban', jail, ip, timeofban, bantime, NULL, NULL FROM bips
  WHERE bantime < 0 OR timeofban + bantime > CAST(strftime('%s', 'now') AS INTEGER)
  ORDER BY rowid
)"""
QUERY: Final = " ".join(line.strip() for line in _QUERY_LINES.splitlines())
# What sqlite3 writes to stderr, lower-cased, and what it means.
_NOT_FAIL2BAN = ("no such table", "no such column", "not a database", "malformed")
_BUSY = ("database is locked", "database is busy")
_CANNOT_OPEN = "unable to open database"


def command(path: str, since: int) -> list[str]:
    """The argument list of one poll; path is the database on the machine that runs it."""
    return [
        PROGRAM,
        "-readonly",
        "-json",
        path,
        "-safe",
        "-cmd",
        ".timeout 1000",
        "-cmd",
        f".parameter set :since {int(since)}",
        QUERY,
    ]


def error_for(path: str, exit_status: int, stderr: str) -> Fail2banError:
    """The error a failed sqlite3 run means; stderr is matched, never quoted."""
    said = stderr.lower()
    if any(text in said for text in _BUSY):
        return Fail2banBusyError(f"{path} stayed locked by another process")
    if any(text in said for text in _NOT_FAIL2BAN):
        return NotFail2banError(f"{path} is not a readable fail2ban database")
    if _CANNOT_OPEN in said:
        return Fail2banNotFoundError(f"{path} does not exist or may not be read")
    return Fail2banError(f"sqlite3 failed on {path} (exit status {exit_status})")


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


class RemoteFail2banDatabase:
    """The bans of one fail2ban database as `sqlite3 -json` reports them, poll after poll.

    `update` is a pure function of the rows and the state kept here (totals, the last bans
    rowid), so it is tested without any command; `poll` runs the command.
    """

    def __init__(self, runner: CommandRunner, path: str) -> None:
        """Read path through runner; nothing runs until the first poll."""
        self.runner = runner
        self.path = path
        self._since = 0
        self._totals: dict[str, int] = {}
        self._statuses: dict[str, JailStatus] = {}
        # Each listed jail's bans in force at the last poll, by IP, to tell what changed: the
        # query lists them all anyway (see Fail2banSnapshot.events).
        self._known: dict[str, dict[str, Ban]] = {}

    async def poll(self) -> Fail2banSnapshot:
        """Run the query once; raises CommandError (transport) or Fail2banError."""
        result = await self.runner.run(
            command(self.path, self._since), time_limit=TIME_LIMIT, max_output=MAX_OUTPUT
        )
        if result.exit_status != 0:
            raise error_for(self.path, result.exit_status, result.stderr)
        try:
            rows = parse_json(result.stdout)
        except InvalidJSONError as err:
            raise Fail2banError(f"sqlite3 wrote no JSON for {self.path}") from err
        return self.update(rows)

    def update(self, rows: Any) -> Fail2banSnapshot:
        """Build the snapshot from the query's rows; raises Fail2banError for other output."""
        try:
            return self._update(rows)
        except (TypeError, KeyError, ValueError, OverflowError) as err:
            raise Fail2banError(f"unexpected sqlite3 output for {self.path}") from err

    def _update(self, rows: Sequence[Mapping[str, Any]]) -> Fail2banSnapshot:
        if not isinstance(rows, list) or not rows or rows[0]["kind"] != "mark":
            raise ValueError
        mark = rows[0]
        now = _integer(mark["at"])
        if mark["new"] != 4:  # fail2ban's database version
            raise ValueError
        jails: dict[str, tuple[int, Ban | None]] = {}
        bans: dict[str, list[Ban]] = {}
        for row in rows[1:]:
            jail = str(row["jail"])
            if row["kind"] == "jail":
                count, new = _integer(row["total"]), _integer(row["new"])
                previous = self._totals.get(jail)
                total = count if previous is None else max(previous + new, count)
                last = None
                if row["ip"] is not None:
                    last = Ban(str(row["ip"]), jail, _time(row["at"]))
                jails[jail] = (total, last)
            elif row["kind"] == "ban":
                timeofban, bantime = _integer(row["at"]), _integer(row["bantime"])
                if bantime == _LEGACY_BANTIME:
                    bantime = _LEGACY_BANTIME_FALLBACK
                if bantime < 0 or timeofban + bantime > now:
                    bans.setdefault(jail, []).append(Ban(str(row["ip"]), jail, _time(timeofban)))
            else:
                raise ValueError
        statuses: dict[str, JailStatus] = {}
        events = _PollEvents(lambda: datetime.fromtimestamp(now, UTC))
        for name, (total, last) in jails.items():
            self._totals[name] = total
            in_force = bans.get(name, [])
            self._note_events(name, in_force, events)
            status = JailStatus(
                name=name,
                banned=len(in_force),
                newest_bans=_newest_first(in_force)[:NEWEST_BANS],
                total_bans=total,
                last_ban=last,
            )
            # The same object while unchanged, as the local sources hand out.
            previous_status = self._statuses.get(name)
            statuses[name] = previous_status if previous_status == status else status
        self._statuses = statuses
        self._since = _integer(mark["total"]) if mark["total"] is not None else 0
        return Fail2banSnapshot(dict(statuses), events.ordered())

    def _note_events(self, jail: str, in_force: list[Ban], events: _PollEvents) -> None:
        current = {ban.ip: ban for ban in in_force}
        previous = self._known.get(jail)
        self._known[jail] = current
        if previous is None:
            return  # the jail's first appearance is its baseline
        for ip, ban in previous.items():
            events.change(ban, current.get(ip))
        for ip, ban in current.items():
            if ip not in previous:
                events.ban(ban)


def _time(value: Any) -> datetime:
    return datetime.fromtimestamp(_integer(value), UTC)
