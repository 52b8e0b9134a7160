"""Missed schedules, hung runs and verifications in a running Home Assistant, as the clock moves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
import json
import logging
from typing import Any

from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics
from custom_components.homelab_sentinel.duplicati.coordinator import (
    JobStatus,
    ProblemReason,
    is_hung,
)
from custom_components.homelab_sentinel.duplicati.models import BackupJob, BackupResult

from ..states import attributes_of, state_of
from .common import LEAKY_TARGET, calls, password_entry
from .conftest import SimulatorFactory
from .simulator import DuplicatiSimulator

pytestmark = pytest.mark.usefixtures("fast_task_follow")

PROBLEM = "binary_sensor.documents_backup_problem"
UTCNOW = "custom_components.homelab_sentinel.duplicati.coordinator.dt_util.utcnow"


@dataclass
class Clock:
    """Home Assistant's clock as the Duplicati coordinator reads it, and the server's with it."""

    servers: list[DuplicatiSimulator] = field(default_factory=list)
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.offset += step
        for server in self.servers:
            server.advance(step.total_seconds())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A movable clock for the coordinator's judgements (and the servers added to it)."""
    moving = Clock()
    monkeypatch.setattr(UTCNOW, moving.now)
    return moving


async def _poll(hass: HomeAssistant, entry: Any) -> None:
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()


async def _until_idle(simulator: DuplicatiSimulator) -> None:
    """Let the simulated task runner work through its queue."""
    for _ in range(200):
        if simulator.current is None and not simulator.queue:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the simulated tasks did not end")


def _issue(hass: HomeAssistant, entry: Any, backup_id: str = "1") -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"{entry.entry_id}_duplicati_backup_{backup_id}"
    )


def _reason(hass: HomeAssistant, entity_id: str = PROBLEM) -> str | None:
    reason: str | None = attributes_of(hass, entity_id).get("reason")
    return reason


async def test_missed_schedule_appears_stays_after_a_manual_run_and_clears(
    hass: HomeAssistant, make_simulator: SimulatorFactory, clock: Clock
) -> None:
    simulator = await make_simulator("2.3")
    clock.servers.append(simulator)
    start = datetime.now(UTC) + timedelta(minutes=30)
    simulator.add_backup("Documents", history=["Success"], schedule=start)
    simulator.scheduler_stuck = True
    entry = await password_entry(hass, simulator)
    assert state_of(hass, PROBLEM) == "off"
    assert _reason(hass) is None

    # Half an hour past the scheduled start is not yet a missed schedule.
    clock.advance(hours=1)
    await _poll(hass, entry)
    assert state_of(hass, PROBLEM) == "off"

    clock.advance(hours=1)
    await _poll(hass, entry)
    assert state_of(hass, PROBLEM) == "on"
    assert _reason(hass) == "missed_schedule"
    issue = _issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "duplicati_backup_missed_schedule"
    assert not issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == "Documents"
    assert issue.translation_placeholders["server"] == entry.title
    assert issue.translation_placeholders["scheduled"] == dt_util.as_local(start).strftime(
        "%Y-%m-%d %H:%M"
    )

    # A backup run by hand succeeds, but the scheduler's next start is still in the past.
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.documents_back_up_now"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ("POST", "/api/v1/backup/1/run") in calls(simulator)
    assert state_of(hass, "sensor.documents_versions") == "2"
    assert state_of(hass, PROBLEM) == "on"
    assert _reason(hass) == "missed_schedule"
    assert _issue(hass, entry) is not None

    # The scheduler works again: it starts the job and moves the next start into the future.
    simulator.scheduler_stuck = False
    await _poll(hass, entry)
    await _until_idle(simulator)
    await _poll(hass, entry)
    assert state_of(hass, PROBLEM) == "off"
    assert _issue(hass, entry) is None
    assert state_of(hass, "sensor.documents_versions") == "3"


async def test_queued_or_paused_is_not_a_missed_schedule(
    hass: HomeAssistant, make_simulator: SimulatorFactory, clock: Clock
) -> None:
    """A paused server still queues the due job: it waits, it was not missed."""
    simulator = await make_simulator("2.3")
    clock.servers.append(simulator)
    simulator.add_backup(
        "Documents", history=["Success"], schedule=datetime.now(UTC) + timedelta(minutes=30)
    )
    simulator.paused = True
    entry = await password_entry(hass, simulator)
    simulator.scheduler_stuck = True
    clock.advance(hours=3)
    simulator.scheduler_stuck = False
    simulator.run_scheduler()
    await _poll(hass, entry)
    assert [task.backup_id for task in simulator.queue] == ["1"]
    assert state_of(hass, PROBLEM) == "off"
    assert state_of(hass, "binary_sensor.documents_running") == "off"


