"""Coordinator of the heartbeat kind: pushed to by its webhook, judged by the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import Any, Final

from aiohttp.hdrs import METH_GET, METH_POST, METH_PUT
from aiohttp.web import Request, Response
from aiohttp.web_protocol import RequestPayloadError
from homeassistant.components import webhook
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME, CONF_WEBHOOK_ID
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_ALLOW_INTERNET,
    CONF_GRACE_MINUTES,
    CONF_PERIOD_HOURS,
    DEFAULT_GRACE_MINUTES,
    DEFAULT_PERIOD_HOURS,
    DOMAIN,
    LOGGER,
)
from ..coordinator import SentinelConfigEntry, SentinelCoordinator
from ..repairs_support import WantedIssue, async_sync_issues
from .entities import HEARTBEAT_DESCRIPTIONS, LAST_RESULTS
from .protocol import Outcome, Ping, PingError, Source, parse_ping, read_capped

_STORE_VERSION: Final = 1
ALLOWED_METHODS: Final = (METH_POST, METH_PUT, METH_GET)


class Reason(StrEnum):
    """Why a heartbeat is a problem; the ``reason`` attribute of ``heartbeat_problem``."""

    FAILED = "failed"
    OVERDUE = "overdue"
    HUNG = "hung"


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A ``run`` event: the job started or ended."""

    event_type: str
    duration: float | None
    exit_code: int | None
    source: str
    name: str | None


