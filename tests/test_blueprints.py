"""The automation blueprints, run by Home Assistant's own blueprint machinery.

Each blueprint is copied into the test's configuration directory, instantiated with
`use_blueprint`, and fired by real state changes of a real config entry: a TLS server that starts
presenting an expiring certificate, a Duplicati job whose backup fails, a ban line in fail2ban's
log, a Domoticz that opens up. The notifications are caught by test notify actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime, timedelta
import logging
import os
from pathlib import Path
import re
import shutil
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, quote

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.components.webhook import async_handle_webhook
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.aiohttp import MockRequest
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.duplicati.coordinator import DuplicatiCoordinator

from .certificate.certs import make_ca, make_leaf, write_ca_bundle
from .certificate.conftest import Servers, days_from_now
from .domoticz.helpers import add_entry as add_domoticz_entry, household
from .domoticz.simulator import DomoticzSimulator
from .duplicati.common import password_entry
from .duplicati.simulator import DuplicatiSimulator
from .fail2ban.conftest import append, f2b_line
from .host.common import LOCAL_DATA, add_entry as add_host_entry, use_world
from .host.conftest import AptWorld, apt_root, apt_world

__all__ = ["apt_root", "apt_world"]
from .heartbeat.common import WEBHOOK_ID, add_heartbeat
from .home_assistant.conftest import (  # noqa: F401 - fixtures, imported
    ENTITY_IDS,
    add_entry as add_home_assistant_entry,
    config_dir,
    offline_reverse_dns,
)
from .home_assistant.test_logins import bad_token, http_client, wrong_password  # noqa: F401

REPOSITORY = Path(__file__).parent.parent
SOURCE = REPOSITORY / "blueprints" / "automation" / "homelab_sentinel"
SOURCE_URL = "https://github.com/homelab-sentinel/homelab-sentinel/blob/main/"
NAMES = (
    "certificate_problem.yaml",
    "backup_problem.yaml",
    "fail2ban_ban.yaml",
    "domoticz_unprotected.yaml",
    "certificate_renewal.yaml",
    "host_updates.yaml",
    "home_assistant_security.yaml",
    "any_backup_problem.yaml",
)
NOTIFY_ENTITY = "notify.phone"
# What a user puts in the blueprint's "Other actions": a notify action using its variables.
NOTIFY_ACTIONS = [
    {"action": "notify.test", "data": {"title": "{{ title }}", "message": "{{ message }}"}}
]


@pytest.fixture
async def blueprints(hass: HomeAssistant, tmp_path: Path) -> None:
    """A configuration directory of the test's own, holding the blueprints as a user's would."""
    hass.config.config_dir = str(tmp_path / "config")
    await hass.async_add_executor_job(
        shutil.copytree, SOURCE, hass.config.path("blueprints", "automation", "homelab_sentinel")
    )


class Notifications:
    """What the blueprints sent: through `notify.send_message` and through a user's action."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.sent = async_mock_service(hass, "notify", "send_message")
        self.actions = async_mock_service(hass, "notify", "test")

    def messages(self) -> list[tuple[str, str]]:
        """(title, message) of each notification; both paths must have said the same."""
        sent = [
            (call.data["title"], call.data["message"])
            for call in self.sent
            if call.data["entity_id"] == [NOTIFY_ENTITY]
        ]
        assert sent == [(call.data["title"], call.data["message"]) for call in self.actions]
        assert len(sent) == len(self.sent)
        return sent


@pytest.fixture
def notifications(
    hass: HomeAssistant, blueprints: None, caplog: pytest.LogCaptureFixture
) -> Iterator[Notifications]:
    """The blueprints in place, and test notify actions that record what they are asked to send.

    The automations must run cleanly: no error or warning from them, their scripts or templates.
    """
    yield Notifications(hass)
    complaints = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.levelno >= logging.WARNING
        and record.name.startswith(
            (
                "homeassistant.components.automation",
                "homeassistant.helpers.script",
                "homeassistant.helpers.template",
            )
        )
    ]
    assert not complaints, complaints


