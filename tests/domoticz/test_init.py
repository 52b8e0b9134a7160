"""Domoticz entries in a running Home Assistant: entities per era, repairs, reauth, recovery."""

from __future__ import annotations

import base64
import hashlib
import json
import logging

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
import pytest

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics
from custom_components.homelab_sentinel.domoticz import client as client_module

from .conftest import StartSimulator
from .helpers import (
    PASSWORD,
    TITLE,
    add_entry,
    attributes_of,
    household,
    state_of,
    url_of,
)
from .simulator import DomoticzSimulator, Malformed, SimUser

ERA_OF = {"2020.1": "A", "2022.2": "A", "2023.1": "B", "2024.7": "B", "2025.1": "C"}
ALL_VERSIONS = list(ERA_OF)
SENSORS = ("access", "login", "rights", "failed_logins", "trusted_networks", "version")
BINARY_SENSORS = ("unprotected", "plain_basic_auth", "default_password")
OPEN_ISSUE_BY_CAUSE = {
    "protection_off": "domoticz_open_protection_off",
    "nowwwpwd": "domoticz_open_nowwwpwd",
    "catch_all_network": "domoticz_open_catch_all",
}


def _states(hass: HomeAssistant) -> dict[str, str]:
    states = {key: state_of(hass, key) for key in SENSORS}
    states |= {key: state_of(hass, key, "binary_sensor") for key in BINARY_SENSORS}
    return states


def _issues(hass: HomeAssistant, entry_id: str) -> dict[str, ir.IssueEntry]:
    prefix = f"{entry_id}_"
    return {
        issue_id.removeprefix(prefix): issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith(prefix)
    }


