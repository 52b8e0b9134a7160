"""Async client for one Duplicati server: poll backup jobs, start backups, follow tasks.

A steady-state poll costs two requests whatever the number of jobs: ``/api/v1/backups`` and
``/api/v1/serverstate``. A job's ``/log`` is read only after its last backup (or last failure)
changed, after a task of it ended, or — one job per poll — when it was last read an hour ago (a
verification between two polls changes nothing else). ``/api/v1/progressstate`` is read only
while a task runs, ``/api/v1/task/{id}`` once per task that starts (to know since when it runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import logging
import re
import statistics
from typing import Any, Final, TypeGuard

import aiohttp
from yarl import URL

from ..capped_read import InvalidJSONError, parse_json
from .auth import AuthMethod, SigninState, SigninTokenAuth, create_authenticator, looks_legacy
from .exceptions import (
    DuplicatiAuthError,
    DuplicatiError,
    DuplicatiNotFoundError,
    DuplicatiResponseError,
)
from .models import (
    BackupJob,
    BackupResult,
    DuplicatiSnapshot,
    ServerState,
    SystemInfo,
    TaskInfo,
    TaskStatus,
    VerifyResult,
    parse_count,
    parse_iso_date,
    parse_metadata_date,
    parse_timespan,
    redact,
)
from .transport import Reply, Transport

_LOGGER = logging.getLogger(__package__)

DEFAULT_TIMEOUT: Final = 10.0
# Enough for the newest backup among verify/compact/repair runs of the same job.
_LOG_PAGE_SIZE: Final = "10"
# One renewal for an expired or revoked token, one more for a 2.0.x server that first
# replaces a lost XSRF token and then asks for a new login.
_ATTEMPTS: Final = 3
_BACKUP_ID: Final = re.compile(r"^[A-Za-z0-9-]+$")
_RESULTS: Final = {
    "success": BackupResult.SUCCESS,
    "warning": BackupResult.WARNING,
    "error": BackupResult.ERROR,
    "fatal": BackupResult.FATAL,
}
_TASK_STATUS: Final = {
    "waiting": TaskStatus.WAITING,
    "running": TaskStatus.RUNNING,
    "completed": TaskStatus.COMPLETED,
    "failed": TaskStatus.FAILED,
}
# "2025-01-05 03:04:12 +01 - [Error-Duplicati.Library.Main.Operation.BackupHandler-Id]: text"
_LOG_LINE_PREFIX: Final = re.compile(r"^\d{4}-\d{2}-\d{2} [\d:]+ [+-]\d+ - \[[^\]]*\]:\s*")
# Result messages of 2.0.x before JSON serialisation were "Key: value" lines.
_TEXT_FIELD: Final = re.compile(
    r"^(MainOperation|ParsedResult|Duration):\s*([\w.:]+)\s*$", re.MULTILINE
)
_VERIFY_RESULTS: Final = {result.value: result for result in VerifyResult}
# A job whose log nothing points at is read again after this long (one job per poll).
LOG_MAX_AGE: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class _LogFacts:
    """What a job's log tells: its newest backup's result, run times and verification."""

    result: BackupResult
    error: str | None = None
    typical_duration: float | None = None
    last_verified: datetime | None = None
    verify_result: VerifyResult | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A job's log facts, remembered with the metadata that produced them and when."""

    fingerprint: tuple[str | None, str | None]
    facts: _LogFacts
    read_at: datetime


@dataclass(frozen=True, slots=True)
class _RawJob:
    """One entry of ``/api/v1/backups``, with the target URL kept only to redact messages."""

    id: str
    name: str
    metadata: dict[str, str]
    target_url: str | None

    @classmethod
    def parse(cls, item: Any) -> _RawJob | None:
        backup = item.get("Backup") if isinstance(item, dict) else None
        if not isinstance(backup, dict) or backup.get("IsTemporary") is True:
            return None
        backup_id = backup.get("ID")
        if not isinstance(backup_id, str) or not _BACKUP_ID.match(backup_id):
            return None
        name = backup.get("Name")
        metadata = backup.get("Metadata")
        target = backup.get("TargetURL")
        return cls(
            id=backup_id,
            name=name if isinstance(name, str) and name else backup_id,
            metadata={
                key: value
                for key, value in (metadata.items() if isinstance(metadata, dict) else ())
                if isinstance(key, str) and isinstance(value, str)
            },
            target_url=target if isinstance(target, str) and target else None,
        )

    @property
    def fingerprint(self) -> tuple[str | None, str | None]:
        # A backup that throws updates LastErrorDate but not LastBackupFinished.
        return self.metadata.get("LastBackupFinished"), self.metadata.get("LastErrorDate")

    def redact(self, text: str) -> str:
        return redact(text, (self.target_url,) if self.target_url else ())


