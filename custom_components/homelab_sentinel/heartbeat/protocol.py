"""What a job may send to its heartbeat webhook, read strictly; free of Home Assistant imports.

A plain ping names its outcome in the query (``status=start|success|fail`` or ``exit_code=<n>``;
nothing at all means success). A body, when there is one, must be Duplicati's JSON report
(``--send-http-result-output-format=Json``): ``{"Data": {...}, "Extra": {...}, "LogLines": [...]}``
where ``Data`` is the operation's result object with ``MainOperation``, ``ParsedResult``,
``BeginTime`` and ``EndTime``, and ``Extra`` the report's string variables (``backup-name``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import re
from typing import Any, Final

from ..capped_read import (
    ByteStream,
    InvalidJSONError,
    ResponseTooLargeError,
    parse_json,
    read_capped_stream,
)

MAX_BODY_BYTES: Final = 1024 * 1024
MAX_REPORT_NAME: Final = 100
_EXIT_CODE = re.compile(r"-?[0-9]{1,10}")


class Outcome(StrEnum):
    """What a call says about the job's run; the values are the ``last_result`` states."""

    STARTED = "started"
    SUCCESS = "success"
    WARNING = "warning"
    FAILED = "failed"


class Source(StrEnum):
    """Who called: a plain ping (curl, a wrapper) or Duplicati's report."""

    PING = "ping"
    DUPLICATI = "duplicati"


class PingError(Exception):
    """The request is not one a heartbeat understands; it changes nothing."""


class BodyTooLargeError(PingError):
    """The body is over MAX_BODY_BYTES."""


@dataclass(frozen=True, slots=True)
class Ping:
    """A call the heartbeat records."""

    outcome: Outcome
    source: Source
    exit_code: int | None = None
    # From a Duplicati report: the backup's name and the run's own begin and end.
    name: str | None = None
    began: datetime | None = None
    ended: datetime | None = None


async def read_capped(stream: ByteStream, declared_length: int | None) -> bytes:
    """The whole body, refusing one over MAX_BODY_BYTES before reading past the cap.

    Home Assistant hands a webhook a MockRequest too (cloud hooks, the websocket command
    webhook/handle), so the stream is read as any stream with read().
    """
    try:
        return await read_capped_stream(stream, declared_length, MAX_BODY_BYTES)
    except ResponseTooLargeError as err:
        raise BodyTooLargeError(str(err)) from err


def _single(query: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = query.get(key, ())
    if len(values) > 1:
        raise PingError(f"{key} given {len(values)} times")
    return values[0] if values else None


def _query_ping(query: Mapping[str, Sequence[str]]) -> Ping:
    status = _single(query, "status")
    code_text = _single(query, "exit_code")
    exit_code: int | None = None
    if code_text is not None:
        if not _EXIT_CODE.fullmatch(code_text):
            raise PingError("exit_code is not an integer")
        exit_code = int(code_text)
    outcome_by_status = {
        None: Outcome.SUCCESS if not exit_code else Outcome.FAILED,
        "start": Outcome.STARTED,
        "success": Outcome.SUCCESS,
        "fail": Outcome.FAILED,
    }
    if status not in outcome_by_status:
        raise PingError("unknown status")
    outcome = outcome_by_status[status]
    # An exit code may accompany the end a status names, never contradict it.
    if exit_code is not None and (
        outcome is Outcome.STARTED or (outcome is Outcome.SUCCESS) != (exit_code == 0)
    ):
        raise PingError("status and exit_code disagree")
    return Ping(outcome, Source.PING, exit_code)


_REPORT_OUTCOMES: Final = {
    "Success": Outcome.SUCCESS,
    "Warning": Outcome.WARNING,
    "Error": Outcome.FAILED,
    "Fatal": Outcome.FAILED,
}


def _report_time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PingError(f"Data.{key} is not a time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise PingError(f"Data.{key} is not a time") from err
    # Duplicati's times are UTC; Newtonsoft leaves the zone out of an unspecified DateTime.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _report_ping(body: bytes) -> Ping | None:
    try:
        report = parse_json(body)
    except InvalidJSONError as err:
        raise PingError("body is not JSON") from err
    if not isinstance(report, dict) or not isinstance(data := report.get("Data"), dict):
        raise PingError("body is not a Duplicati report")
    extra = report.get("Extra", {})
    if not isinstance(extra, dict):
        raise PingError("Extra is not an object")
    operation = data.get("MainOperation")
    result = data.get("ParsedResult")
    if not isinstance(operation, str) or not isinstance(result, str):
        raise PingError("Data lacks MainOperation or ParsedResult")
    if operation != "Backup":
        return None
    if result not in _REPORT_OUTCOMES:
        raise PingError("unknown ParsedResult")
    name = extra.get("backup-name")
    return Ping(
        _REPORT_OUTCOMES[result],
        Source.DUPLICATI,
        # The name goes into the run event: a short, printable one or none.
        name=name
        if isinstance(name, str) and 0 < len(name) <= MAX_REPORT_NAME and name.isprintable()
        else None,
        began=_report_time(data, "BeginTime"),
        ended=_report_time(data, "EndTime"),
    )


def parse_ping(query: Mapping[str, Sequence[str]], body: bytes) -> Ping | None:
    """The call a request makes; None for a Duplicati report of another operation than Backup.

    Raises PingError for anything else: junk, an unknown status, a report with a status.
    """
    if not body.strip():
        return _query_ping(query)
    if "status" in query or "exit_code" in query:
        raise PingError("a report carries its own result")
    return _report_ping(body)