def _reauth_flows(hass: HomeAssistant) -> list[str]:
    return [
        flow["flow_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


# ---------------------------------------------------------------------------------------------
# Every state of every entity, era by era


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_protected_with_admin_credentials(
    hass: HomeAssistant,
    domoticz: StartSimulator,
    version: str,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    era_a = ERA_OF[version] == "A"
    options = {} if era_a else {"allow_plain_basic_auth": False}
    simulator = await domoticz(
        version, users=household(), trusted_networks="192.168.1.*", **options
    )
    simulator.log_failed_login("192.168.1.66", "admin")
    simulator.log_failed_login("10.0.0.9", "root", known_user=False)
    entry = await add_entry(hass, simulator)
    assert _states(hass) == {
        "access": "protected",
        "login": "authenticated",
        "rights": "admin",
        "failed_logins": "2",
        "trusted_networks": "192.168.1.*",
        "version": version,
        "unprotected": "off",
        # Era A has no AllowPlainBasicAuth setting: it takes Basic-Auth over any transport.
        "plain_basic_auth": STATE_UNKNOWN if era_a else "off",
        "default_password": "off",
    }
    access = attributes_of(hass, "access")
    assert access["options"] == ["open", "protected"]
    assert (access["open_reason"], access["open_cause"], access["catch_all_networks"]) == (
        None,
        None,
        [],
    )
    assert attributes_of(hass, "login")["problem"] is None
    assert attributes_of(hass, "failed_logins")["last_address"] == "10.0.0.9"
    assert attributes_of(hass, "failed_logins")["state_class"] == "total_increasing"
    assert attributes_of(hass, "trusted_networks")["networks"] == ["192.168.1.*"]
    assert attributes_of(hass, "version")["era"] == ERA_OF[version]
    assert _issues(hass, entry.entry_id) == {}

    # Everything on the entry's one device; unique ids after the entry's.
    url = url_of(simulator)
    device_ids = set()
    for key in (*SENSORS, *BINARY_SENSORS):
        platform = "binary_sensor" if key in BINARY_SENSORS else "sensor"
        entity_id = entity_registry.async_get_entity_id(platform, DOMAIN, f"{url}-{key}")
        assert entity_id is not None, key
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        device_ids.add(registered.device_id)
        diagnostic = key in ("trusted_networks", "version")
        assert (registered.entity_category == "diagnostic") is diagnostic, key
    [device_id] = device_ids
    device = device_registry.async_get(device_id)  # type: ignore[arg-type]
    assert isinstance(device, dr.DeviceEntry)
    assert (device.name, device.model) == (TITLE, "Domoticz")

    # A new failed login is counted once; the count never goes down.
    simulator.log_failed_login("192.168.1.77", "admin")
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "failed_logins") == "3"
    assert attributes_of(hass, "failed_logins")["last_address"] == "192.168.1.77"
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "failed_logins") == "3"


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(("user", "rights"), [("bob", "user"), ("vera", "viewer")])
async def test_rights_of_lesser_accounts(
    hass: HomeAssistant, domoticz: StartSimulator, version: str, user: str, rights: str
) -> None:
    options = {} if ERA_OF[version] == "A" else {"allow_plain_basic_auth": True}
    simulator = await domoticz(version, users=household(), **options)
    await add_entry(hass, simulator, user, f"{PASSWORD}-{user}")
    assert state_of(hass, "login") == "authenticated"
    assert state_of(hass, "rights") == rights
    # Settings and the log are readable with any rights.
    assert state_of(hass, "trusted_networks") == ""
    assert state_of(hass, "failed_logins") == "0"


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_protected_without_credentials(
    hass: HomeAssistant, domoticz: StartSimulator, version: str
) -> None:
    simulator = await domoticz(version, users=household(), trusted_networks="192.168.1.*")
    entry = await add_entry(hass, simulator, None)
    # 2023.2 and later tell their version only to callers with rights.
    version_shown = version if version in ("2020.1", "2022.2", "2023.1") else STATE_UNKNOWN
    assert _states(hass) == {
        "access": "protected",
        "login": "not_configured",
        "rights": STATE_UNKNOWN,
        "failed_logins": STATE_UNKNOWN,
        "trusted_networks": STATE_UNKNOWN,
        "version": version_shown,
        "unprotected": "off",
        "plain_basic_auth": STATE_UNKNOWN,
        "default_password": STATE_UNKNOWN,
    }
    assert _issues(hass, entry.entry_id) == {}


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_open_to_home_assistant_only(
    hass: HomeAssistant, domoticz: StartSimulator, version: str
) -> None:
    simulator = await domoticz(version, users=household(), trusted_networks="127.0.0.1")
    entry = await add_entry(hass, simulator, None)
    assert state_of(hass, "access") == "open"
    assert state_of(hass, "unprotected", "binary_sensor") == "on"
    attributes = attributes_of(hass, "access")
    assert (attributes["open_reason"], attributes["open_cause"]) == ("trusted_network", None)
    # Our address has rights, so the posture is readable without credentials.
    assert state_of(hass, "login") == "not_configured"
    assert state_of(hass, "rights") == STATE_UNKNOWN
    assert state_of(hass, "trusted_networks") == "127.0.0.1"
    assert state_of(hass, "version") == version
    # Trusting Home Assistant is a choice, not a repair.
    assert _issues(hass, entry.entry_id) == {}


@pytest.mark.parametrize(
    ("version", "options", "cause", "networks"),
    [
        ("2020.1", {"users": []}, "protection_off", "-"),
        ("2022.2", {"trusted_networks": "*.*.*.*"}, "catch_all_network", "*.*.*.*"),
        ("2023.1", {"no_www_password": True}, "nowwwpwd", "-"),
        ("2024.7", {"trusted_networks": "192.168.*;0.0.0.0/0"}, "catch_all_network", "0.0.0.0/0"),
        ("2025.1", {"trusted_networks": "*"}, "catch_all_network", "*"),
        ("2025.1", {"no_www_password": True}, "nowwwpwd", "-"),
    ],
)
async def test_open_to_everyone(
    hass: HomeAssistant,
    domoticz: StartSimulator,
    version: str,
    options: dict[str, object],
    cause: str,
    networks: str,
) -> None:
    simulator = await domoticz(version, **({"users": household()} | options))
    entry = await add_entry(hass, simulator, None)
    assert state_of(hass, "access") == "open"
    assert state_of(hass, "unprotected", "binary_sensor") == "on"
    attributes = attributes_of(hass, "access")
    assert (attributes["open_reason"], attributes["open_cause"]) == ("everyone", cause)
    catch_all = [] if networks == "-" else [networks]
    assert attributes["catch_all_networks"] == catch_all
    issue = _issues(hass, entry.entry_id)["domoticz_open_to_everyone"]
    assert issue.translation_key == OPEN_ISSUE_BY_CAUSE[cause]
    assert issue.translation_placeholders == {"name": TITLE, "networks": networks}
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not issue.is_fixable

    # Fixed as the repair says: the issue clears at the next check.
    simulator.users = household()
    simulator.trusted_networks = "192.168.1.*"
    simulator.no_www_password = False
    simulator.clear_log()  # a restart
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "access") == "protected"
    assert state_of(hass, "unprotected", "binary_sensor") == "off"
    assert _issues(hass, entry.entry_id) == {}


