"""Coordinator of the duplicati kind: one Duplicati server, its backup jobs as subjects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import ipaddress
from typing import Final

from homeassistant.const import (
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_VERIFY_SSL,
    EVENT_HOMEASSISTANT_STOP,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
from yarl import URL

from ..const import (
    CONF_AUTH_METHOD,
    CONF_MAX_AGE_HOURS,
    CONF_SIGNIN_STATE,
    DEFAULT_MAX_AGE_HOURS,
    DOMAIN,
    LOGGER,
)
from ..coordinator import SentinelConfigEntry, SentinelCoordinator
from ..input_rules import validate_host
from ..repairs_support import WantedIssue, async_sync_issues
from .auth import AuthMethod, SigninState
from .client import DuplicatiClient
from .entities import DUPLICATI_DESCRIPTIONS
from .exceptions import (
    DuplicatiAuthError,
    DuplicatiConnectionError,
    DuplicatiError,
    DuplicatiHostnameError,
    DuplicatiNotFoundError,
)
from .models import BackupJob, BackupResult, ServerState

# Seconds a request to Duplicati may take.
REQUEST_TIMEOUT: Final = 10.0
# What a repair issue's fix flow does; read by repairs.py.
FIX_START_BACKUP: Final = "start_backup"
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})
_FAILED: Final = frozenset({BackupResult.ERROR, BackupResult.FATAL})
# A scheduled start this long in the past, with nothing running or queued, was missed.
MISSED_SCHEDULE_AFTER: Final = timedelta(hours=1)
# A run is hung when it lasts this many times its usual duration, and at least HUNG_MINIMUM.
HUNG_FACTOR: Final = 4
HUNG_MINIMUM: Final = timedelta(hours=1)


class ProblemReason(StrEnum):
    """Why a job is a problem, in the order in which they are reported."""

    FAILED = "failed"
    HUNG = "hung"
    MISSED_SCHEDULE = "missed_schedule"
    OVERDUE = "overdue"


def normalize_url(text: str) -> str:
    """The server's URL as requests use it and as the entry's unique_id.

    ``nas.lan:8200`` is taken as ``http://nas.lan:8200``; scheme and host are lower-cased, the
    default port, a trailing slash, the query and the fragment are dropped. Raises ValueError
    for anything that is not an http(s) URL of a host, or that carries credentials.
    """
    text = text.strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        url = URL(text)
    except ValueError as err:
        raise ValueError("not a URL") from err
    if not url.absolute or url.scheme not in {"http", "https"} or not url.host:
        raise ValueError("not an http(s) URL of a host")
    if url.user is not None or url.password is not None:
        raise ValueError("credentials in the URL")
    validate_host(url.host)
    return str(url.with_query(None).with_fragment(None).with_path(url.path.rstrip("/")))


def server_title(url: str) -> str:
    """The entry's title: ``Duplicati nas.lan:8200``."""
    parsed = URL(url)
    return f"Duplicati {parsed.raw_authority}{parsed.path.rstrip('/')}"


