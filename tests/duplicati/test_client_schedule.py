"""The client's view of schedules, the queue, hung runs and verifications, in every era."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from custom_components.homelab_sentinel.duplicati.client import LOG_MAX_AGE
from custom_components.homelab_sentinel.duplicati.exceptions import (
    DuplicatiNotFoundError,
    DuplicatiResponseError,
)
from custom_components.homelab_sentinel.duplicati.models import BackupResult, VerifyResult
from tests.duplicati.conftest import SimulatorFactory
from tests.duplicati.simulator import DuplicatiSimulator

from .test_client import POLL, calls, log_row, password_client

HOUR = 3600.0


def _server_now(simulator: DuplicatiSimulator) -> datetime:
    return datetime.fromtimestamp(simulator.now(), UTC)


async def _until_idle(simulator: DuplicatiSimulator) -> None:
    """Let the simulated task runner work through its queue."""
    for _ in range(200):
        if simulator.current is None and not simulator.queue:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the simulated tasks did not end")


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_verify_writes_a_test_result_that_the_next_poll_reads(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Every era answers the task ID; the Test row is read although the list shows nothing."""
    simulator = await make_simulator(profile)
    documents = simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    job = (await client.update()).jobs["1"]
    assert (job.last_verified, job.verify_result) == (None, None)
    metadata = dict(documents.metadata)

    task_id = await client.start_verify("1")
    assert task_id == 2
    await _until_idle(simulator)
    assert documents.metadata == metadata
    simulator.requests.clear()
    job = (await client.update()).jobs["1"]
    assert calls(simulator)[-1] == ("GET", "/api/v1/backup/1/log")
    assert job.verify_result is VerifyResult.SUCCESS
    assert job.last_verified is not None
    assert abs((job.last_verified - datetime.now(UTC)).total_seconds()) < 5
    # The backup's own result is unchanged by the verification.
    assert job.last_result is BackupResult.SUCCESS

    # Read once: the next poll costs the usual two requests.
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == POLL

    documents.next_verify_result = "Error"
    await client.start_verify("1")
    await _until_idle(simulator)
    job = (await client.update()).jobs["1"]
    assert job.verify_result is VerifyResult.ERROR
    assert job.last_result is BackupResult.SUCCESS