@pytest.mark.parametrize("version", ["2023.1", "2024.7", "2025.1"])
async def test_plain_basic_auth_repair(
    hass: HomeAssistant, domoticz: StartSimulator, version: str
) -> None:
    simulator = await domoticz(version, users=household(), allow_plain_basic_auth=True)
    entry = await add_entry(hass, simulator)
    assert state_of(hass, "plain_basic_auth", "binary_sensor") == "on"
    assert attributes_of(hass, "login")["method"] == "basic"
    issue = _issues(hass, entry.entry_id)["domoticz_plain_basic_auth"]
    assert issue.translation_key == "domoticz_plain_basic_auth"
    assert issue.translation_placeholders == {"name": TITLE}
    assert issue.severity is ir.IssueSeverity.WARNING

    simulator.allow_plain_basic_auth = False
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "plain_basic_auth", "binary_sensor") == "off"
    # Home Assistant logs in another way and keeps reading the posture.
    assert state_of(hass, "login") == "authenticated"
    assert attributes_of(hass, "login")["method"] != "basic"
    assert _issues(hass, entry.entry_id) == {}


@pytest.mark.parametrize("version", ["2023.1", "2024.7", "2025.1"])
async def test_default_admin_password(
    hass: HomeAssistant, domoticz: StartSimulator, version: str
) -> None:
    # A fresh database: admin / domoticz. The user gave these credentials themselves.
    simulator = await domoticz(version, allow_plain_basic_auth=True)
    entry = await add_entry(hass, simulator, "admin", "domoticz")
    assert state_of(hass, "default_password", "binary_sensor") == "on"
    issue = _issues(hass, entry.entry_id)["domoticz_default_password"]
    assert issue.translation_key == "domoticz_default_password"
    assert issue.severity is ir.IssueSeverity.ERROR

    # An admin sees the password hashes, so the change shows at the next check.
    simulator.set_password("admin", PASSWORD)
    await hass.config_entries.async_remove(entry.entry_id)
    entry = await add_entry(hass, simulator, "admin", PASSWORD)
    assert state_of(hass, "default_password", "binary_sensor") == "off"
    assert "domoticz_default_password" not in _issues(hass, entry.entry_id)


