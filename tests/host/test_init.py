"""host entries in a running Home Assistant: entities, repairs, a host that goes away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics
from tests.certbot.common import entity_of
from tests.certbot.conftest import KeyPair, SshUser
from tests.states import state_of

from .common import LOCAL_DATA, add_entry, ssh_data, use_world
from .conftest import UNATTENDED_UPGRADES, AptWorld, HostSshServer

PREFIX = "host:local:local"


def _issue(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{key}")


def _write(path: Path, text: str) -> None:
    path.write_text(text)


async def test_local_host_entities_and_repairs(
    hass: HomeAssistant, apt_world: AptWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_world(monkeypatch, apt_world)
    await asyncio.to_thread(
        lambda: apt_world.write_sshd_config("PasswordAuthentication yes\n", "PermitRootLogin yes\n")
    )
    entry = await add_entry(hass, LOCAL_DATA)
    pending = entity_of(hass, "sensor", f"{PREFIX}-pending_updates")
    assert pending == "sensor.host_local_pending_updates"
    state = hass.states.get(pending)
    assert state is not None
    assert state.state == "2"
    assert state.attributes["packages"] == ["sentinel-sec", "sentinel-tiny"]
    assert state.attributes["state_class"] == "measurement"
    security = hass.states.get(entity_of(hass, "sensor", f"{PREFIX}-security_updates"))
    assert security is not None
    assert (security.state, security.attributes["packages"]) == ("1", ["sentinel-sec"])
    assert state_of(hass, entity_of(hass, "sensor", f"{PREFIX}-operating_system")) == (
        "Debian GNU/Linux 13 (trixie)"
    )
    lists = state_of(hass, entity_of(hass, "sensor", f"{PREFIX}-package_lists_updated"))
    assert lists.endswith("+00:00")
    assert state_of(hass, entity_of(hass, "binary_sensor", f"{PREFIX}-reboot_required")) == (
        STATE_OFF
    )
    automatic = entity_of(hass, "binary_sensor", f"{PREFIX}-automatic_updates_off")
    assert state_of(hass, automatic) == STATE_ON
    password = hass.states.get(entity_of(hass, "binary_sensor", f"{PREFIX}-ssh_password_login"))
    assert password is not None
    assert password.state == STATE_ON
    assert password.attributes["source"] == "sshd -T"
    assert state_of(hass, entity_of(hass, "binary_sensor", f"{PREFIX}-ssh_root_login")) == STATE_ON
    missing = _issue(hass, entry, "host_automatic_updates_off")
    assert missing is not None
    assert missing.translation_key == "host_unattended_upgrades_missing"
    assert _issue(hass, entry, "host_ssh_password_login") is not None
    assert _issue(hass, entry, "host_ssh_root_login") is not None
    assert _issue(hass, entry, "host_reboot_required") is None

    # The host is fixed, asks for a reboot, and unattended-upgrades is set up.
    def fix() -> None:
        apt_world.write_sshd_config("PasswordAuthentication no\n")
        apt_world.install(apt_world.debs[UNATTENDED_UPGRADES, "2.12"])
        apt_world.set_periodic("1")
        _write(apt_world.root / "run" / "reboot-required", "")
        _write(apt_world.root / "run" / "reboot-required.pkgs", "libc6\n")

    await asyncio.to_thread(fix)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    reboot = hass.states.get(entity_of(hass, "binary_sensor", f"{PREFIX}-reboot_required"))
    assert reboot is not None
    assert (reboot.state, reboot.attributes["packages"]) == (STATE_ON, ["libc6"])
    issue = _issue(hass, entry, "host_reboot_required")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["packages"] == "libc6"
    assert state_of(hass, automatic) == STATE_OFF
    for key in ("host_automatic_updates_off", "host_ssh_password_login", "host_ssh_root_login"):
        assert _issue(hass, entry, key) is None, key

    # A poll that changed nothing writes no state.
    before = hass.states.get(pending)
    assert before is not None
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    after = hass.states.get(pending)
    assert after is not None
    assert after.last_updated == before.last_updated

    await hass.config_entries.async_remove(entry.entry_id)
    assert _issue(hass, entry, "host_reboot_required") is None


async def test_host_over_ssh_goes_away_and_comes_back(
    hass: HomeAssistant,
    apt_world: AptWorld,
    own_host_sshd: HostSshServer,
    client_key: KeyPair,
    ssh_user: SshUser,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_world(monkeypatch, apt_world)
    entry = await add_entry(hass, ssh_data(own_host_sshd, client_key, ssh_user.name))
    prefix = "host:ssh:127.0.0.1"
    pending = entity_of(hass, "sensor", f"{prefix}-pending_updates")
    assert state_of(hass, pending) == "2"
    password = hass.states.get(entity_of(hass, "binary_sensor", f"{prefix}-ssh_password_login"))
    assert password is not None
    assert (password.state, password.attributes["source"]) == (STATE_OFF, "sshd_config")
    diagnostics = json.dumps(await async_get_config_entry_diagnostics(hass, entry), default=str)
    assert "sentinel-sec" in diagnostics
    assert client_key.private.strip().splitlines()[1] not in diagnostics
    coordinator = entry.runtime_data
    await asyncio.to_thread(own_host_sshd.stop)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, pending) == STATE_UNAVAILABLE
    await asyncio.to_thread(own_host_sshd.start)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, pending) == "2"

    await asyncio.to_thread(own_host_sshd.restart_with_new_host_key)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, pending) == STATE_UNAVAILABLE
    issue = _issue(hass, entry, "ssh_host_key_changed")
    assert issue is not None
    assert issue.is_fixable
    key_line = client_key.private.strip().splitlines()[1]
    assert key_line not in caplog.text
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["step_id"] == "reauth_host_host_key"


async def test_unusable_settings(hass: HomeAssistant, apt_world: AptWorld) -> None:
    data = {
        "kind": "host",
        "transport": "ssh",
        "host": "127.0.0.1",
        "port": 22,
        "username": "root",
        "use_sudo": False,
        "private_key": "not a key",
        "host_key": "ssh-ed25519 not-a-key",
    }
    entry = await add_entry(hass, data, expect_loaded=False)
    assert entry.state is ConfigEntryState.SETUP_ERROR