def is_plain_http_to_remote(url: str) -> bool:
    """Whether passwords and tokens would cross the network unencrypted."""
    parsed = URL(url)
    if parsed.scheme != "http":
        return False
    host = (parsed.host or "").lower()
    if host in _LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def create_client(
    hass: HomeAssistant,
    url: str,
    *,
    verify_ssl: bool,
    auth_method: AuthMethod,
    secret: str | None = None,
    signin_state: SigninState | None = None,
    on_signin_state: Callable[[SigninState], None] | None = None,
) -> DuplicatiClient:
    """A client on Home Assistant's shared HTTP session.

    Raises DuplicatiAuthError (or its DuplicatiInvalidTokenError) for a token of the wrong shape.
    """
    return DuplicatiClient(
        url,
        async_get_clientsession(hass, verify_ssl=verify_ssl),
        auth_method=auth_method,
        secret=secret,
        signin_state=signin_state,
        on_signin_state=on_signin_state,
        request_timeout=REQUEST_TIMEOUT,
    )


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One backup job as entities show it, judged by the clock of the poll."""

    job: BackupJob
    overdue: bool
    hung: bool = False
    missed_schedule: bool = False

    @property
    def failed(self) -> bool:
        """Whether the newest backup ended with errors or threw."""
        return self.job.last_result in _FAILED

    @property
    def reason(self) -> ProblemReason | None:
        """The first problem that applies, None when there is none."""
        if self.failed:
            return ProblemReason.FAILED
        if self.hung:
            return ProblemReason.HUNG
        if self.missed_schedule:
            return ProblemReason.MISSED_SCHEDULE
        if self.overdue:
            return ProblemReason.OVERDUE
        return None

    @property
    def problem(self) -> bool:
        """Failed, hung, a missed schedule, or no successful backup within the allowed age."""
        return self.reason is not None


def is_hung(job: BackupJob, now: datetime) -> bool:
    """Whether the job's running task lasts far longer than its backups usually do.

    Never for a job without a recorded run: its first backup may take long.
    """
    if job.running_since is None or job.typical_duration is None:
        return False
    limit = max(timedelta(seconds=HUNG_FACTOR * job.typical_duration), HUNG_MINIMUM)
    return now - job.running_since > limit


def missed_schedule(job: BackupJob, now: datetime) -> bool:
    """Whether the scheduler's next start passed long ago and nothing of the job runs or waits."""
    return (
        job.next_run is not None
        and now - job.next_run > MISSED_SCHEDULE_AFTER
        and not job.running
        and not job.queued
    )


@dataclass(frozen=True, slots=True)
class DuplicatiData:
    """What one poll of a Duplicati server found; jobs by backup ID."""

    subjects: Mapping[str, JobStatus]
    state: ServerState
    progress: float | None


