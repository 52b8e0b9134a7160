"""The newest bans and the count in force, kept poll after poll without sorting every ban."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
import random

from custom_components.homelab_sentinel.fail2ban.client import (
    NEWEST_BANS,
    Fail2banDatabase,
    Fail2banLog,
    Fail2banSnapshot,
)

from .conftest import append, f2b_line
from .database import Fail2banDb

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def expected_newest(held: dict[str, datetime]) -> list[tuple[str, datetime]]:
    ranked = sorted(held.items(), key=lambda item: item[1], reverse=True)
    return ranked[:NEWEST_BANS]


def shown(snapshot: Fail2banSnapshot, jail: str) -> list[tuple[str, datetime]]:
    return [(ban.ip, ban.banned_at) for ban in snapshot.jails[jail].newest_bans]


def test_log_keeps_the_newest_through_bans_unbans_and_restarts(tmp_path: Path) -> None:
    rng = random.Random(3)  # noqa: S311 - reproducible test data
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("Jail 'sshd' started", when=T0, logger="fail2ban.jail"))
    tailer = Fail2banLog(log, time_zone=UTC)
    held: dict[str, datetime] = {}
    clock = T0
    serial = 0
    for step in range(300):
        lines = []
        for _ in range(rng.randrange(1, 8)):
            clock += timedelta(seconds=1)
            if held and rng.random() < 0.35:
                # Mostly the newest: they are what the sensor lists, and what refills.
                newest = sorted(held, key=held.__getitem__)[-NEWEST_BANS:]
                ip = rng.choice(newest if rng.random() < 0.6 else list(held))
                lines.append(f2b_line(f"[sshd] Unban {ip}", when=clock))
                del held[ip]
            else:
                serial += 1
                ip = f"10.0.{serial // 250}.{serial % 250}"
                lines.append(f2b_line(f"[sshd] Ban {ip}", when=clock))
                held[ip] = clock
        if step % 61 == 60:
            # The newest bans lifted at once (a manual unban spree): the list is refilled.
            for ip in sorted(held, key=held.__getitem__)[-70:]:
                lines.append(f2b_line(f"[sshd] Unban {ip}", when=clock))
                del held[ip]
        if step % 97 == 96:
            # A restart: every ban repealed, then restored with its original time.
            lines += [f2b_line(f"[sshd] Repeal Ban {ip}", when=clock) for ip in held]
            lines.append(f2b_line("Jail 'sshd' stopped", when=clock, logger="fail2ban.jail"))
            lines.append(f2b_line("Jail 'sshd' started", when=clock, logger="fail2ban.jail"))
            lines += [f2b_line(f"[sshd] Restore Ban {ip}", when=clock) for ip in held]
        append(log, *lines)
        snapshot = tailer.poll()
        assert snapshot.jails["sshd"].banned == len(held) == snapshot.banned_now
        assert shown(snapshot, "sshd") == expected_newest(held)
    assert len(held) > 2 * NEWEST_BANS


def test_database_keeps_the_newest_through_bans_unbans_and_expiries(tmp_path: Path) -> None:
    rng = random.Random(4)  # noqa: S311 - reproducible test data
    db = Fail2banDb(tmp_path / "fail2ban.sqlite3", "sshd")
    source = Fail2banDatabase(db.path)
    start = 1_796_000_000
    now = start
    held: dict[str, tuple[int, int]] = {}  # ip -> (timeofban, bantime)
    serial = 0
    for _ in range(150):
        for _ in range(rng.randrange(1, 6)):
            now += 1
            if held and rng.random() < 0.3:
                newest = sorted(held, key=lambda ip: held[ip][0])[-NEWEST_BANS:]
                ip = rng.choice(newest if rng.random() < 0.6 else list(held))
                db.unban("sshd", ip)
                del held[ip]
            else:
                serial += 1
                ip = f"10.1.{serial // 250}.{serial % 250}"
                bantime = rng.choice((-1, 200, 3600))
                db.ban("sshd", ip, now, bantime=bantime)
                held[ip] = (now, bantime)
        if len(held) > 2 * NEWEST_BANS and rng.random() < 0.05:
            for ip in sorted(held, key=lambda ip: held[ip][0])[-70:]:
                db.unban("sshd", ip)
                del held[ip]
        for ip, (timeofban, bantime) in list(held.items()):
            if bantime >= 0 and timeofban + bantime <= now:
                del held[ip]
        snapshot = source.poll(now=now)
        in_force = {ip: datetime.fromtimestamp(at, UTC) for ip, (at, _) in held.items()}
        assert snapshot.jails["sshd"].banned == len(held)
        assert shown(snapshot, "sshd") == expected_newest(in_force)
    assert len(held) > NEWEST_BANS


def test_a_burst_beyond_what_is_followed_ban_by_ban_still_yields_each_event(tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, *(f2b_line(f"[sshd] Ban 10.2.0.{n}", when=T0) for n in range(1, 6)))
    tailer = Fail2banLog(log, time_zone=UTC)
    assert tailer.poll().events == ()

    burst = [f"10.3.{n // 250}.{n % 250}" for n in range(1100)]
    later = T0 + timedelta(minutes=1)
    append(
        log,
        f2b_line("[sshd] Unban 10.2.0.1", when=later),
        *(f2b_line(f"[sshd] Ban {ip}", when=later) for ip in burst),
    )
    snapshot = tailer.poll()
    assert [(e.kind, e.ip) for e in snapshot.events] == [("unbanned", "10.2.0.1")] + [
        ("banned", ip) for ip in burst
    ]
    assert snapshot.jails["sshd"].banned == 1104