async def _use_blueprint(
    hass: HomeAssistant, name: str, inputs: dict[str, Any], *, alias: str = "sentinel"
) -> None:
    """Set up an automation from a blueprint, with both ways of notifying."""
    inputs = {"notify_entities": [NOTIFY_ENTITY], "notify_actions": NOTIFY_ACTIONS} | inputs
    config = {
        "automation": [
            {"alias": alias, "use_blueprint": {"path": f"homelab_sentinel/{name}", "input": inputs}}
        ]
    }
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()
    state = hass.states.get(f"automation.{alias}")
    assert state is not None
    assert state.state == "on", state


def _entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


# ---------------------------------------------------------------------------------------------
# The blueprints as files


def _load(name: str) -> dict[str, Any]:
    return load_yaml_dict(str(SOURCE / name))


def test_every_blueprint_file_is_tested() -> None:
    assert sorted(path.name for path in SOURCE.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_blueprint_metadata(name: str) -> None:
    blueprint = Blueprint(
        _load(name),
        path=f"homelab_sentinel/{name}",
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )
    # None: no errors, and this Home Assistant is at least the blueprint's min_version.
    assert blueprint.validate() is None
    metadata = blueprint.metadata
    assert metadata["source_url"] == f"{SOURCE_URL}blueprints/automation/homelab_sentinel/{name}"
    assert metadata["author"] == "Homelab Sentinel"
    assert metadata["homeassistant"] == {"min_version": "2026.10.0"}
    assert metadata["description"]
    inputs = metadata["input"]
    assert set(inputs) >= {"notify_entities", "notify_actions"}
    assert inputs["notify_entities"]["default"] == []
    assert inputs["notify_actions"]["default"] == []
    assert inputs["notify_actions"]["selector"] == {"action": {}}
    # The entities to watch: this integration's, of the kind the blueprint is about.
    watched = [
        value
        for key, value in inputs.items()
        if key not in {"notify_entities", "notify_actions"} and "entity" in value["selector"]
    ]
    assert len(watched) == 1
    selector = watched[0]["selector"]["entity"]
    assert selector["multiple"] is True
    assert [item["integration"] for item in selector["filter"]] == [DOMAIN]


@pytest.mark.parametrize("name", NAMES)
def test_readme_has_an_import_link(name: str) -> None:
    readme = (REPOSITORY / "docs" / "reference.md").read_text(encoding="utf-8")
    links = re.findall(
        r"\(https://my\.home-assistant\.io/redirect/blueprint_import/\?([^)]*)\)", readme
    )
    urls = [parse_qs(query)["blueprint_url"][0] for query in links]
    raw = (
        "https://raw.githubusercontent.com/homelab-sentinel/homelab-sentinel/main/"
        f"blueprints/automation/homelab_sentinel/{name}"
    )
    assert raw in urls
    # Encoded whole, as my.home-assistant.io expects.
    assert f"blueprint_url={quote(raw, safe='')}" in readme


@pytest.mark.usefixtures("blueprints")
async def test_home_assistant_lists_the_blueprints(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "blueprint", {})
    found = await async_get_blueprints(hass).async_get_blueprints()
    assert sorted(found) == sorted(f"homelab_sentinel/{name}" for name in NAMES)
    for path, blueprint in found.items():
        assert isinstance(blueprint, Blueprint), (path, blueprint)


# ---------------------------------------------------------------------------------------------
# Certificate expiring or untrusted


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncGenerator[Servers]:
    """Loopback TLS servers, stopped after the test."""
    started = Servers(tmp_path)
    yield started
    await started.close()


async def test_certificate_problem(
    hass: HomeAssistant,
    servers: Servers,
    tmp_path: Path,
    notifications: Notifications,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    ca = make_ca()
    bundle = await hass.async_add_executor_job(write_ca_bundle, ca, tmp_path / "ca.pem")
    port = await servers.tls(make_leaf(["service.test"], issuer=ca))
    unique_id = f"cert:127.0.0.1:{port}:service.test"
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"service.test (127.0.0.1:{port})",
        unique_id=unique_id,
        data={
            "kind": "certificate",
            "host": "127.0.0.1",
            "port": port,
            "server_name": "service.test",
            "starttls": "none",
            "ca_file": str(bundle),
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    problem = _entity_id(hass, "binary_sensor", f"{unique_id}-certificate_problem")
    assert _state(hass, problem) == "off"
    await _use_blueprint(hass, "certificate_problem.yaml", {"problem_sensors": [problem]})

    async def present(issued: Any) -> None:
        await servers.close()
        await servers.tls(issued, port=port)
        await entry.runtime_data.async_refresh()
        await hass.async_block_till_done()

    # The server starts presenting a certificate that runs out in three days.
    # A 90-day certificate: its warning window is the usual 14 days.
    await present(
        make_leaf(
            ["service.test"],
            issuer=ca,
            not_before=days_from_now(-86.96),
            not_after=days_from_now(3.04),
        )
    )
    assert _state(hass, problem) == "on"
    host = f"service.test (127.0.0.1:{port})"
    assert notifications.messages() == [
        (
            f"Certificate problem: {host}",
            f"{host}: the certificate expires in 3 days; trusted.",
        )
    ]

    # Renewed: the problem clears, and nothing is sent.
    await present(make_leaf(["service.test"], issuer=ca))
    assert _state(hass, problem) == "off"
    assert len(notifications.messages()) == 1

    # Replaced by a self-signed one. The siblings are found on the device whatever their entity
    # IDs, and the device's name is the one the user gave it.
    days = _entity_id(hass, "sensor", f"{unique_id}-days_remaining")
    entity_registry.async_update_entity(days, new_entity_id="sensor.proxy_days_left")
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    device_registry.async_update_device(device.id, name_by_user="Reverse proxy")
    await hass.async_block_till_done()
    await present(make_leaf(["service.test"], issuer=None, not_after=days_from_now(120.04)))
    assert notifications.messages()[1:] == [
        (
            "Certificate problem: Reverse proxy",
            "Reverse proxy: the certificate expires in 120 days; not trusted (self-signed).",
        )
    ]


# ---------------------------------------------------------------------------------------------
# Certificate renewed, or renewed but not served


async def test_certificate_renewal(
    hass: HomeAssistant, servers: Servers, tmp_path: Path, notifications: Notifications
) -> None:
    ca = make_ca()
    bundle = await hass.async_add_executor_job(write_ca_bundle, ca, tmp_path / "ca.pem")
    served = make_leaf(
        ["service.test"], issuer=ca, not_before=days_from_now(-60), not_after=days_from_now(30)
    )
    port = await servers.tls(served)
    unique_id = f"cert:127.0.0.1:{port}:service.test"
    endpoint = MockConfigEntry(
        domain=DOMAIN,
        title="proxy.lan:443",
        unique_id=unique_id,
        data={
            "kind": "certificate",
            "host": "127.0.0.1",
            "port": port,
            "server_name": "service.test",
            "starttls": "none",
            "ca_file": str(bundle),
        },
    )
    endpoint.add_to_hass(hass)
    assert await hass.config_entries.async_setup(endpoint.entry_id)
    await hass.async_block_till_done()
    renewal = _entity_id(hass, "event", f"{unique_id}-renewal")
    not_served = _entity_id(hass, "binary_sensor", f"{unique_id}-stale_served_certificate")
    await _use_blueprint(hass, "certificate_renewal.yaml", {"certificates": [renewal, not_served]})

    # certbot renewed the file two hours ago; the server was never reloaded.
    renewed = make_leaf(
        ["service.test"], issuer=ca, not_before=days_from_now(-0.1), not_after=days_from_now(90)
    )
    certificate = tmp_path / "fullchain.pem"

    def write_renewed() -> None:
        certificate.write_bytes(renewed.pem_chain())
        two_hours_ago = certificate.stat().st_mtime - 7200
        os.utime(certificate, (two_hours_ago, two_hours_ago))

    await hass.async_add_executor_job(write_renewed)
    files = MockConfigEntry(
        domain=DOMAIN,
        title="letsencrypt",
        unique_id=f"file:{certificate}",
        data={"kind": "certificate_file", "path": str(certificate)},
    )
    files.add_to_hass(hass)
    assert await hass.config_entries.async_setup(files.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, not_served) == "on"
    served_day = served.certificate.not_valid_after_utc.date().isoformat()
    renewed_day = renewed.certificate.not_valid_after_utc.date().isoformat()
    assert notifications.messages() == [
        (
            "Renewed certificate not served: proxy.lan:443",
            (
                f"proxy.lan:443 still serves the certificate that expires on {served_day}; the "
                f"renewed one (letsencrypt ({certificate}), expires {renewed_day}) is not served "
                "yet. Reload the server."
            ),
        )
    ]

    # The server is reloaded: it presents the renewed certificate.
    await servers.close()
    await servers.tls(renewed, port=port)
    await endpoint.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, not_served) == "off"
    issuer = "Sentinel Test Root"
    assert notifications.messages()[1:] == [
        (
            "Certificate renewed: proxy.lan:443",
            (
                f"proxy.lan:443: renewed; the new certificate expires on {renewed_day} (the "
                f"previous one on {served_day}), issued by {issuer}."
            ),
        )
    ]

    # A restart of the entry sends nothing.
    assert await hass.config_entries.async_reload(endpoint.entry_id)
    await hass.async_block_till_done()
    assert len(notifications.messages()) == 2


# ---------------------------------------------------------------------------------------------
# Duplicati backup failed or overdue


@pytest.fixture
async def duplicati() -> AsyncGenerator[DuplicatiSimulator]:
    """A Duplicati 2.3 server, with tasks followed every 20 ms instead of every 5 s."""
    simulator = DuplicatiSimulator("2.3")
    await simulator.start()
    with patch.object(DuplicatiCoordinator, "task_poll_interval", 0.02):
        yield simulator
    await simulator.stop()


async def test_backup_fails(
    hass: HomeAssistant, duplicati: DuplicatiSimulator, notifications: Notifications
) -> None:
    photos = duplicati.add_backup("Photos", history=["Success"])
    duplicati.add_backup("Documents", history=["Success"])
    entry = await password_entry(hass, duplicati)
    problems = [
        _entity_id(hass, "binary_sensor", f"{entry.unique_id}-{backup_id}-backup_problem")
        for backup_id in duplicati.backups
    ]
    assert [_state(hass, problem) for problem in problems] == ["off", "off"]
    await _use_blueprint(hass, "backup_problem.yaml", {"problem_sensors": problems})

    # The next backup of Photos fails: started with its own button, followed to its end.
    photos.next_result = "Error"
    photos.next_error = "Failed to connect to ssh://backup.lan: Connection refused"
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.photos_back_up_now"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, problems[0]) == "on"
    assert notifications.messages() == [
        (
            "Backup problem: Photos",
            (
                f"Backup job Photos on {entry.title}: the last backup failed (error): "
                "Failed to connect to ssh://backup.lan: Connection refused"
            ),
        )
    ]


async def test_backup_overdue(
    hass: HomeAssistant, duplicati: DuplicatiSimulator, notifications: Notifications
) -> None:
    # The last backup finished about 23 hours 50 minutes ago.
    duplicati.add_backup("Documents", history=["Warning"])
    entry = await password_entry(hass, duplicati)
    problem = _entity_id(hass, "binary_sensor", f"{entry.unique_id}-1-backup_problem")
    assert _state(hass, problem) == "off"
    await _use_blueprint(hass, "backup_problem.yaml", {"problem_sensors": [problem]})

    # The user allows at most 12 hours between backups: the job is overdue now.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 300, "max_age_hours": 12}
    )
    await hass.async_block_till_done()
    assert _state(hass, problem) == "on"
    assert notifications.messages() == [
        (
            "Backup problem: Documents",
            (
                f"Backup job Documents on {entry.title} is overdue: the last backup finished "
                "1 day ago (warning)."
            ),
        )
    ]


# ---------------------------------------------------------------------------------------------
# Any backup failed, hung or silent: Duplicati jobs and heartbeats


async def test_any_backup_problem_duplicati(
    hass: HomeAssistant, duplicati: DuplicatiSimulator, notifications: Notifications
) -> None:
    photos = duplicati.add_backup("Photos", history=["Success"])
    server = await password_entry(hass, duplicati)
    problem = _entity_id(hass, "binary_sensor", f"{server.unique_id}-1-backup_problem")
    await _use_blueprint(hass, "any_backup_problem.yaml", {"problem_sensors": [problem]})

    photos.next_result = "Error"
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.photos_back_up_now"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert notifications.messages() == [
        ("Backup problem: Photos", f"Photos on {server.title}: the last run failed (error).")
    ]


