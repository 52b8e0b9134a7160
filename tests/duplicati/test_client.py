"""Tests for the Duplicati client against the protocol simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
import json
import logging
from typing import Any

import aiohttp
import pytest

from custom_components.homelab_sentinel.duplicati.auth import (
    AuthMethod,
    SigninState,
    parse_signin_token,
)
from custom_components.homelab_sentinel.duplicati.client import DuplicatiClient
from custom_components.homelab_sentinel.duplicati.exceptions import (
    DuplicatiAuthError,
    DuplicatiConnectionError,
    DuplicatiError,
    DuplicatiHostnameError,
    DuplicatiInvalidTokenError,
    DuplicatiNotFoundError,
    DuplicatiRefreshExpiredError,
    DuplicatiResponseError,
)
from custom_components.homelab_sentinel.duplicati.models import (
    BackupResult,
    ServerState,
    TaskStatus,
    parse_count,
    parse_iso_date,
    parse_metadata_date,
    parse_timespan,
    redact,
)
from tests.duplicati.conftest import SimulatorFactory
from tests.duplicati.simulator import DuplicatiSimulator

LOGIN = ("POST", "/api/v1/auth/login")
SIGNIN = ("POST", "/api/v1/auth/signin")
REFRESH = ("POST", "/api/v1/auth/refresh")
BACKUPS = ("GET", "/api/v1/backups")
SERVERSTATE = ("GET", "/api/v1/serverstate")
POLL = [BACKUPS, SERVERSTATE]
LEAKY_TARGET = "ftp://backupuser:hunter2-target@ftp.example.com/backups?auth-password=hunter3"


def calls(simulator: DuplicatiSimulator) -> list[tuple[str, str]]:
    """Method and path of each request received since the last clear."""
    return [(request.method, request.path) for request in simulator.requests]


def password_client(
    simulator: DuplicatiSimulator, session: aiohttp.ClientSession, **options: Any
) -> DuplicatiClient:
    return DuplicatiClient(
        simulator.url,
        session,
        auth_method=AuthMethod.PASSWORD,
        secret=simulator.password,
        **options,
    )


async def issue_forever_token(simulator: DuplicatiSimulator, session: aiohttp.ClientSession) -> str:
    """What `ServerUtil issue-forever-token` does: log in, then ask for the token."""
    async with session.post(
        f"{simulator.url}/api/v1/auth/login", json={"Password": simulator.password}
    ) as response:
        access = (await response.json())["AccessToken"]
    async with session.post(
        f"{simulator.url}/api/v1/auth/issue-forever-token",
        headers={"Authorization": f"Bearer {access}"},
    ) as response:
        assert response.status == 200
        token: str = (await response.json())["AccessToken"]
    return token


# -- polling ------------------------------------------------------------------------------


async def test_poll_every_profile(
    simulator: DuplicatiSimulator, session: aiohttp.ClientSession
) -> None:
    """Password login works on every generation and jobs are read completely."""
    next_run = datetime(2031, 1, 6, 3, 0, tzinfo=UTC)
    simulator.backups["2"].schedule = None
    simulator.add_backup("Music", schedule=next_run, history=["Error"])
    client = password_client(simulator, session)

    snapshot = await client.update()

    assert client.legacy is (simulator.profile.name == "2.0.8")
    assert snapshot.state is ServerState.IDLE
    assert snapshot.progress is None
    documents, photos, music = (snapshot.jobs[key] for key in ("1", "2", "3"))
    assert documents.name == "Documents"
    assert documents.last_result is BackupResult.WARNING
    assert documents.last_error is None
    assert documents.last_duration == pytest.approx(252.3456789)
    assert documents.versions == 2
    assert documents.source_size == 1_000_000 + 2 * 4096
    assert documents.backup_size == (1_000_000 + 2 * 4096) // 2
    assert documents.last_backup is not None
    assert documents.last_backup.tzinfo is UTC
    assert documents.next_run is None
    assert not documents.running
    assert photos.last_result is BackupResult.NEVER
    assert (photos.last_backup, photos.versions, photos.source_size) == (None, None, None)
    assert music.last_result is BackupResult.ERROR
    assert music.last_error == "Failed to connect to the destination"
    assert music.next_run == next_run
    assert (await client.get_system_info()).version == simulator.profile.version
    await client.close()


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_steady_state_poll_is_two_requests(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """With 50 jobs, a poll after the first one costs exactly two requests."""
    simulator = await make_simulator(profile)
    for number in range(50):
        simulator.add_backup(f"Job {number}", history=["Success"] if number % 2 else [])
    client = password_client(simulator, session)

    first = await client.update()
    assert len(first.jobs) == 50
    assert sum(1 for _, path in calls(simulator) if path.endswith("/log")) == 25

    for _ in range(3):
        simulator.requests.clear()
        snapshot = await client.update()
        assert calls(simulator) == POLL
    assert snapshot == first


async def test_jobs_added_and_removed(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """New jobs appear (their log read once), deleted ones disappear."""
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    await client.update()

    simulator.requests.clear()
    added = simulator.add_backup("Photos", history=["Fatal"])
    snapshot = await client.update()
    assert calls(simulator) == [*POLL, ("GET", f"/api/v1/backup/{added.id}/log")]
    assert snapshot.jobs[added.id].last_result is BackupResult.FATAL

    simulator.remove_backup("1")
    simulator.requests.clear()
    snapshot = await client.update()
    assert list(snapshot.jobs) == [added.id]
    assert calls(simulator) == POLL


async def test_paused_and_running_state(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Server state, progress and the running flag come from serverstate/progressstate."""
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents")
    simulator.add_backup("Photos")
    client = password_client(simulator, session)

    task_id = await client.start_backup("2")
    await asyncio.sleep(0.05)
    simulator.progress = 0.42
    simulator.requests.clear()
    snapshot = await client.update()
    # The new task's start is asked once; later polls of the same task do not ask again.
    assert calls(simulator) == [
        *POLL,
        ("GET", f"/api/v1/task/{task_id}"),
        ("GET", "/api/v1/progressstate"),
    ]
    assert snapshot.jobs["2"].running_since is not None
    simulator.requests.clear()
    assert (await client.update()).jobs["2"].running_since == snapshot.jobs["2"].running_since
    assert calls(simulator) == [*POLL, ("GET", "/api/v1/progressstate")]
    assert snapshot.state is ServerState.RUNNING
    assert snapshot.progress == 42.0
    assert (snapshot.active_task_id, snapshot.active_backup_id) == (task_id, "2")
    assert snapshot.jobs["2"].running
    assert not snapshot.jobs["1"].running

    simulator.paused = True
    assert (await client.update()).state is ServerState.PAUSED
    simulator.paused = False
    simulator.complete_task()
    await asyncio.sleep(0.05)
    snapshot = await client.update()
    assert snapshot.state is ServerState.IDLE
    assert snapshot.progress is None
    assert snapshot.jobs["2"].last_result is BackupResult.SUCCESS