async def test_default_password_seen_by_a_viewer(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz(
        "2025.1",
        users=[SimUser("admin", "domoticz"), SimUser("vera", PASSWORD, rights=0)],
        https=True,
    )
    entry = await add_entry(hass, simulator, "vera", PASSWORD)
    assert state_of(hass, "rights") == "viewer"
    # From the start-up warning in Domoticz's log, the only clue a viewer has.
    assert state_of(hass, "default_password", "binary_sensor") == "on"
    assert "domoticz_default_password" in _issues(hass, entry.entry_id)


async def test_era_a_has_no_default_password(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2020.1", users=[SimUser("admin", "domoticz")])
    await add_entry(hass, simulator, "admin", "domoticz")
    assert state_of(hass, "login") == "authenticated"
    assert state_of(hass, "default_password", "binary_sensor") == "off"


# ---------------------------------------------------------------------------------------------
# Rejected credentials


@pytest.mark.parametrize(
    ("version", "options"),
    [
        ("2020.1", {}),
        ("2020.1", {"basic_auth_mode": True}),
        ("2023.1", {"trusted_networks": "127.0.0.1"}),
        ("2024.7", {"allow_plain_basic_auth": True}),
        ("2025.1", {}),
        ("2025.1", {"https": True}),
    ],
)
async def test_changed_password_starts_reauth(
    hass: HomeAssistant,
    domoticz: StartSimulator,
    version: str,
    options: dict[str, bool],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(client_module, "monotonic", lambda: clock[0])
    simulator = await domoticz(version, users=household(), **options)
    entry = await add_entry(hass, simulator)
    assert state_of(hass, "login") == "authenticated"
    assert _reauth_flows(hass) == []
    access = state_of(hass, "access")

    simulator.set_password("admin", "changed-on-the-server")
    # Domoticz keeps a login session (or token) alive after a password change; it ends later.
    simulator.advance_time(3700)
    clock[0] += 3700
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    # The entities stay: Domoticz's openness is still known, and the login says what happened.
    assert state_of(hass, "login") == "rejected"
    assert attributes_of(hass, "login")["problem"] == "invalid_credentials"
    assert state_of(hass, "rights") == STATE_UNKNOWN
    assert state_of(hass, "access") == access
    assert len(_reauth_flows(hass)) == 1
    assert entry.state is ConfigEntryState.LOADED

    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert len(_reauth_flows(hass)) == 1
    warnings = [r for r in caplog.records if "rejected the configured credentials" in r.message]
    assert len(warnings) == 1


async def test_wrong_password_at_setup(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household())
    entry = await add_entry(hass, simulator, "admin", "not-the-password")
    assert entry.state is ConfigEntryState.LOADED
    assert state_of(hass, "login") == "rejected"
    assert state_of(hass, "access") == "protected"
    assert len(_reauth_flows(hass)) == 1


async def test_two_factor_account(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=[SimUser("admin", PASSWORD, totp="123456")])
    await add_entry(hass, simulator)
    assert state_of(hass, "login") == "rejected"
    assert attributes_of(hass, "login")["problem"] == "two_factor_required"
    assert len(_reauth_flows(hass)) == 1


# ---------------------------------------------------------------------------------------------
# Failures


async def test_unreachable_then_recovery(
    hass: HomeAssistant, domoticz: StartSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = await domoticz("2025.1", users=household())
    entry = await add_entry(hass, simulator)
    await simulator.stop()
    coordinator = entry.runtime_data
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    for key in SENSORS:
        assert state_of(hass, key) == STATE_UNAVAILABLE, key
    for key in BINARY_SENSORS:
        assert state_of(hass, key, "binary_sensor") == STATE_UNAVAILABLE, key
    # Logged once when it went away, not at every poll.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [message.split(": ", 1)[1] for message in errors] == [
        f"Could not connect to Domoticz at {url_of(simulator)}"
    ]
    await simulator.start()
    await coordinator.async_refresh()
    assert state_of(hass, "login") == "authenticated"
    assert "Fetching homelab_sentinel dz data recovered" in caplog.text


async def test_setup_retries_while_unreachable(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz("2025.1", users=household())
    await simulator.stop()
    entry = await add_entry(hass, simulator)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == f"Could not connect to Domoticz at {url_of(simulator)}"


async def test_untrusted_certificate(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household(), https=True)
    loop = hass.loop
    harness_handler = loop.get_exception_handler()
    assert harness_handler is not None
    # The simulator's side of the refused handshake is not the integration's doing.
    loop.set_exception_handler(
        lambda loop, context: (
            None
            if context.get("message") == "Error on transport creation for incoming connection"
            else harness_handler(loop, context)
        )
    )
    try:
        entry = await add_entry(hass, simulator, verify_ssl=True)
        await hass.async_block_till_done()
    finally:
        loop.set_exception_handler(harness_handler)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "did not verify" in entry.reason


@pytest.mark.parametrize("malformed", list(Malformed))
async def test_malformed_answers(
    hass: HomeAssistant,
    domoticz: StartSimulator,
    malformed: Malformed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = await domoticz("2024.7", users=household(), allow_plain_basic_auth=True)
    entry = await add_entry(hass, simulator)
    simulator.malformed = malformed
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "access") == STATE_UNAVAILABLE
    assert f"Domoticz at {url_of(simulator)} gave an answer that cannot be used" in caplog.text
    simulator.malformed = None
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "access") == "protected"


async def test_no_active_user_gives_http_500(
    hass: HomeAssistant, domoticz: StartSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks="127.0.0.1")
    entry = await add_entry(hass, simulator)
    for user in simulator.users:
        user.active = False
    for application in simulator.applications:
        application.active = False
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "access") == STATE_UNAVAILABLE
    assert "HTTP 500" in caplog.text


# ---------------------------------------------------------------------------------------------
# Lifecycle and secrets


async def test_unload_ends_the_session(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household())
    entry = await add_entry(hass, simulator)
    assert attributes_of(hass, "login")["method"] == "session"
    assert simulator.session_count() == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert simulator.session_count() == 0
    assert state_of(hass, "access") == STATE_UNAVAILABLE


async def test_removing_the_entry_drops_its_issues(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz("2025.1", users=household(), trusted_networks="0.0.0.0/0")
    entry = await add_entry(hass, simulator, None)
    assert set(_issues(hass, entry.entry_id)) == {"domoticz_open_to_everyone"}
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert _issues(hass, entry.entry_id) == {}


async def test_password_never_logged_nor_in_diagnostics(
    hass: HomeAssistant, domoticz: StartSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = await domoticz(
        "2025.1",
        users=household(),
        trusted_networks="127.0.0.1;0.0.0.0/0",
        allow_plain_basic_auth=True,
    )
    simulator.log_failed_login("192.168.1.66", "admin")
    entry = await add_entry(hass, simulator)
    coordinator = entry.runtime_data
    await coordinator.async_refresh()
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)

    simulator.set_password("admin", "a-new-password")
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    [flow_id] = _reauth_flows(hass)
    await hass.config_entries.flow.async_configure(
        flow_id, {"username": "admin", "password": "a-new-password"}
    )
    await hass.async_block_till_done()
    assert state_of(hass, "login") == "authenticated"

    secrets = [
        PASSWORD,
        "a-new-password",
        hashlib.md5(PASSWORD.encode(), usedforsecurity=False).hexdigest(),
        base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
    ]
    attributes = json.dumps(
        [dict(state.attributes) for state in hass.states.async_all()], default=str
    )
    dumped = json.dumps(diagnostics, default=str)
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in dumped
        assert secret not in attributes

    assert diagnostics["entry"]["data"] == {
        "kind": "domoticz",
        "url": "**REDACTED**",
        "verify_ssl": False,
        "username": "**REDACTED**",
        "password": "**REDACTED**",
    }
    snapshot = diagnostics["data"]["subjects"][""]["snapshot"]
    assert snapshot["url"] == "**REDACTED**"
    assert snapshot["anonymous_user"] == "**REDACTED**"
    assert snapshot["new_failed_logins"] == "**REDACTED**"
    assert diagnostics["data"]["subjects"][""]["last_failed_login"]["username"] == "**REDACTED**"
    assert snapshot["access"] == "open"
    assert snapshot["open_reason"] == "everyone"
    assert snapshot["trusted_networks"] == "127.0.0.1;0.0.0.0/0"
    assert snapshot["failed_logins"] == 1


# ---------------------------------------------------------------------------------------------
# No noise in Domoticz's own log


def _refusals(simulator: DomoticzSimulator) -> list[str]:
    return [line for line in simulator.log_lines() if "PO exception" in line]


@pytest.mark.parametrize("version", ["2024.7", "2025.1"])
async def test_a_refused_oauth_grant_is_not_asked_again(
    hass: HomeAssistant, domoticz: StartSimulator, version: str
) -> None:
    # Over plain HTTP without AllowPlainBasicAuth, Basic proves nothing, so OAuth2 is next.
    simulator = await domoticz(version, users=household(), allow_plain_basic_auth=False)
    entry = await add_entry(hass, simulator)
    assert state_of(hass, "login") == "authenticated"
    # The stock application has no signing key: the first contact costs one error line.
    assert len(_refusals(simulator)) == 1
    assert entry.data["oauth_refused"] == version

    # Restarts and polls of a working entry leave no error line in Domoticz's log.
    simulator.clear_log()
    for _ in range(2):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        await entry.runtime_data.async_refresh()
    assert state_of(hass, "login") == "authenticated"
    assert simulator.log_lines() == []

    # An upgraded Domoticz is asked once more, at the next login; it refuses again, and that
    # is remembered.
    simulator.version = "2025.2"
    await entry.runtime_data.async_refresh()
    assert "oauth_refused" not in entry.data
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "login") == "authenticated"
    assert len(_refusals(simulator)) == 1
    assert entry.data["oauth_refused"] == "2025.2"


async def test_an_upgrade_is_asked_again_without_a_restart(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz("2025.1", users=household(), allow_plain_basic_auth=False)
    entry = await add_entry(hass, simulator)
    assert entry.data["oauth_refused"] == "2025.1"
    simulator.clear_log()
    simulator.version = "2025.2"
    # The poll that sees the new version forgets the refusal; the next login asks once more.
    await entry.runtime_data.async_refresh()
    assert "oauth_refused" not in entry.data
    await entry.runtime_data.async_refresh()
    await entry.runtime_data.async_refresh()
    assert state_of(hass, "login") == "authenticated"
    assert len(_refusals(simulator)) == 1
    assert entry.data["oauth_refused"] == "2025.2"
