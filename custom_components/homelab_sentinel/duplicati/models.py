"""What the Duplicati client returns, and the parsers for Duplicati's value formats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import re
from typing import Any

# Metadata dates: `yyyyMMdd'T'HHmmssK` of a UTC time (Utility.SerializeDateTime).
_METADATA_DATE = re.compile(
    r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}:?\d{2})?$", re.ASCII
)
# .NET TimeSpan.ToString(): `[-][d.]hh:mm:ss[.fffffff]`.
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$", re.ASCII)
# .NET writes "no date" as year 1; nothing real happened before Duplicati existed.
_EARLIEST_REAL_YEAR = 2000
MAX_MESSAGE_LENGTH = 255
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[\w-]*(?:pass|secret|token|key|auth|credential|sig)[\w-]*)=(?P<value>[^&\s\"']+)",
    re.IGNORECASE,
)


class BackupResult(StrEnum):
    """Outcome of a job's newest backup operation."""

    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    FATAL = "fatal"
    NEVER = "never"


class VerifyResult(StrEnum):
    """Outcome of a job's newest verification (Duplicati's ``Test`` operation)."""

    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    FATAL = "fatal"


class ServerState(StrEnum):
    """What the server's task runner is doing."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"


class TaskStatus(StrEnum):
    """State of a queued task; ``GONE`` when the server no longer knows it (restart, eviction)."""

    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupJob:
    """One backup job as the sensors see it. Target URLs and settings are never kept."""

    id: str
    name: str
    last_backup: datetime | None
    last_result: BackupResult
    last_error: str | None
    last_duration: float | None
    next_run: datetime | None
    source_size: int | None
    backup_size: int | None
    versions: int | None
    running: bool
    queued: bool = False
    # When the task of this job that runs now started (None when none runs).
    running_since: datetime | None = None
    # Median duration of its recent backup runs in seconds; None before the first one.
    typical_duration: float | None = None
    last_verified: datetime | None = None
    verify_result: VerifyResult | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicatiSnapshot:
    """Everything one poll learned: jobs keyed by backup ID, and the task runner's state."""

    jobs: dict[str, BackupJob]
    state: ServerState
    progress: float | None = None
    active_task_id: int | None = None
    active_backup_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInfo:
    """A task started through the API, as ``GET /api/v1/task/{id}`` describes it."""

    id: int
    status: TaskStatus
    started: datetime | None = None
    finished: datetime | None = None
    error_message: str | None = None

    @property
    def done(self) -> bool:
        """Whether the task will not change any more."""
        return self.status in {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.GONE}


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemInfo:
    """The parts of ``/api/v1/systeminfo`` worth showing on a device."""

    version: str | None
    version_name: str | None = None


def parse_metadata_date(value: Any) -> datetime | None:
    """Parse a metadata date such as ``20250105T030412Z``; year-1 placeholders become None."""
    if not isinstance(value, str):
        return None
    match = _METADATA_DATE.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    if year < _EARLIEST_REAL_YEAR:
        return None
    try:
        parsed = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    zone = match.group(7)
    if zone and zone != "Z":
        # Not written by current servers (always UTC), but K would carry it this way.
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        parsed -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return parsed


def parse_iso_date(value: Any) -> datetime | None:
    """Parse a System.Text.Json / Newtonsoft date; naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.year < _EARLIEST_REAL_YEAR:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_timespan(value: Any) -> float | None:
    """Parse a .NET TimeSpan such as ``00:04:12.3456789`` or ``1.02:03:04`` into seconds."""
    if not isinstance(value, str):
        return None
    match = _TIMESPAN.match(value.strip())
    if match is None:
        return None
    negative, days, hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or int(seconds) > 59 or int(hours) > 23:
        return None
    total = (
        int(days or 0) * 86400
        + int(hours) * 3600
        + int(minutes) * 60
        + int(seconds)
        + (int(fraction.ljust(7, "0")) / 10_000_000 if fraction else 0.0)
    )
    return -total if negative else float(total)


def parse_count(value: Any) -> int | None:
    """Parse a metadata number (``long.ToString()``); negative values mean "not known"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip(), re.ASCII):
        number = int(value)
    else:
        return None
    return number if number >= 0 else None


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Shorten a server message and mask what could be a credential in it.

    Backend errors often quote the target URL, which may carry a user, password or API key.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_PARAMETER.sub(r"\g<name>=***", text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[: MAX_MESSAGE_LENGTH - 1] + "…"
    return text
