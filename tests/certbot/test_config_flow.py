"""Config, reconfigure, reauth and options flows of the certbot kind, against real servers."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.transport import HostKey

from .common import local_data, ssh_data, unique_id_of
from .conftest import CertbotHome, KeyPair, SshServer, SshUser, free_port


def _suggested(result: ConfigFlowResult, field: str) -> object:
    for key in result["data_schema"].schema:  # type: ignore[union-attr]
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)


async def _transport(hass: HomeAssistant, transport: str) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "certbot"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "certbot"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"transport": transport}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"certbot_{transport}"
    return result


def _local_form(home: CertbotHome, **changes: str) -> dict[str, Any]:
    return {
        "certbot_command": home.command,
        "config_dir": str(home.config_dir) + "/",
        "acme_server": home.pebble.url,
        **changes,
    }


def _ssh_form(server: SshServer, home: CertbotHome, **changes: Any) -> dict[str, Any]:
    return {
        "host": " 127.0.0.1 ",
        "port": server.port,
        "username": "root",
        "use_sudo": False,
        "certbot_command": home.command,
        "config_dir": str(home.config_dir),
        "acme_server": home.pebble.url,
        **changes,
    }


async def test_add_local_certbot(hass: HomeAssistant, certbot_home: CertbotHome) -> None:
    result = await _transport(hass, "local")
    assert _suggested(result, "certbot_command") is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _local_form(certbot_home)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "certbot (local)"
    assert result["data"] == local_data(certbot_home)
    assert result["result"].unique_id == f"certbot:local:local:{certbot_home.config_dir}"
    await hass.async_block_till_done()
    assert hass.states.get("sensor.alpha_test_expires") is not None

    result = await _transport(hass, "local")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _local_form(certbot_home)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"certbot_command": "certbot; reboot"}, {"certbot_command": "invalid_certbot_command"}),
        ({"config_dir": "letsencrypt"}, {"config_dir": "invalid_config_dir"}),
        ({"acme_server": "ftp://ca/dir"}, {"acme_server": "invalid_acme_server"}),
        ({"certbot_command": "/nonexistent/certbot"}, {"base": "command_not_found"}),
        ({"config_dir": "/proc/version"}, {"config_dir": "not_certbot_config_dir"}),
        ({"config_dir": "/nonexistent"}, {"config_dir": "not_certbot_config_dir"}),
        ({"certbot_command": "false"}, {"base": "command_failed"}),
    ],
)
async def test_local_errors(
    hass: HomeAssistant, certbot_home: CertbotHome, changes: dict[str, str], errors: dict[str, str]
) -> None:
    result = await _transport(hass, "local")
    form = _local_form(certbot_home, **changes)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    # What the user typed stays in the form.
    assert _suggested(result, "certbot_command") == form["certbot_command"]
    placeholders = result["description_placeholders"] or {}
    assert bool(placeholders["detail"]) is ("base" in errors)


async def test_add_certbot_over_ssh(
    hass: HomeAssistant, certbot_home: CertbotHome, sshd: SshServer, client_key: KeyPair
) -> None:
    result = await _transport(hass, "ssh")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _ssh_form(sshd, certbot_home, private_key=client_key.private)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "certbot_host_key"
    host_key = HostKey.parse(sshd.host_key.public)
    assert result["description_placeholders"] == {
        "host": "127.0.0.1",
        "port": str(sshd.port),
        "algorithm": "ssh-ed25519",
        "fingerprint": host_key.fingerprint,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "certbot (127.0.0.1)"
    expected = ssh_data(sshd, certbot_home, key=client_key)
    assert result["data"] == {**expected, "private_key": client_key.private.strip() + "\n"}
    assert result["result"].unique_id == unique_id_of(expected)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.alpha_test_days_remaining") is not None


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"host": "proxy lan"}, {"host": "invalid_host"}),
        ({"host": "-oProxyCommand=x"}, {"host": "invalid_host"}),
        ({"username": "root me"}, {"username": "invalid_username"}),
        ({"password": ""}, {"base": "ssh_credentials_required"}),
        (
            {"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nx"},
            {"private_key": "invalid_private_key"},
        ),
        ({"config_dir": "relative"}, {"config_dir": "invalid_config_dir"}),
    ],
)
async def test_ssh_form_errors(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    sshd: SshServer,
    changes: dict[str, str],
    errors: dict[str, str],
) -> None:
    result = await _transport(hass, "ssh")
    form = _ssh_form(sshd, certbot_home, password="pw") | changes
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "certbot_ssh"
    assert result["errors"] == errors
    # Secrets are never sent back as suggestions.
    assert _suggested(result, "password") is None
    assert _suggested(result, "private_key") is None


async def test_ssh_unreachable(
    hass: HomeAssistant, certbot_home: CertbotHome, sshd: SshServer
) -> None:
    result = await _transport(hass, "ssh")
    form = _ssh_form(sshd, certbot_home, password="pw", port=free_port())
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {"base": "cannot_connect"}
    assert "cannot connect" in (result["description_placeholders"] or {})["detail"]


async def test_ssh_login_problems_after_the_host_key(
    hass: HomeAssistant, certbot_home: CertbotHome, sshd: SshServer, ssh_user: SshUser
) -> None:
    result = await _transport(hass, "ssh")
    form = _ssh_form(sshd, certbot_home, username=ssh_user.name, password="wrong")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["step_id"] == "certbot_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "certbot_ssh"
    assert result["errors"] == {"base": "ssh_invalid_auth"}
    assert _suggested(result, "username") == ssh_user.name

    # The right password, but the user may not run sudo.
    form = form | {"password": ssh_user.password, "use_sudo": True}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["step_id"] == "certbot_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "sudo_refused"}
    assert "password is required" in (result["description_placeholders"] or {})["detail"]

    # Left empty, the password entered before is kept. Without sudo this user cannot see into
    # root's certbot directory, so certbot is not run against it.
    form = form | {"password": "", "use_sudo": False}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "certbot_ssh"
    assert result["errors"] == {"config_dir": "not_certbot_config_dir"}


async def _ssh_entry(
    hass: HomeAssistant, server: SshServer, home: CertbotHome, **credentials: Any
) -> MockConfigEntry:
    data = ssh_data(server, home, **credentials)
    entry = MockConfigEntry(
        domain=DOMAIN, title="certbot (127.0.0.1)", unique_id=unique_id_of(data), data=data
    )
    entry.add_to_hass(hass)
    return entry


async def test_reconfigure(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    own_sshd: SshServer,
    client_key: KeyPair,
) -> None:
    entry = await _ssh_entry(hass, own_sshd, certbot_home, key=client_key)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "certbot"
    assert _suggested(result, "transport") == "ssh"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"transport": "ssh"})
    assert result["step_id"] == "certbot_ssh"
    assert _suggested(result, "username") == "root"
    assert _suggested(result, "private_key") is None
    # Same server, same key: no confirmation; the stored key is kept.
    form = _ssh_form(own_sshd, certbot_home, use_sudo=True)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["use_sudo"] is True
    assert entry.data["private_key"] == client_key.private

    # The server got a new key: it is shown first.
    await asyncio.to_thread(own_sshd.restart_with_new_host_key)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"transport": "ssh"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["step_id"] == "certbot_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["host_key"] == HostKey.parse(own_sshd.host_key.public).openssh

    # And back to this machine.
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"transport": "local"}
    )
    assert _suggested(result, "config_dir") == str(certbot_home.config_dir)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _local_form(certbot_home)
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == f"certbot:local:local:{certbot_home.config_dir}"
    assert entry.data == local_data(certbot_home)
    await hass.async_block_till_done()


async def test_reauth_with_new_credentials(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    own_sshd: SshServer,
    client_key: KeyPair,
    ssh_user: SshUser,
) -> None:
    entry = await _ssh_entry(hass, own_sshd, certbot_home, key=client_key, username=ssh_user.name)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_certbot"
    assert result["description_placeholders"] == {
        "name": "certbot (127.0.0.1)",
        "host": "127.0.0.1",
        "username": ssh_user.name,
        "detail": "",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "ssh_credentials_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "wrong"}
    )
    assert result["errors"] == {"base": "ssh_invalid_auth"}
    # This user may log in, but not see into certbot's directory: certbot is not run.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": ssh_user.password}
    )
    assert result["errors"] == {"base": "not_certbot_config_dir"}

    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "username": "root", "private_key": "-"}
    )
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"private_key": client_key.private}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["private_key"] == client_key.private.strip() + "\n"
    assert "password" not in entry.data
    await hass.async_block_till_done()


async def test_reauth_while_the_server_is_down(
    hass: HomeAssistant, certbot_home: CertbotHome, own_sshd: SshServer, client_key: KeyPair
) -> None:
    entry = await _ssh_entry(hass, own_sshd, certbot_home, key=client_key)
    await asyncio.to_thread(own_sshd.stop)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_certbot"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"private_key": client_key.private}
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_reauth_accepts_a_changed_host_key(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    own_sshd: SshServer,
    client_key: KeyPair,
) -> None:
    entry = await _ssh_entry(hass, own_sshd, certbot_home, key=client_key)
    old = HostKey.parse(entry.data["host_key"])
    await asyncio.to_thread(own_sshd.restart_with_new_host_key)
    new = HostKey.parse(own_sshd.host_key.public)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_certbot_host_key"
    placeholders = result["description_placeholders"] or {}
    assert placeholders["old_fingerprint"] == old.fingerprint
    assert placeholders["fingerprint"] == new.fingerprint

    # The server goes away while the user reads: the error is shown, the key not yet trusted.
    await asyncio.to_thread(own_sshd.stop)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "reauth_certbot_host_key"
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data["host_key"] == old.openssh

    await asyncio.to_thread(own_sshd.start)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["host_key"] == new.openssh
    assert entry.data["private_key"] == client_key.private
    await hass.async_block_till_done()


async def test_reauth_changed_host_key_and_credentials(
    hass: HomeAssistant,
    certbot_home: CertbotHome,
    own_sshd: SshServer,
    client_key: KeyPair,
) -> None:
    entry = await _ssh_entry(hass, own_sshd, certbot_home, password="not-accepted")
    await asyncio.to_thread(own_sshd.restart_with_new_host_key)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_certbot_host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    # The new key is trusted for this flow; the password is not accepted.
    assert result["step_id"] == "reauth_certbot"
    assert result["errors"] == {"base": "ssh_invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"private_key": client_key.private}
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data["host_key"] == HostKey.parse(own_sshd.host_key.public).openssh
    assert "password" not in entry.data
    await hass.async_block_till_done()


async def test_options(hass: HomeAssistant, certbot_home: CertbotHome) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=unique_id_of(local_data(certbot_home)),
        data=local_data(certbot_home),
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert _suggested(result, "scan_interval") is None
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 3600, "warning_days": 7}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"scan_interval": 3600, "warning_days": 7}
    await hass.async_block_till_done()
