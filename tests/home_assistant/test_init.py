"""The home_assistant entry in a running Home Assistant: what it reads, repairs, secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import subprocess
from types import SimpleNamespace
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant import auth
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN, User
from homeassistant.auth.providers.homeassistant import HassAuthProvider
from homeassistant.components import persistent_notification
from homeassistant.components.backup import async_get_manager as async_get_backup_manager
from homeassistant.components.backup.agent import BackupAgent
from homeassistant.components.backup.config import ScheduleRecurrence
from homeassistant.components.http.config import DATA_STORE
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.json import json_dumps
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util, package
import pytest
from pytest_homeassistant_custom_component.common import (
    MockModule,
    mock_integration,
    mock_platform,
)

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics
from custom_components.homelab_sentinel.home_assistant import privileges
from custom_components.homelab_sentinel.home_assistant.coordinator import (
    HomeAssistantCoordinator,
)

from ..certificate.certs import make_leaf
from .conftest import ENTITY_IDS, add_entry, issues, setup_http, state, write

PASSWORD = "Correct-Horse-Battery"
SECRET = "S3cret-inline-value"


async def _auth(hass: HomeAssistant, providers: list[dict[str, Any]] | None = None) -> None:
    """A real auth manager with a username/password provider, more providers and an MFA module."""
    hass.auth = await auth.auth_manager_from_config(
        hass,
        [{"type": "homeassistant"}, *(providers or [])],
        [{"type": "insecure_example", "data": []}],
    )


def _local(hass: HomeAssistant) -> HassAuthProvider:
    provider = next(p for p in hass.auth.auth_providers if p.type == "homeassistant")
    assert isinstance(provider, HassAuthProvider)
    return provider


async def _user(hass: HomeAssistant, name: str, *, admin: bool = False) -> User:
    """A user who logs in with a username and password, created as Home Assistant does."""
    provider = _local(hass)
    user = await hass.auth.async_create_user(
        name, group_ids=["system-admin" if admin else "system-users"]
    )
    await provider.async_add_auth(name.lower(), PASSWORD)
    credentials = await provider.async_get_or_create_credentials({"username": name.lower()})
    await hass.auth.async_link_user(user, credentials)
    return user


async def _poll(hass: HomeAssistant, entry: Any) -> None:
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()


# ---------------------------------------------------------------------------------------------
# A default Home Assistant


async def test_defaults(
    hass: HomeAssistant,
    config_dir: Path,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    await setup_http(hass)
    entry = await add_entry(hass)
    values = {key: state(hass, key).state for key in ENTITY_IDS}
    assert values == {
        "remote_access_without_tls": "off",
        # login_attempts_threshold defaults to -1: nobody is ever banned.
        "login_banning_off": "on",
        "trusted_proxies_too_broad": "off",
        "login_bypass": "off",
        "admin_without_mfa": "off",
        # The backup integration is not loaded: no automatic backups.
        "backups_not_off_machine": "on",
        # Tests run as root on a Core installation.
        "privileged_account": "on",
        "banned_addresses": "0",
        "failed_logins": "0",
        "users_without_mfa": "0",
        "long_lived_tokens": "0",
        "old_tokens": "0",
        "plaintext_secrets": "0",
        "pending_updates": "0",
        "ha_ban": STATE_UNKNOWN,
        "ha_login_failed": STATE_UNKNOWN,
    }
    attributes = state(hass, "login_banning_off").attributes
    assert (attributes["ip_ban_enabled"], attributes["login_attempts_threshold"]) == (True, -1)
    assert state(hass, "privileged_account").attributes["reason"] == "root"
    assert state(hass, "backups_not_off_machine").attributes["agents"] == []
    assert {key: issue.translation_key for key, issue in issues(hass, entry).items()} == {
        "ha_login_banning_off": "ha_login_banning_off",
        "ha_backups_not_off_machine": "ha_backups_not_on_schedule",
        "ha_privileged_account": "ha_privileged_account_root",
    }
    assert issues(hass, entry)["ha_login_banning_off"].translation_placeholders == {
        "ip_ban_enabled": "true",
        "threshold": "-1",
    }
    # One device, the entry's; unique ids after the entry's.
    for key, entity_id in ENTITY_IDS.items():
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.unique_id == f"home_assistant-{key}"
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    assert device.model == "Home Assistant"


# ---------------------------------------------------------------------------------------------
# HTTP settings as they are in force


@pytest.mark.parametrize(
    ("settings", "external_url", "expected"),
    [
        ({}, "http://ha.example.com:8123", {"remote_access_without_tls": "on"}),
        ({}, "http://192.168.1.2:8123", {"remote_access_without_tls": "off"}),
        ({}, "http://homeassistant.local:8123", {"remote_access_without_tls": "off"}),
        ({}, "http://[fd00::2]:8123", {"remote_access_without_tls": "off"}),
        ({}, "https://ha.example.com", {"remote_access_without_tls": "off"}),
        (
            {"ip_ban_enabled": True, "login_attempts_threshold": 5},
            None,
            {"login_banning_off": "off"},
        ),
        (
            {"ip_ban_enabled": False, "login_attempts_threshold": 5},
            None,
            {"login_banning_off": "on"},
        ),
        (
            {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1", "172.30.33.0/24"]},
            None,
            {"trusted_proxies_too_broad": "off"},
        ),
        (
            {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1", "0.0.0.0/0"]},
            None,
            {"trusted_proxies_too_broad": "on"},
        ),
    ],
)
async def test_http_settings(
    hass: HomeAssistant,
    config_dir: Path,
    settings: dict[str, Any],
    external_url: str | None,
    expected: dict[str, str],
) -> None:
    await setup_http(hass, **settings)
    await hass.config.async_update(external_url=external_url)
    entry = await add_entry(hass)
    assert {key: state(hass, key).state for key in expected} == expected
    remote = state(hass, "remote_access_without_tls").attributes
    assert remote["external_url_scheme"] == (external_url.split(":")[0] if external_url else None)
    assert remote["behind_proxy"] is bool(settings.get("use_x_forwarded_for"))
    wanted = {
        "remote_access_without_tls": "ha_remote_access_without_tls",
        "login_banning_off": "ha_login_banning_off",
        "trusted_proxies_too_broad": "ha_trusted_proxies_too_broad",
    }
    for key, value in expected.items():
        assert (wanted[key] in issues(hass, entry)) is (value == "on"), key
    if expected.get("trusted_proxies_too_broad") == "on":
        assert state(hass, "trusted_proxies_too_broad").attributes["proxies"] == ["0.0.0.0/0"]
        assert issues(hass, entry)["ha_trusted_proxies_too_broad"].translation_placeholders == {
            "proxies": "0.0.0.0/0"
        }


async def test_tls(hass: HomeAssistant, config_dir: Path) -> None:
    certificate, key = await hass.async_add_executor_job(
        make_leaf(["ha.example.com"], issuer=None).write, config_dir / "ssl", "ha"
    )
    await setup_http(hass, ssl_certificate=str(certificate), ssl_key=str(key))
    await hass.config.async_update(external_url="https://ha.example.com:8123")
    await add_entry(hass)
    attributes = state(hass, "remote_access_without_tls").attributes
    assert (attributes["ssl"], attributes["external_url_scheme"]) == (True, "https")


async def test_settings_in_force_not_those_saved(hass: HomeAssistant, config_dir: Path) -> None:
    """A new trial configuration applies at the next start: until then, the running one counts."""
    await setup_http(hass, use_x_forwarded_for=True, trusted_proxies=["127.0.0.1"])
    store = hass.data[DATA_STORE]
    pending = dict(store.stable) | {
        "trusted_proxies": ["0.0.0.0/0"],
        "login_attempts_threshold": 5,
    }
    await store.async_set_pending(pending)  # type: ignore[arg-type]
    await hass.async_add_executor_job(
        write, config_dir / "configuration.yaml", "http:\n  login_attempts_threshold: 3\n"
    )
    entry = await add_entry(hass)
    assert state(hass, "trusted_proxies_too_broad").state == "off"
    assert state(hass, "login_banning_off").state == "on"
    # Started with the trial slot, Home Assistant runs what it holds.
    store._active_config_type = store.active_config_type.PENDING
    await _poll(hass, entry)
    assert state(hass, "login_banning_off").attributes["login_attempts_threshold"] == -1
    assert state(hass, "trusted_proxies_too_broad").state == "off"
    assert state(hass, "remote_access_without_tls").attributes["behind_proxy"] is True
    # In recovery mode, on the built-in defaults: no proxy.
    store._active_config_type = store.active_config_type.DEFAULT
    await _poll(hass, entry)
    assert state(hass, "remote_access_without_tls").attributes["behind_proxy"] is False


# ---------------------------------------------------------------------------------------------
# Users, MFA and tokens


async def test_users_without_mfa(hass: HomeAssistant, config_dir: Path) -> None:
    await _auth(hass)
    await setup_http(hass)
    owner = await _user(hass, "Owner", admin=True)
    await _user(hass, "Alice", admin=True)
    await _user(hass, "Bob")
    inactive = await _user(hass, "Carol", admin=True)
    await hass.auth.async_update_user(inactive, is_active=False)
    await hass.auth.async_create_system_user("Supervisor", group_ids=["system-admin"])
    # A user without any password login (e.g. only trusted networks) is not counted.
    await hass.auth.async_create_user("Kiosk", group_ids=["system-admin"])
    await hass.auth.async_enable_user_mfa(owner, "insecure_example", {"pin": "123456"})
    entry = await add_entry(hass)
    assert state(hass, "users_without_mfa").state == "2"
    assert state(hass, "users_without_mfa").attributes["users"] == ["Alice", "Bob"]
    assert state(hass, "admin_without_mfa").state == "on"
    assert state(hass, "admin_without_mfa").attributes["users"] == ["Alice"]
    assert issues(hass, entry)["ha_admin_without_mfa"].translation_placeholders == {
        "users": "Alice"
    }
    alice = next(u for u in await hass.auth.async_get_users() if u.name == "Alice")
    await hass.auth.async_enable_user_mfa(alice, "insecure_example", {"pin": "654321"})
    await _poll(hass, entry)
    assert state(hass, "admin_without_mfa").state == "off"
    assert "ha_admin_without_mfa" not in issues(hass, entry)
    assert state(hass, "users_without_mfa").attributes["users"] == ["Bob"]


async def test_totp_and_notify_mfa(hass: HomeAssistant, config_dir: Path) -> None:
    """Home Assistant's own TOTP and notify modules count as MFA (they need pyotp)."""
    pytest.importorskip("pyotp")
    hass.auth = await auth.auth_manager_from_config(
        hass, [{"type": "homeassistant"}], [{"type": "totp"}, {"type": "notify"}]
    )
    await setup_http(hass)
    totp_user = await _user(hass, "Tina", admin=True)
    notify_user = await _user(hass, "Nick", admin=True)
    await _user(hass, "Nora", admin=True)
    await hass.auth.async_enable_user_mfa(totp_user, "totp", {})
    await hass.auth.async_enable_user_mfa(
        notify_user, "notify", {"notify_service": "mobile_app_phone"}
    )
    await add_entry(hass)
    assert state(hass, "admin_without_mfa").attributes["users"] == ["Nora"]


