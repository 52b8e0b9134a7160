"""When a certificate counts as expiring: a fixed warning, or a fifth of a short lifetime.

ACME CAs issue 6-day and 45-day certificates and step-ca 24-hour ones; a fixed 14-day warning
would keep those in a permanent problem state. A certificate whose whole lifetime is shorter
than three warning periods is instead judged against one fifth of its lifetime. This module has
no Home Assistant imports.
"""

from __future__ import annotations

from datetime import datetime, timedelta

SHORT_LIFETIME_FACTOR = 3
SHORT_LIFETIME_FRACTION = 5


def warning_threshold(not_before: datetime, expires: datetime, warning_days: int) -> timedelta:
    """How much time left makes this certificate expiring."""
    warning = timedelta(days=warning_days)
    lifetime = expires - not_before
    if lifetime < SHORT_LIFETIME_FACTOR * warning:
        return lifetime / SHORT_LIFETIME_FRACTION
    return warning


def is_expiring(expires: datetime, threshold: timedelta, now: datetime) -> bool:
    """Less time left than the threshold, on exact time rather than whole days."""
    return expires - now < threshold


def iso_duration(duration: timedelta) -> str:
    """An ISO 8601 duration such as ``P14D``, ``PT4H48M`` or ``P1DT4H48M``."""
    seconds = max(int(duration.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    date = f"{days}D" if days else ""
    time = "".join(
        f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value
    )
    if not date and not time:
        return "PT0S"
    return f"P{date}{'T' + time if time else ''}"