# -- starting backups -----------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_start_backup_and_follow_task(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A started backup gets a task ID (2.0.x: read from the queue) that can be followed."""
    simulator = await make_simulator(profile, task_duration=0.1)
    simulator.add_backup("Documents", history=["Warning"])
    client = password_client(simulator, session)
    assert (await client.update()).jobs["1"].last_result is BackupResult.WARNING

    task_id = await client.start_backup("1")
    assert task_id == 2
    assert await client.start_backup("1") == task_id  # already queued or running
    info = await client.wait_for_task(task_id, max_wait=5, interval=0.02)
    assert info.status is TaskStatus.COMPLETED
    assert info.done
    if profile == "2.3":
        assert info.started is not None
        assert info.finished is not None
        assert info.finished.utcoffset() == timedelta(hours=2)

    assert (await client.update()).jobs["1"].last_result is BackupResult.SUCCESS
    assert ("POST", "/api/v1/backup/1/run") in calls(simulator)
    assert (await client.get_task(999)).status is TaskStatus.GONE
    with pytest.raises(DuplicatiNotFoundError):
        await client.start_backup("42")
    with pytest.raises(DuplicatiNotFoundError):
        await client.start_backup("../systeminfo")


async def test_skip_queue_and_failed_task(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """skipQueue puts the task first; a throwing backup ends Failed and reads as fatal."""
    simulator = await make_simulator("2.3", task_duration=None)
    for name in ("A", "B", "C"):
        simulator.add_backup(name, target_url=LEAKY_TARGET)
    simulator.backups["3"].next_result = "Fatal"
    simulator.backups["3"].next_error = f"Cannot open {LEAKY_TARGET}"
    client = password_client(simulator, session)

    first = await client.start_backup("1")
    await asyncio.sleep(0.02)
    second = await client.start_backup("2")
    third = await client.start_backup("3", skip_queue=True)
    assert simulator.requests[-1].query == {"skipQueue": "true"}
    assert [task.id for task in simulator.queue] == [third, second]

    simulator.complete_task()
    await asyncio.sleep(0.02)
    assert simulator.current is not None
    assert simulator.current.id == third
    simulator.complete_task()
    info = await client.wait_for_task(third, max_wait=2, interval=0.02)
    assert info.status is TaskStatus.FAILED
    assert info.error_message is not None
    assert "hunter2" not in info.error_message
    assert "hunter3" not in info.error_message
    assert (await client.get_task(first)).status is TaskStatus.COMPLETED

    job = (await client.update()).jobs["3"]
    assert job.last_result is BackupResult.FATAL
    assert job.last_backup is None  # a throwing backup does not set LastBackupFinished
    assert job.last_error is not None
    assert job.last_error == "Cannot open ***"  # the job's own target URL, masked whole
    simulator.complete_task()


async def test_wait_for_task_gives_up_and_forgotten_tasks(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """The wait returns the last state when time is up; a restart makes the task GONE."""
    simulator = await make_simulator("2.3", task_duration=None)
    simulator.add_backup("Documents")
    client = password_client(simulator, session)
    task_id = await client.start_backup("1")
    info = await client.wait_for_task(task_id, max_wait=0.1, interval=0.02)
    assert info.status is TaskStatus.RUNNING
    assert not info.done
    await simulator.restart()
    assert (await client.wait_for_task(task_id, max_wait=1)).status is TaskStatus.GONE


async def test_database_locked_keeps_previous_result(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """2.3.1+ refuses /log while the job runs: keep what was known and retry later."""
    simulator = await make_simulator("2.3", task_duration=None)
    backup = simulator.add_backup("Documents", history=["Warning"])
    client = password_client(simulator, session)
    assert (await client.update()).jobs["1"].last_result is BackupResult.WARNING

    await client.start_backup("1")
    await asyncio.sleep(0.02)
    simulator.record_run(backup, "Error")  # finished meanwhile; the new run holds the DB
    snapshot = await client.update()
    assert snapshot.jobs["1"].running
    assert snapshot.jobs["1"].last_result is BackupResult.WARNING
    assert ("GET", "/api/v1/backup/1/log") in calls(simulator)

    # A client that never saw the job falls back to the metadata for now.
    fresh = password_client(simulator, session)
    assert (await fresh.update()).jobs["1"].last_result is BackupResult.SUCCESS

    simulator.complete_task()
    await asyncio.sleep(0.02)
    simulator.requests.clear()
    snapshot = await client.update()
    assert snapshot.jobs["1"].last_result is BackupResult.SUCCESS  # the task's own run
    assert calls(simulator) == [*POLL, ("GET", "/api/v1/backup/1/log")]


# -- password sessions ----------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["2.3", "2.1.0"])
async def test_password_refreshes_before_expiry(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """At 80 % of the access token's life the client refreshes instead of failing."""
    simulator = await make_simulator(profile, access_lifetime=2, clock_skew=0)
    simulator.add_backup("Documents")
    client = password_client(simulator, session)
    await client.update()
    await asyncio.sleep(1.7)
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [REFRESH, *POLL]
    await asyncio.sleep(1.7)
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [REFRESH, *POLL]
    assert simulator.family_count == 1


async def test_password_recovers_from_expired_token_and_revoked_family(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """401 → refresh; empty 500 (family deleted) → refresh fails → new login."""
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents")
    client = password_client(simulator, session)
    await client.update()

    simulator.advance(16 * 60)
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [BACKUPS, REFRESH, *POLL]

    simulator.revoke_all_families()
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [BACKUPS, REFRESH, LOGIN, *POLL]
    login = next(request for request in simulator.requests if request.path == LOGIN[1])
    assert login.auth_scheme is None  # a stale header would turn the login into a 500


async def test_password_after_restart(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Tokens survive a restart; a reset JWT configuration needs a new login."""
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents")
    client = password_client(simulator, session)
    await client.update()

    await simulator.restart()
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == POLL

    await simulator.restart(reset_jwt_config=True)
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [BACKUPS, REFRESH, LOGIN, *POLL]


async def test_legacy_session_after_restart_and_expiry(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """2.0.x: a lost XSRF token is replaced, a lost session means a new nonce login."""
    simulator = await make_simulator("2.0.8")
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    await client.update()
    assert client.legacy

    await simulator.restart()
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [
        BACKUPS,  # 400 Missing XSRF Token, with a new XSRF cookie
        BACKUPS,  # 401 Not logged in
        LOGIN,  # the current API first, in case the server was upgraded
        ("POST", "/login.cgi"),
        ("POST", "/login.cgi"),
        *POLL,
    ]

    simulator.advance(2 * 3600)  # session (1 h) and XSRF token (10 min) time out
    simulator.requests.clear()
    await client.update()
    assert calls(simulator)[-2:] == POLL
    assert calls(simulator).count(("POST", "/login.cgi")) == 2


@pytest.mark.parametrize("profile", ["2.3", "2.1.0", "2.0.8"])
async def test_wrong_password(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A wrong password is an auth error (flow error invalid_auth), not a token error."""
    simulator = await make_simulator(profile)
    client = DuplicatiClient(simulator.url, session, auth_method="password", secret="wrong")
    with pytest.raises(DuplicatiAuthError) as caught:
        await client.update()
    assert not isinstance(caught.value, DuplicatiInvalidTokenError)


async def test_concurrent_calls_refresh_once(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Two refreshes with one token would look like theft; renewals are serialised."""
    simulator = await make_simulator("2.3", reuse_grace=0)
    simulator.add_backup("Documents")
    client = password_client(simulator, session)
    await client.update()
    simulator.advance(16 * 60)
    simulator.requests.clear()
    await asyncio.gather(client.update(), client.start_backup("1"), client.update())
    assert calls(simulator).count(REFRESH) == 1
    assert calls(simulator).count(LOGIN) == 0


async def test_close_logs_out_password_sessions_only(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Logging out deletes a password family; a sign-in family must survive unloads."""
    simulator = await make_simulator("2.3")
    client = password_client(simulator, session)
    await client.update()
    signin = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", secret=simulator.signin_link()
    )
    await signin.update()
    assert simulator.family_count == 2
    await client.close()
    await signin.close()
    assert simulator.family_count == 1
    await signin.update()


# -- sign-in tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["2.3", "2.1.0"])
async def test_signin_link_persist_and_restore(
    profile: str, make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """The link is exchanged once; the rotating refresh state is published and restorable."""
    simulator = await make_simulator(profile)
    simulator.add_backup("Documents")
    link = simulator.signin_link()
    token = parse_signin_token(link)
    states: list[SigninState] = []
    client = DuplicatiClient(
        simulator.url,
        session,
        auth_method=AuthMethod.SIGNIN_TOKEN,
        secret=link,
        on_signin_state=states.append,
    )
    before_signin = client.signin_state
    assert before_signin is None
    await client.update()
    assert len(states) == 1
    assert client.signin_state == states[-1]
    assert token not in repr(vars(client)) + repr(states)
    assert (states[-1].nonce is None) is (profile == "2.1.0")

    simulator.advance(16 * 60)
    await client.update()
    assert len(states) == 2
    assert states[1].refresh_token != states[0].refresh_token
    assert calls(simulator).count(SIGNIN) == 1

    # After a restart of Home Assistant: only the persisted state is left.
    stored = states[-1].as_dict()
    restored_states: list[SigninState] = []
    restored = DuplicatiClient(
        simulator.url,
        session,
        auth_method="signin_token",
        signin_state=SigninState.from_dict(stored),
        on_signin_state=restored_states.append,
    )
    simulator.requests.clear()
    await restored.update()
    assert calls(simulator) == [REFRESH, *POLL]
    assert len(restored_states) == 1


async def test_signin_accepts_bare_token_and_survives_restart(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A bare token works too; a restart keeps the family, a JWT reset ends it."""
    simulator = await make_simulator("2.3")
    client = DuplicatiClient(
        simulator.url,
        session,
        auth_method="signin_token",
        secret=f"  {simulator.issue_signin_token()}\n",
    )
    await client.update()
    await simulator.restart()
    simulator.advance(16 * 60)
    await client.update()
    await simulator.restart(reset_jwt_config=True)
    with pytest.raises(DuplicatiRefreshExpiredError):
        await client.update()
    # The family is gone for good: no new sign-in is attempted.
    with pytest.raises(DuplicatiRefreshExpiredError):
        await client.update()
    assert calls(simulator).count(SIGNIN) == 1


async def test_signin_family_revoked_by_reuse(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Refreshing with an outdated state revokes the family: reauth is needed."""
    simulator = await make_simulator("2.3", reuse_grace=0)
    states: list[SigninState] = []
    client = DuplicatiClient(
        simulator.url,
        session,
        auth_method="signin_token",
        secret=simulator.signin_link(),
        on_signin_state=states.append,
    )
    await client.update()
    simulator.advance(16 * 60)
    await client.update()

    stale = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", signin_state=states[0]
    )
    with pytest.raises(DuplicatiRefreshExpiredError):
        await stale.update()
    simulator.requests.clear()
    with pytest.raises(DuplicatiRefreshExpiredError):
        await client.update()  # empty 500 for the dead family, then a refused refresh
    assert calls(simulator) == [BACKUPS, REFRESH]


async def test_signin_refresh_answer_lost(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A refresh whose answer never arrived is retried at once, inside the re-use grace."""
    simulator = await make_simulator("2.3")
    states: list[SigninState] = []
    client = DuplicatiClient(
        simulator.url,
        session,
        auth_method="signin_token",
        secret=simulator.signin_link(),
        on_signin_state=states.append,
        request_timeout=0.3,
    )
    await client.update()
    simulator.advance(16 * 60)
    simulator.lost_answers[REFRESH] = 1.0
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == [BACKUPS, REFRESH, REFRESH, *POLL]
    simulator.advance(16 * 60)
    await client.update()
    assert len(states) == 3


async def test_signin_refresh_token_runs_out(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """After 30 days offline the refresh token has expired."""
    simulator = await make_simulator("2.3")
    client = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", secret=simulator.signin_link()
    )
    await client.update()
    simulator.advance(31 * 86400)
    with pytest.raises(DuplicatiRefreshExpiredError):
        await client.update()


async def test_bad_signin_tokens(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Garbage, expired and disabled sign-in tokens are token errors (invalid_token)."""
    simulator = await make_simulator("2.3")
    with pytest.raises(DuplicatiInvalidTokenError):
        DuplicatiClient(simulator.url, session, auth_method="signin_token", secret="hello")

    expired = simulator.issue_signin_token()
    simulator.advance(6 * 60)
    client = DuplicatiClient(simulator.url, session, auth_method="signin_token", secret=expired)
    with pytest.raises(DuplicatiInvalidTokenError, match="Signin token expired"):
        await client.update()
    with pytest.raises(DuplicatiRefreshExpiredError):
        await client.update()  # the token is spent, never sent twice

    forged = expired.rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    client = DuplicatiClient(simulator.url, session, auth_method="signin_token", secret=forged)
    with pytest.raises(DuplicatiInvalidTokenError, match="Failed to sign in"):
        await client.update()

    simulator.disable_signin_tokens = True
    client = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", secret=simulator.signin_link()
    )
    with pytest.raises(DuplicatiInvalidTokenError, match="disabled"):
        await client.update()

    legacy = await make_simulator("2.0.8")
    client = DuplicatiClient(
        legacy.url, session, auth_method="signin_token", secret=simulator.signin_link()
    )
    with pytest.raises(DuplicatiAuthError) as caught:
        await client.update()
    assert not isinstance(caught.value, DuplicatiInvalidTokenError)


def test_signin_state_round_trip() -> None:
    """The persisted form is plain JSON; broken data asks for a new sign-in."""
    state = SigninState("RefreshToken_8200", "a.b.c", "bm9uY2U=")
    assert SigninState.from_dict(state.as_dict()) == state
    assert "a.b.c" not in repr(state)
    assert "bm9uY2U=" not in repr(state)
    with pytest.raises(DuplicatiRefreshExpiredError):
        SigninState.from_dict({"cookie_name": "other", "refresh_token": "a.b.c"})
    with pytest.raises(ValueError, match="sign-in"):
        DuplicatiClient("http://127.0.0.1:1", None, auth_method="signin_token")  # type: ignore[arg-type]


# -- static tokens --------------------------------------------------------------------------


async def test_preauth_token(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """PreAuth tokens need no renewal; unknown ones and old servers are auth errors."""
    preauth = "ha-preauth_0123456789"
    simulator = await make_simulator("2.3", preauth_tokens=[preauth, "short"])
    simulator.add_backup("Documents")
    client = DuplicatiClient(
        simulator.url, session, auth_method="preauth_token", secret=f"PreAuth {preauth}"
    )
    await client.update()
    simulator.advance(365 * 86400)
    await simulator.restart(reset_jwt_config=True)
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == POLL
    assert {request.auth_scheme for request in simulator.requests} == {"PreAuth"}

    wrong = DuplicatiClient(
        simulator.url, session, auth_method="preauth_token", secret="not-the-right-token"
    )
    with pytest.raises(DuplicatiAuthError):
        await wrong.update()
    with pytest.raises(DuplicatiAuthError):
        DuplicatiClient(simulator.url, session, auth_method="preauth_token", secret="short")

    old = await make_simulator("2.1.0", preauth_tokens=[preauth])
    client = DuplicatiClient(old.url, session, auth_method="preauth_token", secret=preauth)
    with pytest.raises(DuplicatiAuthError):
        await client.update()


async def test_forever_token(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A forever token outlives token lifetimes and restarts, not a JWT reset."""
    simulator = await make_simulator("2.3", enable_forever_token=True)
    token = await issue_forever_token(simulator, session)
    client = DuplicatiClient(
        simulator.url,
        session,
        auth_method="forever_token",
        secret=f"Authorization: Bearer {token}",
    )
    await client.update()
    simulator.advance(400 * 86400)
    await simulator.restart()
    simulator.requests.clear()
    await client.update()
    assert calls(simulator) == POLL

    await simulator.restart(reset_jwt_config=True)
    with pytest.raises(DuplicatiAuthError):
        await client.update()
    with pytest.raises(DuplicatiAuthError):
        DuplicatiClient(simulator.url, session, auth_method="forever_token", secret="nope")

    legacy = await make_simulator("2.0.8")
    client = DuplicatiClient(legacy.url, session, auth_method="forever_token", secret=token)
    with pytest.raises(DuplicatiAuthError, match=r"2\.0\.x"):
        await client.update()


# -- transport failures ---------------------------------------------------------------------


async def test_malformed_json(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Unparseable answers are response errors, at login and when polling."""
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    client = password_client(simulator, session)
    await client.update()
    simulator.malformed_json = True
    with pytest.raises(DuplicatiResponseError):
        await client.update()
    with pytest.raises(DuplicatiResponseError):
        await password_client(simulator, session).update()
    simulator.malformed_json = False
    assert (await client.update()).jobs["1"].last_result is BackupResult.SUCCESS


async def test_timeouts_and_unreachable(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Slow and absent servers are connection errors."""
    simulator = await make_simulator("2.3")
    client = password_client(simulator, session, request_timeout=0.2)
    await client.update()
    simulator.delay = 1.0
    with pytest.raises(DuplicatiConnectionError, match="Timeout"):
        await client.update()
    simulator.delay = 0
    await client.update()
    await simulator.stop()
    with pytest.raises(DuplicatiConnectionError):
        await client.update()


async def test_hostname_filter_and_shared_cookie_jar(
    make_simulator: SimulatorFactory, named_session: aiohttp.ClientSession
) -> None:
    """Unlisted host names get 403; listed ones work even with a jar shared by two clients."""
    simulator = await make_simulator("2.3", allowed_hostnames=["nas.lan"])
    refused = DuplicatiClient(
        f"http://duplicati.lan:{simulator.port}",
        named_session,
        auth_method="password",
        secret=simulator.password,
    )
    with pytest.raises(DuplicatiHostnameError):
        await refused.update()

    url = f"http://nas.lan:{simulator.port}/"
    first = DuplicatiClient(url, named_session, auth_method="password", secret=simulator.password)
    second = DuplicatiClient(url, named_session, auth_method="password", secret=simulator.password)
    await first.update()
    await second.update()
    assert len(named_session.cookie_jar) >= 1  # the jar holds the second client's cookie
    simulator.advance(16 * 60)
    simulator.requests.clear()
    await first.update()
    await second.update()
    assert calls(simulator) == [BACKUPS, REFRESH, *POLL, BACKUPS, REFRESH, *POLL]


def test_url_validation() -> None:
    """Only plain http(s) URLs; credentials in the URL would leak into error messages."""
    for url in ("nas.lan:8200", "ftp://nas.lan", "http://user:pw@nas.lan:8200"):
        with pytest.raises(ValueError, match="URL"):
            DuplicatiClient(url, None, auth_method="password", secret="x")  # type: ignore[arg-type]
    client = DuplicatiClient(
        "https://nas.lan/duplicati/?x=1",
        None,  # type: ignore[arg-type]
        auth_method="password",
        secret="x",
    )
    assert client.url == "https://nas.lan/duplicati"


# -- formats --------------------------------------------------------------------------------


def test_parse_formats() -> None:
    """Metadata dates, .NET dates, TimeSpans and counts as Duplicati writes them."""
    assert parse_metadata_date("20250105T030412Z") == datetime(2025, 1, 5, 3, 4, 12, tzinfo=UTC)
    assert parse_metadata_date("20250105T050412+02:00") == datetime(
        2025, 1, 5, 3, 4, 12, tzinfo=UTC
    )
    for value in ("00010101T000000Z", "2025-01-05", "20251305T000000Z", None, 20250105):
        assert parse_metadata_date(value) is None

    assert parse_iso_date("2025-01-06T03:00:00Z") == datetime(2025, 1, 6, 3, tzinfo=UTC)
    assert parse_iso_date("2025-01-06T05:00:00.1234567+02:00") == datetime(
        2025, 1, 6, 5, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_iso_date("2025-01-06T03:00:00") == datetime(2025, 1, 6, 3, tzinfo=UTC)
    for value in ("0001-01-01T00:00:00", "0001-01-01T00:00:00Z", "soon", "", None):
        assert parse_iso_date(value) is None

    assert parse_timespan("00:04:12.3456789") == pytest.approx(252.3456789)
    assert parse_timespan("1.02:03:04") == 93784.0
    assert parse_timespan("00:00:05.12") == pytest.approx(5.12)
    assert parse_timespan("-00:00:01") == -1.0
    for value in ("4:12", "00:61:00", "1 day", None):
        assert parse_timespan(value) is None

    assert parse_count("1234567890") == 1234567890
    assert parse_count("-1") is None
    assert parse_count("1.15 GiB") is None
    assert parse_count(True) is None


def test_redact() -> None:
    """Credentials in URLs and password-like parameters are masked; text is bounded."""
    text = redact(
        "Failed: s3://AKIA:wJalr@bucket/x?auth-password=p4ss&region=eu token=abc123 ok",
        ("bucket-secret",),
    )
    assert text == "Failed: s3://***@bucket/x?auth-password=***&region=eu token=*** ok"
    assert len(redact("x" * 1000)) == 255


# -- secrets ----------------------------------------------------------------------------------


async def test_no_secret_in_errors_reprs_or_logs(
    make_simulator: SimulatorFactory,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Passwords, tokens, cookies, nonces and target URLs never leave the client."""
    caplog.set_level(logging.DEBUG)
    simulator = await make_simulator(
        "2.3",
        password="pw-Sup3rSecret",
        preauth_tokens=["preauth-Sup3rSecret"],
        enable_forever_token=True,
        reuse_grace=0,
    )
    backup = simulator.add_backup("Documents", target_url=LEAKY_TARGET, history=["Error"])
    backup.next_error = f"Connection to {LEAKY_TARGET} refused"
    simulator.backups["1"].next_result = "Fatal"
    forever = await issue_forever_token(simulator, session)
    link = simulator.signin_link()
    secrets = ["Sup3rSecret", "hunter2", "hunter3", forever, parse_signin_token(link)]
    seen: list[str] = []

    async def attempt(coroutine: Any) -> Any:
        try:
            return await coroutine
        except DuplicatiError as err:
            seen.extend([str(err), repr(err), repr(err.__cause__)])
            return None

    states: list[SigninState] = []
    signin = DuplicatiClient(
        simulator.url,
        session,
        auth_method="signin_token",
        secret=link,
        on_signin_state=states.append,
    )
    password = password_client(simulator, session)
    clients = [
        password,
        signin,
        DuplicatiClient(simulator.url, session, auth_method="forever_token", secret=forever),
        DuplicatiClient(
            simulator.url, session, auth_method="preauth_token", secret="preauth-Sup3rSecret"
        ),
    ]
    for client in clients:
        seen.append(repr(await attempt(client.update())))
        seen.append(repr(vars(client)))
    secrets += [client._auth._jwt.access_token for client in (password, signin)]  # type: ignore[attr-defined]
    task_id = await password.start_backup("1")
    seen.append(repr(await password.wait_for_task(task_id, max_wait=2, interval=0.02)))
    seen.append(repr(await password.update()))
    secrets += [states[0].refresh_token, str(states[0].nonce)]
    seen.append(repr(states))

    simulator.malformed_json = True
    await attempt(password.update())
    simulator.malformed_json = False
    simulator.advance(16 * 60)
    stale = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", signin_state=states[0]
    )
    await attempt(signin.update())
    await attempt(stale.update())
    await attempt(signin.update())
    await attempt(
        DuplicatiClient(
            simulator.url, session, auth_method="password", secret="pw-Sup3rSecretX"
        ).update()
    )
    await attempt(
        DuplicatiClient(simulator.url, session, auth_method="signin_token", secret=link).update()
    )
    await attempt(
        DuplicatiClient(
            simulator.url, session, auth_method="preauth_token", secret="preauth-Sup3rSecretX"
        ).update()
    )
    simulator.delay = 1
    await attempt(password_client(simulator, session, request_timeout=0.1).update())
    simulator.delay = 0

    legacy = await make_simulator("2.0.8", password="pw-Sup3rSecret")
    legacy_client = password_client(legacy, session)
    await legacy_client.update()
    legacy_cookies = legacy_client._auth._legacy.cookies  # type: ignore[attr-defined]
    secrets += list(legacy_cookies.values())
    await legacy.restart()
    await legacy_client.update()
    await attempt(
        DuplicatiClient(
            legacy.url, session, auth_method="password", secret="pw-Sup3rSecretX"
        ).update()
    )

    secrets += [state.refresh_token for state in states]
    secrets += [state.nonce for state in states if state.nonce]
    haystack = "\n".join([*seen, caplog.text])
    assert any("rejected" in text for text in seen)
    for secret in secrets:
        assert secret not in haystack


# -- odd answers ------------------------------------------------------------------------------


def log_row(row_id: int, message: Any, exception: Any = None) -> dict[str, Any]:
    """A LogData row; dict messages are serialised as the server does."""
    return {
        "ID": row_id,
        "OperationID": row_id,
        "Timestamp": 1736046252 + row_id,
        "Type": "Result",
        "Message": json.dumps(message) if isinstance(message, dict) else message,
        "Exception": exception,
    }


async def test_result_from_unusual_logs(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Other operations are skipped, 2.0.x text results parsed, the metadata is the fallback."""
    simulator = await make_simulator("2.3")
    finished = {"LastBackupFinished": "20250105T030412Z"}
    failed = {"LastErrorDate": "20250106T030000Z", "LastErrorMessage": "Disk full"}
    jobs = {name: simulator.add_backup(name) for name in "ABCDEFGH"}
    jobs["A"].metadata |= finished
    jobs["A"].log = [
        log_row(1, {"MainOperation": "Backup", "ParsedResult": "Warning"}),
        log_row(2, {"MainOperation": "Compact", "ParsedResult": "Error"}),
    ]
    jobs["B"].metadata |= finished
    jobs["B"].log = [
        log_row(3, "MainOperation: Backup\nParsedResult: Error\n", "IOException: gone\n  at x")
    ]
    jobs["C"].metadata |= finished | failed
    jobs["C"].log = [
        "not a row",
        log_row(4, "[1, 2]"),
        log_row(5, "plain text"),
        log_row(6, {"MainOperation": "Backup", "ParsedResult": "Unknown"}),
    ]
    jobs["D"].metadata |= finished
    jobs["E"].metadata |= failed
    jobs["E"].log = [log_row(7, {"MainOperation": "Backup", "ParsedResult": "Fatal"}, {})]
    jobs["F"].metadata |= failed
    jobs["G"].metadata |= finished
    jobs["H"].metadata |= finished
    simulator.answer("GET", "/api/v1/backup/6/log", status=500, json_body={"Error": "x"})
    simulator.answer("GET", "/api/v1/backup/7/log", text="{oops")
    simulator.answer(
        "GET", "/api/v1/backup/8/log", status=400, text="The database is locked", times=1
    )
    client = password_client(simulator, session)

    jobs_now = (await client.update()).jobs
    results = {jobs_now[job.id].name: jobs_now[job.id].last_result for job in jobs.values()}
    assert results == {
        "A": BackupResult.WARNING,
        "B": BackupResult.ERROR,
        "C": BackupResult.FATAL,
        "D": BackupResult.SUCCESS,
        "E": BackupResult.FATAL,
        "F": BackupResult.FATAL,
        "G": BackupResult.SUCCESS,
        "H": BackupResult.SUCCESS,
    }
    assert jobs_now["2"].last_error == "IOException: gone"
    assert jobs_now["3"].last_error == "Disk full"
    assert jobs_now["5"].last_error == "Disk full"

    # Unreadable logs are read again on the next poll; readable ones are not.
    simulator.requests.clear()
    await client.update()
    assert calls(simulator)[2:] == [
        ("GET", "/api/v1/backup/6/log"),
        ("GET", "/api/v1/backup/7/log"),
        ("GET", "/api/v1/backup/8/log"),
    ]


async def test_odd_backup_list_and_server_state(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Entries that are not stored backups are skipped; junk in the state is ignored."""
    simulator = await make_simulator("2.3")
    simulator.answer(
        "GET",
        "/api/v1/backups",
        json_body=[
            1,
            {"Backup": []},
            {"Backup": {"ID": 5}},
            {"Backup": {"ID": "../x"}},
            {"Backup": {"ID": "9", "IsTemporary": True}},
            {"Backup": {"ID": "7", "Name": "", "Metadata": {"BackupListCount": 3, "X": "1"}}},
        ],
    )
    simulator.answer(
        "GET",
        "/api/v1/serverstate",
        json_body={
            "ActiveTask": {"Item1": "5", "Item2": "7"},
            "ProgramState": "Running",
            "ProposedSchedule": [
                "x",
                {"Item1": 7, "Item2": "2031-01-01T00:00:00Z"},
                {"Item1": "7", "Item2": "soon"},
                {"Item1": "7", "Item2": "2031-01-02T00:00:00Z"},
                {"Item1": "7", "Item2": "2031-01-01T00:00:00Z"},
            ],
        },
    )
    client = password_client(simulator, session)
    snapshot = await client.update()
    assert list(snapshot.jobs) == ["7"]
    job = snapshot.jobs["7"]
    assert (job.name, job.versions, job.last_result) == ("7", None, BackupResult.NEVER)
    assert job.next_run == datetime(2031, 1, 1, tzinfo=UTC)
    assert snapshot.state is ServerState.IDLE

    simulator.answer("GET", "/api/v1/serverstate", json_body=[])
    with pytest.raises(DuplicatiResponseError):
        await client.update()
    simulator.answer("GET", "/api/v1/systeminfo", json_body=[])
    with pytest.raises(DuplicatiResponseError):
        await client.get_system_info()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"Error": "No active backup", "Code": 404}, None),
        (200, {"TaskID": 4, "OverallProgress": 0.5}, None),
        (200, {"TaskID": 5, "OverallProgress": "half"}, None),
        (200, {"TaskID": 5, "OverallProgress": True}, None),
        (200, [], None),
        (200, {"TaskID": 5, "OverallProgress": 1.7}, 100.0),
        (200, {"OverallProgress": 0.123}, 12.3),
    ],
)
async def test_progress_answers(
    status: int,
    body: Any,
    expected: float | None,
    make_simulator: SimulatorFactory,
    session: aiohttp.ClientSession,
) -> None:
    """Progress belongs to the active task only and is clamped to 0-100."""
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents")
    simulator.answer(
        "GET", "/api/v1/serverstate", json_body={"ActiveTask": {"Item1": 5, "Item2": "1"}}
    )
    simulator.answer("GET", "/api/v1/progressstate", status=status, json_body=body)
    snapshot = await password_client(simulator, session).update()
    assert snapshot.progress == expected
    assert snapshot.state is ServerState.RUNNING


async def test_malformed_progress(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A broken progress answer does not break the poll."""
    simulator = await make_simulator("2.3")
    simulator.answer("GET", "/api/v1/serverstate", json_body={"ActiveTask": {"Item1": 5}})
    simulator.answer("GET", "/api/v1/progressstate", text="{")
    snapshot = await password_client(simulator, session).update()
    assert snapshot.progress is None
    assert snapshot.active_backup_id is None


async def test_odd_task_and_run_answers(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Task and run answers that cannot be understood are response errors."""
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents")
    client = password_client(simulator, session)
    bodies: list[Any] = [[], {"Status": "Exploded"}, {"ID": 5}]
    for body in bodies:
        simulator.answer("GET", "/api/v1/task/5", json_body=body)
        with pytest.raises(DuplicatiResponseError):
            await client.get_task(5)
    simulator.answer("GET", "/api/v1/task/5", status=500, json_body={"Error": "x", "Code": 500})
    with pytest.raises(DuplicatiResponseError):
        await client.get_task(5)

    simulator.answer("POST", "/api/v1/backup/1/run", status=409, json_body={"Error": "Busy"})
    with pytest.raises(DuplicatiResponseError):
        await client.start_backup("1")
    # 2.0.x style: no ID in the answer, the task is found in the queue (or not at all).
    simulator.answer("POST", "/api/v1/backup/1/run", json_body={"Status": "OK"})
    simulator.answer(
        "GET",
        "/api/v1/serverstate",
        json_body={"ActiveTask": None, "SchedulerQueueIds": [{"Item1": 8, "Item2": "1"}]},
        times=1,
    )
    assert await client.start_backup("1") == 8
    simulator.answer("GET", "/api/v1/serverstate", json_body={"ActiveTask": None})
    with pytest.raises(DuplicatiResponseError, match="task ID"):
        await client.start_backup("1")


async def test_server_errors_are_not_auth_errors(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A handled 500 is not a revoked token; an empty 500 that persists ends the retries."""
    simulator = await make_simulator("2.3")
    client = password_client(simulator, session)
    await client.update()

    simulator.answer("GET", "/api/v1/backups", status=500, json_body={"Error": "An error occurred"})
    simulator.requests.clear()
    with pytest.raises(DuplicatiResponseError, match="HTTP 500"):
        await client.update()
    assert calls(simulator) == [BACKUPS]

    simulator.answer("GET", "/api/v1/backups", status=500)
    simulator.requests.clear()
    with pytest.raises(DuplicatiResponseError, match="HTTP 500"):
        await client.update()
    assert calls(simulator) == [BACKUPS, REFRESH, BACKUPS, REFRESH, BACKUPS]

    for status, body in ((403, {"Error": "Forbidden", "Code": 403}), (404, None)):
        simulator.answer("GET", "/api/v1/backups", status=status, json_body=body)
        with pytest.raises(DuplicatiResponseError) as caught:
            await client.update()
        assert not isinstance(caught.value, DuplicatiHostnameError)
    simulator.answer("GET", "/api/v1/backups", status=403, text="Forbidden")
    with pytest.raises(DuplicatiResponseError):
        await client.update()


async def test_unusual_login_answers(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Logins that are not Duplicati's, or give no refresh cookie, are handled."""
    simulator = await make_simulator("2.3")
    simulator.answer("POST", LOGIN[1], status=404)
    with pytest.raises(DuplicatiResponseError):
        await password_client(simulator, session).update()
    simulator.answer("POST", LOGIN[1], json_body={"Token": "x"})
    with pytest.raises(DuplicatiResponseError, match="no access token"):
        await password_client(simulator, session).update()

    # An opaque access token without refresh cookie: no refresh is possible, so every
    # rejection means a new login, and a server that keeps refusing ends the attempts.
    simulator.answer("POST", LOGIN[1], json_body={"AccessToken": "opaque"})
    client = password_client(simulator, session)
    simulator.requests.clear()
    with pytest.raises(DuplicatiAuthError, match="rejected the credentials"):
        await client.update()
    assert calls(simulator) == [LOGIN, BACKUPS, LOGIN, BACKUPS, LOGIN, BACKUPS]
    await client.close()  # nothing to log out of

    del simulator.canned[LOGIN]
    client = password_client(simulator, session)
    await client.update()
    simulator.advance(16 * 60)
    simulator.answer("POST", REFRESH[1], status=503, json_body={"Error": "x", "Code": 503})
    with pytest.raises(DuplicatiResponseError):
        await client.update()


async def test_unusual_signin_answers(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """A sign-in without refresh cookie cannot be kept alive; server errors are not token errors."""
    simulator = await make_simulator("2.3")
    simulator.answer("POST", SIGNIN[1], json_body={"AccessToken": "a.b.c", "RefreshNonce": None})
    client = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", secret=simulator.signin_link()
    )
    with pytest.raises(DuplicatiResponseError, match="no refresh token"):
        await client.update()
    simulator.answer("POST", SIGNIN[1], status=500)
    client = DuplicatiClient(
        simulator.url, session, auth_method="signin_token", secret=simulator.signin_link()
    )
    with pytest.raises(DuplicatiResponseError):
        await client.update()
    assert not client.legacy


async def test_unusual_legacy_login_answers(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """2.0.x nonce answers that cannot be used are response errors."""
    simulator = await make_simulator("2.0.8")
    answers: list[dict[str, Any]] = [
        {"status": 503, "text": "Too many active login attempts"},
        {"json_body": {"Status": "OK"}},
        {"json_body": {"Status": "OK", "Nonce": "bm9uY2U=", "Salt": "c2FsdA=="}},
    ]
    for answer in answers:
        simulator.answer("POST", "/login.cgi", times=1, **answer)
        with pytest.raises(DuplicatiResponseError):
            await password_client(simulator, session).update()

    # A password answer without a session cookie.
    client = password_client(simulator, session)
    await client.update()
    simulator.requests.clear()
    await client.close()
    assert calls(simulator) == [("POST", "/logout.cgi")]
    original = simulator._legacy_login

    async def no_session(request: Any, new_cookies: list[Any]) -> Any:
        response = await original(request, new_cookies)
        new_cookies[:] = [cookie for cookie in new_cookies if cookie[0] != "session-auth"]
        return response

    simulator._legacy_login = no_session  # type: ignore[method-assign]
    with pytest.raises(DuplicatiResponseError):
        await password_client(simulator, session).update()


async def test_client_misuse_and_close(
    make_simulator: SimulatorFactory, session: aiohttp.ClientSession
) -> None:
    """Programming errors are ValueErrors; closing never raises."""
    with pytest.raises(DuplicatiAuthError):
        DuplicatiClient("http://127.0.0.1:1", session, auth_method="password", secret="")
    with pytest.raises(ValueError, match="secret"):
        DuplicatiClient("http://127.0.0.1:1", session, auth_method="forever_token")
    with pytest.raises(ValueError, match="AuthMethod"):
        DuplicatiClient("http://127.0.0.1:1", session, auth_method="cookie")

    simulator = await make_simulator("2.3")
    client = password_client(simulator, session)
    await client.update()
    await simulator.stop()
    await client.close()


# -- the simulator itself -------------------------------------------------------------------


async def test_simulator_answers_as_the_contract_says(
    make_simulator: SimulatorFactory, named_session: aiohttp.ClientSession
) -> None:
    """Spot checks of the raw protocol the client is tested against."""
    simulator = await make_simulator("2.3", access_lifetime=60, clock_skew=0)
    simulator.add_backup("Documents")
    base = simulator.url
    session = named_session

    async with session.get(f"{base}/health") as response:
        assert (response.status, await response.text()) == (200, "Healthy")
    async with session.get(f"{base}/api/v1/backups") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert await response.read() == b""
    async with session.post(f"{base}/api/v1/auth/login", data="Password=x") as response:
        assert response.status == 415
    async with session.post(
        f"{base}/api/v1/auth/login", data="{", headers={"Content-Type": "application/json"}
    ) as response:
        assert (response.status, await response.read()) == (400, b"")
    async with session.post(f"{base}/api/v1/auth/login", json={"password": "x"}) as response:
        assert response.status == 401
        assert await response.json() == {"Error": "Failed to log in", "Code": 401}

    async with session.post(
        f"{base}/api/v1/auth/login", json={"PASSWORD": simulator.password, "RememberMe": True}
    ) as response:
        assert response.status == 200
        body = await response.json()
        assert set(body) == {"AccessToken", "RefreshNonce"}
        cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"RefreshToken_{simulator.port}=")
    assert "; domain=127.0.0.1; path=/api/v1/auth/refresh; samesite=strict; httponly" in cookie
    bearer = {"Authorization": f"Bearer {body['AccessToken']}"}

    async with session.get(f"{base}/api/v1/backup/9", headers=bearer) as response:
        assert response.status == 404
        assert await response.json() == {"Error": "Backup not found", "Code": 404}
    async with session.get(
        f"http://nas.lan:{simulator.port}/api/v1/backups", headers=bearer
    ) as response:
        assert response.status == 403
        assert await response.json() == {"Error": "Invalid hostname: nas.lan", "Code": 403}
    async with session.get(f"{base}/api/v1/backups", headers=bearer) as response:
        item = (await response.json())[0]
        assert set(item) == {"Backup", "Schedule"}
        assert item["Backup"]["TargetURL"] == "file:///mnt/usb/backup"
    async with session.get(f"{base}/api/v1/progressstate", headers=bearer) as response:
        assert await response.json() == {"Error": "No active backup", "Code": 404}

    simulator.advance(120)
    async with session.get(f"{base}/api/v1/backups", headers=bearer) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith(
            'Bearer error="invalid_token", error_description="The token expired at'
        )
    simulator.revoke_all_families()
    simulator.advance(-120)
    async with session.post(
        f"{base}/api/v1/auth/login", json={"Password": simulator.password}, headers=bearer
    ) as response:
        assert (response.status, await response.read()) == (500, b"")