async def test_any_backup_problem_missed_schedule(
    hass: HomeAssistant, duplicati: DuplicatiSimulator, notifications: Notifications
) -> None:
    # The scheduler is stuck (or the machine slept) while the next start comes and goes.
    duplicati.scheduler_stuck = True
    music = duplicati.add_backup(
        "Music", history=["Success"], schedule=datetime.now(UTC) + timedelta(minutes=30)
    )
    server = await password_entry(hass, duplicati)
    problem = _entity_id(hass, "binary_sensor", f"{server.unique_id}-1-backup_problem")
    await _use_blueprint(hass, "any_backup_problem.yaml", {"problem_sensors": [problem]})
    assert _state(hass, problem) == "off"

    assert music.schedule is not None
    music.schedule.time = datetime.now(UTC) - timedelta(hours=2)
    await server.runtime_data.async_refresh()
    await hass.async_block_till_done()

    assert notifications.messages() == [
        (
            "Backup problem: Music",
            f"Music on {server.title} missed its scheduled start: nothing ran when it should have.",
        )
    ]


async def test_any_backup_problem_heartbeats(
    hass: HomeAssistant, notifications: Notifications, freezer: FrozenDateTimeFactory
) -> None:
    borg = await add_heartbeat(hass, name="Nightly borg")
    dump = await add_heartbeat(hass, name="Weekly dump", period_hours=168, webhook_id="f" * 64)
    problems = [
        _entity_id(hass, "binary_sensor", f"{borg.unique_id}-heartbeat_problem"),
        _entity_id(hass, "binary_sensor", f"{dump.unique_id}-heartbeat_problem"),
    ]
    assert [_state(hass, problem) for problem in problems] == ["off", "off"]
    await _use_blueprint(hass, "any_backup_problem.yaml", {"problem_sensors": problems})

    async def let_time_pass(delta: timedelta) -> None:
        freezer.tick(delta)
        async_fire_time_changed(hass)
        # The automation runs up to its short delay, which then runs out on the frozen clock
        # too; waiting for it before the clock moves would wait forever.
        for _ in range(5):
            for _ in range(20):
                await asyncio.sleep(0)
            freezer.tick(timedelta(milliseconds=100))
            async_fire_time_changed(hass)
        await hass.async_block_till_done()

    async def ping(query: str) -> None:
        # Through Home Assistant's webhook component, as its HTTP view hands requests over (the
        # HTTP server itself is tested in tests/heartbeat).
        request = MockRequest(b"", "test", method="POST", query_string=query, remote="127.0.0.1")
        response = await async_handle_webhook(hass, WEBHOOK_ID, request)
        assert response.status == 200
        await let_time_pass(timedelta(0))

    # The borg job starts and never ends: hung a period later.
    await ping("status=start")
    await let_time_pass(timedelta(hours=24))
    # It then ends in failure: still a problem, with a new reason.
    await ping("exit_code=2")
    # A success clears it and sends nothing.
    await ping("exit_code=0")
    # A week later: the borg job went quiet after that success, the weekly dump never spoke.
    await let_time_pass(timedelta(days=7, hours=1))

    messages = notifications.messages()
    assert messages[:2] == [
        (
            "Backup problem: Nightly borg",
            "Nightly borg has been running far longer than it should: it may be stuck.",
        ),
        ("Backup problem: Nightly borg", "Nightly borg: the last run failed."),
    ]
    # Both fall due while the clock jumps a week, in no particular order.
    assert sorted(messages[2:]) == [
        (
            "Backup problem: Nightly borg",
            (
                "Nightly borg has gone silent: no successful run within its expected time "
                "(last result: success)."
            ),
        ),
        (
            "Backup problem: Weekly dump",
            "Weekly dump has gone silent: it has never reported a successful run.",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# fail2ban bans


async def test_fail2ban_ban(
    hass: HomeAssistant, tmp_path: Path, notifications: Notifications
) -> None:
    log = tmp_path / "fail2ban.log"
    await hass.async_add_executor_job(
        append,
        log,
        f2b_line("Jail 'sshd' started", logger="fail2ban.jail"),
        f2b_line("Jail 'nginx-http-auth' started", logger="fail2ban.jail"),
        f2b_line("[sshd] Ban 192.0.2.1"),
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="fail2ban",
        unique_id=f"fail2ban:log:{log}",
        data={"kind": "fail2ban", "source": "log", "path": str(log)},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    events = [
        _entity_id(hass, "event", f"{entry.unique_id}-{jail}-ban")
        for jail in ("sshd", "nginx-http-auth")
    ]
    await _use_blueprint(hass, "fail2ban_ban.yaml", {"ban_events": events})

    async def log_and_poll(*lines: str) -> None:
        await hass.async_add_executor_job(append, log, *lines)
        await entry.runtime_data.async_refresh()
        await hass.async_block_till_done()

    # Two new bans in one poll: one notification each, in order.
    await log_and_poll(
        f2b_line("[sshd] Ban 203.0.113.5"), f2b_line("[nginx-http-auth] Ban 2001:db8::7")
    )
    assert notifications.messages() == [
        (
            "fail2ban: 203.0.113.5 banned",
            "fail2ban banned 203.0.113.5 in jail sshd (2 addresses banned there now).",
        ),
        (
            "fail2ban: 2001:db8::7 banned",
            "fail2ban banned 2001:db8::7 in jail nginx-http-auth (1 address banned there now).",
        ),
    ]

    # An unban, and a poll with nothing new, send nothing.
    await log_and_poll(f2b_line("[sshd] Unban 192.0.2.1"))
    await log_and_poll()
    assert len(notifications.messages()) == 2

    # Unavailable and back (a failed poll, a restart): the event state returns, no new ban.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert len(notifications.messages()) == 2


# ---------------------------------------------------------------------------------------------
# Domoticz unprotected


@pytest.fixture
async def domoticz() -> AsyncGenerator[DomoticzSimulator]:
    """A Domoticz 2025.1 that asks everyone for a login, Home Assistant included."""
    simulator = DomoticzSimulator("2025.1", users=household(), trusted_networks="192.168.1.*")
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_domoticz_unprotected(
    hass: HomeAssistant, domoticz: DomoticzSimulator, notifications: Notifications
) -> None:
    entry = await add_domoticz_entry(hass, domoticz)
    unprotected = _entity_id(hass, "binary_sensor", f"{entry.unique_id}-unprotected")
    assert _state(hass, unprotected) == "off"
    await _use_blueprint(hass, "domoticz_unprotected.yaml", {"unprotected_sensors": [unprotected]})

    async def trust(networks: str) -> None:
        domoticz.trusted_networks = networks
        await entry.runtime_data.async_refresh()
        await hass.async_block_till_done()

    await trust("192.168.1.*;0.0.0.0/0")
    assert _state(hass, unprotected) == "on"
    await trust("192.168.1.*")
    await trust("127.0.0.1")
    assert notifications.messages() == [
        (
            f"Domoticz {entry.title} is unprotected",
            (
                f"Domoticz {entry.title} is open to everyone: its trusted networks "
                "(0.0.0.0/0) take in every address. Narrow them in Setup → Settings → Security."
            ),
        ),
        (
            f"Domoticz {entry.title} is unprotected",
            (
                f"Domoticz {entry.title} lets Home Assistant in without a login: Home Assistant's "
                "address is in its trusted networks. Other addresses still need a login."
            ),
        ),
    ]


async def test_domoticz_open_to_everyone_only(
    hass: HomeAssistant, domoticz: DomoticzSimulator, notifications: Notifications
) -> None:
    entry = await add_domoticz_entry(hass, domoticz)
    unprotected = _entity_id(hass, "binary_sensor", f"{entry.unique_id}-unprotected")
    await _use_blueprint(
        hass,
        "domoticz_unprotected.yaml",
        {"unprotected_sensors": [unprotected], "only_open_to_everyone": True},
    )

    # Trusting Home Assistant's own address is a choice: not worth a notification here.
    domoticz.trusted_networks = "127.0.0.1"
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, unprotected) == "on"
    assert notifications.messages() == []

    # Closed again, then opened to every address: that is worth one.
    domoticz.trusted_networks = "192.168.1.*"
    await entry.runtime_data.async_refresh()
    assert _state(hass, unprotected) == "off"
    domoticz.trusted_networks = "*"
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert notifications.messages() == [
        (
            f"Domoticz {entry.title} is unprotected",
            (
                f"Domoticz {entry.title} is open to everyone: its trusted networks (*) take in "
                "every address. Narrow them in Setup → Settings → Security."
            ),
        )
    ]


# ---------------------------------------------------------------------------------------------
# Security updates or a needed reboot


async def test_host_security_updates_and_reboot(
    hass: HomeAssistant,
    apt_world: AptWorld,
    monkeypatch: pytest.MonkeyPatch,
    notifications: Notifications,
) -> None:
    use_world(monkeypatch, apt_world)
    # The security update is installed already: nothing waits from the security archive.
    await hass.async_add_executor_job(apt_world.install, apt_world.debs["sentinel-sec", "1.1"])
    entry = await add_host_entry(hass, dict(LOCAL_DATA))
    security = _entity_id(hass, "sensor", f"{entry.unique_id}-security_updates")
    reboot = _entity_id(hass, "binary_sensor", f"{entry.unique_id}-reboot_required")
    assert (_state(hass, security), _state(hass, reboot)) == ("0", "off")
    await _use_blueprint(hass, "host_updates.yaml", {"host_sensors": [security, reboot]})

    async def poll() -> None:
        await entry.runtime_data.async_refresh()
        await hass.async_block_till_done()

    # dpkg goes back to the old version (as after restoring a backup): a security update waits.
    await hass.async_add_executor_job(apt_world.install, apt_world.debs["sentinel-sec", "1.0"])
    await poll()
    assert _state(hass, security) == "1"

    def ask_for_reboot() -> None:
        (apt_world.root / "run" / "reboot-required").write_text("")
        (apt_world.root / "run" / "reboot-required.pkgs").write_text("libc6\n")

    await hass.async_add_executor_job(ask_for_reboot)
    await poll()
    assert _state(hass, reboot) == "on"
    # Nothing new: no notification.
    await poll()
    assert notifications.messages() == [
        (
            f"{entry.title}: security updates",
            f"{entry.title}: 1 security update waiting: sentinel-sec.",
        ),
        (f"{entry.title} needs a reboot", f"{entry.title} needs a reboot, for libc6."),
    ]


# Home Assistant's own security


async def test_home_assistant_security(
    hass: HomeAssistant,
    http_client: Any,  # noqa: F811 - the fixture, imported
    notifications: Notifications,
) -> None:
    entry = await add_home_assistant_entry(hass)
    watched = [
        ENTITY_IDS[key]
        for key in ("ha_ban", "ha_login_failed", "login_banning_off", "remote_access_without_tls")
    ]
    await _use_blueprint(hass, "home_assistant_security.yaml", {"home_assistant_entities": watched})

    # A local failure is left out; three from outside are told, and the ban they bring.
    await wrong_password(http_client)
    for _ in range(3):
        await wrong_password(http_client, "203.0.113.5")
    # The entry looked at the bans as it was set up: the next look, at once, finds the new one.
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    messages = notifications.messages()
    assert (
        messages[:3]
        == [("Failed login from 203.0.113.5", "203.0.113.5 failed to log in to Home Assistant.")]
        * 3
    )
    assert (
        "Home Assistant banned 203.0.113.5",
        "Home Assistant banned 203.0.113.5 after too many failed logins.",
    ) in messages[3:]

    # A new problem: the external URL becomes plain HTTP on the internet.
    await hass.config.async_update(external_url="http://ha.example.com")
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert notifications.messages()[-1] == (
        "Home Assistant: Home Assistant Remote access without TLS",
        (
            "New problem: Home Assistant Remote access without TLS. Settings → Repairs says what"
            " to change."
        ),
    )

    # Reloaded: nothing is told again.
    count = len(notifications.messages())
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(notifications.messages()) == count
