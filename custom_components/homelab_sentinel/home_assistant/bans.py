"""Home Assistant's own bans: its ip_bans.yaml, read strictly, and which bans are new."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

import yaml

from ..user_files import UserFileError, UserFileNotFoundError, read_user_file
from .secrets_scan import SAFE_LOADER

# Home Assistant appends about 60 bytes per ban; this is room for tens of thousands.
MAX_BANS_FILE_BYTES = 4 << 20


class BansFileError(Exception):
    """ip_bans.yaml cannot be read or is not what Home Assistant writes."""


@dataclass(frozen=True, slots=True)
class Ban:
    """One banned address, and when Home Assistant banned it (None when the file omits it)."""

    ip: str
    banned_at: datetime | None


def _banned_at(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse_bans(content: bytes) -> list[Ban]:
    """The bans in an ip_bans.yaml, newest first; entries Home Assistant would skip are skipped."""
    try:
        document = yaml.load(content, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise BansFileError(str(getattr(err, "problem", None) or "not YAML")) from err
    if document is None:
        return []
    if not isinstance(document, dict):
        raise BansFileError("not a mapping of addresses")
    bans: dict[str, Ban] = {}
    for key, info in document.items():
        try:
            address = ip_address(str(key))
        except ValueError:
            continue
        banned_at = _banned_at(info.get("banned_at")) if isinstance(info, dict) else None
        bans[str(address)] = Ban(str(address), banned_at)
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(bans.values(), key=lambda ban: ban.banned_at or oldest, reverse=True)


def read_bans(path: Path) -> list[Ban]:
    """Read and parse ip_bans.yaml (blocking); a missing file holds no bans."""
    try:
        content = read_user_file(path, MAX_BANS_FILE_BYTES)
    except UserFileNotFoundError:
        return []
    except UserFileError as err:
        raise BansFileError(str(err)) from err
    return parse_bans(content)


class BanTracker:
    """Tells which banned addresses are new since the last look, remembered across restarts.

    Before its first look it knows nothing, and the bans found then are not new: an entry added
    today does not report yesterday's bans.
    """

    def __init__(self, seen: Iterable[str] | None = None) -> None:
        """Start from the addresses seen before, or from nothing at all."""
        self._seen: frozenset[str] | None = frozenset(seen) if seen is not None else None

    @property
    def seen(self) -> frozenset[str]:
        """The addresses banned at the last look."""
        return self._seen or frozenset()

    def update(self, bans: Iterable[Ban]) -> tuple[list[Ban], bool]:
        """The bans that are new, oldest first, and whether what is remembered changed."""
        current: Mapping[str, Ban] = {ban.ip: ban for ban in bans}
        previous = self._seen
        changed = previous != frozenset(current)
        self._seen = frozenset(current)
        if previous is None:
            return [], True
        oldest = datetime.min.replace(tzinfo=UTC)
        new = [ban for ip, ban in current.items() if ip not in previous]
        return sorted(new, key=lambda ban: ban.banned_at or oldest), changed
