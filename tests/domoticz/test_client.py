"""Tests of the Domoticz client against the simulator, era by era."""

from __future__ import annotations

import asyncio
import base64
from contextlib import suppress
import hashlib
import logging
import re
from typing import Any

import aiohttp
import pytest

from custom_components.homelab_sentinel.domoticz import client as client_module
from custom_components.homelab_sentinel.domoticz.client import (
    REJECTED_RETRY_SECONDS,
    SESSIONLESS_REVERIFY_SECONDS,
    DomoticzAuthError,
    DomoticzCertificateError,
    DomoticzClient,
    DomoticzConnectionError,
    DomoticzError,
    DomoticzResponseError,
    DomoticzTwoFactorError,
    FailedLoginCounter,
    catch_all_networks,
)
from custom_components.homelab_sentinel.domoticz.models import (
    Access,
    Era,
    FailedLogin,
    Login,
    LoginMethod,
    LoginProblem,
    OpenCause,
    OpenReason,
    Rights,
    version_tuple,
)

from .conftest import MakeClient, StartSimulator
from .simulator import (
    FORBIDDEN_HTML,
    LOG_ERROR,
    UNAUTHORIZED_HTML,
    DomoticzSimulator,
    Malformed,
    SimApplication,
    SimUser,
)

PASSWORD = "Tr0ub4dor&3-sentinel"
ERA_OF = {"2020.1": Era.A, "2022.2": Era.A, "2023.1": Era.B, "2024.7": Era.B, "2025.1": Era.C}
ALL_VERSIONS = list(ERA_OF)


def household() -> list[SimUser]:
    """An admin, a user (switcher) and a viewer."""
    return [
        SimUser("admin", PASSWORD, rights=2),
        SimUser("bob", f"{PASSWORD}-bob", rights=1),
        SimUser("vera", f"{PASSWORD}-vera", rights=0),
    ]


def params_of(simulator: DomoticzSimulator) -> list[str | None]:
    return [request.param for request in simulator.requests]


