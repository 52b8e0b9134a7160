"""The log source on fail2ban-format lines written by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import gzip
import os
from pathlib import Path
import shutil
from zoneinfo import ZoneInfo

import pytest

from custom_components.homelab_sentinel.fail2ban.client import (
    Ban,
    Fail2banLog,
    Fail2banNotFoundError,
    Fail2banSnapshot,
)

from .conftest import append, f2b_line

# fail2ban writes naive local time.
T0 = datetime(2026, 11, 22, 13, 39, 41, 106000)  # noqa: DTZ001
JULY = datetime(2026, 7, 1, 12, 0, 0, 250000)  # noqa: DTZ001


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def utc(seconds: float) -> datetime:
    return at(seconds).replace(tzinfo=UTC)


def banned(snapshot: Fail2banSnapshot, jail: str) -> dict[str, datetime]:
    return {ban.ip: ban.banned_at for ban in snapshot.jails[jail].newest_bans}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "fail2ban.log"
    path.touch()
    return path


def test_every_event_of_fail2ban_0_10_to_1_1(log: Path) -> None:
    append(
        log,
        f2b_line("Jail 'sshd' started", when=at(0), logger="fail2ban.jail"),
        f2b_line("Jail 'web-app.v2' started", when=at(0), logger="fail2ban.jail"),
        f2b_line("Jail 'idle' started", when=at(0), logger="fail2ban.jail"),
        f2b_line("[sshd] Found 192.0.2.10 - 2026-11-22 13:39:40", logger="fail2ban.filter"),
        f2b_line("[sshd] Ban 192.0.2.10", when=at(1)),
        f2b_line("[sshd] Ban 2001:db8::42", when=at(2)),
        f2b_line("[web-app.v2] Ban 198.51.100.7", when=at(3)),
        f2b_line("[web-app.v2] Unban 198.51.100.7", when=at(4)),
        # bantime.increment (0.11+) logs from the observer; the Ban line already counted.
        f2b_line("[sshd] Increase Ban 192.0.2.10 (2 # 2:00:00 -> x)", logger="fail2ban.observer"),
        f2b_line("[sshd] Reban 192.0.2.10, action 'iptables'", when=at(5)),
        # Seen only as already banned (its Ban line went with an older log): held all the same.
        f2b_line("[sshd] 203.0.113.5 already banned", when=at(6)),
        f2b_line("[sshd] Ban 192.0.2.20", when=at(7)),
        f2b_line("[sshd] Repeal Ban 192.0.2.20", when=at(8)),
        # fail2ban logging to stdout writes no timestamp; such a line is dated when read.
        "fail2ban.actions        [4242]: NOTICE  [web-app.v2] Ban 198.51.100.8\n",
        "fail2ban.actions        [4242]: NOTICE  [web-app.v2] Ban 198.51.100.9\n",
        # A stamp without milliseconds, and an unban in a jail not seen before.
        "2026-11-22 13:39:51 fail2ban.actions [4242]: NOTICE [sshd] Ban 192.0.2.30\n",
        f2b_line("[late] Unban 203.0.113.9", when=at(11)),
    )
    before = datetime.now(UTC)
    snapshot = Fail2banLog(log, time_zone=UTC).poll()

    assert set(snapshot.jails) == {"sshd", "web-app.v2", "idle", "late"}
    sshd = snapshot.jails["sshd"]
    assert sshd.newest_bans == (
        Ban("192.0.2.30", "sshd", at(10).replace(microsecond=0, tzinfo=UTC)),
        Ban("203.0.113.5", "sshd", utc(6)),
        Ban("2001:db8::42", "sshd", utc(2)),
        Ban("192.0.2.10", "sshd", utc(1)),
    )
    assert sshd.total_bans == 4
    assert sshd.last_ban == sshd.newest_bans[0]
    web = snapshot.jails["web-app.v2"]
    # Both undated lines were read at the same moment; the later written ranks first.
    assert [ban.ip for ban in web.newest_bans] == ["198.51.100.9", "198.51.100.8"]
    assert web.newest_bans[0].banned_at >= before.replace(microsecond=0)
    assert web.total_bans == 3
    assert snapshot.jails["idle"].newest_bans == ()
    assert snapshot.jails["idle"].last_ban is None
    assert snapshot.jails["late"].newest_bans == ()
    assert snapshot.banned_now == 6


def test_timestamps_are_local_time(log: Path) -> None:
    append(log, f2b_line("[sshd] Ban 192.0.2.1", when=JULY))

    berlin = Fail2banLog(log, time_zone=ZoneInfo("Europe/Berlin")).poll()
    assert banned(berlin, "sshd") == {"192.0.2.1": datetime(2026, 7, 1, 10, 0, 0, 250000, UTC)}
    system = Fail2banLog(log).poll()
    local = JULY.astimezone()
    assert banned(system, "sshd") == {"192.0.2.1": local.astimezone(UTC)}


def test_only_new_bytes_are_read_and_an_unfinished_line_waits(log: Path) -> None:
    tailer = Fail2banLog(log, time_zone=UTC)
    assert tailer.poll().jails == {}
    append(log, f2b_line("[sshd] Ban 192.0.2.1", when=at(1)))
    first = tailer.poll()
    assert banned(first, "sshd") == {"192.0.2.1": utc(1)}

    # A poll with nothing new reports the very same jail status.
    assert tailer.poll().jails["sshd"] is first.jails["sshd"]

    line = f2b_line("[sshd] Ban 192.0.2.77", when=at(2)).encode()
    append(log, line[:-4])
    assert banned(tailer.poll(), "sshd") == {"192.0.2.1": utc(1)}
    append(log, line[-4:])
    assert banned(tailer.poll(), "sshd") == {"192.0.2.1": utc(1), "192.0.2.77": utc(2)}
    assert tailer._offset == log.stat().st_size


def test_rename_rotation_finishes_the_old_file(log: Path) -> None:
    tailer = Fail2banLog(log, time_zone=UTC)
    append(log, f2b_line("[sshd] Ban 192.0.2.1", when=at(1)))
    tailer.poll()
    # Written after the last poll, just before logrotate renamed the file.
    append(log, f2b_line("[sshd] Ban 192.0.2.2", when=at(2)))
    log.rename(log.with_name("fail2ban.log.1"))
    append(log, f2b_line("[sshd] Ban 192.0.2.3", when=at(3)))

    snapshot = tailer.poll()
    assert set(banned(snapshot, "sshd")) == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}
    assert snapshot.jails["sshd"].total_bans == 3

    # The next rotation moves the file elsewhere: its unread tail is lost, the new file is not.
    append(log, f2b_line("[sshd] Unban 192.0.2.1", when=at(4)))
    log.with_name("fail2ban.log.1").unlink()
    log.rename(log.with_name("fail2ban.log.old"))
    append(log, f2b_line("[sshd] Ban 192.0.2.4", when=at(5)))
    assert set(banned(tailer.poll(), "sshd")) == {
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.4",
    }


def test_copytruncate_starts_again_from_the_top(log: Path) -> None:
    tailer = Fail2banLog(log, time_zone=UTC)
    append(log, *(f2b_line(f"[sshd] Ban 192.0.2.{n}", when=at(n)) for n in range(1, 4)))
    tailer.poll()

    shutil.copyfile(log, log.with_name("fail2ban.log.1"))
    with log.open("r+b") as handle:
        handle.truncate(0)
    append(log, f2b_line("[sshd] Unban 192.0.2.1", when=at(10)))
    assert set(banned(tailer.poll(), "sshd")) == {"192.0.2.2", "192.0.2.3"}

    # Truncated again and refilled past the old offset before the next poll: the size alone
    # cannot tell, the changed first line does.
    offset = log.stat().st_size
    with log.open("r+b") as handle:
        handle.truncate(0)
    append(
        log,
        f2b_line("[sshd] Unban 192.0.2.2", when=at(20)),
        f2b_line("[sshd] Ban 192.0.2.9", when=at(21)),
    )
    assert log.stat().st_size > offset
    assert set(banned(tailer.poll(), "sshd")) == {"192.0.2.3", "192.0.2.9"}


def test_first_read_starts_with_the_rotated_log(log: Path) -> None:
    rotated = log.with_name("fail2ban.log.1")
    rotated.write_text(
        f2b_line("Jail 'quiet' started", when=at(0), logger="fail2ban.jail")
        + f2b_line("[sshd] Ban 192.0.2.1", when=at(1))
        + f2b_line("[sshd] Ban 192.0.2.2", when=at(2))
    )
    append(log, f2b_line("[sshd] Unban 192.0.2.1", when=at(3)))

    snapshot = Fail2banLog(log, time_zone=UTC).poll()
    assert banned(snapshot, "sshd") == {"192.0.2.2": utc(2)}
    assert set(snapshot.jails) == {"quiet", "sshd"}

    # A compressed predecessor is not a fail2ban log and is skipped.
    rotated.write_bytes(gzip.compress(rotated.read_bytes()))
    assert set(banned(Fail2banLog(log, time_zone=UTC).poll(), "sshd")) == set()


def test_garbage_and_bytes_that_are_not_utf8(log: Path) -> None:
    append(
        log,
        b"\x00\xff\xfe garbage \xc3\x28 not a line of fail2ban\n",
        os.urandom(4096).replace(b"\n", b" ") + b"\n",
        f2b_line("[sshd] Ban 192.0.2.1", when=at(1)),
        f2b_line("[j\xe4il] Ban 192.0.2.2", when=at(2)).encode("latin-1"),
        # fail2ban's words quoted inside another line (e.g. a DEBUG match) are not events.
        f2b_line(
            "[sshd] Found 192.0.2.5 - user 'x fail2ban.actions [1]: NOTICE [sshd] Ban 6.6.6.6'",
            logger="fail2ban.filter",
        ),
        "Jan  1 00:00:00 host fail2ban.actions[1]: NOTICE  [sshd] Ban 6.6.6.7\n",
        f2b_line("[sshd] Ban 192.0.2.3", when=at(3)).replace("2026-11-22", "2026-11-99"),
        f2b_line("[sshd] Ban 6.6.6.8", when=at(3)).replace("2026-11-22", "x" * 10),
        f2b_line("[sshd] Ban 192.0.2.6", when=at(3)).replace("2026-11-22", "xxxx-xx-xx"),
        b"x" * (3 * 1024 * 1024),
        b"\n",
        f2b_line("[sshd] Ban 192.0.2.4", when=at(4)),
    )
    snapshot = Fail2banLog(log, time_zone=UTC).poll()

    sshd = banned(snapshot, "sshd")
    assert set(sshd) == {"192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.6"}
    # No real timestamp: the ban is kept, with a fixed placeholder time.
    assert sshd["192.0.2.3"] == sshd["192.0.2.6"] == datetime.fromtimestamp(0, UTC)
    assert banned(snapshot, "j\ufffdil") == {"192.0.2.2": utc(2)}


def test_an_over_long_line_is_skipped_to_its_end(log: Path) -> None:
    tailer = Fail2banLog(log, time_zone=UTC)
    append(log, b"x" * (2 * 1024 * 1024 + 5))
    assert tailer.poll().jails == {}

    # The rest of that line looks like an event, but it does not start a line.
    append(
        log,
        f2b_line("[sshd] Ban 6.6.6.6", when=at(1)),
        f2b_line("[sshd] Ban 192.0.2.1", when=at(2)),
    )
    assert banned(tailer.poll(), "sshd") == {"192.0.2.1": utc(2)}
    append(log, f2b_line("[sshd] Ban 192.0.2.2", when=at(3)))
    assert set(banned(tailer.poll(), "sshd")) == {"192.0.2.1", "192.0.2.2"}


def test_restart_keeps_bans_and_their_original_times(log: Path) -> None:
    tailer = Fail2banLog(log, time_zone=UTC)
    append(
        log,
        f2b_line("Jail 'sshd' started", when=at(0), logger="fail2ban.jail"),
        f2b_line("[sshd] Ban 192.0.2.1", when=at(1)),
        f2b_line("[sshd] Ban 192.0.2.2", when=at(2)),
        f2b_line("[sshd] Ban 192.0.2.3", when=at(3)),
    )
    assert tailer.poll().events == ()

    # fail2ban 1.1 stopping: Repeal Ban, then the jail stops.
    append(
        log,
        f2b_line("[sshd] Repeal Ban 192.0.2.1", when=at(10)),
        f2b_line("[sshd] Repeal Ban 192.0.2.2", when=at(10)),
        f2b_line("[sshd] Repeal Ban 192.0.2.3", when=at(10)),
        f2b_line("Jail 'sshd' stopped", when=at(11), logger="fail2ban.jail"),
    )
    stopped = tailer.poll()
    assert stopped.jails == {}
    assert stopped.events == ()

    # Back again; one ban expired meanwhile and is not restored.
    append(
        log,
        f2b_line("Jail 'sshd' started", when=at(20), logger="fail2ban.jail"),
        f2b_line("[sshd] Restore Ban 192.0.2.1", when=at(21)),
        f2b_line("[sshd] Restore Ban 192.0.2.3", when=at(21)),
    )
    restored = tailer.poll()
    assert banned(restored, "sshd") == {"192.0.2.1": utc(1), "192.0.2.3": utc(3)}
    assert restored.jails["sshd"].total_bans == 3
    events = restored.events
    assert [(event.kind, event.ip) for event in events] == [("unbanned", "192.0.2.2")]

    # fail2ban 1.0 and older log Unban when stopping.
    append(
        log,
        f2b_line("[sshd] Unban 192.0.2.1", when=at(30)),
        f2b_line("[sshd] Unban 192.0.2.3", when=at(30)),
        f2b_line("Jail 'sshd' stopped", when=at(31), logger="fail2ban.jail"),
        f2b_line("Jail 'sshd' started", when=at(40), logger="fail2ban.jail"),
        f2b_line("[sshd] Restore Ban 192.0.2.1", when=at(41)),
        f2b_line("[sshd] Restore Ban 192.0.2.3", when=at(41)),
    )
    again = tailer.poll()
    assert banned(again, "sshd") == {"192.0.2.1": utc(1), "192.0.2.3": utc(3)}
    assert again.events == ()

    # Stopped with no line per ban (they went missing): the bans are lifted all the same.
    append(
        log,
        f2b_line("Jail 'sshd' stopped", when=at(50), logger="fail2ban.jail"),
        f2b_line("Jail 'sshd' started", when=at(60), logger="fail2ban.jail"),
        f2b_line("[sshd] Restore Ban 192.0.2.3", when=at(61)),
    )
    again = tailer.poll()
    assert banned(again, "sshd") == {"192.0.2.3": utc(3)}
    assert [(event.kind, event.ip) for event in again.events] == [("unbanned", "192.0.2.1")]

    # Home Assistant restarting reads the whole log and finds the same bans.
    assert banned(Fail2banLog(log, time_zone=UTC).poll(), "sshd") == banned(again, "sshd")


def test_missing_log_then_back(log: Path) -> None:
    tailer = Fail2banLog(log, time_zone=UTC)
    append(log, f2b_line("[sshd] Ban 192.0.2.1", when=at(1)))
    tailer.poll()
    log.unlink()
    with pytest.raises(Fail2banNotFoundError, match="does not exist"):
        tailer.poll()

    append(log, f2b_line("[sshd] Ban 192.0.2.2", when=at(2)))
    assert set(banned(tailer.poll(), "sshd")) == {"192.0.2.1", "192.0.2.2"}


def test_memory_of_lifted_bans_stays_bounded(log: Path) -> None:
    # 20,000 ban/unban pairs, never more than 3 bans held at once.
    lines = []
    for n in range(20_000):
        ip = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        lines += [f2b_line(f"[sshd] Ban {ip}", when=at(n)), f2b_line(f"[sshd] Unban {ip}")]
    append(log, *lines)
    tailer = Fail2banLog(log, time_zone=UTC)
    snapshot = tailer.poll()

    assert snapshot.jails["sshd"].total_bans == 20_000
    assert snapshot.banned_now == 0
    assert len(tailer._jails[b"sshd"].lifted) <= 2 * (1 + 64)