class DuplicatiCoordinator(SentinelCoordinator[DuplicatiData]):
    """Polls one Duplicati server; starts backups and follows them to their end."""

    descriptions = DUPLICATI_DESCRIPTIONS
    device_model = "Duplicati server"
    subject_model = "Backup job"
    # How often a started task is looked at, and for how long at most.
    task_poll_interval: float = 5.0
    task_max_wait: float = 24 * 3600.0
    client: DuplicatiClient

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Read the entry's options; the client is made in _async_setup."""
        super().__init__(hass, entry)
        # A poll that changed nothing writes no states: 50 jobs are 500 entities.
        self.always_update = False
        self.max_age = timedelta(hours=entry.options.get(CONF_MAX_AGE_HOURS, DEFAULT_MAX_AGE_HOURS))
        self.url: str = entry.data[CONF_URL]
        self.version: str | None = None
        self._closed = False
        self._followed: set[int] = set()

    @property
    def entry_device(self) -> DeviceInfo:
        """The server's device, with its version and a link to its web UI."""
        device = super().entry_device
        device["sw_version"] = self.version
        device["configuration_url"] = self.url
        return device

    def subject_name(self, subject: str) -> str:
        """A job's device is named after the job, not its ID."""
        status = self.data.subjects.get(subject) if self.data else None
        return status.job.name if status else subject

    async def _async_setup(self) -> None:
        data = self.config_entry.data
        method = AuthMethod(data[CONF_AUTH_METHOD])
        try:
            if method is AuthMethod.SIGNIN_TOKEN:
                self.client = create_client(
                    self.hass,
                    self.url,
                    verify_ssl=data.get(CONF_VERIFY_SSL, True),
                    auth_method=method,
                    signin_state=SigninState.from_dict(data.get(CONF_SIGNIN_STATE) or {}),
                    on_signin_state=self._store_signin_state,
                )
            else:
                self.client = create_client(
                    self.hass,
                    self.url,
                    verify_ssl=data.get(CONF_VERIFY_SSL, True),
                    auth_method=method,
                    secret=data[CONF_PASSWORD if method is AuthMethod.PASSWORD else CONF_TOKEN],
                )
        except DuplicatiAuthError as err:
            raise self._failure(err) from err
        self.config_entry.async_on_unload(self.async_close)
        # Home Assistant stops without unloading entries: log out then as well.
        self.config_entry.async_on_unload(
            self.hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_stop)
        )
        try:
            self.version = (await self.client.get_system_info()).version
        except DuplicatiError as err:
            raise self._failure(err) from err

    def _store_signin_state(self, state: SigninState) -> None:
        """Persist the rotated refresh token at once: the previous one is now worthless."""
        if self._closed:
            return
        self.hass.config_entries.async_update_entry(
            self.config_entry,
            data={**self.config_entry.data, CONF_SIGNIN_STATE: state.as_dict()},
        )

    async def _async_stop(self, event: Event) -> None:
        await self.async_close()

    async def async_close(self) -> None:
        """End the server-side session (a password login's token family) once."""
        if self._closed:
            return
        self._closed = True
        await self.client.close()

    def _failure(self, err: DuplicatiError) -> HomeAssistantError:
        """The Home Assistant error for a failed poll; auth failures start a reauth."""
        placeholders = {"server": self.config_entry.title}
        if isinstance(err, DuplicatiAuthError):
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="duplicati_auth_failed",
                translation_placeholders=placeholders,
            )
        if isinstance(err, DuplicatiHostnameError):
            key = "duplicati_hostname_not_allowed"
        elif isinstance(err, DuplicatiConnectionError):
            key = "duplicati_cannot_connect"
        else:
            key = "duplicati_bad_response"
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders,
        )

    async def _async_update_data(self) -> DuplicatiData:
        now = dt_util.utcnow()
        try:
            snapshot = await self.client.update(now)
        except DuplicatiError as err:
            raise self._failure(err) from err
        # Clock-based problems are judged afresh at every poll, even when nothing changed.
        data = DuplicatiData(
            subjects={
                backup_id: JobStatus(
                    job=job,
                    overdue=self._overdue(job, now),
                    hung=is_hung(job, now),
                    missed_schedule=missed_schedule(job, now),
                )
                for backup_id, job in snapshot.jobs.items()
            },
            state=snapshot.state,
            progress=snapshot.progress,
        )
        self._rename_devices(data)
        self._sync_repairs(data)
        return data

    def _overdue(self, job: BackupJob, now: datetime) -> bool:
        return job.last_backup is None or now - job.last_backup > self.max_age

    def _rename_devices(self, data: DuplicatiData) -> None:
        """Follow a job renamed on the server (unless the user named the device)."""
        # None before the first poll succeeded.
        before: DuplicatiData | None = self.data
        if before is None:
            return
        registry = dr.async_get(self.hass)
        for backup_id, status in data.subjects.items():
            previous = before.subjects.get(backup_id)
            if previous is None or previous.job.name == status.job.name:
                continue
            registry.async_get_or_create(
                config_entry_id=self.config_entry.entry_id,
                identifiers={(DOMAIN, f"{self.config_entry.entry_id}-{backup_id}")},
                name=status.job.name,
            )

    def _sync_repairs(self, data: DuplicatiData) -> None:
        server = self.config_entry.title
        wanted: dict[str, WantedIssue] = {}
        if is_plain_http_to_remote(self.url):
            wanted["duplicati_insecure_http"] = WantedIssue(
                "duplicati_insecure_http", {"server": server, "url": self.url}
            )
        for backup_id, status in data.subjects.items():
            job = status.job
            placeholders = {"name": job.name, "server": server}
            if status.hung and job.running_since is not None:
                # Raised even over a failure: the rerun that would fix it is stuck.
                wanted[f"duplicati_backup_{backup_id}"] = WantedIssue(
                    "duplicati_backup_hung",
                    placeholders
                    | {
                        "since": _local_time(job.running_since),
                        "typical": str(max(round((job.typical_duration or 0) / 60), 1)),
                    },
                )
                continue
            # A running job is being fixed; its outcome decides at the next poll.
            if not status.problem or job.running:
                continue
            if status.reason is ProblemReason.MISSED_SCHEDULE and job.next_run is not None:
                # Running the job by hand does not move the scheduler's next start.
                wanted[f"duplicati_backup_{backup_id}"] = WantedIssue(
                    "duplicati_backup_missed_schedule",
                    placeholders | {"scheduled": _local_time(job.next_run)},
                )
                continue
            if status.failed:
                key = "duplicati_backup_failed"
                placeholders |= {
                    "result": job.last_result.value,
                    "error": job.last_error or "-",
                }
            elif job.last_backup is None:
                key = "duplicati_backup_never_ran"
            else:
                key = "duplicati_backup_overdue"
                placeholders |= {
                    "hours": str(int(self.max_age.total_seconds() // 3600)),
                    "last": _local_time(job.last_backup),
                }
            wanted[f"duplicati_backup_{backup_id}"] = WantedIssue(
                key,
                placeholders,
                fixable=True,
                data={"fix_flow": FIX_START_BACKUP, "backup_id": backup_id},
            )
        async_sync_issues(self.hass, self.config_entry, wanted)

    async def async_start_backup(self, backup_id: str, *, skip_queue: bool = False) -> int:
        """Queue a backup of a job, follow it in the background, return its task ID."""
        return await self._async_start_task(
            backup_id,
            lambda: self.client.start_backup(backup_id, skip_queue=skip_queue),
            "duplicati_start_failed",
        )

    async def async_verify_backup(self, backup_id: str) -> int:
        """Queue a verification of a job's remote files, follow it, return its task ID."""
        return await self._async_start_task(
            backup_id, lambda: self.client.start_verify(backup_id), "duplicati_verify_failed"
        )

    async def _async_start_task(
        self, backup_id: str, start: Callable[[], Awaitable[int]], failure_key: str
    ) -> int:
        """Start a task of a job with translated errors; follow it until it ends."""
        placeholders = {"name": self.subject_name(backup_id), "server": self.config_entry.title}
        try:
            task_id = await start()
        except DuplicatiNotFoundError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="duplicati_backup_not_found",
                translation_placeholders=placeholders,
            ) from err
        except DuplicatiAuthError as err:
            self.config_entry.async_start_reauth(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="duplicati_auth_failed",
                translation_placeholders={"server": self.config_entry.title},
            ) from err
        except DuplicatiError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=failure_key,
                translation_placeholders=placeholders,
            ) from err
        LOGGER.debug("Started a task of Duplicati backup %s: %s", backup_id, task_id)
        # A job already queued or running answers with its task, which may be followed already.
        if task_id not in self._followed:
            self._followed.add(task_id)
            self.config_entry.async_create_background_task(
                self.hass,
                self._async_follow_task(task_id),
                name=f"{DOMAIN} Duplicati task {task_id}",
            )
        return task_id

    async def _async_follow_task(self, task_id: int) -> None:
        """Show the job running now, and its result as soon as the task ends."""
        await self.async_request_refresh()
        try:
            info = await self.client.wait_for_task(
                task_id, max_wait=self.task_max_wait, interval=self.task_poll_interval
            )
        except DuplicatiError as err:
            LOGGER.debug("Lost track of Duplicati task %s: %s", task_id, err)
        else:
            LOGGER.debug("Duplicati task %s is %s", task_id, info.status)
        finally:
            self._followed.discard(task_id)
        await self.async_refresh()


def _local_time(value: datetime) -> str:
    """A time as repair texts show it, in Home Assistant's time zone."""
    return dt_util.as_local(value).strftime("%Y-%m-%d %H:%M")