async def test_long_lived_tokens(
    hass: HomeAssistant, config_dir: Path, freezer: FrozenDateTimeFactory
) -> None:
    await _auth(hass)
    await setup_http(hass)
    user = await _user(hass, "Owner", admin=True)
    start = dt_util.utcnow()

    async def issue(client_name: str) -> str:
        # As Home Assistant's `auth/long_lived_access_token` command issues them.
        token = await hass.auth.async_create_refresh_token(
            user,
            client_name=client_name,
            token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
            access_token_expiration=timedelta(days=3650),
        )
        return hass.auth.async_create_access_token(token)

    grafana = await issue("Grafana")
    freezer.move_to(start + timedelta(days=300))
    await issue("Node-RED")
    # Normal (browser) tokens are not long-lived ones.
    await hass.auth.async_create_refresh_token(user, client_id="http://127.0.0.1/")
    freezer.move_to(start + timedelta(days=365, seconds=-60))
    entry = await add_entry(hass)
    assert state(hass, "long_lived_tokens").state == "2"
    tokens = state(hass, "long_lived_tokens").attributes["tokens"]
    assert [(t["user"], t["client_name"]) for t in tokens] == [
        ("Owner", "Grafana"),
        ("Owner", "Node-RED"),
    ]
    assert tokens[0]["created"] == start.isoformat()
    assert state(hass, "old_tokens").state == "0"

    # A year and a minute: Grafana's token is old, even though it is used every day.
    freezer.move_to(start + timedelta(days=365, seconds=60))
    assert hass.auth.async_validate_access_token(grafana) is not None
    await _poll(hass, entry)
    assert state(hass, "old_tokens").state == "1"
    assert state(hass, "old_tokens").attributes["tokens"][0]["client_name"] == "Grafana"
    assert issues(hass, entry)["ha_old_tokens"].translation_placeholders == {
        "count": "1",
        "days": "365",
        "tokens": "Grafana (Owner)",
    }
    for value in (state(hass, "old_tokens"), state(hass, "long_lived_tokens")):
        assert grafana not in str(value.attributes)

    # Allowed to live two years through the options.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 3600, "token_max_age_days": 730}
    )
    await hass.async_block_till_done()
    assert state(hass, "old_tokens").state == "0"
    assert "ha_old_tokens" not in issues(hass, entry)


