"""Failed logins Home Assistant reported in the last 24 hours, bounded whatever is sent at it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import heapq
from ipaddress import IPv4Address, IPv6Address, ip_address
import re
from typing import Any

WINDOW = timedelta(hours=24)
# Failures are counted per address and minute; an attack from many addresses drops the oldest
# minutes first once this many are held (memory and the stored file stay small).
MAX_BUCKETS = 4096
MAX_LISTED_ADDRESSES = 20

# Home Assistant's `http-login` notification: "... from <host> (<address>). See the log for
# details." The host may come from reverse DNS, which anyone can set: only the address, last in
# the message, is read.
# A link-local IPv6 address carries its zone, e.g. (fe80::1%eth0).
_NOTIFICATION_ADDRESS = re.compile(
    r"\(([0-9A-Fa-f:.]{2,45}(?:%[\w.-]{1,32})?)\)\. See the log for details\.\Z"
)


def address_in_notification(message: str) -> IPv4Address | IPv6Address | None:
    """The address of a failed-login notification, or None if it names none."""
    match = _NOTIFICATION_ADDRESS.search(message)
    if match is None:
        return None
    try:
        return ip_address(match.group(1))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AddressFailures:
    """How often one address failed in the window, and when last."""

    ip: str
    count: int
    last_at: datetime
    local: bool


@dataclass(frozen=True, slots=True)
class FailedLoginSummary:
    """The window's failures: in all, from non-local addresses, and the busiest addresses."""

    total: int
    external: int
    addresses: tuple[AddressFailures, ...]


class FailedLoginWindow:
    """Failures per (address, minute) over the last 24 hours, oldest minute first.

    Totals per address are kept as failures come and go, so that counting one more failure, or
    forgetting an old minute, costs the same however many addresses the window holds.
    """

    def __init__(self, is_local: Callable[[IPv4Address | IPv6Address], bool]) -> None:
        """Judge addresses with is_local (Home Assistant's own notion of a local address)."""
        self._is_local = is_local
        # (address, minute) -> [count, time of the last failure]
        self._buckets: OrderedDict[tuple[str, int], list[Any]] = OrderedDict()
        # address -> [count, time of the last failure, local, that time as a POSIX timestamp]
        self._addresses: dict[str, list[Any]] = {}
        self._total = 0
        self._external = 0
        # The busiest addresses, kept as failures come; rebuilt when one of them loses some.
        self._top: list[str] = []
        self._top_stale = False

    def add(self, address: IPv4Address | IPv6Address, when: datetime) -> None:
        """Count one failure."""
        ip = str(address)
        key = (ip, int(when.timestamp()) // 60)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [1, when]
        else:
            bucket[0] += 1
            bucket[1] = max(bucket[1], when)
        self._count(ip, 1, when)
        while len(self._buckets) > MAX_BUCKETS:
            self._forget(*self._buckets.popitem(last=False))

    def _count(self, ip: str, count: int, when: datetime) -> None:
        entry = self._addresses.get(ip)
        if entry is None:
            entry = self._addresses[ip] = [0, when, self._is_local(ip_address(ip)), 0.0]
        entry[0] += count
        if when >= entry[1]:
            entry[1] = when
            entry[3] = when.timestamp()
        self._total += count
        if not entry[2]:
            self._external += count
        if self._top_stale:
            return
        if ip in self._top:
            self._top.sort(key=self._rank)
        elif len(self._top) < MAX_LISTED_ADDRESSES or self._rank(ip) < self._rank(self._top[-1]):
            self._top.append(ip)
            self._top.sort(key=self._rank)
            del self._top[MAX_LISTED_ADDRESSES:]

    def _rank(self, ip: str) -> tuple[int, float, str]:
        """Most failures first, then the most recent, then by address."""
        count, _, _, last = self._addresses[ip]
        return (-count, -last, ip)

    def _forget(self, key: tuple[str, int], bucket: list[Any]) -> None:
        ip = key[0]
        entry = self._addresses[ip]
        entry[0] -= bucket[0]
        self._total -= bucket[0]
        if not entry[2]:
            self._external -= bucket[0]
        if entry[0] <= 0:
            del self._addresses[ip]
        if ip in self._top:
            self._top_stale = True

    def expire(self, now: datetime) -> bool:
        """Forget the minutes that ended 24 hours ago or more; whether any was forgotten."""
        cutoff = int((now - WINDOW).timestamp()) // 60
        expired = False
        while self._buckets:
            key = next(iter(self._buckets))
            if key[1] >= cutoff:
                break
            self._forget(key, self._buckets.pop(key))
            expired = True
        return expired

    def next_expiry(self) -> datetime | None:
        """When the oldest minute held leaves the window; None when the window is empty."""
        if not self._buckets:
            return None
        minute = next(iter(self._buckets))[1]
        return datetime.fromtimestamp((minute + 1) * 60, UTC) + WINDOW

    def summary(self) -> FailedLoginSummary:
        """Counts over the window, the busiest addresses first."""
        if self._top_stale:
            self._top = heapq.nsmallest(MAX_LISTED_ADDRESSES, self._addresses, key=self._rank)
            self._top_stale = False
        return FailedLoginSummary(
            self._total,
            self._external,
            tuple(AddressFailures(ip, *self._addresses[ip][:3]) for ip in self._top),
        )

    def as_dict(self) -> dict[str, Any]:
        """What a Store keeps."""
        return {
            "buckets": [
                [ip, minute, count, last.isoformat()]
                for (ip, minute), (count, last) in self._buckets.items()
            ]
        }

    def load(self, stored: Mapping[str, Any] | None) -> None:
        """Take back what as_dict gave; anything malformed is left out."""
        for item in (stored or {}).get("buckets", [])[-MAX_BUCKETS:]:
            try:
                ip, minute, count, last = item
                key = (str(ip_address(ip)), int(minute))
                failures, when = int(count), datetime.fromisoformat(last)
            except TypeError, ValueError:
                continue
            if key in self._buckets or failures < 1:
                continue
            self._buckets[key] = [failures, when]
            self._count(key[0], failures, when)