@dataclass(frozen=True, slots=True)
class HeartbeatState:
    """What the job reported, as kept across restarts."""

    last_ping: datetime | None = None
    last_success: datetime | None = None
    last_result: str = "never"
    last_duration: float | None = None
    # When the run that has not ended yet started.
    started: datetime | None = None

    def as_stored(self) -> dict[str, Any]:
        """The JSON the Store keeps."""
        return {
            "last_ping": _iso(self.last_ping),
            "last_success": _iso(self.last_success),
            "last_result": self.last_result,
            "last_duration": self.last_duration,
            "started": _iso(self.started),
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> HeartbeatState:
        """The state a Store kept; a value edited into something else is forgotten, not fatal."""
        result = stored.get("last_result")
        duration = stored.get("last_duration")
        return cls(
            last_ping=_moment(stored.get("last_ping")),
            last_success=_moment(stored.get("last_success")),
            last_result=result if result in LAST_RESULTS else "never",
            last_duration=(
                float(duration)
                if isinstance(duration, int | float) and not isinstance(duration, bool)
                else None
            ),
            started=_moment(stored.get("started")),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Only times this coordinator wrote, which are aware, can be compared with the clock.
    return moment if moment.tzinfo else None


@dataclass(frozen=True, slots=True)
class HeartbeatData:
    """What the entities show: the state, judged at one moment, and the events of a call."""

    state: HeartbeatState
    reason: Reason | None
    events: tuple[RunEvent, ...] = ()

    @property
    def subjects(self) -> Mapping[str, Any]:
        """A heartbeat watches one job, shown on the entry's own device."""
        return {}

    @property
    def problem(self) -> bool:
        """Failed, overdue or hung."""
        return self.reason is not None


def apply_ping(state: HeartbeatState, ping: Ping, now: datetime) -> tuple[HeartbeatState, RunEvent]:
    """The state after a call, and the event it fires."""
    if ping.outcome is Outcome.STARTED:
        new = replace(state, last_ping=now, last_result=Outcome.STARTED.value, started=now)
        return new, RunEvent("started", None, None, ping.source.value, ping.name)
    duration: float | None = None
    if ping.began is not None and ping.ended is not None and ping.ended >= ping.began:
        duration = (ping.ended - ping.began).total_seconds()
    elif ping.source is Source.PING and state.started is not None:
        duration = (now - state.started).total_seconds()
    succeeded = ping.outcome is not Outcome.FAILED
    new = replace(
        state,
        last_ping=now,
        last_success=now if succeeded else state.last_success,
        last_result=ping.outcome.value,
        last_duration=duration,
        started=None,
    )
    event = RunEvent(
        "succeeded" if succeeded else "failed",
        duration,
        ping.exit_code,
        ping.source.value,
        ping.name,
    )
    return new, event


@dataclass(frozen=True, slots=True)
class Schedule:
    """How often the job must succeed: ``period``, plus ``grace`` before it counts as late."""

    period: timedelta
    grace: timedelta
    # Until the first success, lateness is counted from the entry's creation.
    created: datetime

    def overdue_at(self, state: HeartbeatState) -> datetime:
        """When the job is late if nothing succeeds before."""
        return (state.last_success or self.created) + self.period + self.grace

    def hung_at(self, state: HeartbeatState) -> datetime | None:
        """When the run that started and has not ended counts as hung."""
        return state.started + self.period if state.started else None

    def judge(self, state: HeartbeatState, now: datetime) -> Reason | None:
        """The reason the job is a problem at now, if it is: failed, then hung, then overdue."""
        if state.last_result == Outcome.FAILED:
            return Reason.FAILED
        hung_at = self.hung_at(state)
        if hung_at is not None and now >= hung_at:
            return Reason.HUNG
        if now >= self.overdue_at(state):
            return Reason.OVERDUE
        return None

    def next_change(self, state: HeartbeatState, now: datetime) -> datetime | None:
        """The next moment at which the judgement may change without a call."""
        moments = [self.overdue_at(state), self.hung_at(state)]
        upcoming = [moment for moment in moments if moment is not None and moment > now]
        return min(upcoming, default=None)


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, _STORE_VERSION, f"{DOMAIN}.heartbeat.{entry_id}")


async def async_remove_store(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Forget what a deleted heartbeat entry recorded."""
    await _store(hass, entry.entry_id).async_remove()


def entry_setting(entry: ConfigEntry, key: str, default: Any) -> Any:
    """An option, else what the flow set, else the default."""
    return entry.options.get(key, entry.data.get(key, default))


class HeartbeatCoordinator(SentinelCoordinator[HeartbeatData]):
    """Records the calls of one job's webhook, and notices when the job goes quiet.

    The webhook id is a secret: it is never logged, and never part of the data entities or
    diagnostics see.
    """

    descriptions = HEARTBEAT_DESCRIPTIONS
    device_model = "Heartbeat"
    polled = False

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Read the settings; the webhook is registered by the first refresh."""
        super().__init__(hass, entry)
        self.schedule = Schedule(
            period=timedelta(hours=entry_setting(entry, CONF_PERIOD_HOURS, DEFAULT_PERIOD_HOURS)),
            grace=timedelta(
                minutes=entry_setting(entry, CONF_GRACE_MINUTES, DEFAULT_GRACE_MINUTES)
            ),
            created=entry.created_at,
        )
        self.allow_internet: bool = bool(entry.options.get(CONF_ALLOW_INTERNET, False))
        self._store = _store(hass, entry.entry_id)
        self._state = HeartbeatState()
        self._cancel_timer: CALLBACK_TYPE | None = None
        # A call still being read when the entry unloads records nothing.
        self._closed = False
        entry.async_on_unload(self._async_close)

    async def _async_setup(self) -> None:
        stored = await self._store.async_load()
        # A Store edited by hand loses only what it spoiled, even its whole shape.
        if isinstance(stored, dict):
            self._state = HeartbeatState.from_stored(stored)
        webhook_id: str = self.config_entry.data[CONF_WEBHOOK_ID]
        webhook.async_register(
            self.hass,
            DOMAIN,
            self.config_entry.data.get(CONF_NAME, self.config_entry.title),
            webhook_id,
            self._async_handle_webhook,
            local_only=not self.allow_internet,
            allowed_methods=ALLOWED_METHODS,
        )
        self.config_entry.async_on_unload(lambda: webhook.async_unregister(self.hass, webhook_id))

    async def _async_update_data(self) -> HeartbeatData:
        return self._judge()

    def _judge(self, events: tuple[RunEvent, ...] = ()) -> HeartbeatData:
        """The data at this moment, with the next judgement scheduled and repairs in step."""
        now = dt_util.utcnow()
        data = HeartbeatData(self._state, self.schedule.judge(self._state, now), events)
        self._async_cancel_timer()
        if (moment := self.schedule.next_change(self._state, now)) is not None:
            self._cancel_timer = async_track_point_in_utc_time(
                self.hass, self._async_clock_passed, moment
            )
        self._sync_repairs(data)
        return data

    @callback
    def _async_clock_passed(self, now: datetime) -> None:
        self._cancel_timer = None
        self.async_set_updated_data(self._judge())

    @callback
    def _async_close(self) -> None:
        self._closed = True
        self._async_cancel_timer()

    @callback
    def _async_cancel_timer(self) -> None:
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    async def _async_handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: Request
    ) -> Response:
        """Record one call; anything not understood answers 400 and changes nothing."""
        try:
            # The websocket command webhook/handle passes a MockRequest, which declares no length.
            declared: int | None = getattr(request, "content_length", None)
            body = await read_capped(request.content, declared)
            query = {key: request.query.getall(key) for key in request.query}
            ping = parse_ping(query, body)
        except PingError as err:
            LOGGER.info("Heartbeat %s refused a call: %s", self.config_entry.title, err)
            return Response(status=HTTPStatus.BAD_REQUEST, text=f"{err}\n")
        except (OSError, RequestPayloadError) as err:
            # The caller hung up or sent a broken body. Handled here: Home Assistant's webhook
            # component would log the error with the webhook ID, a secret.
            LOGGER.info("Heartbeat %s lost a call: %s", self.config_entry.title, err)
            return Response(status=HTTPStatus.BAD_REQUEST, text="incomplete request\n")
        if ping is None:
            return Response(status=HTTPStatus.OK, text="ignored: not a backup\n")
        if self._closed:
            return Response(status=HTTPStatus.SERVICE_UNAVAILABLE, text="not recorded\n")
        self._state, event = apply_ping(self._state, ping, dt_util.utcnow())
        try:
            await self._store.async_save(self._state.as_stored())
        except OSError:
            LOGGER.exception("Heartbeat %s could not store a call", self.config_entry.title)
        self.async_set_updated_data(self._judge((event,)))
        return Response(status=HTTPStatus.OK, text=f"{self._state.last_result}\n")

    def _sync_repairs(self, data: HeartbeatData) -> None:
        wanted: dict[str, WantedIssue] = {}
        if data.reason is not None:
            state = data.state
            placeholders = {
                "name": self.config_entry.title,
                "hours": _number(self.schedule.period.total_seconds() / 3600),
                "minutes": _number(self.schedule.grace.total_seconds() / 60),
                "last_success": _local(state.last_success),
                "last_ping": _local(state.last_ping),
                "started": _local(state.started),
            }
            wanted["heartbeat"] = WantedIssue(f"heartbeat_{data.reason.value}", placeholders)
        async_sync_issues(self.hass, self.config_entry, wanted)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _local(moment: datetime | None) -> str:
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"