# ---------------------------------------------------------------------------------------------
# Auth providers


@pytest.mark.parametrize(
    ("providers", "expected"),
    [
        ([{"type": "trusted_networks", "trusted_networks": ["192.168.1.0/24"]}], []),
        (
            [
                {
                    "type": "trusted_networks",
                    "trusted_networks": ["192.168.1.0/24"],
                    "allow_bypass_login": True,
                }
            ],
            ["trusted_networks: allow_bypass_login"],
        ),
        (
            [{"type": "trusted_networks", "trusted_networks": ["192.168.1.0/24", "0.0.0.0/0"]}],
            ["trusted_networks: 0.0.0.0/0"],
        ),
        (
            [
                {
                    "type": "trusted_networks",
                    "trusted_networks": ["10.0.0.0/8", "2a00:1450::/32"],
                    "trusted_users": {"10.0.0.0/8": []},
                }
            ],
            ["trusted_networks: 2a00:1450::/32"],
        ),
    ],
)
async def test_login_bypass(
    hass: HomeAssistant, config_dir: Path, providers: list[dict[str, Any]], expected: list[str]
) -> None:
    await _auth(hass, providers)
    await setup_http(hass)
    entry = await add_entry(hass)
    assert state(hass, "login_bypass").state == ("on" if expected else "off")
    assert state(hass, "login_bypass").attributes["providers"] == expected
    assert ("ha_login_bypass" in issues(hass, entry)) is bool(expected)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert SECRET not in str(diagnostics)
    assert SECRET not in str(hass.states.async_all())