class DuplicatiClient:
    """Talk to one Duplicati server through Home Assistant's (or any) aiohttp session.

    ``secret`` is the password, the sign-in link or token, the pre-auth token or the forever
    token, depending on ``auth_method``. A sign-in-token client is restored after a restart from
    ``signin_state`` instead; ``on_signin_state`` is called with every new state to persist.
    """

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        auth_method: AuthMethod | str,
        secret: str | None = None,
        signin_state: SigninState | None = None,
        on_signin_state: Callable[[SigninState], None] | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Check the URL and credentials' shape; nothing is sent yet."""
        base = URL(url.strip())
        if not base.absolute or base.scheme not in {"http", "https"} or not base.host:
            raise ValueError("The Duplicati URL must look like http://host:8200")
        if base.user is not None or base.password is not None:
            # They would end up in aiohttp's error messages; Duplicati does not use them.
            raise ValueError("The Duplicati URL must not contain credentials")
        base = base.with_query(None).with_fragment(None).with_path(base.path.rstrip("/"))
        self._transport = Transport(session, base, request_timeout)
        self._auth = create_authenticator(auth_method, secret, signin_state, on_signin_state)
        self._outcomes: dict[str, _Outcome] = {}
        # Jobs whose log must be read once they are idle: a task of theirs ended or was started.
        self._pending: set[str] = set()
        # Jobs running or queued at the previous poll.
        self._busy: frozenset[str] = frozenset()
        # The running task (its ID and job) and since when it runs.
        self._active_since: tuple[tuple[int, str], datetime] | None = None

    @property
    def url(self) -> str:
        """The server's base URL as used for requests."""
        return str(self._transport.base_url)

    @property
    def legacy(self) -> bool:
        """Whether the server turned out to be a 2.0.x one (known after the first call)."""
        return self._auth.legacy

    @property
    def signin_state(self) -> SigninState | None:
        """For the sign-in-token method: the current refresh cookie and nonce to persist."""
        return self._auth.state if isinstance(self._auth, SigninTokenAuth) else None

    async def get_system_info(self) -> SystemInfo:
        """Read the server version; also a cheap way to validate URL and credentials."""
        data = await self._get_json("/api/v1/systeminfo")
        if not isinstance(data, dict):
            raise DuplicatiResponseError("Unexpected system information from Duplicati")
        version = data.get("ServerVersion")
        version_name = data.get("ServerVersionName")
        return SystemInfo(
            version=version if isinstance(version, str) else None,
            version_name=version_name if isinstance(version_name, str) else None,
        )

    async def update(self, now: datetime | None = None) -> DuplicatiSnapshot:
        """Poll all backup jobs and the task runner; ``now`` decides which logs are stale."""
        now = now or datetime.now(UTC)
        backups = await self._get_json("/api/v1/backups")
        status = await self._get_json("/api/v1/serverstate")
        if not isinstance(backups, list) or not isinstance(status, dict):
            raise DuplicatiResponseError("Unexpected backup list or server state from Duplicati")

        task_id, active_backup = _active_task(status.get("ActiveTask"))
        queued = _queued_backups(status.get("SchedulerQueueIds"))
        next_runs = _proposed_schedule(status.get("ProposedSchedule"))
        busy = queued | {active_backup} if active_backup else queued
        # A task that ended between two polls wrote its result into the job's log.
        self._pending |= self._busy - busy
        self._busy = frozenset(busy)
        raws = [raw for item in backups if (raw := _RawJob.parse(item)) is not None]
        hourly = self._hourly_reread(raws, busy, now)
        running_since = None
        if task_id is not None and active_backup is not None:
            running_since = await self._running_since((task_id, active_backup), now)
        else:
            # Task IDs start again at 2 when the server restarts: forget the ended task.
            self._active_since = None
        jobs: dict[str, BackupJob] = {}
        for raw in raws:
            facts = await self._job_facts(raw, busy, now, reread=raw.id == hourly)
            metadata = raw.metadata
            jobs[raw.id] = BackupJob(
                id=raw.id,
                name=raw.name,
                last_backup=parse_metadata_date(metadata.get("LastBackupFinished")),
                last_result=facts.result,
                last_error=facts.error,
                last_duration=parse_timespan(metadata.get("LastBackupDuration")),
                next_run=next_runs.get(raw.id),
                source_size=parse_count(metadata.get("SourceFilesSize")),
                backup_size=parse_count(metadata.get("TargetFilesSize")),
                versions=parse_count(metadata.get("BackupListCount")),
                running=raw.id == active_backup,
                queued=raw.id in queued,
                running_since=running_since if raw.id == active_backup else None,
                typical_duration=facts.typical_duration,
                last_verified=facts.last_verified,
                verify_result=facts.verify_result,
            )
        for removed in self._outcomes.keys() - jobs.keys():
            del self._outcomes[removed]
        self._pending &= jobs.keys()

        if status.get("ProgramState") == "Paused":
            state = ServerState.PAUSED
        elif task_id is not None:
            state = ServerState.RUNNING
        else:
            state = ServerState.IDLE
        return DuplicatiSnapshot(
            jobs=jobs,
            state=state,
            progress=await self._progress(task_id) if task_id is not None else None,
            active_task_id=task_id,
            active_backup_id=active_backup,
        )

    async def start_backup(self, backup_id: str, *, skip_queue: bool = False) -> int:
        """Queue a backup and return its task ID (that of the queued or running one if any).

        ``skip_queue`` puts it at the front of the queue (2.1.2+; 2.1.0.x always does).
        """
        self._check_backup_id(backup_id)
        reply = await self._call(
            "POST",
            f"/api/v1/backup/{backup_id}/run",
            params={"skipQueue": "true"} if skip_queue else None,
        )
        if reply.status == 404:
            raise DuplicatiNotFoundError(f"Duplicati has no backup with ID {backup_id}")
        if reply.status != 200:
            raise reply.unexpected()
        data = reply.json()
        if isinstance(data, dict) and _is_int(task_id := data.get("ID")):
            return int(task_id)
        # 2.0.x answers {"Status": "OK"} only; the task is in the queue or already running.
        status = await self._get_json("/api/v1/serverstate")
        if isinstance(status, dict):
            candidates = [status.get("ActiveTask")]
            queue = status.get("SchedulerQueueIds")
            candidates.extend(queue if isinstance(queue, list) else ())
            for candidate in candidates:
                task_id, task_backup = _active_task(candidate)
                if task_id is not None and task_backup == backup_id:
                    return task_id
        raise DuplicatiResponseError("Duplicati started the backup but did not tell its task ID")

    async def start_verify(self, backup_id: str) -> int:
        """Queue a verification of the job's remote files and return its task ID.

        Every server generation appends a new task and answers ``{"Status": "OK", "ID": n}``.
        """
        self._check_backup_id(backup_id)
        reply = await self._call("POST", f"/api/v1/backup/{backup_id}/verify")
        if reply.status == 404:
            raise DuplicatiNotFoundError(f"Duplicati has no backup with ID {backup_id}")
        if reply.status != 200:
            raise reply.unexpected()
        data = reply.json()
        if not isinstance(data, dict) or not _is_int(task_id := data.get("ID")):
            raise DuplicatiResponseError(
                "Duplicati started the verification but did not tell its ID"
            )
        # Its Test result lands in the log, which nothing else in the list announces.
        self._pending.add(backup_id)
        return int(task_id)

    async def get_task(self, task_id: int) -> TaskInfo:
        """Read a task's state; ``GONE`` when the server forgot it (restart or eviction)."""
        reply = await self._call("GET", f"/api/v1/task/{int(task_id)}")
        if reply.status == 404:
            return TaskInfo(id=task_id, status=TaskStatus.GONE)
        if reply.status != 200:
            raise reply.unexpected()
        data = reply.json()
        status = data.get("Status") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(status, str):
            raise DuplicatiResponseError("Unexpected task description from Duplicati")
        if (task_status := _TASK_STATUS.get(status.lower())) is None:
            raise DuplicatiResponseError("Unknown task status from Duplicati")
        error = data.get("ErrorMessage")
        return TaskInfo(
            id=task_id,
            status=task_status,
            started=parse_iso_date(data.get("TaskStarted")),
            finished=parse_iso_date(data.get("TaskFinished")),
            error_message=redact(error) if isinstance(error, str) and error else None,
        )

    async def wait_for_task(
        self, task_id: int, *, max_wait: float, interval: float = 2.0
    ) -> TaskInfo:
        """Poll a task until it ends or ``max_wait`` seconds pass; returns its last known state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            info = await self.get_task(task_id)
            if info.done or loop.time() + interval > deadline:
                return info
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Log a password session out (its token family would stay in Duplicati's database).

        Sign-in-token sessions are left alone: their persisted state must stay valid.
        """
        try:
            await self._auth.close(self._transport)
        except DuplicatiError as err:
            _LOGGER.debug("Logging out of Duplicati failed: %s", err)

    def _hourly_reread(self, raws: list[_RawJob], busy: set[str], now: datetime) -> str | None:
        """The one idle job whose log was read longest ago, if that is over an hour ago."""
        stale = [
            (known.read_at, raw.id)
            for raw in raws
            if raw.id not in busy
            and (known := self._outcomes.get(raw.id)) is not None
            and known.fingerprint != (None, None)
            and now - known.read_at >= LOG_MAX_AGE
        ]
        return min(stale)[1] if stale else None

    async def _running_since(self, task: tuple[int, str], now: datetime) -> datetime:
        """When the running task started: asked once per task (2.1.2+ tell), else first seen."""
        if self._active_since is None or self._active_since[0] != task:
            started: datetime | None = None
            if not self.legacy:
                try:
                    started = (await self.get_task(task[0])).started
                except DuplicatiResponseError:
                    started = None
            self._active_since = (task, min(started or now, now))
        return self._active_since[1]

    async def _job_facts(
        self, raw: _RawJob, busy: set[str], now: datetime, *, reread: bool
    ) -> _LogFacts:
        """The job's log facts, reading its log only when something says they changed."""
        known = self._outcomes.get(raw.id)
        fingerprint = raw.fingerprint
        if fingerprint == (None, None):
            self._pending.discard(raw.id)
            facts = _LogFacts(BackupResult.NEVER)
            self._outcomes[raw.id] = _Outcome(fingerprint, facts, now)
            return facts
        idle = raw.id not in busy
        if (
            known is not None
            and known.fingerprint == fingerprint
            and not reread
            and not (idle and raw.id in self._pending)
        ):
            return known.facts
        read = await self._read_log(raw)
        if read is None:
            # Unreadable now (e.g. locked by the running task): try again on the next poll.
            # Meanwhile the last run's duration tells how long a run may take (a hung run).
            return known.facts if known else _LogFacts(*_metadata_result(raw), _last_duration(raw))
        if idle:
            self._pending.discard(raw.id)
        if read.last_verified is None and known is not None and known.facts.last_verified:
            # The page read holds the last runs only; a verification older than them stays.
            read = replace(
                read,
                last_verified=known.facts.last_verified,
                verify_result=known.facts.verify_result,
            )
        self._outcomes[raw.id] = _Outcome(fingerprint, read, now)
        return read

    async def _read_log(self, raw: _RawJob) -> _LogFacts | None:
        """What the job's newest log rows tell, None if the log is unreadable now."""
        reply = await self._call(
            "GET", f"/api/v1/backup/{raw.id}/log", params={"pagesize": _LOG_PAGE_SIZE}
        )
        if reply.status == 400 and reply.help_id() == "DatabaseLocked":
            _LOGGER.debug("Log of Duplicati backup %s is locked by a running task", raw.id)
            return None
        if reply.status != 200:
            _LOGGER.debug(
                "Cannot read the log of Duplicati backup %s: HTTP %s", raw.id, reply.status
            )
            return None
        try:
            rows = reply.json()
        except DuplicatiResponseError:
            _LOGGER.debug("Malformed log of Duplicati backup %s", raw.id)
            return None
        newest: tuple[BackupResult, str | None] | None = None
        durations: list[float] = []
        verified: tuple[datetime, VerifyResult] | None = None
        for row in rows if isinstance(rows, list) else ():
            message = _result_message(row.get("Message") if isinstance(row, dict) else None)
            if message is None:
                continue
            parsed = message.get("ParsedResult")
            parsed = parsed.lower() if isinstance(parsed, str) else None
            operation = message.get("MainOperation")
            if operation == "Test" and verified is None:
                when = _row_time(row, message)
                if (verify_result := _VERIFY_RESULTS.get(parsed or "")) and when:
                    verified = (when, verify_result)
                continue
            if operation != "Backup" or (result := _RESULTS.get(parsed or "")) is None:
                continue
            # A run that threw stopped early; its length says nothing about a normal run.
            if result is not BackupResult.FATAL and (duration := _run_duration(message)):
                durations.append(duration)
            if newest is None:
                error = None
                if result in {BackupResult.ERROR, BackupResult.FATAL}:
                    error = _first_error(message, row, raw.metadata)
                newest = (result, raw.redact(error) if error else None)
        if not durations and (last := _last_duration(raw)):
            durations.append(last)
        return _LogFacts(
            *(newest or _metadata_result(raw)),
            typical_duration=statistics.median(durations) if durations else None,
            last_verified=verified[0] if verified else None,
            verify_result=verified[1] if verified else None,
        )

    async def _progress(self, task_id: int) -> float | None:
        """Progress of the running task in percent, if the server tells it."""
        reply = await self._call("GET", "/api/v1/progressstate")
        if reply.status != 200:
            # 404 "No active backup" until a task ran since the server started.
            return None
        try:
            data = reply.json()
        except DuplicatiResponseError:
            return None
        if not isinstance(data, dict):
            return None
        # The state of the previous task stays until the next one reports.
        reported = data.get("TaskID")
        if _is_int(reported) and reported != task_id:
            return None
        progress = data.get("OverallProgress")
        if not isinstance(progress, int | float) or isinstance(progress, bool):
            return None
        return round(min(max(float(progress), 0.0), 1.0) * 100, 1)

    async def _get_json(self, path: str) -> Any:
        reply = await self._call("GET", path)
        if reply.status != 200:
            raise reply.unexpected()
        return reply.json()

    async def _call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> Reply:
        """Send a protected call, renewing the credentials when the server rejects them."""
        for attempt in range(_ATTEMPTS):
            await self._auth.ensure(self._transport)
            generation = self._auth.generation
            headers, cookies = self._auth.credentials()
            reply = await self._transport.send(
                method, path, headers=headers, cookies=cookies, params=params
            )
            self._auth.observe(reply)
            if not _rejected(reply):
                return reply
            if looks_legacy(reply) and not self._auth.supports_legacy:
                raise DuplicatiAuthError("Duplicati 2.0.x accepts only the password sign-in")
            if attempt == _ATTEMPTS - 1 or not await self._auth.recover(
                self._transport, reply, generation
            ):
                break
        if reply.status != 401:
            raise reply.unexpected()
        raise DuplicatiAuthError(f"Duplicati rejected the credentials for {method} {path}")

    @staticmethod
    def _check_backup_id(backup_id: str) -> None:
        if not isinstance(backup_id, str) or not _BACKUP_ID.match(backup_id):
            raise DuplicatiNotFoundError("Not a Duplicati backup ID")


