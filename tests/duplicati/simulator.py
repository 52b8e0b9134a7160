"""A Duplicati server on 127.0.0.1, built from /work/shared/contracts/duplicati-api.md.

Profiles:

* ``2.3``: ASP.NET server of 2.3.1+: JWT access tokens, rotating refresh cookie with nonce and
  family re-use detection, sign-in/pre-auth/forever tokens, hostname filter, ``skipQueue``,
  ``HelpId`` errors and the ``DatabaseLocked`` answer of ``/log`` while the job runs.
* ``2.1.0``: first ASP.NET server: no refresh nonce, no pre-auth tokens, runs jump the queue.
* ``2.0.8``: legacy HttpServer: nonce + salted SHA-256 login, ``session-auth`` cookie, XSRF
  cookie/header pair, ``{"Status": "OK"}`` answers without task IDs.

The server clock can be moved forward with :meth:`DuplicatiSimulator.advance` so that tokens
expire and schedules come due without waiting; tasks last ``task_duration`` real seconds, or until
:meth:`DuplicatiSimulator.complete_task` when that is None or their job ``hangs``, and take their
times from the server clock.

Every profile has the scheduler (a job's schedule queues a backup when its time comes, then moves
to the next time after now; at start-up it catches up what it missed while the server was down),
unless ``scheduler_stuck`` is set; one FIFO task queue (``SchedulerQueueIds``); and the verify
operation (``POST /api/v1/backup/{id}/verify`` appends a task and answers its ID in every
generation, and writes a ``Test`` result into the job's log).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
import hashlib
import ipaddress
import itertools
import json
import re
import secrets
import ssl
import time
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

from aiohttp import web
import jwt

ISSUER = "https://duplicati"
ACCESS_TOKEN = "AccessToken"
REFRESH_TOKEN = "RefreshToken"
SIGNIN_TOKEN = "SigninToken"
TEMPORARY_FAMILY = "temporary"
LOCAL_HOSTNAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1", "localhost.localdomain"})
DATABASE_LOCKED = (
    "The backup database is currently in use by another operation and cannot be accessed "
    "concurrently. Please wait for the running operation to finish and try again."
)
# Runner.cs sets DateTime.Now on tasks: local time with an offset.
TASK_TIMEZONE = timezone(timedelta(hours=2))
RESULTS = ("Success", "Warning", "Error", "Fatal")
# Timeparser units of a schedule's Repeat, as far as fixed lengths go.
_REPEAT_UNITS = {"s": 1, "m": 60, "h": 3600, "D": 86400, "W": 7 * 86400}
_REPEAT = re.compile(r"^(\d+)([smhDW])$")


@dataclass(frozen=True, slots=True)
class Profile:
    """What differs between the server generations."""

    name: str
    version: str
    legacy: bool = False
    refresh_nonce: bool = True
    preauth: bool = True
    skip_queue: bool = True
    task_times: bool = True
    status_type: bool = True
    database_lock: bool = True
    help_id: bool = True
    backup_fields: bool = True


PROFILES = {
    "2.3": Profile("2.3", "2.3.1.0"),
    "2.1.0": Profile(
        "2.1.0",
        "2.1.0.5",
        refresh_nonce=False,
        preauth=False,
        skip_queue=False,
        task_times=False,
        status_type=False,
        database_lock=False,
        help_id=False,
        backup_fields=False,
    ),
    "2.0.8": Profile(
        "2.0.8",
        "2.0.8.1",
        legacy=True,
        refresh_nonce=False,
        preauth=False,
        skip_queue=False,
        task_times=False,
        status_type=False,
        database_lock=False,
        help_id=False,
        backup_fields=False,
    ),
}


class RecordedRequest(NamedTuple):
    """What the simulator received; the Authorization scheme only, never its value."""

    method: str
    path: str
    query: dict[str, str]
    auth_scheme: str | None


@dataclass(slots=True)
class SimSchedule:
    """A backup's schedule row."""

    id: int
    time: datetime
    repeat: str = "1D"
    last_run: datetime | None = None


@dataclass(slots=True)
class SimBackup:
    """A stored backup job; ``next_result`` decides how its next run ends."""

    id: str
    name: str
    target_url: str
    metadata: dict[str, str] = field(default_factory=dict)
    schedule: SimSchedule | None = None
    # LogData rows, oldest first (tests may plant rows the server would never write).
    log: list[Any] = field(default_factory=list)
    next_result: str = "Success"
    next_error: str = "Failed to connect to the destination"
    next_verify_result: str = "Success"
    versions: int = 0
    # Its tasks never end by themselves (a stuck destination); complete_task() ends them.
    hangs: bool = False


@dataclass(slots=True)
class SimTask:
    """A queued or finished task."""

    id: int
    backup_id: str
    operation: str = "Backup"
    status: str = "Waiting"
    started: datetime | None = None
    finished: datetime | None = None
    error_message: str | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class CannedAnswer:
    """A fixed answer replacing the simulated behaviour of one route."""

    status: int
    body: str
    content_type: str
    headers: dict[str, str]
    times: int | None

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            text=self.body,
            content_type=self.content_type,
            headers=self.headers,
        )


@dataclass(slots=True)
class Family:
    """A refresh-token family row (TokenFamily table)."""

    counter: int
    updated: float
    short: bool