# ---------------------------------------------------------------------------------------------
# Backups


class RemoteAgent(BackupAgent):
    """A backup location off this machine, as a cloud or network storage integration adds."""

    domain = "test"
    name = "Remote"
    unique_id = "remote"

    async def async_download_backup(self, backup_id: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def async_upload_backup(self, **kwargs: Any) -> None:
        raise NotImplementedError

    async def async_delete_backup(self, backup_id: str, **kwargs: Any) -> None:
        raise NotImplementedError

    async def async_list_backups(self, **kwargs: Any) -> list[Any]:
        return []

    async def async_get_backup(self, backup_id: str, **kwargs: Any) -> Any:
        raise NotImplementedError


async def test_backups(hass: HomeAssistant, config_dir: Path) -> None:
    await setup_http(hass)
    assert await async_setup_component(hass, "backup", {})
    await hass.async_block_till_done()
    manager = async_get_backup_manager(hass)
    entry = await add_entry(hass)
    assert state(hass, "backups_not_off_machine").state == "on"
    assert issues(hass, entry)["ha_backups_not_off_machine"].translation_key == (
        "ha_backups_not_on_schedule"
    )

    # Daily, but only to this machine.
    manager.config.update(
        create_backup={"agent_ids": ["backup.local"]},
        schedule={"recurrence": ScheduleRecurrence.DAILY, "days": [], "time": None},
    )
    await _poll(hass, entry)
    assert state(hass, "backups_not_off_machine").state == "on"
    assert state(hass, "backups_not_off_machine").attributes["agents"] == ["backup.local"]
    assert issues(hass, entry)["ha_backups_not_off_machine"].translation_key == (
        "ha_backups_not_off_machine"
    )

    # A test platform adds a location off this machine.
    mock_integration(hass, MockModule("test"))
    mock_platform(
        hass,
        "test.backup",
        SimpleNamespace(async_get_backup_agents=_remote_agents),
    )
    assert await async_setup_component(hass, "test", {})
    await hass.async_block_till_done()
    assert "test.remote" in manager.backup_agents
    manager.config.update(create_backup={"agent_ids": ["backup.local", "test.remote"]})
    await _poll(hass, entry)
    assert state(hass, "backups_not_off_machine").state == "off"
    assert "ha_backups_not_off_machine" not in issues(hass, entry)

    # Custom days, but no day chosen: no automatic backups after all.
    manager.config.update(
        schedule={"recurrence": ScheduleRecurrence.CUSTOM_DAYS, "days": [], "time": None}
    )
    await _poll(hass, entry)
    assert state(hass, "backups_not_off_machine").state == "on"


async def _remote_agents(hass: HomeAssistant, **kwargs: Any) -> list[BackupAgent]:
    return [RemoteAgent()]


# ---------------------------------------------------------------------------------------------
# Updates


async def test_pending_updates(hass: HomeAssistant, config_dir: Path) -> None:
    await setup_http(hass)
    hass.states.async_set("update.core", "on", {"friendly_name": "Home Assistant Core"})
    hass.states.async_set("update.esphome_garage", "off", {"friendly_name": "Garage"})
    hass.states.async_set("update.zigbee_stick", "on")
    await add_entry(hass)
    assert state(hass, "pending_updates").state == "2"
    assert state(hass, "pending_updates").attributes["updates"] == [
        "Home Assistant Core",
        "update.zigbee_stick",
    ]


# ---------------------------------------------------------------------------------------------
# Secrets in the YAML configuration


async def test_plaintext_secrets(
    hass: HomeAssistant, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {
        "configuration.yaml": "homeassistant:\n"
        "  packages: !include_dir_named packages\n"
        "mqtt:\n"
        "  password: !secret mqtt_password\n",
        "secrets.yaml": f"mqtt_password: {SECRET}\n",
        "packages/garage.yaml": (
            f"rest_command:\n  open:\n    url: http://garage\n    password: {SECRET}\n"
        ),
    }
    for name, text in files.items():
        await hass.async_add_executor_job(write, config_dir / name, text)
    await setup_http(hass)
    entry = await add_entry(hass)
    assert state(hass, "plaintext_secrets").state == "1"
    assert state(hass, "plaintext_secrets").attributes["locations"] == [
        "packages/garage.yaml:4 password"
    ]
    assert issues(hass, entry)["ha_plaintext_secrets"].translation_placeholders == {
        "count": "1",
        "locations": "packages/garage.yaml:4 password",
    }
    # A file that does not parse: unknown, and where.
    await hass.async_add_executor_job(
        write, config_dir / "packages" / "garage.yaml", f"password: {SECRET}\nbad: [\n"
    )
    await _poll(hass, entry)
    assert state(hass, "plaintext_secrets").state == STATE_UNKNOWN
    assert state(hass, "plaintext_secrets").attributes["error"] == "packages/garage.yaml:3"
    assert "ha_plaintext_secrets" not in issues(hass, entry)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert "packages/garage.yaml:3" in json_dumps(diagnostics)
    everything = str(diagnostics) + str(hass.states.async_all()) + caplog.text
    everything += str([issue.translation_placeholders for issue in issues(hass, entry).values()])
    assert SECRET not in everything


# ---------------------------------------------------------------------------------------------
# The account Home Assistant runs as


@pytest.fixture
def unprivileged_user() -> Any:
    """A system account without sudo rights, of this test only."""
    name = f"hs-ha-{dt_util.utcnow().strftime('%H%M%S%f')}"
    subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)  # noqa: S603, S607
    uid = int(subprocess.run(["id", "-u", name], check=True, capture_output=True).stdout)  # noqa: S603, S607
    sudoers = Path(f"/etc/sudoers.d/{name}")
    yield SimpleNamespace(name=name, uid=uid, sudoers=sudoers)
    sudoers.unlink(missing_ok=True)
    subprocess.run(["userdel", name], check=False)  # noqa: S603, S607


async def test_privileged_account_not_root(
    hass: HomeAssistant,
    config_dir: Path,
    unprivileged_user: Any,
    monkeypatch: pytest.MonkeyPatch,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant as another user: sudo really runs as that user, with and without rights."""
    monkeypatch.setattr(privileges, "effective_uid", lambda: unprivileged_user.uid)
    monkeypatch.setattr(
        privileges,
        "SUDO_CHECK",
        ("setpriv", f"--reuid={unprivileged_user.uid}", "--clear-groups", "sudo", "-n", "true"),
    )
    await setup_http(hass)
    entry = await add_entry(hass)
    assert state(hass, "privileged_account").state == "off"
    assert state(hass, "privileged_account").attributes["reason"] is None
    assert "ha_privileged_account" not in issues(hass, entry)

    async def next_day() -> None:
        # sudo is asked once a day: every refusal is logged, and mailed to root by default.
        freezer.tick(timedelta(hours=24))
        await _poll(hass, entry)

    await hass.async_add_executor_job(
        unprivileged_user.sudoers.write_text, f"{unprivileged_user.name} ALL=(ALL) NOPASSWD: ALL\n"
    )
    await hass.async_add_executor_job(unprivileged_user.sudoers.chmod, 0o440)
    await _poll(hass, entry)
    assert state(hass, "privileged_account").state == "off"
    await next_day()
    assert state(hass, "privileged_account").state == "on"
    assert state(hass, "privileged_account").attributes["reason"] == "passwordless_sudo"
    assert issues(hass, entry)["ha_privileged_account"].translation_key == (
        "ha_privileged_account_passwordless_sudo"
    )

    # No sudo at all.
    monkeypatch.setattr(privileges, "SUDO_CHECK", ("/nonexistent/sudo", "-n", "true"))
    await next_day()
    assert state(hass, "privileged_account").state == "off"


async def test_sudo_that_does_not_answer(
    hass: HomeAssistant, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sudo that never answers is cut short, and one that cannot run is no answer either."""
    monkeypatch.setattr(privileges, "effective_uid", lambda: 65534)
    monkeypatch.setattr(privileges, "SUDO_CHECK", ("sleep", "30"))
    monkeypatch.setattr(privileges, "SUDO_TIMEOUT", 0.2)
    await setup_http(hass)
    entry = await add_entry(hass)
    assert state(hass, "privileged_account").state == STATE_UNKNOWN
    assert state(hass, "privileged_account").attributes["reason"] == "sudo_check_failed"
    assert "ha_privileged_account" not in issues(hass, entry)
    monkeypatch.setattr(privileges, "SUDO_CHECK", ("/etc/hostname", "-n"))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, "privileged_account").state == STATE_UNKNOWN


async def test_privileged_account_in_a_container(
    hass: HomeAssistant, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the Core installation type the account is the container's or the OS's business."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    package.is_docker_env.cache_clear()
    try:
        await setup_http(hass)
        entry = await add_entry(hass)
    finally:
        package.is_docker_env.cache_clear()
    assert state(hass, "privileged_account").state == "off"
    assert state(hass, "privileged_account").attributes["reason"] == "not_applicable"
    assert "ha_privileged_account" not in issues(hass, entry)


# ---------------------------------------------------------------------------------------------
# A failed login before the first poll


async def test_failure_before_first_poll(hass: HomeAssistant, config_dir: Path) -> None:
    """A failure reported while the entry starts is counted, and shown by the first poll."""
    await setup_http(hass)
    entry = await add_entry(hass, setup=False)
    coordinator = HomeAssistantCoordinator(hass, entry)
    await coordinator._async_setup()
    persistent_notification.async_create(
        hass,
        "Login attempt or request with invalid authentication from x (203.0.113.5)."
        " See the log for details.",
        "Login attempt failed",
        "http-login",
    )
    await coordinator.async_refresh()
    assert coordinator.data.subjects[""].failed_logins.total == 1
    await coordinator.async_shutdown()


# ---------------------------------------------------------------------------------------------
# Removal


async def test_remove_entry(
    hass: HomeAssistant, config_dir: Path, hass_storage: dict[str, Any]
) -> None:
    await setup_http(hass)
    entry = await add_entry(hass)
    assert issues(hass, entry)
    assert f"{DOMAIN}.home_assistant.bans" in hass_storage
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issues(hass, entry) == {}
    assert f"{DOMAIN}.home_assistant.bans" not in hass_storage
    assert f"{DOMAIN}.home_assistant.failed_logins" not in hass_storage