async def test_verify_appends_a_task_each_time_and_runs_after_the_queue(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents", history=["Success"])
    simulator.add_backup("Photos", history=["Success"])
    client = password_client(simulator, session)
    backup_task = await client.start_backup("2")
    await asyncio.sleep(0.05)
    first = await client.start_verify("1")
    second = await client.start_verify("1")
    assert backup_task < first < second
    snapshot = await client.update()
    assert snapshot.jobs["2"].running
    assert snapshot.jobs["1"].queued
    assert not snapshot.jobs["1"].running
    assert not snapshot.jobs["2"].queued
    # As for a queued backup, Duplicati answers a run with the job's task already waiting.
    assert await client.start_backup("1") == first
    for _ in range(3):
        simulator.complete_task()
        await asyncio.sleep(0.05)
    snapshot = await client.update()
    assert not snapshot.jobs["1"].queued
    assert snapshot.jobs["1"].verify_result is VerifyResult.SUCCESS


async def test_verify_errors(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    with pytest.raises(DuplicatiNotFoundError):
        await client.start_verify("9")
    with pytest.raises(DuplicatiNotFoundError):
        await client.start_verify("../1")
    verify = "/api/v1/backup/1/verify"
    simulator.answer("POST", verify, status=500, json_body={"Error": "An error occurred"})
    with pytest.raises(DuplicatiResponseError):
        await client.start_verify("1")
    simulator.answer("POST", verify, json_body={"Status": "OK"})
    with pytest.raises(DuplicatiResponseError):
        await client.start_verify("1")


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_schedule_comes_due_or_is_missed(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """The scheduler queues a due job and moves its next start; a stuck one does not."""
    simulator = await make_simulator(profile, task_duration=None)
    start = datetime.now(UTC) + timedelta(minutes=30)
    documents = simulator.add_backup("Documents", history=["Success"], schedule=start)
    client = password_client(simulator, session)
    job = (await client.update()).jobs["1"]
    assert job.next_run == start.replace(microsecond=0) or job.next_run == start

    simulator.scheduler_stuck = True
    simulator.advance(2 * HOUR)
    job = (await client.update()).jobs["1"]
    assert job.next_run is not None
    assert job.next_run < _server_now(simulator) - timedelta(hours=1)
    assert not job.running
    assert not job.queued

    # A backup run by hand leaves the schedule as it was.
    await client.start_backup("1")
    await asyncio.sleep(0.05)
    simulator.complete_task()
    await _until_idle(simulator)
    assert (await client.update()).jobs["1"].next_run == job.next_run

    # Unstuck, the scheduler queues the job and moves the next start past now.
    simulator.scheduler_stuck = False
    snapshot = await client.update()
    assert snapshot.jobs["1"].running or snapshot.jobs["1"].queued
    next_run = snapshot.jobs["1"].next_run
    assert next_run is not None
    assert next_run > _server_now(simulator)
    assert documents.schedule is not None
    assert documents.schedule.last_run is not None
    simulator.complete_task()


async def test_scheduler_catches_up_after_the_server_was_down(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator("2.3", task_duration=None)
    start = datetime.now(UTC) + timedelta(minutes=30)
    documents = simulator.add_backup("Documents", history=["Success"], schedule=start)
    documents.schedule.repeat = "12h"  # type: ignore[union-attr]
    await simulator.stop()
    simulator.advance(3 * HOUR)
    await simulator.restart()
    assert [task.backup_id for task in [simulator.current, *simulator.queue] if task] == ["1"]
    client = password_client(simulator, session)
    job = (await client.update()).jobs["1"]
    assert job.running
    assert job.next_run == start + timedelta(hours=12)
    simulator.complete_task()


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_running_since_and_typical_duration(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """2.1.2+ tell when a task started; older servers: when the client first saw it."""
    simulator = await make_simulator(profile, task_duration=None)
    documents = simulator.add_backup("Documents")
    for minutes in (10, 30, 20, 1):
        simulator.record_run(documents, "Success", duration=minutes * 60)
    # A run that threw says nothing about how long a backup takes.
    simulator.record_run(documents, "Fatal", duration=1)
    client = password_client(simulator, session)
    job = (await client.update()).jobs["1"]
    assert job.typical_duration == 15 * 60
    assert job.running_since is None

    documents.hangs = True
    task_id = await client.start_backup("1")
    await asyncio.sleep(0.05)
    first_seen = datetime.now(UTC) + timedelta(minutes=10)
    job = (await client.update(first_seen)).jobs["1"]
    assert job.running
    assert job.running_since is not None
    if profile == "2.3":
        assert simulator.current is not None
        started = simulator.current.started
        assert started is not None
        assert abs((job.running_since - started).total_seconds()) < 0.001
        assert job.running_since < first_seen
    else:
        assert job.running_since == first_seen
    # The same task keeps its start; its task is asked about once.
    simulator.requests.clear()
    later = (await client.update(first_seen + timedelta(hours=1))).jobs["1"]
    assert later.running_since == job.running_since
    assert ("GET", f"/api/v1/task/{task_id}") not in calls(simulator)
    simulator.complete_task()
    await _until_idle(simulator)
    assert (await client.update()).jobs["1"].running_since is None


async def test_running_since_with_an_unusable_task_answer(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    task_id = await client.start_backup("1")
    await asyncio.sleep(0.05)
    simulator.answer("GET", f"/api/v1/task/{task_id}", json_body={"Status": "Sleeping"})
    now = datetime.now(UTC)
    assert (await client.update(now)).jobs["1"].running_since == now
    simulator.complete_task()


async def test_durations_and_verifications_from_unusual_logs(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator("2.3")
    finished = {"LastBackupFinished": "20250105T030412Z", "LastBackupDuration": "00:07:00"}
    jobs = {name: simulator.add_backup(name) for name in "ABCD"}
    for job in jobs.values():
        job.metadata |= finished
    jobs["A"].log = [
        # 2.0.x text results carry their duration as a line of its own.
        log_row(1, "MainOperation: Backup\nParsedResult: Success\nDuration: 00:10:00\n"),
        log_row(
            2,
            {
                "MainOperation": "Backup",
                "ParsedResult": "Warning",
                "BeginTime": "2025-01-05T03:00:00Z",
                "EndTime": "2025-01-05T03:20:00+00:00",
            },
        ),
        log_row(3, {"MainOperation": "Test", "ParsedResult": "Warning"}),
        log_row(4, {"MainOperation": "Test", "ParsedResult": "Unknown"}),
    ]
    # No usable duration in the log: the metadata's last duration stands in.
    jobs["B"].log = [
        log_row(5, {"MainOperation": "Backup", "ParsedResult": "Success", "Duration": "x"}),
        log_row(6, {"MainOperation": "Backup", "ParsedResult": "Success", "BeginTime": "y"}),
        log_row(7, {"MainOperation": "Backup", "ParsedResult": "Success", "Duration": "00:00:00"}),
    ]
    test = {"MainOperation": "Test", "ParsedResult": "Success", "EndTime": "2025-01-07T01:00:00Z"}
    jobs["C"].log = [{**log_row(8, test), "Timestamp": None}]
    jobs["D"].log = [
        log_row(9, {"MainOperation": "Test", "ParsedResult": "Error"}),
        {**log_row(10, {"MainOperation": "Test", "ParsedResult": "Fatal"}), "Timestamp": 10**20},
    ]
    jobs["D"].metadata.pop("LastBackupDuration")
    client = password_client(simulator, session)
    snapshot = (await client.update()).jobs

    assert snapshot["1"].typical_duration == 15 * 60
    assert snapshot["1"].verify_result is VerifyResult.WARNING
    # The newest Test row has no usable result: the one before it counts.
    assert snapshot["1"].last_verified == datetime.fromtimestamp(1736046252 + 3, UTC)
    assert snapshot["1"].last_result is BackupResult.WARNING
    assert snapshot["2"].typical_duration == 7 * 60
    assert snapshot["2"].last_verified is None
    assert snapshot["3"].last_verified == datetime(2025, 1, 7, 1, 0, tzinfo=UTC)
    assert snapshot["3"].verify_result is VerifyResult.SUCCESS
    # A row with an impossible time is skipped; the older one is the newest usable.
    assert snapshot["4"].verify_result is VerifyResult.ERROR
    assert snapshot["4"].typical_duration is None


async def test_logs_are_read_again_hourly_one_job_per_poll(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A verification started elsewhere between two polls shows within the hour."""
    simulator = await make_simulator("2.3")
    documents = simulator.add_backup("Documents", history=["Success"])
    simulator.add_backup("Photos", history=["Success"])
    simulator.add_backup("Music")
    client = password_client(simulator, session)
    now = datetime.now(UTC)
    await client.update(now)
    simulator.record_run(documents, "Success", operation="Test")

    simulator.requests.clear()
    assert (await client.update(now + LOG_MAX_AGE / 2)).jobs["1"].last_verified is None
    assert calls(simulator) == POLL

    later = now + LOG_MAX_AGE
    job = (await client.update(later)).jobs["1"]
    assert job.verify_result is VerifyResult.SUCCESS
    assert calls(simulator)[-1] == ("GET", "/api/v1/backup/1/log")
    simulator.requests.clear()
    await client.update(later)
    # The other job that ran is next; the one that never ran has no log to read.
    assert calls(simulator) == [*POLL, ("GET", "/api/v1/backup/2/log")]
    simulator.requests.clear()
    await client.update(later)
    assert calls(simulator) == POLL


async def test_a_log_locked_after_a_task_is_read_when_it_opens(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    await client.update()
    await client.start_verify("1")
    await _until_idle(simulator)
    log = "/api/v1/backup/1/log"
    simulator.answer("GET", log, status=503, json_body={"Error": "busy"}, times=1)
    assert (await client.update()).jobs["1"].last_verified is None
    job = (await client.update()).jobs["1"]
    assert job.verify_result is VerifyResult.SUCCESS
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == POLL


async def test_a_task_id_reused_after_a_restart_is_a_new_task(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Task IDs start again at 2 when Duplicati restarts; the old start does not carry over."""
    simulator = await make_simulator("2.1.0", task_duration=None)
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    first = await client.start_backup("1")
    await asyncio.sleep(0.05)
    now = datetime.now(UTC)
    assert (await client.update(now)).jobs["1"].running_since == now
    await simulator.restart()
    assert (await client.update(now + timedelta(hours=1))).jobs["1"].running_since is None
    assert await client.start_backup("1") == first
    await asyncio.sleep(0.05)
    later = now + timedelta(hours=2)
    assert (await client.update(later)).jobs["1"].running_since == later
    simulator.complete_task()


async def test_a_run_found_hanging_at_start_up_is_measured_by_the_metadata(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Home Assistant restarts while a 2.3.1 job hangs: its log is locked, its metadata is not."""
    simulator = await make_simulator("2.3", task_duration=None)
    documents = simulator.add_backup("Documents", history=["Success"])
    documents.hangs = True
    starter = password_client(simulator, session)
    await starter.start_backup("1")
    await asyncio.sleep(0.05)
    simulator.requests.clear()
    job = (await password_client(simulator, session).update()).jobs["1"]
    assert ("GET", "/api/v1/backup/1/log") in calls(simulator)
    assert job.running_since is not None
    assert job.typical_duration == pytest.approx(252.3456789)
    assert job.last_result is BackupResult.SUCCESS
    simulator.complete_task()


async def test_a_verification_older_than_the_log_page_is_kept(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Ten backups after a verification push its Test row off the page that is read."""
    simulator = await make_simulator("2.3")
    documents = simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    now = datetime.now(UTC)
    await client.update(now)
    simulator.record_run(documents, "Success", operation="Test")
    verified = (await client.update(now + LOG_MAX_AGE)).jobs["1"].last_verified
    assert verified is not None
    for _ in range(12):
        simulator.record_run(documents, "Success")
    job = (await client.update(now + 2 * LOG_MAX_AGE)).jobs["1"]
    assert (job.last_verified, job.verify_result) == (verified, VerifyResult.SUCCESS)