def _rejected(reply: Reply) -> bool:
    """Whether the server refused the credentials rather than the request.

    An expired token gets an empty 401; a token of a revoked family fails inside the JWT
    validation hook, which ends as an empty 500 (a handled server error has a JSON body).
    """
    if reply.status == 401:
        return True
    if reply.status == 500:
        return not reply.body.strip()
    return reply.status == 400 and looks_legacy(reply)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _active_task(value: Any) -> tuple[int | None, str | None]:
    """Task ID and backup ID of a ``{"Item1": 17, "Item2": "1"}`` tuple."""
    if not isinstance(value, dict) or not _is_int(task_id := value.get("Item1")):
        return None, None
    backup_id = value.get("Item2")
    return int(task_id), backup_id if isinstance(backup_id, str) and backup_id else None


def _queued_backups(value: Any) -> set[str]:
    """Backup IDs of the tasks waiting in ``SchedulerQueueIds``."""
    items = value if isinstance(value, list) else ()
    return {backup_id for item in items if (backup_id := _active_task(item)[1]) is not None}


def _row_time(row: dict[str, Any], message: dict[str, Any]) -> datetime | None:
    """When an operation ended: the row's epoch ``Timestamp``, else the result's ``EndTime``."""
    stamp = row.get("Timestamp")
    if _is_int(stamp) and stamp > 0:
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except OverflowError, OSError, ValueError:
            return None
    return parse_iso_date(message.get("EndTime"))


