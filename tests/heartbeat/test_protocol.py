"""What a heartbeat understands of a request, without Home Assistant."""

from __future__ import annotations

from datetime import UTC, datetime
import json

import pytest

from custom_components.homelab_sentinel.heartbeat.protocol import (
    MAX_BODY_BYTES,
    BodyTooLargeError,
    Outcome,
    Ping,
    PingError,
    Source,
    parse_ping,
    read_capped,
)

from .common import duplicati_report


class Chunks:
    """A stream handing out its body in the pieces asked for, counting what was read."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.read_bytes = 0

    async def read(self, n: int = -1) -> bytes:
        chunk = self.body[self.read_bytes : self.read_bytes + n]
        self.read_bytes += len(chunk)
        return chunk


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, Ping(Outcome.SUCCESS, Source.PING)),
        ({"status": ["start"]}, Ping(Outcome.STARTED, Source.PING)),
        ({"status": ["success"]}, Ping(Outcome.SUCCESS, Source.PING)),
        ({"status": ["fail"]}, Ping(Outcome.FAILED, Source.PING)),
        ({"exit_code": ["0"]}, Ping(Outcome.SUCCESS, Source.PING, 0)),
        ({"exit_code": ["3"]}, Ping(Outcome.FAILED, Source.PING, 3)),
        ({"exit_code": ["-9"]}, Ping(Outcome.FAILED, Source.PING, -9)),
        ({"status": ["fail"], "exit_code": ["2"]}, Ping(Outcome.FAILED, Source.PING, 2)),
        ({"status": ["success"], "exit_code": ["0"]}, Ping(Outcome.SUCCESS, Source.PING, 0)),
        # Parameters of its own (a cache buster, a host name) do not stop a ping.
        ({"host": ["nas"]}, Ping(Outcome.SUCCESS, Source.PING)),
    ],
)
def test_plain_pings(query: dict[str, list[str]], expected: Ping) -> None:
    assert parse_ping(query, b"") == expected
    # A body of only white space is no body: `curl -d ''` and a newline from echo are pings.
    assert parse_ping(query, b"\n") == expected


@pytest.mark.parametrize(
    "query",
    [
        {"status": ["ok"]},
        {"status": ["START"]},
        {"status": [""]},
        {"status": ["start", "success"]},
        {"exit_code": ["x"]},
        {"exit_code": ["1.5"]},
        {"exit_code": [""]},
        {"exit_code": ["99999999999"]},
        {"exit_code": ["0", "1"]},
        {"status": ["start"], "exit_code": ["0"]},
        {"status": ["success"], "exit_code": ["1"]},
        {"status": ["fail"], "exit_code": ["0"]},
    ],
)
def test_refused_queries(query: dict[str, list[str]]) -> None:
    with pytest.raises(PingError):
        parse_ping(query, b"")


@pytest.mark.parametrize(
    ("parsed_result", "outcome"),
    [
        ("Success", Outcome.SUCCESS),
        ("Warning", Outcome.WARNING),
        ("Error", Outcome.FAILED),
        ("Fatal", Outcome.FAILED),
    ],
)
def test_duplicati_reports(parsed_result: str, outcome: Outcome) -> None:
    began = datetime(2026, 12, 5, 3, 0, 0, 123456, tzinfo=UTC)
    ping = parse_ping({}, duplicati_report(parsed_result, began=began, seconds=90))
    assert ping == Ping(
        outcome,
        Source.DUPLICATI,
        name="Documents",
        began=began,
        ended=datetime(2026, 12, 5, 3, 1, 30, 123456, tzinfo=UTC),
    )


def test_other_operations_are_ignored() -> None:
    assert parse_ping({}, duplicati_report(operation="Test")) is None
    assert parse_ping({}, duplicati_report(operation="Compact")) is None


def test_report_without_times_or_name() -> None:
    report = json.loads(duplicati_report())
    del report["Data"]["BeginTime"], report["Data"]["EndTime"]
    report["Extra"] = {"backup-name": ""}
    assert parse_ping({}, json.dumps(report).encode()) == Ping(Outcome.SUCCESS, Source.DUPLICATI)
    report["Data"]["EndTime"] = "2026-12-05T03:00:00"
    del report["Extra"]
    # Newtonsoft writes an unspecified DateTime without a zone; Duplicati's are UTC.
    assert parse_ping({}, json.dumps(report).encode()) == Ping(
        Outcome.SUCCESS, Source.DUPLICATI, ended=datetime(2026, 12, 5, 3, tzinfo=UTC)
    )


def _report_with(**changes: object) -> bytes:
    report = json.loads(duplicati_report())
    for key, value in changes.items():
        if key == "Extra":
            report["Extra"] = value
        else:
            report["Data"][key] = value
    return json.dumps(report).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"Data": "Backup"}',
        b'{"ParsedResult": "Success"}',
        b"message=Duplicati Backup report for Documents",
        _report_with(ParsedResult="Unknown"),
        _report_with(ParsedResult=None),
        _report_with(MainOperation=1),
        _report_with(BeginTime="yesterday"),
        _report_with(EndTime=12),
        _report_with(Extra=["backup-name"]),
    ],
)
def test_junk_bodies(body: bytes) -> None:
    with pytest.raises(PingError):
        parse_ping({}, body)


def test_a_report_with_a_status_is_refused() -> None:
    with pytest.raises(PingError):
        parse_ping({"status": ["success"]}, duplicati_report())
    with pytest.raises(PingError):
        parse_ping({"exit_code": ["0"]}, duplicati_report())


async def test_capped_read() -> None:
    body = b"x" * MAX_BODY_BYTES
    assert await read_capped(Chunks(body), None) == body
    assert await read_capped(Chunks(b""), 0) == b""


async def test_declared_oversize_is_refused_unread() -> None:
    stream = Chunks(b"x" * (MAX_BODY_BYTES + 1))
    with pytest.raises(BodyTooLargeError):
        await read_capped(stream, MAX_BODY_BYTES + 1)
    assert stream.read_bytes == 0


async def test_undeclared_oversize_stops_at_the_cap() -> None:
    stream = Chunks(b"x" * (10 * MAX_BODY_BYTES))
    with pytest.raises(BodyTooLargeError):
        await read_capped(stream, None)
    assert stream.read_bytes <= MAX_BODY_BYTES + 64 * 1024
