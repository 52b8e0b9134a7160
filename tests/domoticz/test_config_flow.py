"""Config, reauth, reconfigure and options flows of the domoticz kind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.domoticz.flow import normalize_url

from .conftest import StartSimulator
from .helpers import (
    PASSWORD,
    add_entry,
    household,
    open_form,
    state_of,
    suggested,
    url_of,
)
from .simulator import Malformed, SimUser


@pytest.fixture
def refused_handshakes_tolerated(hass: HomeAssistant) -> Iterator[None]:
    """Let the simulator's TLS server see a client refuse its certificate.

    In debug mode asyncio reports the server side of a failed handshake to the loop's exception
    handler, which Home Assistant's test harness turns into a test failure.
    """
    loop = hass.loop
    harness_handler = loop.get_exception_handler()
    assert harness_handler is not None

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != "Error on transport creation for incoming connection":
            harness_handler(loop, context)

    loop.set_exception_handler(handler)
    yield
    loop.set_exception_handler(harness_handler)


@pytest.mark.parametrize(
    ("version", "options", "login_rights"),
    [
        ("2020.1", {}, "admin"),
        ("2020.1", {"basic_auth_mode": True}, "admin"),
        ("2022.2", {}, "admin"),
        ("2023.1", {}, "admin"),
        ("2024.7", {"allow_plain_basic_auth": True}, "admin"),
        ("2025.1", {}, "admin"),
        ("2025.1", {"https": True}, "admin"),
    ],
)
async def test_add_per_era(
    hass: HomeAssistant,
    domoticz: StartSimulator,
    version: str,
    options: dict[str, bool],
    login_rights: str,
) -> None:
    simulator = await domoticz(version, users=household(), **options)
    flow_id = await open_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "url": f"{simulator.url}",
            "username": " admin ",
            "password": PASSWORD,
            "verify_ssl": False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    url = f"{simulator.url.scheme}://127.0.0.1:{simulator.url.port}"
    assert result["title"] == f"127.0.0.1:{simulator.url.port}"
    data = dict(result["data"])
    # What the validation learnt of the OAuth2 grant is kept, so the entry does not ask again.
    assert data.pop("oauth_refused", version) == version
    assert data == {
        "kind": "domoticz",
        "url": url,
        "verify_ssl": False,
        "username": "admin",
        "password": PASSWORD,
    }
    assert result["result"].unique_id == url
    await hass.async_block_till_done()
    # The validation and the entry's setup together cost at most one error line in Domoticz.
    assert len([line for line in simulator.log_lines() if "PO exception" in line]) <= 1
    prefix = f"sensor.127_0_0_1_{simulator.url.port}"
    login = hass.states.get(f"{prefix}_login")
    rights = hass.states.get(f"{prefix}_rights")
    assert login is not None
    assert rights is not None
    assert (login.state, rights.state) == ("authenticated", login_rights)
    # The validation's session was ended; only the entry's own is left.
    assert simulator.session_count() <= 1


async def test_add_without_credentials(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household())
    flow_id = await open_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": f"127.0.0.1:{simulator.url.port}/", "verify_ssl": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "kind": "domoticz",
        "url": url_of(simulator),
        "verify_ssl": True,
    }
    await hass.async_block_till_done()
    login = hass.states.get(f"sensor.127_0_0_1_{simulator.url.port}_login")
    assert login is not None
    assert login.state == "not_configured"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Domoticz.LAN:80/", "http://domoticz.lan"),
        ("https://Proxy.lan:443/Domoticz/?x=1#top", "https://proxy.lan/Domoticz"),
        ("https://proxy.lan:8443", "https://proxy.lan:8443"),
        (" 192.168.1.20:8080 ", "http://192.168.1.20:8080"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ftp://domoticz.lan", "http://", "http://admin:secret@domoticz.lan:8080"]
)
def test_normalize_url_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        normalize_url(raw)


@pytest.mark.usefixtures("refused_handshakes_tolerated")
async def test_errors_then_success(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    users = [*household(), SimUser("otto", PASSWORD, rights=2, totp="123456")]
    simulator = await domoticz("2025.1", users=users)
    secure = await domoticz("2025.1", users=household(), https=True)
    gone = await domoticz("2025.1")
    await gone.stop()
    url = str(simulator.url)
    flow_id = await open_form(hass)

    async def submit(answers: dict[str, object]) -> dict[str, str]:
        result = await hass.config_entries.flow.async_configure(flow_id, answers)
        assert result["type"] is FlowResultType.FORM
        # The form keeps what was typed, except the password.
        assert suggested(result["data_schema"], "password") is None
        assert suggested(result["data_schema"], "url") == answers["url"]
        errors: dict[str, str] = result["errors"] or {}
        return errors

    assert await submit({"url": "ftp://domoticz.lan"}) == {"url": "invalid_url"}
    assert await submit({"url": "http://admin:pw@domoticz.lan"}) == {"url": "invalid_url"}
    assert await submit({"url": url, "password": PASSWORD}) == {"username": "username_required"}
    assert await submit({"url": url, "username": "admin", "password": "wrong"}) == {
        "base": "invalid_auth"
    }
    assert await submit({"url": url, "username": "nobody", "password": PASSWORD}) == {
        "base": "invalid_auth"
    }
    assert await submit({"url": url, "username": "otto", "password": PASSWORD}) == {
        "base": "two_factor_required"
    }
    assert await submit({"url": str(gone.url), "username": "admin", "password": PASSWORD}) == {
        "base": "cannot_connect"
    }
    assert await submit(
        {"url": str(secure.url), "username": "admin", "password": PASSWORD, "verify_ssl": True}
    ) == {"base": "invalid_certificate"}
    simulator.malformed = Malformed.NOT_JSON
    assert await submit({"url": url, "username": "admin", "password": PASSWORD}) == {
        "base": "invalid_response"
    }
    simulator.malformed = None
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": url, "username": "admin", "password": PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_plain_http_basic_refused_versus_wrong_password(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    # Domoticz 2023.2+ ignores Basic-Auth over plain HTTP unless AllowPlainBasicAuth is on:
    # that refusal must not read as a wrong password.
    simulator = await domoticz("2025.1", users=household(), allow_plain_basic_auth=False)
    flow_id = await open_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": str(simulator.url), "username": "bob", "password": "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": str(simulator.url), "username": "bob", "password": f"{PASSWORD}-bob"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hass.states.get(f"sensor.127_0_0_1_{simulator.url.port}_rights").state == "user"  # type: ignore[union-attr]


async def test_already_configured(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household())
    await add_entry(hass, simulator, setup=False)
    flow_id = await open_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": f"HTTP://127.0.0.1:{simulator.url.port}/", "username": "bob"}
    )
    # Validation comes first, so a wrong password is reported as such ...
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": f"HTTP://127.0.0.1:{simulator.url.port}/"}
    )
    # ... and the same server, however written, is refused.
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_after_password_change(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household(), https=True)
    entry = await add_entry(hass, simulator)
    assert state_of(hass, "login") == "authenticated"
    simulator.set_password("admin", "a-new-password")
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "login") == "rejected"
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["step_id"] == "reauth_domoticz"
    flow_id = flow["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"username": "admin", "password": PASSWORD}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert suggested(result["data_schema"], "username") == "admin"
    assert suggested(result["data_schema"], "password") is None
    assert result["description_placeholders"] == {"name": "dz", "url": url_of(simulator)}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"username": "admin", "password": "a-new-password"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "a-new-password"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert state_of(hass, "login") == "authenticated"


async def test_reauth_errors_and_another_account(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz("2024.7", users=household(), allow_plain_basic_auth=True)
    entry = await add_entry(hass, simulator)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_domoticz"
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"username": "", "password": PASSWORD}
    )
    assert result["errors"] == {"username": "username_required"}
    await simulator.stop()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"username": "vera", "password": f"{PASSWORD}-vera"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await simulator.start()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"username": "vera", "password": f"{PASSWORD}-vera"}
    )
    assert result["reason"] == "reauth_successful"
    assert (entry.data["username"], entry.data["password"]) == ("vera", f"{PASSWORD}-vera")
    assert entry.data["url"] == url_of(simulator)
    await hass.async_block_till_done()
    assert state_of(hass, "rights") == "viewer"


async def test_reconfigure_keeps_the_password(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz("2025.1", users=household())
    entry = await add_entry(hass, simulator, verify_ssl=True)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "domoticz"
    schema = result["data_schema"]
    assert suggested(schema, "url") == url_of(simulator)
    assert suggested(schema, "username") == "admin"
    # The stored password is never sent back to the browser.
    assert suggested(schema, "password") is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": str(simulator.url), "username": "admin", "verify_ssl": False}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["password"] == PASSWORD
    assert entry.data["verify_ssl"] is False
    await hass.async_block_till_done()
    assert state_of(hass, "login") == "authenticated"

    # Emptying the username drops the credentials altogether.
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": str(simulator.url), "username": ""}
    )
    assert result["reason"] == "reconfigure_successful"
    assert "password" not in entry.data
    assert "username" not in entry.data
    await hass.async_block_till_done()
    assert state_of(hass, "login") == "not_configured"


async def test_reconfigure_checks_a_new_password(
    hass: HomeAssistant, domoticz: StartSimulator
) -> None:
    simulator = await domoticz("2025.1", users=household())
    entry = await add_entry(hass, simulator)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": str(simulator.url), "username": "bob", "password": "nope"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": str(simulator.url), "username": "bob", "password": f"{PASSWORD}-bob"},
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["password"] == f"{PASSWORD}-bob"


async def test_options(hass: HomeAssistant, domoticz: StartSimulator) -> None:
    simulator = await domoticz("2025.1", users=household())
    entry = await add_entry(hass, simulator)
    assert entry.runtime_data.update_interval.total_seconds() == 300
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {"scan_interval": 300}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 60.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"scan_interval": 60}
    await hass.async_block_till_done()
    assert entry.runtime_data.update_interval.total_seconds() == 60