def _last_duration(raw: _RawJob) -> float | None:
    """How long the job's last backup took, from the metadata."""
    return parse_timespan(raw.metadata.get("LastBackupDuration"))


def _run_duration(message: dict[str, Any]) -> float | None:
    """Seconds an operation took: its ``Duration``, else from ``BeginTime`` to ``EndTime``."""
    duration = parse_timespan(message.get("Duration"))
    if duration is None:
        begin = parse_iso_date(message.get("BeginTime"))
        end = parse_iso_date(message.get("EndTime"))
        duration = (end - begin).total_seconds() if begin and end else None
    return duration if duration is not None and duration > 0 else None


def _proposed_schedule(value: Any) -> dict[str, datetime]:
    """Next run per backup ID from ``ProposedSchedule``, the scheduler's own plan."""
    next_runs: dict[str, datetime] = {}
    for item in value if isinstance(value, list) else ():
        if not isinstance(item, dict) or not isinstance(backup_id := item.get("Item1"), str):
            continue
        when = parse_iso_date(item.get("Item2"))
        if when is not None and (backup_id not in next_runs or when < next_runs[backup_id]):
            next_runs[backup_id] = when
    return next_runs


def _result_message(value: Any) -> dict[str, Any] | None:
    """The serialised operation results of a log row (JSON, or 2.0.x "Key: value" text)."""
    if not isinstance(value, str):
        return None
    try:
        data = parse_json(value)
    except InvalidJSONError:
        fields = dict(_TEXT_FIELD.findall(value))
        return fields if "MainOperation" in fields else None
    return data if isinstance(data, dict) else None


def _first_error(
    message: dict[str, Any], row: dict[str, Any], metadata: dict[str, str]
) -> str | None:
    """The most telling error text of a failed run."""
    errors = message.get("Errors")
    for error in errors if isinstance(errors, list) else ():
        if isinstance(error, str) and error.strip():
            return _LOG_LINE_PREFIX.sub("", error.strip()) or error
    exception = row.get("Exception")
    if isinstance(exception, str) and exception.strip():
        # The first line names the exception; the rest is a stack trace.
        return exception.strip().splitlines()[0]
    return metadata.get("LastErrorMessage") or None


def _metadata_result(raw: _RawJob) -> tuple[BackupResult, str | None]:
    """Best guess without a log: a failure newer than the last finished backup was fatal.

    Warnings and non-fatal errors are not visible in the metadata.
    """
    finished = parse_metadata_date(raw.metadata.get("LastBackupFinished"))
    failed = parse_metadata_date(raw.metadata.get("LastErrorDate"))
    if failed is not None and (finished is None or failed > finished):
        message = raw.metadata.get("LastErrorMessage")
        return BackupResult.FATAL, raw.redact(message) if message else None
    if finished is not None:
        return BackupResult.SUCCESS, None
    return BackupResult.NEVER, None