async def test_hung_run_appears_with_the_clock_and_clears_when_it_ends(
    hass: HomeAssistant, make_simulator: SimulatorFactory, clock: Clock
) -> None:
    simulator = await make_simulator("2.3")
    clock.servers.append(simulator)
    documents = simulator.add_backup("Documents", history=["Success"] * 3)
    music = simulator.add_backup("Music")
    documents.hangs = music.hangs = True
    entry = await password_entry(hass, simulator, options={"max_age_hours": 100})
    for button in ("button.documents_back_up_now", "button.music_back_up_now"):
        await hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)
    await _poll(hass, entry)
    assert state_of(hass, "binary_sensor.documents_running") == "on"
    assert state_of(hass, PROBLEM) == "off"

    # Four times the usual 4 minutes is less than the hour every run gets.
    clock.advance(minutes=50)
    await _poll(hass, entry)
    assert state_of(hass, PROBLEM) == "off"
    assert _issue(hass, entry) is None

    clock.advance(minutes=15)
    await _poll(hass, entry)
    assert state_of(hass, PROBLEM) == "on"
    assert _reason(hass) == "hung"
    issue = _issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "duplicati_backup_hung"
    assert not issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["typical"] == "4"
    assert issue.translation_placeholders["name"] == "Documents"

    # Music waits behind it; a job with no recorded run is never called hung.
    simulator.complete_task()
    await hass.async_block_till_done()
    await _poll(hass, entry)
    assert state_of(hass, PROBLEM) == "off"
    assert _issue(hass, entry) is None
    assert state_of(hass, "binary_sensor.music_running") == "on"
    clock.advance(hours=20)
    await _poll(hass, entry)
    assert _reason(hass, "binary_sensor.music_backup_problem") == "overdue"
    assert _issue(hass, entry, "2") is None
    simulator.complete_task()
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_a_failed_job_that_hangs_on_its_rerun(
    hass: HomeAssistant, make_simulator: SimulatorFactory, clock: Clock
) -> None:
    """Failed comes first in the reason; the repair is about the stuck rerun."""
    simulator = await make_simulator("2.3")
    clock.servers.append(simulator)
    documents = simulator.add_backup("Documents", history=["Success", "Error"])
    documents.hangs = True
    entry = await password_entry(hass, simulator)
    issue = _issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "duplicati_backup_failed"
    await entry.runtime_data.async_start_backup("1")
    await _poll(hass, entry)
    assert _issue(hass, entry) is None
    clock.advance(hours=2)
    await _poll(hass, entry)
    assert _reason(hass) == "failed"
    issue = _issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "duplicati_backup_hung"
    simulator.complete_task()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, PROBLEM) == "off"
    assert _issue(hass, entry) is None


def test_reasons_in_their_order() -> None:
    now = datetime.now(UTC)
    job = BackupJob(
        id="1",
        name="Documents",
        last_backup=now,
        last_result=BackupResult.ERROR,
        last_error=None,
        last_duration=60.0,
        next_run=None,
        source_size=None,
        backup_size=None,
        versions=None,
        running=True,
        running_since=now - timedelta(hours=5),
        typical_duration=2 * 3600,
    )
    # Four times two hours: not hung after five.
    assert not is_hung(job, now)
    assert is_hung(job, now + timedelta(hours=3, seconds=1))
    status = JobStatus(job, overdue=True, hung=True, missed_schedule=True)
    assert status.reason is ProblemReason.FAILED
    fine = replace(job, last_result=BackupResult.SUCCESS)
    assert JobStatus(fine, overdue=True, hung=True, missed_schedule=True).reason == "hung"
    assert JobStatus(fine, overdue=True, missed_schedule=True).reason == "missed_schedule"
    assert JobStatus(fine, overdue=True).reason == "overdue"
    assert JobStatus(fine, overdue=False).reason is None


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_verify_button_end_to_end(
    hass: HomeAssistant, make_simulator: SimulatorFactory, profile: str
) -> None:
    simulator = await make_simulator(profile)
    documents = simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    assert state_of(hass, "sensor.documents_last_verified") == STATE_UNKNOWN
    assert "result" not in attributes_of(hass, "sensor.documents_last_verified")
    simulator.requests.clear()

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.documents_verify_now"}, blocking=True
    )
    assert calls(simulator)[0] == ("POST", "/api/v1/backup/1/verify")
    await hass.async_block_till_done(wait_background_tasks=True)
    verified = datetime.fromisoformat(state_of(hass, "sensor.documents_last_verified"))
    assert abs((verified - datetime.now(UTC)).total_seconds()) < 5
    assert attributes_of(hass, "sensor.documents_last_verified")["result"] == "success"
    assert attributes_of(hass, "sensor.documents_last_verified")["device_class"] == "timestamp"
    assert state_of(hass, "sensor.documents_last_result") == "success"

    documents.next_verify_result = "Fatal"
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.documents_verify_now"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert attributes_of(hass, "sensor.documents_last_verified")["result"] == "fatal"
    assert entry.runtime_data.last_update_success


async def test_no_target_url_in_new_attributes_issues_or_diagnostics(
    hass: HomeAssistant,
    make_simulator: SimulatorFactory,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = await make_simulator("2.3")
    clock.servers.append(simulator)
    start = datetime.now(UTC) + timedelta(minutes=5)
    documents = simulator.add_backup(
        "Documents", target_url=LEAKY_TARGET, history=["Success"], schedule=start
    )
    documents.next_error = f"Connection to {LEAKY_TARGET} refused"
    documents.next_verify_result = "Fatal"
    simulator.scheduler_stuck = True
    entry = await password_entry(hass, simulator)
    await entry.runtime_data.async_verify_backup("1")
    await hass.async_block_till_done(wait_background_tasks=True)
    clock.advance(hours=2)
    await _poll(hass, entry)
    issue = _issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "duplicati_backup_missed_schedule"
    dumped = json.dumps(
        [
            await async_get_config_entry_diagnostics(hass, entry),
            [s.as_dict() for s in hass.states.async_all()],
            issue.translation_placeholders,
        ],
        default=str,
    )
    for secret in ("hunter2", "hunter3"):
        assert secret not in dumped
        assert secret not in caplog.text
