"""Ban events from successive snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.homelab_sentinel.fail2ban.client import (
    Ban,
    BanEvent,
    BanEventKind,
    BanEventTracker,
    Fail2banSnapshot,
    JailStatus,
)

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NOTICED = T0 + timedelta(hours=1)


def ban(ip: str, minutes: int, jail: str = "sshd") -> Ban:
    return Ban(ip, jail, T0 + timedelta(minutes=minutes))


def snapshot(**jails: list[Ban]) -> Fail2banSnapshot:
    return Fail2banSnapshot(
        {
            name: JailStatus(
                name, tuple(sorted(bans, key=lambda b: b.banned_at, reverse=True)), 0, None
            )
            for name, bans in jails.items()
        }
    )


def banned(b: Ban) -> BanEvent:
    return BanEvent(BanEventKind.BANNED, b.ip, b.jail, b.banned_at)


def unbanned(b: Ban) -> BanEvent:
    return BanEvent(BanEventKind.UNBANNED, b.ip, b.jail, NOTICED)


def test_each_ban_is_reported_once() -> None:
    tracker = BanEventTracker()
    old, a, b = ban("192.0.2.1", 0), ban("192.0.2.2", 5), ban("2001:db8::2", 6)

    # The history already there at the first snapshot is never replayed.
    assert tracker.update(snapshot(sshd=[old]), now=NOTICED) == []
    assert tracker.update(snapshot(sshd=[old, b, a]), now=NOTICED) == [banned(a), banned(b)]
    assert tracker.update(snapshot(sshd=[old, a, b]), now=NOTICED) == []
    assert tracker.update(snapshot(sshd=[a, b]), now=NOTICED) == [unbanned(old)]

    # Lifted and imposed again between two polls: both events, the new ban with its own time.
    again = ban("192.0.2.2", 30)
    events = tracker.update(snapshot(sshd=[again, b]), now=NOTICED)
    assert events == [unbanned(a), banned(again)]
    assert events[0].kind == "unbanned"


def test_jails_that_stop_and_come_back() -> None:
    tracker = BanEventTracker()
    a, b = ban("192.0.2.1", 0), ban("192.0.2.2", 1)
    tracker.update(snapshot(sshd=[a, b]), now=NOTICED)

    # fail2ban stopped: its jails are gone, and nothing was lifted for good yet.
    assert tracker.update(snapshot(), now=NOTICED) == []
    # Back with its bans restored, except one that expired meanwhile.
    assert tracker.update(snapshot(sshd=[a]), now=NOTICED) == [unbanned(b)]


def test_a_new_jail_starts_from_what_it_holds() -> None:
    tracker = BanEventTracker()
    tracker.update(snapshot(sshd=[]), now=NOTICED)
    restored = ban("198.51.100.1", 0, jail="web")
    fresh = ban("198.51.100.2", 50, jail="web")

    # A jail seen for the first time brings bans that are not news (restored from the database).
    assert tracker.update(snapshot(sshd=[], web=[restored]), now=NOTICED) == []
    assert tracker.update(snapshot(sshd=[], web=[restored, fresh]), now=NOTICED) == [banned(fresh)]


def test_events_across_jails_are_ordered() -> None:
    tracker = BanEventTracker()
    gone = ban("192.0.2.9", 0)
    tracker.update(snapshot(sshd=[gone], web=[]), now=NOTICED)
    late, early = ban("192.0.2.1", 20), ban("198.51.100.1", 10, jail="web")

    events = tracker.update(snapshot(sshd=[late], web=[early]), now=NOTICED)
    assert events == [unbanned(gone), banned(early), banned(late)]
