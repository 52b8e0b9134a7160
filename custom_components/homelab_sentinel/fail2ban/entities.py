"""What the fail2ban kind shows: a device per jail, and the sum of bans on the entry's device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import Platform

from ..event import SentinelEventDescription
from ..sensor import SentinelSensorDescription
from .client import NEWEST_BANS, BanEventKind

if TYPE_CHECKING:
    from .coordinator import Fail2banData, JailView

# Attributes are stored with every state change; a jail under attack may hold thousands of bans.
MAX_LISTED_IPS = NEWEST_BANS


def _banned_ips(jail: JailView) -> dict[str, Any]:
    return {"banned_ips": [ban.ip for ban in jail.status.newest_bans[:MAX_LISTED_IPS]]}


def _last_ban_time(jail: JailView) -> dict[str, Any]:
    last = jail.status.last_ban
    return {"banned_at": last.banned_at.isoformat() if last else None}


def _ban_events(jail: JailView) -> list[tuple[str, dict[str, Any]]]:
    return [(event.kind.value, {"ip": event.ip, "jail": event.jail}) for event in jail.events]


def _banned_now(data: Fail2banData) -> int:
    return data.banned_now


FAIL2BAN_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="current_bans",
            translation_key="current_bans",
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda jail: jail.status.banned,
            attributes_fn=_banned_ips,
        ),
        SentinelSensorDescription(
            key="total_bans",
            translation_key="total_bans",
            state_class=SensorStateClass.TOTAL_INCREASING,
            value_fn=lambda jail: jail.status.total_bans,
        ),
        SentinelSensorDescription(
            key="last_ban",
            translation_key="last_ban",
            value_fn=lambda jail: jail.status.last_ban.ip if jail.status.last_ban else None,
            attributes_fn=_last_ban_time,
        ),
        SentinelSensorDescription(
            key="banned_now",
            translation_key="banned_now",
            state_class=SensorStateClass.MEASUREMENT,
            per_subject=False,
            value_fn=_banned_now,
        ),
    ),
    Platform.EVENT: (
        SentinelEventDescription(
            key="ban",
            translation_key="ban",
            event_types=[kind.value for kind in BanEventKind],
            events_fn=_ban_events,
        ),
    ),
}
