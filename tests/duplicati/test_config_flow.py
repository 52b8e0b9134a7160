"""Config, reconfigure and reauth flows of the duplicati kind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
import ssl
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import probatio
import pytest

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.duplicati.auth import parse_signin_token
from tests.certificate.certs import make_leaf

from .common import add_entry, issue_forever_token, password_entry, run_flow, start_flow
from .conftest import SimulatorFactory

pytestmark = pytest.mark.usefixtures("fast_task_follow")

PREAUTH = "ha-preauth_0123456789"
SESSION = "custom_components.homelab_sentinel.duplicati.coordinator.async_get_clientsession"


@pytest.fixture
def named_hosts(named_session: aiohttp.ClientSession) -> Iterator[None]:
    """Reach the simulator through any host name, e.g. nas.lan."""
    with patch(SESSION, return_value=named_session):
        yield


def _required(schema: Any, field: str) -> bool:
    for key in schema.schema:
        if key == field:
            return isinstance(key, probatio.Required)
    raise KeyError(field)


def _suggested(schema: Any, field: str) -> object:
    for key in schema.schema:
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)


@pytest.mark.parametrize("method", ["password", "signin_token", "preauth_token", "forever_token"])
async def test_each_auth_method_creates_an_entry(
    hass: HomeAssistant, make_simulator: SimulatorFactory, method: str
) -> None:
    simulator = await make_simulator("2.3", preauth_tokens=[PREAUTH], enable_forever_token=True)
    simulator.add_backup("Documents", history=["Success"])
    forever = await issue_forever_token(simulator, async_get_clientsession(hass))
    link = simulator.signin_link()
    secret = {
        "password": simulator.password,
        "signin_token": link,
        "preauth_token": f"PreAuth {PREAUTH}",
        "forever_token": f"Authorization: Bearer {forever}",
    }[method]
    flow_id = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": f" {simulator.url.upper()}/ ", "auth_method": method, "verify_ssl": True}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"duplicati_{method}"
    assert result["description_placeholders"] == {"url": simulator.url}
    assert _required(result["data_schema"], "password" if method == "password" else "token")
    families = simulator.family_count
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"password" if method == "password" else "token": secret}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Duplicati 127.0.0.1:{simulator.port}"
    entry = result["result"]
    assert entry.unique_id == simulator.url
    base = {
        "kind": "duplicati",
        "url": simulator.url,
        "auth_method": method,
        "verify_ssl": True,
    }
    if method == "signin_token":
        state = result["data"]["signin_state"]
        assert result["data"] == base | {"signin_state": state}
        assert set(state) == {"cookie_name", "refresh_token", "nonce"}
        assert parse_signin_token(link) not in repr(result["data"])
    else:
        field = "password" if method == "password" else "token"
        assert result["data"] == base | {field: secret}
    await hass.async_block_till_done()
    state_ = hass.states.get("sensor.documents_last_result")
    assert state_ is not None
    assert state_.state == "success"
    if method == "password":
        # The flow's own login was logged out again; only the entry's is left.
        assert simulator.family_count == families + 1


async def test_server_step_errors_and_duplicates(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3")
    await password_entry(hass, simulator, setup=False)
    flow_id = await start_flow(hass)
    for url in ("ftp://nas.lan", "http://admin:pw@nas.lan:8200", "http://"):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"url": url, "auth_method": "password", "verify_ssl": True}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"url": "invalid_url"}
        assert _suggested(result["data_schema"], "url") == url
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": f"{simulator.url}/", "auth_method": "password", "verify_ssl": True}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_credential_errors_then_success(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3", preauth_tokens=[PREAUTH])
    cases = [
        ("password", "wrong password", {"password": "invalid_auth"}),
        ("signin_token", "hello", {"token": "invalid_token"}),
        ("preauth_token", "short", {"token": "invalid_token"}),
        ("preauth_token", "not-the-right-token", {"token": "invalid_auth"}),
        ("forever_token", "nope", {"token": "invalid_token"}),
    ]
    for method, secret, errors in cases:
        result = await run_flow(hass, simulator.url, method, secret)
        assert result["type"] is FlowResultType.FORM, method
        assert result["errors"] == errors, method
        hass.config_entries.flow.async_abort(result["flow_id"])

    expired = simulator.issue_signin_token()
    simulator.advance(6 * 60)
    result = await run_flow(hass, simulator.url, "signin_token", expired)
    assert result["errors"] == {"token": "invalid_token"}
    hass.config_entries.flow.async_abort(result["flow_id"])

    # Wrong first, then right, in the same form.
    result = await run_flow(hass, simulator.url, "password", "wrong")
    assert result["errors"] == {"password": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": simulator.password}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_connection_errors(
    hass: HomeAssistant,
    make_simulator: SimulatorFactory,
    named_session: aiohttp.ClientSession,
) -> None:
    simulator = await make_simulator("2.3")
    simulator.malformed_json = True
    result = await run_flow(hass, simulator.url, "password", simulator.password)
    assert result["errors"] == {"base": "cannot_connect"}
    hass.config_entries.flow.async_abort(result["flow_id"])
    simulator.malformed_json = False

    with patch(SESSION, return_value=named_session):
        result = await run_flow(
            hass, f"http://nas.lan:{simulator.port}", "password", simulator.password
        )
    assert result["errors"] == {"base": "hostname_not_allowed"}
    hass.config_entries.flow.async_abort(result["flow_id"])

    await simulator.stop()
    result = await run_flow(hass, simulator.url, "password", simulator.password)
    assert result["errors"] == {"base": "cannot_connect"}


async def test_https_with_a_self_signed_certificate(
    hass: HomeAssistant, make_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    certfile, keyfile = make_leaf(["127.0.0.1"], issuer=None).write(tmp_path, "duplicati")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    simulator = await make_simulator("2.3", ssl_context=context)
    assert simulator.url.startswith("https://")
    # The simulator shares the test's loop; in debug mode that loop reports the handshake the
    # client walked out of as an error of its own.
    loop = asyncio.get_running_loop()
    loop.set_debug(False)
    try:
        result = await run_flow(hass, simulator.url, "password", simulator.password)
        assert result["errors"] == {"base": "invalid_certificate"}
        hass.config_entries.flow.async_abort(result["flow_id"])
        result = await run_flow(
            hass, simulator.url, "password", simulator.password, verify_ssl=False
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["verify_ssl"] is False
        await hass.async_block_till_done()
        assert result["result"].runtime_data.last_update_success
    finally:
        loop.set_debug(True)


async def _reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, server: dict[str, Any]
) -> dict[str, Any]:
    result = await entry.start_reconfigure_flow(hass)  # type: ignore[attr-defined]
    assert result["step_id"] == "duplicati"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], server)
    assert result["type"] is FlowResultType.FORM
    flow: dict[str, Any] = dict(result)
    return flow


@pytest.mark.usefixtures("named_hosts")
async def test_reconfigure_keeps_stored_secrets(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3", allowed_hostnames=["nas.lan"])
    simulator.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, simulator)
    result = await entry.start_reconfigure_flow(hass)
    assert _suggested(result["data_schema"], "url") == simulator.url
    assert _suggested(result["data_schema"], "auth_method") == "password"

    # Same method, empty password: the stored one is kept.
    server = {"url": f"http://nas.lan:{simulator.port}", "auth_method": "password"}
    result = await _reconfigure(hass, entry, server | {"verify_ssl": False})
    assert result["step_id"] == "duplicati_password"
    assert not _required(result["data_schema"], "password")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.unique_id == f"http://nas.lan:{simulator.port}"
    assert entry.title == f"Duplicati nas.lan:{simulator.port}"
    assert entry.data["password"] == simulator.password
    assert entry.data["verify_ssl"] is False

    # Another method needs its secret; switch to a sign-in link.
    result = await _reconfigure(hass, entry, server | {"auth_method": "signin_token"})
    assert _required(result["data_schema"], "token")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"token": simulator.signin_link()}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert "password" not in entry.data
    first_state = entry.data["signin_state"]

    # Same method, empty token: the current sign-in goes on, rotated once by the check.
    result = await _reconfigure(hass, entry, server | {"auth_method": "signin_token"})
    assert not _required(result["data_schema"], "token")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"token": " "})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["signin_state"] != first_state
    assert entry.runtime_data.last_update_success

    # A sign-in that no longer works cannot be kept.
    simulator.revoke_all_families()
    result = await _reconfigure(hass, entry, server | {"auth_method": "signin_token"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"token": "invalid_auth"}
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "signin_state": {"cookie_name": "broken"}}
    )
    result = await _reconfigure(hass, entry, server | {"auth_method": "signin_token"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"token": "invalid_token"}


async def test_reconfigure_onto_another_entry_aborts(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    first = await make_simulator("2.3")
    second = await make_simulator("2.3")
    entry = await password_entry(hass, first, setup=False)
    await password_entry(hass, second, setup=False)
    form = await _reconfigure(
        hass, entry, {"url": second.url, "auth_method": "password", "verify_ssl": True}
    )
    result = await hass.config_entries.flow.async_configure(form["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def _reauth(hass: HomeAssistant, entry: ConfigEntry) -> str:
    entry.async_start_reauth(hass)
    await hass.async_block_till_done()
    (flow,) = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("entry_id") == entry.entry_id
    ]
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_duplicati"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert (placeholders["url"], placeholders["server"]) == (entry.data["url"], entry.title)
    flow_id: str = result["flow_id"]
    return flow_id


async def test_reauth_with_a_new_password_or_token(
    hass: HomeAssistant, make_simulator: SimulatorFactory
) -> None:
    simulator = await make_simulator("2.3", preauth_tokens=[PREAUTH])
    entry = await password_entry(hass, simulator, setup=False)
    flow_id = await _reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(flow_id, {"password": "wrong"})
    assert result["errors"] == {"password": "invalid_auth"}
    simulator.password = "new password"
    result = await hass.config_entries.flow.async_configure(flow_id, {"password": "new password"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "new password"

    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, "auth_method": "preauth_token", "token": "revoked-token-0"},
    )
    flow_id = await _reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(flow_id, {"token": PREAUTH})
    assert result["reason"] == "reauth_successful"
    assert entry.data["token"] == PREAUTH


async def test_reauth_of_a_sign_in(hass: HomeAssistant, make_simulator: SimulatorFactory) -> None:
    simulator = await make_simulator("2.3")
    simulator.add_backup("Documents", history=["Success"])
    entry = await add_entry(hass, simulator, "signin_token", simulator.signin_link())
    simulator.revoke_all_families()

    flow_id = await _reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["errors"] == {"base": "credentials_required"}
    result = await hass.config_entries.flow.async_configure(flow_id, {"token": "garbage"})
    assert result["errors"] == {"token": "invalid_token"}
    result = await hass.config_entries.flow.async_configure(flow_id, {"password": "wrong"})
    assert result["errors"] == {"password": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"token": simulator.signin_link()}
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data["auth_method"] == "signin_token"
    await hass.async_block_till_done()

    # The password works as well, and from then on the entry uses it.
    flow_id = await _reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"password": simulator.password}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["auth_method"] == "password"
    assert entry.data["password"] == simulator.password
    assert "signin_state" not in entry.data
    assert entry.runtime_data.last_update_success


async def test_options_defaults(hass: HomeAssistant, make_simulator: SimulatorFactory) -> None:
    simulator = await make_simulator("2.3")
    entry = await password_entry(hass, simulator, setup=False)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {"scan_interval": 300, "max_age_hours": 36}