class ApiError(Exception):
    """Becomes an ``{"Error", "Code"}`` answer (or the legacy form)."""

    def __init__(self, status: int, message: str, help_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.help_id = help_id


def _date(value: datetime) -> str:
    """System.Text.Json / Newtonsoft DateTime: ISO 8601, 7-digit fraction when not whole."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond * 10:07d}".rstrip("0")
    offset = value.utcoffset()
    if offset == timedelta(0):
        return text + "Z"
    return text + value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]


def metadata_date(value: datetime) -> str:
    """Utility.SerializeDateTime: ``yyyyMMdd'T'HHmmssK`` of the UTC time."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def timespan(seconds: float) -> str:
    """.NET TimeSpan.ToString(): ``[d.]hh:mm:ss[.fffffff]``."""
    ticks = round(seconds * 10_000_000)
    days, ticks = divmod(ticks, 86400 * 10_000_000)
    hours, ticks = divmod(ticks, 3600 * 10_000_000)
    minutes, ticks = divmod(ticks, 60 * 10_000_000)
    whole, fraction = divmod(ticks, 10_000_000)
    text = f"{hours:02d}:{minutes:02d}:{whole:02d}"
    if fraction:
        text += f".{fraction:07d}"
    return f"{days}.{text}" if days else text


def _repeat_seconds(repeat: str) -> int:
    """Length of a schedule's ``Repeat`` such as ``1D`` or ``12h``."""
    match = _REPEAT.match(repeat)
    assert match is not None, f"unsupported repeat {repeat}"
    return int(match.group(1)) * _REPEAT_UNITS[match.group(2)]


def _http_date(epoch: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(epoch))


class DuplicatiSimulator:
    """One simulated Duplicati server process (plus the database that outlives restarts)."""

    def __init__(
        self,
        profile: str = "2.3",
        *,
        password: str = "correct horse battery",  # noqa: S107
        access_lifetime: float = 15 * 60,
        refresh_lifetime: float = 30 * 86400,
        short_refresh_lifetime: float = 120 * 60,
        signin_lifetime: float = 5 * 60,
        clock_skew: float = 5.0,
        reuse_grace: float = 30.0,
        task_duration: float | None = 0.05,
        preauth_tokens: Sequence[str] = (),
        allowed_hostnames: Sequence[str] = (),
        enable_forever_token: bool = False,
        disable_signin_tokens: bool = False,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Configure the server; call :meth:`start` to listen."""
        self.profile = PROFILES[profile]
        self.password = password
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.short_refresh_lifetime = short_refresh_lifetime
        self.signin_lifetime = signin_lifetime
        self.clock_skew = clock_skew
        self.reuse_grace = reuse_grace
        self.task_duration = task_duration
        # The server drops pre-auth tokens that are too short or hold other characters.
        self.preauth_tokens = [
            token
            for token in preauth_tokens
            if len(token) >= 10 and all(c.isalnum() or c in "_-" for c in token)
        ]
        self.allowed_hostnames = list(allowed_hostnames)
        self.enable_forever_token = enable_forever_token
        self.disable_signin_tokens = disable_signin_tokens
        self.malformed_json = False
        self.delay = 0.0
        self.progress: float | None = None
        # The scheduler thread is stuck (or the machine slept): schedules come due unnoticed.
        self.scheduler_stuck = False
        self.requests: list[RecordedRequest] = []
        self.canned: dict[tuple[str, str], CannedAnswer] = {}
        # Answers held back after the work is done, once: an answer lost on the way back.
        self.lost_answers: dict[tuple[str, str], float] = {}

        # "Database": survives restarts.
        self._signing_key = secrets.token_bytes(32)
        self._families: dict[str, Family] = {}
        self._salt = secrets.token_bytes(32)
        self.backups: dict[str, SimBackup] = {}
        self._backup_ids = itertools.count(1)
        self._schedule_ids = itertools.count(1)
        self._log_ids = itertools.count(1)
        self._clock_offset = 0.0

        self._runner: web.AppRunner | None = None
        # A fixed port (the demo's 8200), or a free one chosen at the first start.
        self._port = port
        self._ssl_context = ssl_context
        self._reset_process_state()

    # -- lifecycle -------------------------------------------------------------------------

    def _reset_process_state(self) -> None:
        """Everything a server process keeps in memory only."""
        self._forever_issued = False
        self._task_ids = itertools.count(2)
        self.queue: list[SimTask] = []
        self.current: SimTask | None = None
        self.finished: dict[int, SimTask] = {}
        self.paused = False
        self.last_event_id = 0
        self._last_progress_task: SimTask | None = None
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        # Legacy HttpServer session state.
        self._legacy_nonces: dict[str, str] = {}
        self._legacy_sessions: dict[str, float] = {}
        self._legacy_xsrf: dict[str, float] = {}

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a random port the first time, the same one after a restart)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.1, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=self._ssl_context)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._worker = asyncio.create_task(self._run_tasks())
        # Scheduler.cs at start-up: schedules that passed while the server was down run now.
        self.run_scheduler()

    async def stop(self) -> None:
        """Stop listening and abandon running tasks."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self, *, reset_jwt_config: bool = False) -> None:
        """Restart the process: the database stays, memory is lost.

        The JWT signing key and token families are stored in the database, so tokens stay
        valid unless ``--webservice-reset-jwt-config=true`` (``reset_jwt_config``) is given.
        """
        await self.stop()
        if reset_jwt_config:
            self._signing_key = secrets.token_bytes(32)
            self._families.clear()
        self._reset_process_state()
        await self.start()

    @property
    def port(self) -> int:
        """The TCP port."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL."""
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    def now(self) -> float:
        """The server's clock (epoch seconds), which tests can move forward."""
        return time.time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the server clock forward, e.g. past the end of an access token's life."""
        self._clock_offset += seconds
        self.run_scheduler()

    def _utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def answer(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json_body: Any = None,
        text: str | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer a route with a fixed response (``times`` times, or until removed)."""
        body = text if text is not None else "" if json_body is None else json.dumps(json_body)
        content_type = "text/plain" if text is not None else "application/json"
        self.canned[(method, path)] = CannedAnswer(status, body, content_type, headers or {}, times)

    # -- backups ----------------------------------------------------------------------------

    def add_backup(
        self,
        name: str,
        *,
        target_url: str = "file:///mnt/usb/backup",
        schedule: datetime | None = None,
        history: Sequence[str] = (),
    ) -> SimBackup:
        """Store a backup job; ``history`` lists results of past runs, oldest first."""
        backup = SimBackup(id=str(next(self._backup_ids)), name=name, target_url=target_url)
        if schedule is not None:
            backup.schedule = SimSchedule(id=next(self._schedule_ids), time=schedule)
        self.backups[backup.id] = backup
        for index, result in enumerate(history):
            started = self._utcnow() - timedelta(days=len(history) - index, minutes=5)
            self.record_run(backup, result, started=started, duration=252.3456789)
        self.last_event_id += 1
        return backup

    def run_scheduler(self) -> None:
        """What the scheduler thread does when a schedule's time has come.

        The job is queued (unless a task of it already waits or runs), ``LastRun`` becomes now
        and ``Time`` the first repetition after now. Runs while the server is up, not stuck.
        """
        if self.scheduler_stuck or self._runner is None:
            return
        now = self._utcnow()
        for backup in self.backups.values():
            schedule = backup.schedule
            if schedule is None or schedule.time > now:
                continue
            if not any(
                task is not None and task.backup_id == backup.id
                for task in [self.current, *self.queue]
            ):
                self.queue.append(SimTask(id=next(self._task_ids), backup_id=backup.id))
                self._wakeup.set()
            schedule.last_run = now
            step = _repeat_seconds(schedule.repeat)
            missed = (now - schedule.time).total_seconds() // step + 1
            schedule.time += timedelta(seconds=missed * step)
            self.last_event_id += 1

    def remove_backup(self, backup_id: str) -> None:
        """Delete a backup job."""
        del self.backups[backup_id]
        self.last_event_id += 1

    def record_run(
        self,
        backup: SimBackup,
        result: str,
        *,
        started: datetime | None = None,
        duration: float = 1.5,
        operation: str = "Backup",
    ) -> None:
        """Write what Runner.cs writes after an operation: metadata and a log row."""
        assert result in RESULTS
        started = started or self._utcnow() - timedelta(seconds=duration)
        ended = started + timedelta(seconds=duration)
        if operation == "Test":
            self._record_test(backup, result, started, ended, duration)
            return
        errors = [
            (
                f"{ended:%Y-%m-%d %H:%M:%S} +00 - [Error-Duplicati.Library.Main.Operation"
                f".BackupHandler-FatalError]: {backup.next_error}"
            )
        ]
        message: dict[str, Any] = {
            "MainOperation": operation,
            "ParsedResult": result,
            "Interrupted": False,
            "Version": f"{self.profile.version} ({self.profile.version}_beta)",
            "BeginTime": _date(started),
            "EndTime": _date(ended),
            "Duration": timespan(duration),
            "Messages": ["Backup started"],
            "Warnings": ["File /home/u/locked.db is in use"] if result == "Warning" else [],
            "Errors": errors if result in {"Error", "Fatal"} else [],
            "ExaminedFiles": 10432,
            "SizeOfExaminedFiles": 2345678901,
        }
        exception: Any = {} if self.profile.help_id else None
        if result == "Fatal":
            exception = f"System.Exception: {backup.next_error}\n   at Duplicati.Library.Main"
        log_id = next(self._log_ids)
        backup.log.append(
            {
                "ID": log_id,
                "OperationID": log_id,
                "Timestamp": int(ended.timestamp()),
                "Type": "Result",
                "Message": json.dumps(message),
                "Exception": exception,
            }
        )
        if operation != "Backup":
            return
        if result == "Fatal":
            # The task threw: only the error keys move, LastBackup* stay as they were.
            backup.metadata["LastErrorDate"] = metadata_date(ended)
            backup.metadata["LastErrorMessage"] = backup.next_error
            return
        backup.versions += 1
        size = 1_000_000 * int(backup.id) + 4096 * backup.versions
        backup.metadata.update(
            {
                "LastBackupDate": metadata_date(started),
                "BackupListCount": str(backup.versions),
                "TotalQuotaSpace": "0",
                "FreeQuotaSpace": "0",
                "AssignedQuotaSpace": "-1",
                "TargetFilesSize": str(size // 2),
                "TargetFilesCount": str(3 * backup.versions),
                "TargetSizeString": f"{size / 2 / 1024**2:,.2f} MiB",
                "SourceFilesSize": str(size),
                "SourceFilesCount": "10432",
                "SourceSizeString": f"{size / 1024**2:,.2f} MiB",
                "LastBackupStarted": metadata_date(started),
                "LastBackupFinished": metadata_date(ended),
                "LastBackupDuration": timespan(duration),
            }
        )
        if self.profile.backup_fields:
            backup.metadata["TargetFilesetsCount"] = str(backup.versions)

    def _record_test(
        self, backup: SimBackup, result: str, started: datetime, ended: datetime, duration: float
    ) -> None:
        """A verify task's TestResults row; its backend statistics rewrite the remote metadata."""
        failed = result in {"Error", "Fatal"}
        message: dict[str, Any] = {
            "MainOperation": "Test",
            "ParsedResult": result,
            "Interrupted": False,
            "Version": f"{self.profile.version} ({self.profile.version}_beta)",
            "BeginTime": _date(started),
            "EndTime": _date(ended),
            "Duration": timespan(duration),
            "Verifications": [
                {
                    "Key": f"duplicati-20250105T030000Z.dlist.zip.aes ({backup.id})",
                    "Value": [{"Key": "Error", "Value": "hash mismatch"}] if failed else [],
                }
            ],
            "Messages": ["Verifying remote files"],
            "Warnings": ["Remote file list is incomplete"] if result == "Warning" else [],
            "Errors": ["Remote file has the wrong hash"] if failed else [],
        }
        exception: Any = {} if self.profile.help_id else None
        if result == "Fatal":
            exception = f"System.Exception: {backup.next_error}\n   at Duplicati.Library.Main"
        log_id = next(self._log_ids)
        backup.log.append(
            {
                "ID": log_id,
                "OperationID": log_id,
                "Timestamp": int(ended.timestamp()),
                "Type": "Result",
                "Message": json.dumps(message),
                "Exception": exception,
            }
        )
        if result == "Fatal":
            backup.metadata["LastErrorDate"] = metadata_date(ended)
            backup.metadata["LastErrorMessage"] = backup.next_error
        elif "BackupListCount" in backup.metadata:
            # The same remote statistics as before: nothing in the list shows the test.
            backup.metadata["BackupListCount"] = str(backup.versions)

    # -- tokens -----------------------------------------------------------------------------

    def _encode(self, claims: dict[str, Any], lifetime: float) -> str:
        now = self.now()
        payload = {"iss": ISSUER, "aud": ISSUER, "nbf": int(now), "exp": int(now + lifetime)}
        return jwt.encode({**payload, **claims}, self._signing_key, algorithm="HS256")

    def _decode(self, token: str, token_type: str) -> dict[str, Any]:
        """Validate a token; raises jwt.ExpiredSignatureError or jwt.InvalidTokenError."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._signing_key,
            algorithms=["HS256"],
            audience=ISSUER,
            issuer=ISSUER,
            # Times are checked against the simulator's movable clock; `iat` is a string.
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        now = self.now()
        if claims.get("typ") != token_type:
            raise jwt.InvalidTokenError("wrong token type")
        if now > float(claims["exp"]) + self.clock_skew:
            raise jwt.ExpiredSignatureError("expired")
        if now < float(claims["nbf"]) - self.clock_skew:
            raise jwt.ImmatureSignatureError("not yet valid")
        return claims

    def issue_signin_token(self, sid: str = "server-cli") -> str:
        """A sign-in token like the one in the first-start sign-in link."""
        return self._encode(
            {"typ": SIGNIN_TOKEN, "sid": sid, "fam": TEMPORARY_FAMILY}, self.signin_lifetime
        )

    def signin_link(self) -> str:
        """The link Duplicati prints on first start."""
        return f"http://localhost:{self._port}/signin.html?token={self.issue_signin_token()}"

    def revoke_all_families(self) -> None:
        """What a logout elsewhere or a detected re-use does: delete the token families."""
        self._families.clear()

    @property
    def family_count(self) -> int:
        """Rows in the TokenFamily table."""
        return len(self._families)

    @staticmethod
    def _hash_nonce(nonce: str, salt: bytes | None = None) -> str:
        salt = salt or secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", nonce.encode(), salt, 1000)
        return base64.b64encode(salt).decode() + ":" + base64.b64encode(digest).decode()

    def _nonce_matches(self, nonce: str, stored: str) -> bool:
        if ":" not in stored:
            return False
        salt = base64.b64decode(stored.split(":", 1)[0])
        return secrets.compare_digest(self._hash_nonce(nonce, salt), stored)

    def _issue_session(
        self, sid: str, remember: bool, family_id: str | None = None
    ) -> tuple[str, str | None, str | None]:
        """Access token, refresh token and nonce of a login, sign-in or refresh."""
        if not remember and not self.profile.refresh_nonce:
            # 2.1.0.x without RememberMe: an access token of the "temporary" family only.
            access = self._encode(
                {"typ": ACCESS_TOKEN, "sid": sid, "fam": TEMPORARY_FAMILY}, self.access_lifetime
            )
            return access, None, None
        now = self.now()
        if family_id is None:
            family_id = secrets.token_hex(8)
            self._families[family_id] = Family(secrets.randbelow(1024), now, short=not remember)
        family = self._families[family_id]
        nonce = base64.b64encode(secrets.token_bytes(32)).decode()
        refresh_claims: dict[str, Any] = {
            "typ": REFRESH_TOKEN,
            "sid": sid,
            "fam": family_id,
            "cnt": str(family.counter),
            "iat": f"{now:.3f}",
        }
        if self.profile.refresh_nonce:
            refresh_claims["nce"] = self._hash_nonce(nonce)
        lifetime = self.short_refresh_lifetime if family.short else self.refresh_lifetime
        refresh = self._encode(refresh_claims, lifetime)
        access = self._encode(
            {"typ": ACCESS_TOKEN, "sid": sid, "fam": family_id}, self.access_lifetime
        )
        return access, refresh, nonce if self.profile.refresh_nonce else None

    # -- HTTP plumbing ----------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        authorization = request.headers.get("Authorization")
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                dict(request.query),
                authorization.split(" ", 1)[0] if authorization else None,
            )
        )
        # The scheduler thread would have woken up in the meantime.
        self.run_scheduler()
        if self.delay:
            await asyncio.sleep(self.delay)
        if (canned := self.canned.get((request.method, request.path))) is not None:
            if canned.times is not None:
                canned.times -= 1
                if canned.times <= 0:
                    del self.canned[(request.method, request.path)]
            return canned.response()
        try:
            response = await handler(request)
        except ApiError as err:
            response = self._error(err)
        if (hold := self.lost_answers.pop((request.method, request.path), None)) is not None:
            await asyncio.sleep(hold)
        return response

    def _json(self, data: Any, status: int = 200) -> web.Response:
        body = json.dumps(data)
        if self.malformed_json:
            body = body[: max(len(body) // 2, 1)] + "\x00<html>"
        return web.Response(
            status=status, text=body, content_type="application/json", charset="utf-8"
        )

    def _error(self, err: ApiError) -> web.Response:
        if self.profile.legacy:
            return web.Response(
                status=err.status,
                reason=err.message,
                text=json.dumps({"Error": err.message}),
                content_type="application/json",
            )
        body: dict[str, Any] = {"Error": err.message, "Code": err.status}
        if err.help_id and self.profile.help_id:
            body["HelpId"] = err.help_id
        return web.Response(
            status=err.status, text=json.dumps(body), content_type="application/json"
        )

    @staticmethod
    def _host(request: web.Request) -> tuple[str, int]:
        """Host name and port of the Host header (port 0 when it has none)."""
        host = request.headers.get("Host", "")
        if host.startswith("["):
            name, _, rest = host.partition("]")
            return name + "]", int(rest[1:]) if rest.startswith(":") else 0
        name, _, port = host.partition(":")
        return name, int(port) if port.isdigit() else 0

    def _hostname_allowed(self, request: web.Request) -> bool:
        host = self._host(request)[0].lower()
        if host in LOCAL_HOSTNAMES or "*" in self.allowed_hostnames:
            return True
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return host in (name.lower() for name in self.allowed_hostnames)
        return True

    @staticmethod
    async def _body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
        """Minimal-API JSON binding: case-insensitive keys, 415 / 400 on bad bodies."""
        raw = await request.read()
        if optional and not raw:
            return {}
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="")
        try:
            data = json.loads(raw)
        except ValueError:
            raise web.HTTPBadRequest(text="") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="")
        return {key.lower(): value for key, value in data.items()}

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self.profile.legacy:
            return await self._dispatch_legacy(request)
        return await self._dispatch_modern(request)

    # -- ASP.NET server (2.1.0+) ------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> tuple[bool, str]:
        """JwtBearer / PreAuth handlers: (authenticated, WWW-Authenticate on failure).

        A valid token of a deleted family makes the validation hook throw: 500 on any route.
        """
        header = request.headers.get("Authorization")
        if header is None and self.profile.preauth and "token" in request.query:
            header = f"PreAuth {request.query['token']}"
        if header is None:
            return False, "Bearer"
        if header.startswith("PreAuth ") and self.profile.preauth:
            return header[len("PreAuth ") :] in self.preauth_tokens, "Bearer"
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False, "Bearer"
        try:
            claims = self._decode(token.strip(), ACCESS_TOKEN)
        except jwt.ExpiredSignatureError:
            unverified = jwt.decode(token.strip(), options={"verify_signature": False})
            expired_at = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(unverified["exp"]))
            return False, (
                'Bearer error="invalid_token", '
                f"error_description=\"The token expired at '{expired_at}'\""
            )
        except jwt.InvalidTokenError:
            return False, 'Bearer error="invalid_token"'
        family = claims.get("fam")
        if family != TEMPORARY_FAMILY and family not in self._families:
            raise web.HTTPInternalServerError(text="")
        return True, ""

    async def _dispatch_modern(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/health":
            return web.Response(text="Healthy", content_type="text/plain")
        authenticated, challenge = self._authenticate(request)
        if not path.startswith("/api/v1/"):
            raise web.HTTPNotFound(text="")
        route = path.removeprefix("/api/v1/").strip("/")
        anonymous = {
            "auth/login": self._login,
            "auth/signin": self._signin,
            "auth/refresh": self._refresh,
            "auth/refresh/logout": self._logout,
            "auth/issuesignintoken": self._issue_signin,
            "auth/status": self._status,
        }
        if request.method == "POST" and route in anonymous:
            if not self._hostname_allowed(request):
                raise ApiError(403, f"Invalid hostname: {self._host(request)[0]}")
            return await anonymous[route](request, authenticated)
        handler = self._protected_route(request.method, route)
        if handler is None:
            raise web.HTTPNotFound(text="")
        if not authenticated:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": challenge}, text="")
        if not self._hostname_allowed(request):
            raise ApiError(403, f"Invalid hostname: {self._host(request)[0]}")
        return await handler(request)

    def _protected_route(
        self, method: str, route: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]] | None:
        parts = route.split("/")
        routes: dict[tuple[str, ...], Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            ("GET", "backups"): self._backups,
            ("GET", "serverstate"): self._serverstate,
            ("POST", "serverstate/pause"): self._pause,
            ("POST", "serverstate/resume"): self._resume,
            ("GET", "progressstate"): self._progressstate,
            ("GET", "systeminfo"): self._systeminfo,
            ("GET", "tasks"): self._tasks,
            ("POST", "auth/issue-forever-token"): self._issue_forever,
        }
        if (found := routes.get((method, route))) is not None:
            return found
        if parts[0] == "backup" and len(parts) in {2, 3}:
            action = parts[2] if len(parts) == 3 else ""
            backup_routes = {
                ("GET", ""): self._backup,
                ("POST", "run"): self._run,
                ("POST", "start"): self._run,
                ("GET", "log"): self._log,
                ("POST", "verify"): self._verify,
            }
            return backup_routes.get((method, action))
        if parts[0] == "task" and len(parts) == 2 and method == "GET":
            return self._task
        return None

    def _refresh_cookie(self, request: web.Request, token: str) -> str:
        host, port = self._host(request)
        # Expires is the long duration even for short-lived tokens.
        expires = _http_date(self.now() + self.refresh_lifetime)
        secure = "; secure" if request.secure else ""
        return (
            f"RefreshToken_{port}={token}; expires={expires}; domain={host}; "
            f"path=/api/v1/auth/refresh; samesite=strict; httponly{secure}"
        )

    def _session_response(self, request: web.Request, sid: str, remember: bool) -> web.Response:
        access, refresh, nonce = self._issue_session(sid, remember)
        return self._tokens_response(request, access, refresh, nonce)

    def _tokens_response(
        self, request: web.Request, access: str, refresh: str | None, nonce: str | None
    ) -> web.Response:
        body: dict[str, Any] = {"AccessToken": access}
        if self.profile.refresh_nonce:
            body["RefreshNonce"] = nonce
        response = self._json(body)
        if refresh is not None:
            response.headers.add("Set-Cookie", self._refresh_cookie(request, refresh))
        return response

    async def _login(self, request: web.Request, _: bool) -> web.StreamResponse:
        body = await self._body(request)
        if body.get("password") != self.password:
            raise ApiError(401, "Failed to log in")
        return self._session_response(request, "webserver", body.get("rememberme") is True)

    async def _signin(self, request: web.Request, _: bool) -> web.StreamResponse:
        body = await self._body(request)
        if self.disable_signin_tokens:
            raise ApiError(401, "Signin tokens are disabled")
        token = body.get("signintoken")
        try:
            claims = self._decode(token if isinstance(token, str) else "", SIGNIN_TOKEN)
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "Signin token expired") from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "Failed to sign in") from None
        return self._session_response(request, str(claims["sid"]), body.get("rememberme") is True)

    async def _refresh(self, request: web.Request, _: bool) -> web.StreamResponse:
        body = await self._body(request, optional=True)
        cookie = request.cookies.get(f"RefreshToken_{self._host(request)[1]}")
        if not cookie:
            raise ApiError(401, "Authorization failed due to missing cookie.")
        # LoginProvider: any failure is reported as the same 401.
        if (claims := self._valid_refresh(cookie, str(body.get("nonce") or ""))) is None:
            raise ApiError(401, "Failed to refresh token")
        family = self._families[claims["fam"]]
        family.counter += 1
        family.updated = self.now()
        access, refresh, nonce = self._issue_session(
            str(claims["sid"]), True, family_id=claims["fam"]
        )
        return self._tokens_response(request, access, refresh, nonce)

    def _valid_refresh(self, cookie: str, nonce: str) -> dict[str, Any] | None:
        """The refresh token's claims if it may be used, None otherwise."""
        try:
            claims = self._decode(cookie, REFRESH_TOKEN)
        except jwt.InvalidTokenError:
            return None
        family = self._families.get(claims.get("fam", ""))
        if family is None:
            return None
        if self.profile.refresh_nonce and not self._nonce_matches(nonce, claims.get("nce", "")):
            return None
        drift = family.counter - int(claims["cnt"])
        recently = self.now() - family.updated < self.reuse_grace
        if drift == 0 or (drift == 1 and recently):
            return claims
        # Token family re-use detected: whoever holds the family loses it.
        del self._families[claims["fam"]]
        return None

    async def _logout(self, request: web.Request, _: bool) -> web.StreamResponse:
        name = f"RefreshToken_{self._host(request)[1]}"
        if cookie := request.cookies.get(name):
            try:
                claims = self._decode(cookie, REFRESH_TOKEN)
                self._families.pop(claims["fam"], None)
            except jwt.InvalidTokenError:
                pass
        response = self._json({"success": True})
        response.headers.add(
            "Set-Cookie", f"{name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/"
        )
        return response

    async def _issue_signin(self, request: web.Request, _: bool) -> web.StreamResponse:
        body = await self._body(request)
        if self.disable_signin_tokens:
            raise ApiError(401, "Signin tokens are disabled")
        if body.get("password") != self.password:
            raise ApiError(401, "Incorrect password")
        return self._json({"Token": self.issue_signin_token("web-api")})

    async def _status(self, request: web.Request, authenticated: bool) -> web.StreamResponse:
        if not authenticated:
            return self._json({"authorized": False, "message": "Not authorized"})
        socket_token = self._encode(
            {"typ": "SingleOperationToken", "sid": "web-api", "sop": "websocket"}, 60
        )
        return self._json(
            {"authorized": True, "message": "Authorized", "socketToken": socket_token}
        )

    async def _issue_forever(self, request: web.Request) -> web.StreamResponse:
        if not self.enable_forever_token:
            raise ApiError(401, "Forever tokens are not enabled")
        if self._forever_issued:
            raise ApiError(
                401,
                "Cannot generate multiple forever tokens, restart the server to generate a new one",
            )
        self._forever_issued = True
        token = self._encode(
            {"typ": ACCESS_TOKEN, "sid": "forever-token", "fam": TEMPORARY_FAMILY},
            10 * 365 * 86400,
        )
        return self._json({"AccessToken": token, "RefreshNonce": None})

    # -- data endpoints (shared by all profiles) --------------------------------------------

    def _schedule_dto(self, backup: SimBackup) -> dict[str, Any] | None:
        if backup.schedule is None:
            return None
        schedule = backup.schedule
        last_run = schedule.last_run or datetime(1, 1, 1, tzinfo=UTC)
        return {
            "ID": schedule.id,
            "Tags": [f"ID={backup.id}"],
            "Time": _date(schedule.time),
            "Repeat": schedule.repeat,
            "LastRun": _date(last_run),
            "Rule": "AllowedWeekDays=Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
            "AllowedDays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        }

    def _backup_dto(self, backup: SimBackup, *, full: bool) -> dict[str, Any]:
        dto: dict[str, Any] = {
            "ID": backup.id,
            "Name": backup.name,
            "Description": "",
            "Tags": [],
            "TargetURL": backup.target_url,
            "DBPath": f"/config/{backup.id.zfill(10)}.sqlite",
            "Sources": ["/home/u/"] if full else [],
            "Settings": [] if full else None,
            "Filters": [] if full else None,
            "Metadata": dict(backup.metadata),
            "IsTemporary": False,
        }
        if self.profile.backup_fields:
            dto |= {
                "ExternalID": None,
                "ConnectionStringID": -1,
                "OperationType": "Backup",
                "DBPathExists": bool(backup.log),
                "AdditionalTargetURLs": [],
            }
        if not self.profile.legacy:
            dto["IsUnencryptedOrPassphraseStored"] = True
        return dto

    async def _backups(self, request: web.Request) -> web.StreamResponse:
        items = []
        for backup in self.backups.values():
            item: dict[str, Any] = {
                "Backup": self._backup_dto(backup, full=self.profile.legacy),
                "Schedule": self._schedule_dto(backup),
            }
            if self.profile.legacy:
                item = {"IsUnencryptedOrPassphraseStored": True, **item}
            items.append(item)
        return self._json(items)

    def _find_backup(self, request: web.Request) -> SimBackup:
        backup = self.backups.get(request.path.split("/")[4])
        if backup is None:
            if self.profile.legacy:
                raise ApiError(404, "Invalid or missing backup id")
            raise ApiError(404, "Backup not found")
        return backup

    async def _backup(self, request: web.Request) -> web.StreamResponse:
        backup = self._find_backup(request)
        dto = self._backup_dto(backup, full=True)
        # The single-backup answer masks credentials (the list does not).
        dto["TargetURL"] = backup.target_url.split("?")[0]
        return self._json(
            {"Schedule": self._schedule_dto(backup), "Backup": dto, "DisplayNames": {}}
        )

    async def _run(self, request: web.Request) -> web.StreamResponse:
        backup = self._find_backup(request)
        # Any task of the backup counts, a verification too: its ID is answered.
        existing = [self.current, *self.queue]
        task = next((t for t in existing if t is not None and t.backup_id == backup.id), None)
        if task is None:
            task = SimTask(id=next(self._task_ids), backup_id=backup.id)
            skip_queue = request.query.get("skipQueue", "").lower() == "true"
            front = not self.profile.legacy and (skip_queue or not self.profile.skip_queue)
            self.queue.insert(0 if front else len(self.queue), task)
            self.last_event_id += 1
            self._wakeup.set()
        if self.profile.legacy:
            return self._json({"Status": "OK"})
        return self._json({"Status": "OK", "ID": task.id})

    async def _verify(self, request: web.Request) -> web.StreamResponse:
        """Every generation appends a Verify task and answers its ID (even 2.0.x)."""
        backup = self._find_backup(request)
        task = SimTask(id=next(self._task_ids), backup_id=backup.id, operation="Test")
        self.queue.append(task)
        self.last_event_id += 1
        self._wakeup.set()
        return self._json({"Status": "OK", "ID": task.id})

    async def _log(self, request: web.Request) -> web.StreamResponse:
        backup = self._find_backup(request)
        current = self.current
        if self.profile.database_lock and current is not None and current.backup_id == backup.id:
            raise ApiError(400, DATABASE_LOCKED, help_id="DatabaseLocked")
        try:
            offset = int(request.query.get("offset", "0"))
            page_size = min(max(int(request.query.get("pagesize", "100")), 10), 500)
        except ValueError:
            raise ApiError(400, "Invalid paging") from None
        rows = [row for row in reversed(backup.log) if offset <= 0 or row["ID"] < offset]
        return self._json(rows[:page_size])

    def _task_dto(self, task: SimTask) -> dict[str, Any]:
        if self.profile.legacy:
            dto: dict[str, Any] = {"Status": task.status}
            if task.error_message:
                dto["ErrorMessage"] = task.error_message
            return dto
        dto = {"Status": task.status, "ID": task.id}
        if self.profile.task_times:
            dto["TaskStarted"] = _date(task.started) if task.started else None
            dto["TaskFinished"] = _date(task.finished) if task.finished else None
        failed = task.status == "Failed"
        dto["ErrorMessage"] = task.error_message if failed else None
        dto["Exception"] = f"System.Exception: {task.error_message}" if failed else None
        return dto

    async def _task(self, request: web.Request) -> web.StreamResponse:
        try:
            task_id = int(request.path.rstrip("/").split("/")[-1])
        except ValueError:
            raise ApiError(400, "Invalid task id") from None
        tasks = {t.id: t for t in [self.current, *self.queue] if t is not None} | self.finished
        if (task := tasks.get(task_id)) is None:
            raise ApiError(404, "No such task found")
        return self._json(self._task_dto(task))

    async def _tasks(self, request: web.Request) -> web.StreamResponse:
        tasks = [t for t in [self.current, *self.queue] if t is not None]
        return self._json([self._task_dto(t) for t in tasks])

    async def _serverstate(self, request: web.Request) -> web.StreamResponse:
        current = self.current
        state: dict[str, Any] = {
            "ActiveTask": {"Item1": current.id, "Item2": current.backup_id} if current else None,
            "ProgramState": "Paused" if self.paused else "Running",
            "SchedulerQueueIds": [{"Item1": t.id, "Item2": t.backup_id} for t in self.queue],
            "ProposedSchedule": [
                {"Item1": backup.id, "Item2": _date(backup.schedule.time)}
                for backup in self.backups.values()
                if backup.schedule is not None
            ],
            "HasWarning": False,
            "HasError": False,
            "SuggestedStatusIcon": "Active" if current else "Ready",
            "EstimatedPauseEnd": "0001-01-01T00:00:00",
            "LastEventID": self.last_event_id,
            "LastDataUpdateID": self.last_event_id,
            "LastNotificationUpdateID": 0,
            "UpdatedVersion": None,
            "UpdaterState": "Waiting",
            "UpdateDownloadLink": None,
            "UpdateDownloadProgress": 0,
        }
        if self.profile.status_type:
            state["Type"] = "legacystatus"
        return self._json(state)

    async def _pause(self, request: web.Request) -> web.StreamResponse:
        self.paused = True
        self.last_event_id += 1
        return web.Response()

    async def _resume(self, request: web.Request) -> web.StreamResponse:
        self.paused = False
        self.last_event_id += 1
        self._wakeup.set()
        return web.Response()

    async def _progressstate(self, request: web.Request) -> web.StreamResponse:
        task = self._last_progress_task
        if task is None:
            raise ApiError(404, "No active backup")
        if self.progress is not None:
            progress = self.progress
        elif task.status != "Running":
            progress = 1.0
        elif self.task_duration and task.started:
            elapsed = (self._utcnow() - task.started).total_seconds()
            progress = min(elapsed / self.task_duration, 1.0)
        else:
            progress = 0.0
        return self._json(
            {
                "BackupID": task.backup_id,
                "TaskID": task.id,
                "Phase": (
                    ("Verify_Running" if task.operation == "Test" else "Backup_ProcessingFiles")
                    if task.status == "Running"
                    else "Backup_Complete"
                ),
                "OverallProgress": progress,
                "ProcessedFileCount": 4000,
                "ProcessedFileSize": 900000000,
                "TotalFileCount": 10432,
                "TotalFileSize": 2345678901,
                "StillCounting": False,
            }
        )

    async def _systeminfo(self, request: web.Request) -> web.StreamResponse:
        return self._json(
            {
                "APIVersion": 1,
                "ServerVersion": self.profile.version,
                "ServerVersionName": f"{self.profile.version} - beta",
                "ServerVersionType": "Beta",
                "MachineName": "simulator",
                "OSType": "Linux",
                "ServerTime": _date(self._utcnow()),
                "PasswordPlaceholder": "***************",
            }
        )

    # -- task runner --------------------------------------------------------------------------

    def complete_task(self) -> None:
        """Let the running task finish (when ``task_duration`` is None)."""
        if self.current is not None:
            self.current.release.set()

    async def _run_tasks(self) -> None:
        """QueueRunnerService: one task at a time, in queue order, not while paused."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self.queue and not self.paused:
                task = self.current = self.queue.pop(0)
                self._last_progress_task = task
                task.status = "Running"
                task.started = self._utcnow().astimezone(TASK_TIMEZONE)
                self.last_event_id += 1
                backup = self.backups.get(task.backup_id)
                if self.task_duration is None or (backup is not None and backup.hangs):
                    await task.release.wait()
                else:
                    await asyncio.sleep(self.task_duration)
                backup = self.backups.get(task.backup_id)
                if backup is not None:
                    elapsed = (self._utcnow() - task.started).total_seconds()
                    result = backup.next_verify_result if task.operation == "Test" else None
                    result = result or backup.next_result
                    self.record_run(
                        backup, result, duration=max(elapsed, 0.001), operation=task.operation
                    )
                    if result == "Fatal":
                        task.status = "Failed"
                        task.error_message = backup.next_error
                    else:
                        task.status = "Completed"
                else:
                    task.status = "Failed"
                    task.error_message = "Backup not found"
                task.finished = self._utcnow().astimezone(TASK_TIMEZONE)
                self.finished[task.id] = task
                while len(self.finished) > 100:
                    del self.finished[next(iter(self.finished))]
                self.current = None
                self.last_event_id += 1

    # -- legacy HttpServer (2.0.x) ----------------------------------------------------------

    def _legacy_password_hash(self) -> bytes:
        """WebserverPassword: SHA256(utf8(password) ‖ salt)."""
        return hashlib.sha256(self.password.encode() + self._salt).digest()

    @staticmethod
    def _legacy_cookie(request: web.Request, name: str) -> str | None:
        value = request.cookies.get(name)
        return unquote(value) if value else None

    def _legacy_set_cookie(
        self, response: web.StreamResponse, name: str, value: str, ttl: float
    ) -> None:
        # HttpServer writes URL-encoded values; base64 would not survive as a bare cookie.
        expires = _http_date(self.now() + ttl)
        response.headers.add(
            "Set-Cookie", f"{name}={quote(value, safe='')}; expires={expires}; path=/"
        )

    async def _dispatch_legacy(self, request: web.Request) -> web.StreamResponse:
        """AuthenticationHandler.Process, then the REST handler."""
        now = self.now()
        for table in (self._legacy_xsrf, self._legacy_sessions):
            for key in [key for key, expires in table.items() if expires < now]:
                del table[key]
        new_cookies: list[tuple[str, str, float]] = []
        xsrf_cookie = self._legacy_cookie(request, "xsrf-token")
        if xsrf_cookie in self._legacy_xsrf:
            self._legacy_xsrf[xsrf_cookie] = now + 600
        else:
            fresh = base64.b64encode(secrets.token_bytes(32)).decode()
            self._legacy_xsrf[fresh] = now + 600
            new_cookies.append(("xsrf-token", fresh, 600))

        response = await self._legacy_handle(request, new_cookies)
        for name, value, ttl in new_cookies:
            self._legacy_set_cookie(response, name, value, ttl)
        return response

    async def _legacy_handle(
        self, request: web.Request, new_cookies: list[tuple[str, str, float]]
    ) -> web.StreamResponse:
        path = request.path.lower()
        if path == "/logout.cgi":
            session = self._legacy_cookie(request, "session-auth")
            self._legacy_sessions.pop(session or "", None)
            return web.Response(status=204, reason="OK")
        if path == "/login.cgi":
            return await self._legacy_login(request, new_cookies)
        if not path.startswith("/api/"):
            raise web.HTTPNotFound
        xsrf = request.headers.get("X-XSRF-Token", "")
        if xsrf not in self._legacy_xsrf:
            return web.Response(status=400, reason="Missing XSRF Token")
        self._legacy_xsrf[xsrf] = self.now() + 600
        new_cookies.append(("xsrf-token", xsrf, 600))
        session = self._legacy_cookie(request, "session-auth")
        if session is None or session not in self._legacy_sessions:
            return web.Response(
                status=401, reason="Not logged in", headers={"Location": "login.html"}
            )
        # Sliding expiry: every authenticated call extends the session by an hour.
        self._legacy_sessions[session] = self.now() + 3600
        new_cookies.append(("session-auth", session, 3600))
        handler = self._protected_route(
            request.method, request.path.removeprefix("/api/v1/").strip("/")
        )
        if handler is None or request.path.startswith("/api/v1/auth/"):
            raise web.HTTPNotFound
        return await handler(request)

    async def _legacy_login(
        self, request: web.Request, new_cookies: list[tuple[str, str, float]]
    ) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else request.query
        if form.get("get-nonce"):
            if len(self._legacy_nonces) > 50:
                return web.Response(status=503, reason="Too many active login attempts")
            raw = secrets.token_bytes(32)
            nonce = base64.b64encode(raw).decode()
            expected = hashlib.sha256(raw + self._legacy_password_hash()).digest()
            self._legacy_nonces[nonce] = base64.b64encode(expected).decode()
            new_cookies.append(("session-nonce", nonce, 600))
            return self._json(
                {"Status": "OK", "Nonce": nonce, "Salt": base64.b64encode(self._salt).decode()}
            )
        password = form.get("password")
        if isinstance(password, str) and password.strip():
            nonce = self._legacy_cookie(request, "session-nonce") or ""
            answer = self._legacy_nonces.pop(nonce, None)
            if answer is None or answer != password:
                return web.Response(
                    status=401, reason="Unauthorized", content_type="application/json"
                )
            token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            self._legacy_sessions[token] = self.now() + 3600
            new_cookies.append(("session-auth", token, 3600))
            return self._json({"Status": "OK"})
        return web.Response(status=400, reason="Bad request")
