"""The heartbeat kind through Home Assistant's real HTTP server: pings, reports, the clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import json
import logging
import shutil
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import issue_registry as ir
from multidict import MultiDict
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.heartbeat.protocol import MAX_BODY_BYTES

from .common import WEBHOOK_ID, add_heartbeat, duplicati_report
from .conftest import OUTSIDE_ADDRESS, Caller, HassClient

START = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
PROBLEM = "binary_sensor.nightly_borg_heartbeat_problem"
LAST_RESULT = "sensor.nightly_borg_last_result"
LAST_PING = "sensor.nightly_borg_last_ping"
LAST_SUCCESS = "sensor.nightly_borg_last_success"
LAST_DURATION = "sensor.nightly_borg_last_duration"
RUN = "event.nightly_borg_run"
ENTITIES = (PROBLEM, LAST_RESULT, LAST_PING, LAST_SUCCESS, LAST_DURATION, RUN)


@pytest.fixture(autouse=True)
def start_clock(freezer: FrozenDateTimeFactory) -> None:
    """Every test starts at the same moment; the entry is created then."""
    freezer.move_to(START)


def _state(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def _snapshot(hass: HomeAssistant) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        entity_id: (_state(hass, entity_id).state, dict(_state(hass, entity_id).attributes))
        for entity_id in ENTITIES
    }


def _issue(hass: HomeAssistant, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry_id}_heartbeat")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_a_new_heartbeat(hass: HomeAssistant, call: Caller) -> None:
    await add_heartbeat(hass)
    assert _state(hass, LAST_RESULT).state == "never"
    assert _state(hass, LAST_PING).state == STATE_UNKNOWN
    assert _state(hass, LAST_SUCCESS).state == STATE_UNKNOWN
    assert _state(hass, LAST_DURATION).state == STATE_UNKNOWN
    assert _state(hass, PROBLEM).state == STATE_OFF
    assert "reason" not in _state(hass, PROBLEM).attributes
    assert _state(hass, RUN).state == STATE_UNKNOWN
    assert _state(hass, LAST_RESULT).attributes["options"] == [
        "success",
        "warning",
        "failed",
        "started",
        "never",
    ]


async def test_every_ping_form(
    hass: HomeAssistant, call: Caller, freezer: FrozenDateTimeFactory
) -> None:
    entry = await add_heartbeat(hass)
    fired: list[tuple[str, dict[str, Any]]] = []

    def note_run(event: Any) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == RUN and new is not None and "event_type" in new.attributes:
            attributes = {
                key: value
                for key, value in new.attributes.items()
                if key not in {"event_types", "friendly_name"}
            }
            fired.append((attributes.pop("event_type"), attributes))

    hass.bus.async_listen("state_changed", note_run)

    # GET with status=start: the run begins.
    assert await call("GET", "status=start") == (200, "started\n")
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "started"
    assert _state(hass, LAST_PING).state == _iso(START)
    assert _state(hass, LAST_SUCCESS).state == STATE_UNKNOWN

    # POST with exit_code=0, 95 s later: a success that took 95 s.
    freezer.tick(timedelta(seconds=95))
    assert await call("POST", "exit_code=0") == (200, "success\n")
    await hass.async_block_till_done()
    ended = START + timedelta(seconds=95)
    assert _state(hass, LAST_RESULT).state == "success"
    assert _state(hass, LAST_SUCCESS).state == _iso(ended)
    assert float(_state(hass, LAST_DURATION).state) == 95

    # PUT with status=fail, with no start before it: a failure of unknown duration.
    freezer.tick(timedelta(hours=1))
    assert await call("PUT", "status=fail") == (200, "failed\n")
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "failed"
    assert _state(hass, LAST_DURATION).state == STATE_UNKNOWN
    assert _state(hass, LAST_SUCCESS).state == _iso(ended)
    assert _state(hass, PROBLEM).state == STATE_ON
    assert _state(hass, PROBLEM).attributes["reason"] == "failed"
    issue = _issue(hass, entry.entry_id)
    assert issue is not None
    assert issue.translation_key == "heartbeat_failed"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == "Nightly borg"

    # A non-zero exit code fails as well, and says which.
    assert await call("POST", "exit_code=2") == (200, "failed\n")
    # status=success, then a bare POST: successes, and the repair clears.
    assert await call("POST", "status=success") == (200, "success\n")
    await hass.async_block_till_done()
    assert _state(hass, PROBLEM).state == STATE_OFF
    assert _issue(hass, entry.entry_id) is None
    freezer.tick(timedelta(minutes=1))
    assert await call("POST") == (200, "success\n")
    # `curl -d ''` sends an empty body with a form content type; still a plain ping.
    assert await call(
        "POST", "status=start", b"", {"Content-Type": "application/x-www-form-urlencoded"}
    ) == (200, "started\n")
    await hass.async_block_till_done()
    assert _state(hass, LAST_SUCCESS).state == _iso(ended + timedelta(hours=1, minutes=1))

    assert fired == [
        ("started", {"duration": None, "exit_code": None, "source": "ping", "name": None}),
        ("succeeded", {"duration": 95.0, "exit_code": 0, "source": "ping", "name": None}),
        ("failed", {"duration": None, "exit_code": None, "source": "ping", "name": None}),
        ("failed", {"duration": None, "exit_code": 2, "source": "ping", "name": None}),
        ("succeeded", {"duration": None, "exit_code": None, "source": "ping", "name": None}),
        ("succeeded", {"duration": None, "exit_code": None, "source": "ping", "name": None}),
        ("started", {"duration": None, "exit_code": None, "source": "ping", "name": None}),
    ]


async def test_duplicati_reports(
    hass: HomeAssistant, call: Caller, freezer: FrozenDateTimeFactory
) -> None:
    entry = await add_heartbeat(hass)
    json_type = {"Content-Type": "application/json"}
    runs: list[State] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            runs.append(event.data["new_state"]) if event.data["entity_id"] == RUN else None
        ),
    )

    assert await call(
        "POST", body=duplicati_report("Success", seconds=125.5), headers=json_type
    ) == (
        200,
        "success\n",
    )
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "success"
    assert float(_state(hass, LAST_DURATION).state) == 125.5
    assert _state(hass, LAST_SUCCESS).state == _iso(START)

    # A warning is a success with warnings: it counts for last_success, its event is succeeded.
    freezer.tick(timedelta(days=1))
    assert (await call("POST", body=duplicati_report("Warning", seconds=60)))[0] == 200
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "warning"
    assert _state(hass, LAST_SUCCESS).state == _iso(START + timedelta(days=1))
    assert _state(hass, PROBLEM).state == STATE_OFF

    # Another operation than Backup (a verification) changes nothing.
    before = _snapshot(hass)
    assert await call("POST", body=duplicati_report("Fatal", operation="Test")) == (
        200,
        "ignored: not a backup\n",
    )
    await hass.async_block_till_done()
    assert _snapshot(hass) == before

    freezer.tick(timedelta(days=1))
    assert (await call("PUT", body=duplicati_report("Fatal", seconds=3)))[0] == 200
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "failed"
    assert _state(hass, LAST_SUCCESS).state == _iso(START + timedelta(days=1))
    assert _state(hass, PROBLEM).attributes["reason"] == "failed"
    assert _issue(hass, entry.entry_id) is not None

    assert [
        (state.attributes["event_type"], state.attributes["duration"], state.attributes["name"])
        for state in runs
    ] == [
        ("succeeded", 125.5, "Documents"),
        ("succeeded", 60.0, "Documents"),
        ("failed", 3.0, "Documents"),
    ]
    assert {state.attributes["source"] for state in runs} == {"duplicati"}
    assert {state.attributes["exit_code"] for state in runs} == {None}


@pytest.mark.parametrize(
    ("method", "query", "body"),
    [
        ("POST", "status=done", None),
        ("GET", "status=start&status=success", None),
        ("POST", "exit_code=abc", None),
        ("POST", "status=success&exit_code=1", None),
        ("POST", "", b"hello"),
        ("POST", "", b'{"Data": {"MainOperation": "Backup"}}'),
        ("POST", "", duplicati_report("Unknown")),
        ("POST", "status=success", duplicati_report()),
        ("PUT", "", b"x" * (MAX_BODY_BYTES + 1)),
        ("POST", "", duplicati_report() + b" " * MAX_BODY_BYTES),
        # Deep enough to exhaust the parser's recursion, well within the size cap.
        ("POST", "", b"[" * 200_000 + b"]" * 200_000),
    ],
)
async def test_refused_requests_change_nothing(
    hass: HomeAssistant,
    call: Caller,
    hass_storage: dict[str, Any],
    method: str,
    query: str,
    body: bytes | None,
) -> None:
    entry = await add_heartbeat(hass)
    assert (await call("POST", "status=fail"))[0] == 200
    await hass.async_block_till_done()
    before = _snapshot(hass)
    stored = json.dumps(hass_storage[f"{DOMAIN}.heartbeat.{entry.entry_id}"])

    status, _ = await call(method, query, body)

    assert status == 400
    await hass.async_block_till_done()
    assert _snapshot(hass) == before
    assert json.dumps(hass_storage[f"{DOMAIN}.heartbeat.{entry.entry_id}"]) == stored


async def test_oversized_body_without_length_is_refused(hass: HomeAssistant, call: Caller) -> None:
    """A chunked upload declares no length: the read stops at the cap."""
    await add_heartbeat(hass)
    before = _snapshot(hass)

    async def chunks() -> Any:
        for _ in range(40):
            yield b"y" * (64 * 1024)

    status, _ = await call("POST", body=chunks())
    assert status == 400
    await hass.async_block_till_done()
    assert _snapshot(hass) == before


async def test_an_unknown_webhook_is_not_recorded(hass: HomeAssistant, call: Caller) -> None:
    await add_heartbeat(hass)
    before = _snapshot(hass)
    assert (await call("POST", webhook_id="0" * 64))[0] == 200
    await hass.async_block_till_done()
    assert _snapshot(hass) == before


async def test_head_and_other_methods(hass: HomeAssistant, client: HassClient) -> None:
    await add_heartbeat(hass)
    before = _snapshot(hass)
    async with client.request("DELETE", f"/api/webhook/{WEBHOOK_ID}") as response:
        assert response.status == 405
    async with client.head(f"/api/webhook/{WEBHOOK_ID}") as response:
        assert response.status == 200
    await hass.async_block_till_done()
    assert _snapshot(hass) == before


@pytest.mark.parametrize(
    "http_config", [{"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1"]}]
)
async def test_callers_on_the_internet(
    hass: HomeAssistant, call: Caller, outside_proxy: str
) -> None:
    entry = await add_heartbeat(hass)
    before = _snapshot(hass)
    url = f"{outside_proxy}/api/webhook/{WEBHOOK_ID}?status=fail"
    async with aiohttp.ClientSession() as session:
        # Refused by default: Home Assistant's webhook answers as for any hook, nothing is kept.
        async with session.post(url) as response:
            assert response.status == 200
        await hass.async_block_till_done()
        assert _snapshot(hass) == before
        # The same caller through the same proxy is still heard on loopback directly.
        assert (await call("POST", "status=start"))[0] == 200

        hass.config_entries.async_update_entry(entry, options={"allow_internet": True})
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        async with session.post(url) as response:
            assert response.status == 200
            assert await response.text() == "failed\n"
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "failed"
    assert OUTSIDE_ADDRESS not in str(_snapshot(hass))


async def test_overdue_and_hung_without_any_ping(
    hass: HomeAssistant, call: Caller, freezer: FrozenDateTimeFactory
) -> None:
    entry = await add_heartbeat(hass, period_hours=24, grace_minutes=60)

    # Never pinged: overdue once period and grace have passed since the entry was created.
    await _tick(hass, freezer, timedelta(hours=24, minutes=59))
    assert _state(hass, PROBLEM).state == STATE_OFF
    await _tick(hass, freezer, timedelta(minutes=1))
    assert _state(hass, PROBLEM).state == STATE_ON
    assert _state(hass, PROBLEM).attributes["reason"] == "overdue"
    issue = _issue(hass, entry.entry_id)
    assert issue is not None
    assert issue.translation_key == "heartbeat_overdue"
    assert issue.translation_placeholders == {
        "name": "Nightly borg",
        "hours": "24",
        "minutes": "60",
        "last_success": "-",
        "last_ping": "-",
        "started": "-",
    }

    # A success clears it; the next deadline counts from that success.
    assert (await call("POST"))[0] == 200
    await hass.async_block_till_done()
    assert _state(hass, PROBLEM).state == STATE_OFF
    assert _issue(hass, entry.entry_id) is None

    # A run starts and never ends: hung once the period has passed, before overdue.
    await _tick(hass, freezer, timedelta(hours=1))
    assert (await call("POST", "status=start"))[0] == 200
    await _tick(hass, freezer, timedelta(hours=23, minutes=59))
    assert _state(hass, PROBLEM).state == STATE_OFF
    await _tick(hass, freezer, timedelta(minutes=1))
    assert _state(hass, PROBLEM).state == STATE_ON
    assert _state(hass, PROBLEM).attributes["reason"] == "hung"
    issue = _issue(hass, entry.entry_id)
    assert issue is not None
    assert issue.translation_key == "heartbeat_hung"

    # Its end clears it, with the whole run's duration.
    await _tick(hass, freezer, timedelta(hours=2))
    assert (await call("POST", "exit_code=0"))[0] == 200
    await hass.async_block_till_done()
    assert _state(hass, PROBLEM).state == STATE_OFF
    assert float(_state(hass, LAST_DURATION).state) == 26 * 3600
    assert _issue(hass, entry.entry_id) is None


async def test_state_survives_a_restart(
    hass: HomeAssistant, call: Caller, freezer: FrozenDateTimeFactory
) -> None:
    entry = await add_heartbeat(hass)
    assert (await call("POST", "status=start"))[0] == 200
    freezer.tick(timedelta(seconds=30))
    assert (await call("POST", "exit_code=0"))[0] == 200
    freezer.tick(timedelta(seconds=30))
    assert (await call("POST", "status=start"))[0] == 200
    await hass.async_block_till_done()
    before = _snapshot(hass)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # Unloaded, the webhook is gone: a call is answered as for an unknown hook, and lost.
    assert (await call("POST", "status=fail"))[0] == 200
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    after = _snapshot(hass)
    # The event entity restores its last event itself; the rest comes from the Store.
    assert {key: value for key, value in after.items() if key != RUN} == {
        key: value for key, value in before.items() if key != RUN
    }
    assert _state(hass, LAST_RESULT).state == "started"

    # The open run is still timed from its start, and still judged by the clock.
    freezer.tick(timedelta(seconds=10))
    assert (await call("POST", "exit_code=0"))[0] == 200
    await hass.async_block_till_done()
    assert float(_state(hass, LAST_DURATION).state) == 10
    await _tick(hass, freezer, timedelta(hours=25))
    assert _state(hass, PROBLEM).attributes["reason"] == "overdue"


async def test_a_store_edited_by_hand(
    hass: HomeAssistant, hass_storage: dict[str, Any], call: Caller
) -> None:
    """Values that are not what the integration writes are forgotten, one by one."""
    hass_storage[f"{DOMAIN}.heartbeat.edited"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.heartbeat.edited",
        "data": {
            "last_ping": "2026-12-06T01:00:00+00:00",
            "last_success": "yesterday",
            "last_result": "splendid",
            "last_duration": "12",
            "started": "2026-12-06T01:00:00",
        },
    }
    await add_heartbeat(hass, entry_id="edited")
    assert _state(hass, LAST_PING).state == "2026-12-06T01:00:00+00:00"
    assert _state(hass, LAST_SUCCESS).state == STATE_UNKNOWN
    assert _state(hass, LAST_RESULT).state == "never"
    assert _state(hass, LAST_DURATION).state == STATE_UNKNOWN
    assert _state(hass, PROBLEM).state == STATE_OFF
    assert (await call("POST", "exit_code=0"))[0] == 200
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "success"


async def test_options_change_the_schedule(
    hass: HomeAssistant, call: Caller, freezer: FrozenDateTimeFactory
) -> None:
    entry = await add_heartbeat(hass)
    hass.config_entries.async_update_entry(
        entry, options={"period_hours": 168, "grace_minutes": 0, "allow_internet": False}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await _tick(hass, freezer, timedelta(days=6, hours=23))
    assert _state(hass, PROBLEM).state == STATE_OFF
    await _tick(hass, freezer, timedelta(hours=1))
    assert _state(hass, PROBLEM).attributes["reason"] == "overdue"


async def test_the_webhook_id_stays_secret(
    hass: HomeAssistant,
    call: Caller,
    hass_client: Any,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    freezer: FrozenDateTimeFactory,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.homelab_sentinel")
    entry = await add_heartbeat(hass)
    for query, body in (
        ("status=start", None),
        ("exit_code=0", None),
        ("status=nope", None),
        ("", b"junk"),
        ("", duplicati_report("Error")),
    ):
        await call("POST", query, body)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert WEBHOOK_ID not in json.dumps(diagnostics)
    assert diagnostics["entry"]["data"]["webhook_id"] == "**REDACTED**"
    assert diagnostics["data"]["state"]["last_result"] == "failed"
    # Silent since: overdue, logged and repaired without the id either.
    await _tick(hass, freezer, timedelta(days=2))

    ours = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.homelab_sentinel")
    ]
    assert any("refused a call" in line for line in ours)
    assert not [line for line in ours if WEBHOOK_ID in line]
    for state in hass.states.async_all():
        assert WEBHOOK_ID not in str(state.as_dict())
    issues = [issue for (domain, _), issue in ir.async_get(hass).issues.items() if domain == DOMAIN]
    assert issues
    assert WEBHOOK_ID not in str([issue.to_json() for issue in issues])
    assert WEBHOOK_ID not in json.dumps(hass_storage[f"{DOMAIN}.heartbeat.{entry.entry_id}"])


async def test_removing_the_entry_forgets_it(
    hass: HomeAssistant, call: Caller, hass_storage: dict[str, Any]
) -> None:
    entry = await add_heartbeat(hass)
    assert (await call("POST", "status=fail"))[0] == 200
    await hass.async_block_till_done()
    assert _issue(hass, entry.entry_id) is not None
    key = f"{DOMAIN}.heartbeat.{entry.entry_id}"
    assert key in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
    assert _issue(hass, entry.entry_id) is None


async def test_with_curl(hass: HomeAssistant, client: HassClient) -> None:
    """The cron line the flow shows, run by the real curl binary."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    await add_heartbeat(hass)
    url = str(client.make_url(f"/api/webhook/{WEBHOOK_ID}"))

    async def run(*arguments: str, stdin: bytes | None = None) -> tuple[int, bytes]:
        process = await asyncio.create_subprocess_exec(
            curl,
            "-fsS",
            "-m",
            "10",
            "--retry",
            "3",
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate(stdin)
        assert process.returncode is not None
        return process.returncode, output

    assert await run(f"{url}?status=start") == (0, b"started\n")
    assert await run(f"{url}?exit_code=0") == (0, b"success\n")
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "success"
    # An unknown status: curl -f turns the 400 into its exit code 22, and nothing is kept.
    assert (await run(f"{url}?status=finished"))[0] == 22
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "success"
    # A report as Duplicati posts it, and a GET as a browser or `wget -q` would send.
    report = duplicati_report("Warning")
    headers = ("-H", "Content-Type: application/json", "--data-binary", "@-")
    assert await run(*headers, url, stdin=report) == (0, b"warning\n")
    assert await run("-G", f"{url}?status=fail") == (0, b"failed\n")
    await hass.async_block_till_done()
    assert _state(hass, LAST_RESULT).state == "failed"


class _Body:
    """A request body that breaks off, as when the caller hangs up halfway."""

    async def read(self, n: int = -1) -> bytes:
        raise ConnectionResetError("Connection lost")


class _Request:
    """What the webhook handler reads of a request."""

    def __init__(self, content: Any) -> None:
        self.content = content
        self.content_length: int | None = None
        self.query = MultiDict[str]()


class _Empty:
    async def read(self, n: int = -1) -> bytes:
        return b""


async def test_a_call_that_breaks_off_changes_nothing_and_names_no_webhook(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await add_heartbeat(hass)
    before = _snapshot(hass)
    handle = entry.runtime_data._async_handle_webhook
    response = await handle(hass, WEBHOOK_ID, _Request(_Body()))
    assert response.status == 400
    assert _snapshot(hass) == before
    assert WEBHOOK_ID not in caplog.text


async def test_a_call_read_while_the_entry_unloads_records_nothing(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    entry = await add_heartbeat(hass)
    handle = entry.runtime_data._async_handle_webhook
    assert await hass.config_entries.async_unload(entry.entry_id)
    stored = json.dumps(hass_storage.get(f"{DOMAIN}.heartbeat.{entry.entry_id}"), default=str)
    response = await handle(hass, WEBHOOK_ID, _Request(_Empty()))
    assert response.status == 503
    assert (
        json.dumps(hass_storage.get(f"{DOMAIN}.heartbeat.{entry.entry_id}"), default=str) == stored
    )


async def test_a_call_that_cannot_be_stored_still_counts(
    hass: HomeAssistant, call: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = await add_heartbeat(hass)

    async def disk_full(data: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(entry.runtime_data._store, "async_save", disk_full)
    assert (await call(query="status=success"))[0] == 200
    assert _state(hass, LAST_RESULT).state == "success"


async def test_a_long_or_unprintable_report_name_is_left_out(
    hass: HomeAssistant, call: Caller
) -> None:
    await add_heartbeat(hass)
    for name in ("x" * 101, "two\nlines"):
        assert (await call(body=duplicati_report(backup_name=name)))[0] == 200
        assert _state(hass, RUN).attributes["name"] is None