class FakeClock:
    """Stands in for the client's monotonic clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        monkeypatch.setattr(client_module, "monotonic", lambda: self.now)


# ---------------------------------------------------------------------------------------------
# The simulator answers as the contract says


A_COOKIE = "DMZSID=none; HttpOnly; Expires="
SAME_SITE_COOKIE = "DMZSID=none; HttpOnly; SameSite=strict;"
HTML_UTF8 = "text/html;charset=UTF-8"


@pytest.mark.parametrize(
    ("version", "options", "expected"),
    [
        ("2020.1", {}, ("text/html", A_COOKIE, None)),
        (
            "2020.1",
            {"basic_auth_mode": True},
            ("text/html", A_COOKIE, 'Basic realm="Domoticz.com"'),
        ),
        ("2022.2", {}, (HTML_UTF8, A_COOKIE, None)),
        ("2024.4", {}, (HTML_UTF8, A_COOKIE, None)),
        ("2024.7", {}, (HTML_UTF8, SAME_SITE_COOKIE, None)),
        ("2025.1", {}, (HTML_UTF8, SAME_SITE_COOKIE, None)),
    ],
)
async def test_simulator_401_per_era(
    domoticz: StartSimulator,
    http_session: aiohttp.ClientSession,
    version: str,
    options: dict[str, bool],
    expected: tuple[str, str, str | None],
) -> None:
    content_type, cookie, challenge = expected
    simulator = await domoticz(version, users=household(), **options)
    query = (
        {"type": "settings"} if version < "2023" else {"type": "command", "param": "getsettings"}
    )
    async with http_session.get(simulator.url / "json.htm", params=query) as response:
        assert response.status == 401
        assert await response.text() == UNAUTHORIZED_HTML
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Set-Cookie"].startswith(cookie)
        assert response.headers.get("WWW-Authenticate") == challenge


async def test_simulator_era_a_basic_mode_alternates_401_and_503(
    domoticz: StartSimulator, http_session: aiohttp.ClientSession
) -> None:
    simulator = await domoticz("2020.1", users=household(), basic_auth_mode=True)
    url = simulator.url / "json.htm"
    statuses = []
    for _ in range(4):
        async with http_session.get(url, params={"type": "command", "param": "getauth"}) as reply:
            statuses.append(reply.status)
    assert statuses == [401, 503, 401, 503]


async def test_simulator_logincheck_cookie_and_failures(
    domoticz: StartSimulator, http_session: aiohttp.ClientSession
) -> None:
    simulator = await domoticz("2025.1", users=[SimUser("admin", "domoticz")])
    url = (simulator.url / "json.htm").with_query(type="command", param="logincheck")
    form = {"username": "YWRtaW4=", "password": "59515f6b193071e263f14bfa94bef645"}
    async with http_session.post(url, data=form) as response:
        assert await response.json(content_type=None) == {
            "rights": 2,
            "status": "OK",
            "title": "logincheck",
            "user": "admin",
            "version": "2025.1",
        }
        # The regex of domoticz/test/gherkin/webserver_session.feature.
        assert re.fullmatch(
            r"DMZSID=[a-f0-9]{32}_[A-Za-z0-9+/=]{48}\.\d{10}; HttpOnly; SameSite=strict; path=/; "
            r"Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT",
            response.headers["Set-Cookie"],
        )
    async with http_session.post(url, data={**form, "password": "0" * 32}) as response:
        assert await response.json(content_type=None) == {"status": "ERR"}
        assert "Set-Cookie" not in response.headers
    assert simulator.log_lines()[-1].endswith(
        "Error: Failed login attempt from 127.0.0.1 for 'admin' !"
    )


async def test_simulator_404_403_500_and_logout(
    domoticz: StartSimulator, http_session: aiohttp.ClientSession
) -> None:
    era_c = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    json_url = era_c.url / "json.htm"
    async with http_session.get(json_url, params={"type": "devices"}) as response:
        assert (response.status, await response.read()) == (404, b"")
    viewer = {"Authorization": aiohttp.encode_basic_auth("vera", f"{PASSWORD}-vera")}
    era_c.https = True  # Basic is only taken over HTTPS; the flag is all the server checks
    async with http_session.get(
        json_url, params={"type": "command", "param": "storesettings"}, headers=viewer
    ) as response:
        assert response.status == 403
        assert await response.json(content_type=None) == {"status": "ERR"}
    async with http_session.get(
        json_url, params={"type": "command", "param": "dologout"}
    ) as response:
        assert response.status == 204

    era_a = await domoticz("2020.1", users=household())
    async with http_session.get(
        era_a.url / "json.htm",
        params={"type": "command", "param": "storesettings"},
        headers={"Authorization": aiohttp.encode_basic_auth("bob", f"{PASSWORD}-bob")},
    ) as response:
        assert (response.status, await response.text()) == (403, FORBIDDEN_HTML)
    async with http_session.get(
        era_a.url / "json.htm", params={"type": "command", "param": "dologout"}
    ) as response:
        assert response.status == 401

    empty = await domoticz("2025.1", users=[], applications=[])
    async with http_session.get(empty.url) as response:
        assert response.status == 500


# ---------------------------------------------------------------------------------------------
# Anonymous posture


@pytest.mark.parametrize(
    ("version", "era", "visible_version"),
    [
        ("2020.1", Era.A, "2020.1"),  # era A tells its version to anyone
        ("2023.1", Era.B, "2023.1"),  # so does 2023.1
        ("2024.7", None, None),  # 2023.2+ only to callers with rights
        ("2025.1", None, None),
    ],
)
async def test_protected_without_credentials(
    domoticz: StartSimulator,
    make_client: MakeClient,
    version: str,
    era: Era | None,
    visible_version: str | None,
) -> None:
    simulator = await domoticz(version, users=household(), trusted_networks="192.168.1.*")
    snapshot = await make_client(simulator).async_poll()
    assert snapshot.access is Access.PROTECTED
    assert snapshot.open_reason is None
    assert snapshot.open_cause is None
    assert snapshot.anonymous_user is None
    assert snapshot.login is Login.NOT_CONFIGURED
    assert snapshot.login_problem is None
    assert snapshot.login_method is None
    assert snapshot.rights is None
    assert snapshot.era is era
    assert snapshot.version == visible_version
    assert snapshot.trusted_networks is None
    assert snapshot.plain_basic_auth is None
    assert snapshot.catch_all_networks == ()
    assert snapshot.log_available is False
    assert snapshot.failed_logins == 0
    assert snapshot.transport_https is False
    assert not snapshot.exposed_to_everyone


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_open_from_a_trusted_network(
    domoticz: StartSimulator, make_client: MakeClient, version: str
) -> None:
    simulator = await domoticz(version, users=household(), trusted_networks="192.168.1.*;127.0.0.*")
    snapshot = await make_client(simulator).async_poll()
    assert snapshot.access is Access.OPEN
    assert snapshot.open_reason is OpenReason.TRUSTED_NETWORK
    assert snapshot.open_cause is None
    assert snapshot.anonymous_user == ("" if ERA_OF[version] is Era.A else "admin")
    assert snapshot.login is Login.NOT_CONFIGURED
    assert snapshot.rights is None
    assert snapshot.era is ERA_OF[version]
    assert snapshot.version == version
    assert snapshot.trusted_networks == "192.168.1.*;127.0.0.*"
    assert snapshot.plain_basic_auth is (None if ERA_OF[version] is Era.A else False)
    assert snapshot.log_available is True
    assert not snapshot.exposed_to_everyone


@pytest.mark.parametrize(
    ("networks", "from_us", "from_other"),
    [
        ("127.0.0.1", Access.OPEN, Access.PROTECTED),
        ("127.0.0.0/31", Access.OPEN, Access.PROTECTED),
        ("127.0.0.*", Access.OPEN, Access.OPEN),
        ("127.0.0.2", Access.PROTECTED, Access.OPEN),
    ],
)
async def test_trusted_network_matches_our_address_only(
    domoticz: StartSimulator,
    make_client: MakeClient,
    networks: str,
    from_us: Access,
    from_other: Access,
) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks=networks)
    # The same server seen from 127.0.0.2 instead of 127.0.0.1.
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other_session:
        other = await make_client(simulator, session=other_session).async_poll()
    assert (await make_client(simulator).async_poll()).access is from_us
    assert other.access is from_other


@pytest.mark.parametrize(
    ("setup", "cause", "expected"),
    [
        ({"version": "2020.1", "users": []}, OpenCause.PROTECTION_OFF, ("", ())),
        (
            {"version": "2024.7", "trusted_networks": "192.168.1.*;*.*.*.*"},
            OpenCause.CATCH_ALL_NETWORK,
            ("admin", ("*.*.*.*",)),
        ),
        (
            {"version": "2025.1", "trusted_networks": "0.0.0.0/0"},
            OpenCause.CATCH_ALL_NETWORK,
            ("admin", ("0.0.0.0/0",)),
        ),
        ({"version": "2025.1", "no_www_password": True}, OpenCause.NOWWWPWD, ("admin", ())),
        (
            {"version": "2025.1", "no_www_password": True, "users": [], "applications": []},
            OpenCause.NOWWWPWD,
            ("tmpadmin", ()),
        ),
    ],
)
async def test_open_to_everyone(
    domoticz: StartSimulator,
    make_client: MakeClient,
    setup: dict[str, Any],
    cause: OpenCause,
    expected: tuple[str, tuple[str, ...]],
) -> None:
    simulator = await domoticz(**{"users": household(), **setup})
    snapshot = await make_client(simulator).async_poll()
    assert snapshot.access is Access.OPEN
    assert snapshot.open_reason is OpenReason.EVERYONE
    assert snapshot.open_cause is cause
    assert (snapshot.anonymous_user, snapshot.catch_all_networks) == expected
    assert snapshot.exposed_to_everyone


async def test_no_password_option_seen_after_its_log_line_rotated_out(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=household(), no_www_password=True)
    for number in range(120):
        simulator.log(LOG_ERROR, f"Something else went wrong #{number}")
    assert not any("SECURITY RISK" in line for line in simulator.log_lines())
    snapshot = await make_client(simulator).async_poll()
    # Nothing but -nowwwpwd lets 2023.1+ in without a trusted network.
    assert snapshot.open_cause is OpenCause.NOWWWPWD


async def test_era_a_reads_cidr_as_a_single_address(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2020.1", users=household(), trusted_networks="0.0.0.0/0")
    snapshot = await make_client(simulator, "bob", f"{PASSWORD}-bob").async_poll()
    assert snapshot.access is Access.PROTECTED
    assert snapshot.trusted_networks == "0.0.0.0/0"
    assert snapshot.catch_all_networks == ()


@pytest.mark.parametrize(
    ("version", "users", "expected"),
    [
        ("2024.4", [SimUser("bob", PASSWORD, rights=1)], None),  # 2023.1-2024.4: anonymous
        ("2024.7", [SimUser("bob", PASSWORD, rights=1)], "{admin}"),
        ("2025.1", [SimUser("bob", PASSWORD, rights=1)], "tmp_admin"),
    ],
)
async def test_trusted_caller_without_an_admin_account(
    domoticz: StartSimulator,
    make_client: MakeClient,
    version: str,
    users: list[SimUser],
    expected: str | None,
) -> None:
    simulator = await domoticz(version, users=users, trusted_networks="127.0.0.1")
    snapshot = await make_client(simulator).async_poll()
    assert snapshot.access is (Access.PROTECTED if expected is None else Access.OPEN)
    assert snapshot.anonymous_user == expected


# ---------------------------------------------------------------------------------------------
# Logging in


@pytest.mark.parametrize(
    ("version", "options", "expected"),
    [
        ("2020.1", {}, (LoginMethod.BASIC, None)),
        ("2020.1", {"basic_auth_mode": True}, (LoginMethod.BASIC, None)),
        ("2023.1", {}, (LoginMethod.SESSION, False)),
        ("2024.7", {"allow_plain_basic_auth": False}, (LoginMethod.SESSION, False)),
        ("2024.7", {"allow_plain_basic_auth": True}, (LoginMethod.BASIC, True)),
        ("2025.1", {}, (LoginMethod.SESSION, False)),
        ("2025.1", {"https": True}, (LoginMethod.BASIC, False)),
        ("2025.1", {"https": True, "allow_plain_basic_auth": True}, (LoginMethod.BASIC, True)),
    ],
)
async def test_login_method_per_era_and_transport(
    domoticz: StartSimulator,
    make_client: MakeClient,
    version: str,
    options: dict[str, bool],
    expected: tuple[LoginMethod, bool | None],
) -> None:
    method, plain_basic_auth = expected
    simulator = await domoticz(
        version, users=household(), trusted_networks="192.168.1.*", **options
    )
    client = make_client(simulator, "admin", PASSWORD)
    snapshot = await client.async_validate()
    assert snapshot.access is Access.PROTECTED
    assert snapshot.login is Login.AUTHENTICATED
    assert snapshot.login_method is method
    assert snapshot.rights is Rights.ADMIN
    assert snapshot.era is ERA_OF.get(version, Era.B)
    assert snapshot.version == version
    assert snapshot.plain_basic_auth is plain_basic_auth
    assert snapshot.transport_https is options.get("https", False)
    assert snapshot.trusted_networks == "192.168.1.*"
    assert snapshot.log_available
    # The next poll goes straight to the method that worked.
    simulator.requests.clear()
    assert (await client.async_poll()).login_method is method
    assert "logincheck" not in params_of(simulator)
    assert all(request.path == "/json.htm" for request in simulator.requests)


@pytest.mark.parametrize("version", ["2020.1", "2024.7", "2025.1"])
@pytest.mark.parametrize(
    "account", [("admin", Rights.ADMIN), ("bob", Rights.USER), ("vera", Rights.VIEWER)]
)
@pytest.mark.parametrize("https", [False, True])
async def test_rights_of_each_user(
    domoticz: StartSimulator,
    make_client: MakeClient,
    version: str,
    account: tuple[str, Rights],
    https: bool,
) -> None:
    username, rights = account
    simulator = await domoticz(version, users=household(), https=https)
    password = PASSWORD if username == "admin" else f"{PASSWORD}-{username}"
    snapshot = await make_client(simulator, username, password).async_poll()
    assert snapshot.login is Login.AUTHENTICATED
    assert snapshot.rights is rights
    # No admin check on getsettings and getlog: every right reads the posture.
    assert snapshot.trusted_networks == ""
    assert snapshot.log_available


@pytest.mark.parametrize(
    ("version", "options"),
    [
        ("2020.1", {}),
        ("2020.1", {"basic_auth_mode": True}),
        ("2023.1", {}),
        ("2024.7", {"allow_plain_basic_auth": True}),
        ("2025.1", {}),
        ("2025.1", {"https": True}),
    ],
)
async def test_wrong_password(
    domoticz: StartSimulator, make_client: MakeClient, version: str, options: dict[str, bool]
) -> None:
    simulator = await domoticz(version, users=household(), **options)
    client = make_client(simulator, "admin", "not-the-password")
    snapshot = await client.async_poll()
    assert snapshot.access is Access.PROTECTED
    assert snapshot.login is Login.REJECTED
    assert snapshot.login_problem is LoginProblem.INVALID_CREDENTIALS
    assert snapshot.rights is None
    assert snapshot.trusted_networks is None
    with pytest.raises(DomoticzAuthError) as caught:
        await client.async_validate()
    assert not isinstance(caught.value, DomoticzTwoFactorError)
    assert "not-the-password" not in str(caught.value)


async def test_unknown_user_is_rejected(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    snapshot = await make_client(simulator, "mallory", PASSWORD).async_poll()
    assert snapshot.login is Login.REJECTED
    assert snapshot.access is Access.OPEN
    # Our own failed attempt is in the log, written the way logincheck writes it.
    [failed] = snapshot.new_failed_logins
    assert (failed.address, failed.username) == ("127.0.0.1", "mallory")


async def test_plain_http_basic_refused_is_not_a_rejection(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=household())
    snapshot = await make_client(simulator, "bob", f"{PASSWORD}-bob").async_poll()
    # Basic looked anonymous (refused over plain HTTP); logincheck then proved the password.
    assert [(r.param, r.auth_scheme) for r in simulator.requests[1:2]] == [("getauth", "Basic")]
    assert snapshot.login is Login.AUTHENTICATED
    assert snapshot.login_method is LoginMethod.SESSION
    assert snapshot.plain_basic_auth is False

    simulator.requests.clear()
    wrong = await make_client(simulator, "bob", "wrong-password").async_poll()
    assert wrong.login is Login.REJECTED
    assert wrong.login_method is LoginMethod.SESSION
    assert "logincheck" in params_of(simulator)


@pytest.mark.parametrize(
    ("password", "login"), [(PASSWORD, Login.AUTHENTICATED), ("bad", Login.REJECTED)]
)
async def test_2023_1_ignored_basic_does_not_prove_the_password(
    domoticz: StartSimulator, make_client: MakeClient, password: str, login: Login
) -> None:
    # 2023.1 ignores disallowed Basic, so a trusted caller shows as the first admin: our user.
    simulator = await domoticz("2023.1", users=household(), trusted_networks="127.0.0.1")
    snapshot = await make_client(simulator, "admin", password).async_poll()
    assert snapshot.access is Access.OPEN
    assert snapshot.login is login
    assert "logincheck" in params_of(simulator)


async def test_era_a_trusted_caller_logs_in_with_logincheck(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2020.1", users=household(), trusted_networks="127.0.0.1")
    client = make_client(simulator, "vera", f"{PASSWORD}-vera")
    snapshot = await client.async_poll()
    # Era A takes a trusted caller as admin before it looks at Basic credentials.
    assert snapshot.access is Access.OPEN
    assert snapshot.login_method is LoginMethod.SESSION
    assert snapshot.rights is Rights.VIEWER
    simulator.advance_time(700)  # the session expires; era A answers the stale cookie with 401
    snapshot = await client.async_poll()
    assert snapshot.login is Login.AUTHENTICATED
    assert params_of(simulator).count("logincheck") == 2


async def test_era_a_session_after_trust_is_withdrawn(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2020.1", users=household(), trusted_networks="127.0.0.1")
    client = make_client(simulator, "bob", f"{PASSWORD}-bob")
    assert (await client.async_poll()).login_method is LoginMethod.SESSION
    simulator.trusted_networks = ""
    simulator.advance_time(700)
    snapshot = await client.async_poll()
    # The stale cookie drew a 401 even on the whitelisted getauth; a new logincheck followed.
    assert snapshot.access is Access.PROTECTED
    assert (snapshot.login, snapshot.rights) == (Login.AUTHENTICATED, Rights.USER)
    assert 401 in [r.status for r in simulator.requests if r.session_cookie]


async def test_colon_in_user_name_uses_logincheck(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=[SimUser("ad:min", PASSWORD)], https=True)
    snapshot = await make_client(simulator, "ad:min", PASSWORD).async_poll()
    assert (snapshot.login, snapshot.login_method) == (Login.AUTHENTICATED, LoginMethod.SESSION)
    assert not any(r.auth_scheme == "Basic" for r in simulator.requests)


async def test_session_reused_renewed_and_replaced(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=household())
    client = make_client(simulator, "admin", PASSWORD)
    await client.async_poll()
    for _ in range(3):
        simulator.advance_time(400)  # past half the 600 s lifetime: Domoticz renews the cookie
        assert (await client.async_poll()).login is Login.AUTHENTICATED
    assert params_of(simulator).count("logincheck") == 1
    simulator.advance_time(601)
    assert (await client.async_poll()).login is Login.AUTHENTICATED
    assert params_of(simulator).count("logincheck") == 2


async def test_era_c_trusted_login_without_cookie_is_not_repeated(
    domoticz: StartSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(monkeypatch)
    simulator = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    client = make_client(simulator, "bob", f"{PASSWORD}-bob")
    first = await client.async_poll()
    assert first.login is Login.AUTHENTICATED
    assert (first.rights, first.login_method) == (Rights.USER, LoginMethod.SESSION)
    assert simulator.session_count() == 0  # no cookie for a trusted caller
    await client.async_poll()
    assert params_of(simulator).count("logincheck") == 1
    clock.now += 3601
    await client.async_poll()
    assert params_of(simulator).count("logincheck") == 2


async def test_oauth2_password_grant(
    domoticz: StartSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(monkeypatch)
    simulator = await domoticz(
        "2025.1",
        users=household(),
        applications=[SimApplication("sentinel", secret="app-secret")],
    )
    client = make_client(simulator, "bob", f"{PASSWORD}-bob", oauth_client_id="sentinel")
    snapshot = await client.async_poll()
    assert snapshot.login_method is LoginMethod.OAUTH2
    assert snapshot.rights is Rights.USER
    assert snapshot.trusted_networks == ""
    token_requests = [r for r in simulator.requests if r.path == "/oauth2/v1/token"]
    assert len(token_requests) == 1
    reads = [r for r in simulator.requests if r.param in ("getsettings", "getlog")]
    assert {r.auth_scheme for r in reads} == {"Bearer"}
    await client.async_poll()
    assert sum(r.path == "/oauth2/v1/token" for r in simulator.requests) == 1
    clock.now += 3600  # the token is renewed a minute before it runs out
    simulator.advance_time(3600)
    assert (await client.async_poll()).login_method is LoginMethod.OAUTH2
    assert sum(r.path == "/oauth2/v1/token" for r in simulator.requests) == 2


@pytest.mark.parametrize(("client_id", "status"), [("domoticzUI", 400), ("no-such-app", 401)])
async def test_unusable_oauth2_client_is_tried_once(
    domoticz: StartSimulator, make_client: MakeClient, client_id: str, status: int
) -> None:
    simulator = await domoticz("2024.7", users=household())
    client = make_client(simulator, "admin", PASSWORD, oauth_client_id=client_id)
    snapshot = await client.async_poll()
    assert snapshot.login_method is LoginMethod.SESSION
    token = [r.status for r in simulator.requests if r.path == "/oauth2/v1/token"]
    assert token == [status]
    simulator.advance_time(700)  # the session expires; the next login skips OAuth2
    assert (await client.async_poll()).login is Login.AUTHENTICATED
    assert sum(r.path == "/oauth2/v1/token" for r in simulator.requests) == 1


async def test_oauth2_disabled(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz("2025.1", users=household())
    snapshot = await make_client(simulator, "admin", PASSWORD, oauth_client_id=None).async_poll()
    assert snapshot.login_method is LoginMethod.SESSION
    assert not any(r.path.startswith(("/oauth2", "/.well-known")) for r in simulator.requests)


async def test_two_factor_account(domoticz: StartSimulator, make_client: MakeClient) -> None:
    users = [SimUser("tess", PASSWORD, rights=2, totp="123456")]
    simulator = await domoticz("2025.1", users=users)
    client = make_client(simulator, "tess", PASSWORD)
    snapshot = await client.async_poll()
    assert snapshot.login is Login.REJECTED
    assert snapshot.login_problem is LoginProblem.TWO_FACTOR_REQUIRED
    with pytest.raises(DomoticzTwoFactorError):
        await client.async_validate()
    # Basic, taken over HTTPS, asks for no second factor.
    simulator.https = True
    await simulator.stop()
    await simulator.start()
    snapshot = await make_client(simulator, "tess", PASSWORD).async_poll()
    assert snapshot.login is Login.AUTHENTICATED
    assert snapshot.login_method is LoginMethod.BASIC


async def test_changed_password_and_reauth(
    domoticz: StartSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(monkeypatch)
    simulator = await domoticz("2025.1", users=household(), https=True)
    client = make_client(simulator, "admin", PASSWORD)
    assert (await client.async_poll()).login is Login.AUTHENTICATED
    simulator.set_password("admin", "a-new-password")
    rejected = await client.async_poll()
    assert rejected.login is Login.REJECTED
    assert rejected.failed_logins == 0  # nothing readable without rights

    # Rejected credentials are not sent again for a while: each failed logincheck is logged.
    simulator.requests.clear()
    assert (await client.async_poll()).login is Login.REJECTED
    assert [r.auth_scheme for r in simulator.requests] == [None, None]  # getauth, getversion
    clock.now += REJECTED_RETRY_SECONDS
    simulator.requests.clear()
    assert (await client.async_poll()).login is Login.REJECTED
    assert "logincheck" in params_of(simulator)

    with pytest.raises(DomoticzAuthError):
        await client.async_validate()
    reauthed = await make_client(simulator, "admin", "a-new-password").async_validate()
    assert reauthed.login is Login.AUTHENTICATED


async def test_changed_password_behind_a_trusted_session(
    domoticz: StartSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From a trusted network, getauth names the first admin even for a stale cookie. When that
    # admin is our user, a session proves nothing, so the password is re-checked hourly.
    clock = FakeClock(monkeypatch)
    simulator = await domoticz("2024.7", users=household(), trusted_networks="127.0.0.1")
    client = make_client(simulator, "admin", PASSWORD)
    assert (await client.async_poll()).login_method is LoginMethod.SESSION
    simulator.set_password("admin", "a-new-password")
    simulator.requests.clear()
    assert (await client.async_poll()).login is Login.AUTHENTICATED
    assert "logincheck" not in params_of(simulator)
    clock.now += SESSIONLESS_REVERIFY_SECONDS
    rejected = await client.async_poll()
    assert rejected.login is Login.REJECTED
    assert rejected.access is Access.OPEN


async def test_logout_on_close(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz("2025.1", users=household())
    client = make_client(simulator, "admin", PASSWORD)
    await client.async_poll()
    assert simulator.session_count() == 1
    await client.async_close()
    assert simulator.session_count() == 0
    assert params_of(simulator)[-1] == "dologout"
    await client.async_close()  # nothing left to end
    assert params_of(simulator)[-1] == "dologout"
    assert sum(p == "dologout" for p in params_of(simulator)) == 1


async def test_session_cookie_kept_out_of_the_shared_jar(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=household())
    # A jar that keeps cookies for IP addresses too, as it does for host names.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = make_client(simulator, "admin", PASSWORD, session=session)
        await client.async_poll()
        simulator.requests.clear()
        snapshot = await client.async_poll()
    assert snapshot.access is Access.PROTECTED
    assert snapshot.login is Login.AUTHENTICATED
    probe = simulator.requests[0]
    assert (probe.param, probe.session_cookie, probe.auth_scheme) == ("getauth", False, None)


# ---------------------------------------------------------------------------------------------
# Failures


async def test_unreachable_then_recovery(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    client = make_client(simulator, "admin", PASSWORD)
    assert (await client.async_poll()).login is Login.AUTHENTICATED
    await simulator.stop()
    with pytest.raises(DomoticzConnectionError, match=r"cannot talk to Domoticz at 127\.0\.0\.1"):
        await client.async_poll()
    await simulator.start()
    snapshot = await client.async_poll()
    assert snapshot.login is Login.AUTHENTICATED
    assert snapshot.access is Access.OPEN


async def test_timeout(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz("2025.1", users=household())
    simulator.delay = 5
    client = make_client(simulator, request_timeout=0.1)
    with pytest.raises(DomoticzConnectionError, match="TimeoutError"):
        await client.async_poll()
    simulator.delay = 0
    assert (await client.async_poll()).access is Access.PROTECTED


async def test_untrusted_certificate(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz("2025.1", users=household(), https=True)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    refused = asyncio.Event()

    # In debug mode asyncio reports the server side of the handshake the client broke off; the
    # hass fixture's handler would fail the test on it.
    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        if context.get("message") == "Error on transport creation for incoming connection":
            refused.set()
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        with pytest.raises(DomoticzCertificateError, match="did not verify"):
            await make_client(simulator, verify_ssl=True).async_poll()
        with suppress(TimeoutError):
            await asyncio.wait_for(refused.wait(), 1)
    finally:
        loop.set_exception_handler(previous)


@pytest.mark.parametrize("malformed", list(Malformed))
async def test_malformed_answers(
    domoticz: StartSimulator, make_client: MakeClient, malformed: Malformed
) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    client = make_client(simulator, "admin", PASSWORD)
    simulator.malformed = malformed
    with pytest.raises(DomoticzResponseError):
        await client.async_poll()
    simulator.malformed = None
    assert (await client.async_poll()).login is Login.AUTHENTICATED


async def test_unusable_token_answer(domoticz: StartSimulator, make_client: MakeClient) -> None:
    simulator = await domoticz(
        "2025.1", users=household(), applications=[SimApplication("sentinel", secret="s")]
    )
    # Numbers as text: only the token's expires_in is a number before the login completes.
    simulator.malformed = Malformed.BAD_TYPES
    client = make_client(simulator, "admin", PASSWORD, oauth_client_id="sentinel")
    with pytest.raises(DomoticzResponseError, match="no usable bearer token"):
        await client.async_poll()


async def test_era_a_503_during_a_brute_force(
    domoticz: StartSimulator, make_client: MakeClient, http_session: aiohttp.ClientSession
) -> None:
    simulator = await domoticz("2020.1", users=household(), basic_auth_mode=True)
    bad = {"Authorization": aiohttp.encode_basic_auth("admin", "guess")}
    async with http_session.get(simulator.url / "json.htm", headers=bad):
        pass  # someone else's failed attempt: the process-wide fail counter is at 2
    client = make_client(simulator, "admin", PASSWORD)
    # A 503 before any 401 is indistinguishable from a proxy's "unavailable".
    with pytest.raises(DomoticzConnectionError, match="HTTP 503"):
        await client.async_poll()
    snapshot = await client.async_poll()
    assert (snapshot.era, snapshot.login) == (Era.A, Login.AUTHENTICATED)
    assert snapshot.access is Access.PROTECTED


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "OK", "rights": "2"},
        {"status": "OK", "rights": True},
        {"status": "OK", "rights": 7},
        {"status": "OK", "rights": 2, "user": 5},
        {"status": "OK", "rights": 2, "version": 2025.1},
    ],
)
def test_identity_answers_are_checked(answer: dict[str, object]) -> None:
    with pytest.raises(DomoticzResponseError):
        client_module._parse_identity(answer)


def test_list_answers_are_checked() -> None:
    assert client_module._optional_list({}, "result") == []
    with pytest.raises(DomoticzResponseError, match="not a list"):
        client_module._optional_list({"result": {"message": "x"}}, "result")


async def test_no_active_user_gives_500_from_2025_1(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    inactive = [SimUser("admin", PASSWORD, active=False)]
    simulator = await domoticz("2025.1", users=inactive, applications=[])
    with pytest.raises(DomoticzResponseError, match="HTTP 500"):
        await make_client(simulator, "admin", PASSWORD).async_poll()


async def test_not_a_domoticz_server(
    domoticz: StartSimulator, http_session: aiohttp.ClientSession
) -> None:
    simulator = await domoticz("2025.1")
    client = DomoticzClient(http_session, str(simulator.url / "elsewhere"))
    assert client.url == f"{simulator.url}elsewhere/"
    with pytest.raises(DomoticzResponseError, match="HTTP 404"):
        await client.async_poll()


@pytest.mark.parametrize(
    "url", ["ftp://domoticz.lan/", "domoticz.lan:8080", "http://admin:secret@domoticz.lan:8080/"]
)
def test_rejected_urls(url: str) -> None:
    with pytest.raises(ValueError, match="URL") as caught:
        DomoticzClient(None, url)  # type: ignore[arg-type]
    assert "secret" not in str(caught.value)


async def test_secrets_never_leak(
    domoticz: StartSimulator,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    FakeClock(monkeypatch)
    simulator = await domoticz(
        "2025.1", users=household(), applications=[SimApplication("sentinel", secret="s")]
    )
    secrets: list[str] = [
        PASSWORD,
        base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
        hashlib.md5(PASSWORD.encode(), usedforsecurity=False).hexdigest(),
    ]
    seen: list[object] = []
    for client_id in ("sentinel", "domoticzUI"):
        client = make_client(simulator, "admin", PASSWORD, oauth_client_id=client_id)
        seen += [client, await client.async_poll()]
        seen.append(client._bearer if client_id == "sentinel" else client._session_auth)
        if client._bearer is not None:
            secrets.append(str(client._bearer.authorization).removeprefix("Bearer "))
        if client._session_auth is not None:
            secrets.append(str(client._session_auth.cookie))
    simulator.set_password("admin", "changed-password")
    errors: list[BaseException] = []
    with pytest.raises(DomoticzAuthError) as auth_error:
        await make_client(simulator, "admin", PASSWORD, oauth_client_id=None).async_validate()
    errors.append(auth_error.value)
    await simulator.stop()
    with pytest.raises(DomoticzConnectionError) as connection_error:
        await make_client(simulator, "admin", PASSWORD).async_poll()
    errors.append(connection_error.value)
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            seen += [str(chain), repr(chain)]
            chain = chain.__cause__ or chain.__context__
    text = "\n".join([caplog.text, *map(str, seen)])
    assert "Logged in to Domoticz" in caplog.text
    for secret in secrets:
        assert secret not in text


# ---------------------------------------------------------------------------------------------
# Failed logins and the default password


async def test_failed_logins_counted_once_across_repeats_and_rotation(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    simulator.log_failed_login("192.168.1.50", "admin")  # before the first poll: counted
    client = make_client(simulator)
    assert (await client.async_poll()).failed_logins == 1

    simulator.log_failed_login("192.168.1.51", "admin")
    simulator.log_failed_login("192.168.1.52", "root", known_user=False)
    snapshot = await client.async_poll()
    assert snapshot.failed_logins == 3
    assert [(f.address, f.username) for f in snapshot.new_failed_logins] == [
        ("192.168.1.51", "admin"),
        ("192.168.1.52", "root"),
    ]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", str(snapshot.new_failed_logins[0].logged_at)
    )

    repeated = await client.async_poll()  # the same buffer again
    assert (repeated.failed_logins, repeated.new_failed_logins) == (3, ())

    for number in range(150):  # more than the 100-line ring holds
        simulator.log_failed_login(f"10.0.0.{number % 250}", "admin")
    assert (await client.async_poll()).failed_logins == 103

    simulator.clear_log()  # or a restart of Domoticz
    simulator.log_failed_login("192.168.1.53", "admin")
    simulator.log_failed_login("192.168.1.53", "admin")
    assert (await client.async_poll()).failed_logins == 105


async def test_failed_logins_without_timestamps(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz(
        "2024.7", users=household(), trusted_networks="127.0.0.1", timestamps=False
    )
    client = make_client(simulator)
    for expected in (2, 4, 7):
        while len(simulator.log_lines()) < expected:
            simulator.log_failed_login("192.168.1.50", "admin")
        snapshot = await client.async_poll()
        assert snapshot.failed_logins == expected
    assert snapshot.new_failed_logins[0] == FailedLogin(None, "192.168.1.50", "admin")


@pytest.mark.parametrize(
    ("previous", "current", "new"),
    [
        ([], ["a", "b"], 2),
        (["a", "b"], ["a", "b"], 0),
        (["a", "b"], ["b", "c"], 1),
        (["a", "a"], ["a", "a", "a"], 1),
        (["a", "b"], ["x"], 1),  # cleared
    ],
)
def test_failed_login_counter_alignment(previous: list[str], current: list[str], new: int) -> None:
    def failures(lines: list[str]) -> list[str]:
        return [f"Error: Failed login attempt from {line} for 'admin' !" for line in lines]

    counter = FailedLoginCounter()
    counter.update(failures(previous))
    before = counter.total
    assert len(counter.update(failures(current))) == new
    assert counter.total == before + new


async def test_default_password_from_the_users_table(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2025.1", users=[SimUser("admin", "domoticz")], https=True)
    client = make_client(simulator, "admin", "domoticz")
    assert (await client.async_poll()).default_password_warning is True
    simulator.set_password("admin", "better-password")
    # The start-up warning stays in the log; the admin's hash tells the truth.
    assert any("Default admin password" in line for line in simulator.log_lines())
    changed = await make_client(simulator, "admin", "better-password").async_poll()
    assert changed.default_password_warning is False


async def test_default_password_from_the_log(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    users = [SimUser("admin", "domoticz"), SimUser("vera", PASSWORD, rights=0)]
    simulator = await domoticz("2024.7", users=users, https=True)
    client = make_client(simulator, "vera", PASSWORD)  # a viewer cannot read the users table
    assert (await client.async_poll()).default_password_warning is True
    for number in range(100):
        simulator.log(LOG_ERROR, f"Something else went wrong #{number}")
    assert (await client.async_poll()).default_password_warning is False


async def test_no_default_password_warning_in_era_a(
    domoticz: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await domoticz("2020.1", users=[SimUser("admin", "domoticz")])
    snapshot = await make_client(simulator, "admin", "domoticz").async_poll()
    assert snapshot.default_password_warning is False


# ---------------------------------------------------------------------------------------------
# Pure helpers


@pytest.mark.parametrize(
    ("version", "era", "parts"),
    [
        ("2020.1", Era.A, (2020, 1)),
        ("2022.2", Era.A, (2022, 2)),
        ("2023.1", Era.B, (2023, 1)),
        ("2024.7", Era.B, (2024, 7)),
        ("2025.1", Era.C, (2025, 1)),
        ("2025.1 (build 16794)", Era.C, (2025, 1)),
        ("beta", None, None),
        (None, None, None),
    ],
)
def test_era_from_version(
    version: str | None, era: Era | None, parts: tuple[int, int] | None
) -> None:
    assert Era.from_version(version) is era
    assert version_tuple(version) == parts


@pytest.mark.parametrize(
    ("networks", "era", "expected"),
    [
        ("192.168.1.*;127.0.0.1", Era.C, ()),
        ("*.*.*.*", Era.B, ("*.*.*.*",)),
        ("192.168.0.0/16; * ;", Era.C, ("*",)),
        ("0.0.0.0/0;::/0", Era.C, ("0.0.0.0/0", "::/0")),
        ("0.0.0.0/0", Era.A, ()),
        ("10.0.0.0/8;bad/cidr", None, ()),
    ],
)
def test_catch_all_networks(networks: str, era: Era | None, expected: tuple[str, ...]) -> None:
    assert catch_all_networks(networks, era) == expected


def test_error_hierarchy_and_rights_codes() -> None:
    assert issubclass(DomoticzTwoFactorError, DomoticzAuthError)
    assert issubclass(DomoticzCertificateError, DomoticzConnectionError)
    for error in (DomoticzAuthError, DomoticzConnectionError, DomoticzResponseError):
        assert issubclass(error, DomoticzError)
    assert [Rights.from_code(code) for code in (0, 1, 2, -1, 254, 255)] == [
        Rights.VIEWER,
        Rights.USER,
        Rights.ADMIN,
        None,
        None,
        None,
    ]
