"""Failed logins Home Assistant reported in the last 24 hours, bounded whatever is sent at it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
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
_NOTIFICATION_ADDRESS = re.compile(r"\(([0-9A-Fa-f:.]{2,45})\)\. See the log for details\.\Z")


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
    """Failures per (address, minute) over the last 24 hours, oldest first."""

    def __init__(self, is_local: Callable[[IPv4Address | IPv6Address], bool]) -> None:
        """Judge addresses with is_local (Home Assistant's own notion of a local address)."""
        self._is_local = is_local
        # (address, minute) -> [count, time of the last failure]
        self._buckets: OrderedDict[tuple[str, int], list[Any]] = OrderedDict()

    def add(self, address: IPv4Address | IPv6Address, when: datetime) -> None:
        """Count one failure."""
        key = (str(address), int(when.timestamp()) // 60)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [1, when]
        else:
            bucket[0] += 1
            bucket[1] = max(bucket[1], when)
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)

    def expire(self, now: datetime) -> bool:
        """Forget the minutes whose last failure is 24 hours old; whether any was forgotten."""
        cutoff = now - WINDOW
        expired = [key for key, (_, last) in self._buckets.items() if last <= cutoff]
        for key in expired:
            del self._buckets[key]
        return bool(expired)

    def summary(self) -> FailedLoginSummary:
        """Counts over the window, the busiest addresses first."""
        per_address: dict[str, list[Any]] = {}
        for (ip, _), (count, last) in self._buckets.items():
            entry = per_address.setdefault(ip, [0, last])
            entry[0] += count
            entry[1] = max(entry[1], last)
        addresses = [
            AddressFailures(ip, count, last, self._is_local(ip_address(ip)))
            for ip, (count, last) in per_address.items()
        ]
        addresses.sort(key=lambda item: (-item.count, -item.last_at.timestamp(), item.ip))
        total = sum(item.count for item in addresses)
        external = sum(item.count for item in addresses if not item.local)
        return FailedLoginSummary(total, external, tuple(addresses[:MAX_LISTED_ADDRESSES]))

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
                self._buckets[key] = [int(count), datetime.fromisoformat(last)]
            except TypeError, ValueError:
                continue
