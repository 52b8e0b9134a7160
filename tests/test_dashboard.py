"""docs/dashboard.yaml: core cards only, and entities the integration really creates."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.webhook import async_handle_webhook
from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template
from homeassistant.util import slugify
from homeassistant.util.aiohttp import MockRequest
from homeassistant.util.yaml import load_yaml_dict
import pytest

from .duplicati.common import password_entry
from .duplicati.simulator import DuplicatiSimulator
from .heartbeat.common import WEBHOOK_ID, add_heartbeat

REPOSITORY = Path(__file__).parent.parent
DASHBOARD = REPOSITORY / "docs" / "dashboard.yaml"
STRINGS = REPOSITORY / "custom_components" / "homelab_sentinel" / "strings.json"

# The entity keys SPEC.md defines, by kind and platform (its "Entities" tables).
SPEC_KEYS: dict[str, dict[str, set[str]]] = {
    "certificate": {
        "sensor": {"expires", "days_remaining", "chain_expires", "trust", "issuer"},
        "binary_sensor": {"certificate_problem"},
    },
    "fail2ban": {
        "sensor": {"current_bans", "total_bans", "last_ban", "banned_now"},
        "event": {"ban"},
    },
    "duplicati": {
        "sensor": {
            "last_backup",
            "last_result",
            "last_duration",
            "next_run",
            "source_size",
            "backup_size",
            "versions",
            "server_state",
        },
        "binary_sensor": {"backup_problem", "running"},
        "button": {"start_backup"},
    },
    "domoticz": {
        "sensor": {
            "access",
            "login",
            "rights",
            "failed_logins",
            "trusted_networks",
            "version",
        },
        "binary_sensor": {"unprotected", "plain_basic_auth"},
    },
    "certbot": {
        "sensor": {"expires", "days_remaining", "last_renewal", "last_renewal_result"},
        "button": {"renew"},
    },
}
SPEC_KEYS["certificate_file"] = {
    platform: set(keys) for platform, keys in SPEC_KEYS["certificate"].items()
}
# What a TLS endpoint offers besides its certificate; files have none of it.
SPEC_KEYS["certificate"]["sensor"] |= {"lowest_tls_version", "hsts_max_age"}
SPEC_KEYS["certificate"]["binary_sensor"] |= {"legacy_tls", "plain_http"}
SPEC_KEYS["host"] = {
    "sensor": {
        "pending_updates",
        "security_updates",
        "package_lists_updated",
        "last_automatic_update",
        "operating_system",
    },
    "binary_sensor": {
        "reboot_required",
        "automatic_updates_off",
        "ssh_password_login",
        "ssh_root_login",
    },
}
SPEC_KEYS["home_assistant"] = {
    "binary_sensor": {
        "remote_access_without_tls",
        "login_banning_off",
        "trusted_proxies_too_broad",
        "login_bypass",
        "admin_without_mfa",
        "backups_not_off_machine",
        "privileged_account",
    },
    "sensor": {
        "banned_addresses",
        "failed_logins",
        "users_without_mfa",
        "long_lived_tokens",
        "old_tokens",
        "plaintext_secrets",
        "pending_updates",
    },
    "event": {"ha_ban", "ha_login_failed"},
}
SPEC_KEYS["certificate_file"] = SPEC_KEYS["certificate"]

# The devices `scripts/develop` creates (read from a running demo), and the kind of each. Entity
# IDs are "{device name} {entity name}" slugified, "_2" added to the second of the same name.
DEMO_DEVICES = {
    "proxy.demo (127.0.0.1:8443)": "certificate",
    "nas.demo (127.0.0.1:8444)": "certificate",
    "mail.demo (127.0.0.1:8587)": "certificate",
    "proxy.demo": "certificate_file",
    "cloud.demo": "certificate_file",
    "fail2ban /workspace/config/demo/fail2ban/run/fail2ban.sqlite3": "fail2ban",
    "fail2ban /workspace/config/demo/fail2ban/run/fail2ban.log": "fail2ban",
    "fail2ban sshd": "fail2ban",
    "fail2ban web-app.v2": "fail2ban",
    "127.0.0.1:8080": "domoticz",
    "Duplicati 127.0.0.1:8200": "duplicati",
    "Documents": "duplicati",
    "Photos": "duplicati",
    "Home Assistant config": "duplicati",
    "Music": "duplicati",
    "certbot (local)": "certbot",
    "certbot.demo": "certbot",
    "Host (local)": "host",
    "Home Assistant": "home_assistant",
}

# Home Assistant's own cards, entity rows and heading badges: nothing to install.
CORE_CARDS = {
    "alarm-panel",
    "area",
    "button",
    "calendar",
    "conditional",
    "entities",
    "entity",
    "entity-filter",
    "gauge",
    "glance",
    "grid",
    "heading",
    "history-graph",
    "horizontal-stack",
    "logbook",
    "map",
    "markdown",
    "picture-entity",
    "picture-glance",
    "sensor",
    "statistic",
    "statistics-graph",
    "tile",
    "vertical-stack",
}
CORE_ROWS = {"attribute", "button", "buttons", "call-service", "divider", "section", "text"}
CORE_BADGES = {"entity"}
CORE_VIEWS = {"masonry", "sections", "sidebar", "panel"}


def _dashboard() -> dict[str, Any]:
    return load_yaml_dict(str(DASHBOARD))


def _cards(card: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A card and every card inside it (stacks, grids, conditional cards)."""
    yield card
    for inner in card.get("cards", []):
        yield from _cards(inner)
    if "card" in card:
        yield from _cards(card["card"])


def _all_cards(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for view in dashboard["views"]:
        for card in view.get("cards", []):
            yield from _cards(card)
        for section in view.get("sections", []):
            yield from _cards(section)


def _entity_ids(card: dict[str, Any]) -> Iterator[str]:
    """Entity IDs a card shows or tests (not those of the cards inside it)."""
    if "entity" in card:
        yield card["entity"]
    for row in card.get("entities", []):
        if isinstance(row, str):
            yield row
        elif "entity" in row:
            yield row["entity"]
    for badge in card.get("badges", []):
        yield badge["entity"]
    for condition in card.get("conditions", []):
        if "entity" in condition:
            yield condition["entity"]


def _entity_names() -> dict[tuple[str, str], str]:
    """(platform, key) → the entity's English name, which its entity ID is made from."""
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    return {
        (platform, key): entity["name"]
        for platform, entities in strings["entity"].items()
        for key, entity in entities.items()
    }


def _spec_key(entity_id: str, names: dict[tuple[str, str], str]) -> tuple[str, str] | None:
    """The demo device and SPEC.md key an entity ID stands for, if any."""
    platform, object_id = entity_id.split(".", 1)
    for device, kind in DEMO_DEVICES.items():
        for key in SPEC_KEYS[kind].get(platform, ()):
            slug = slugify(f"{device} {names[platform, key]}")
            if object_id in {slug, f"{slug}_2"}:
                return device, key
    return None


def test_dashboard_is_a_storage_mode_dashboard() -> None:
    dashboard = _dashboard()
    assert set(dashboard) <= {"title", "views"}
    assert dashboard["views"]
    for view in dashboard["views"]:
        assert view.get("type", "masonry") in CORE_VIEWS
        for section in view.get("sections", []):
            assert section["type"] == "grid"


def test_dashboard_uses_core_cards_only() -> None:
    cards = list(_all_cards(_dashboard()))
    types = {card["type"] for card in cards}
    assert types <= CORE_CARDS | {"grid"}, types - CORE_CARDS
    for card in cards:
        for row in card.get("entities", []):
            if isinstance(row, dict) and "type" in row:
                assert row["type"] in CORE_ROWS, row
        for badge in card.get("badges", []):
            assert badge["type"] in CORE_BADGES, badge
    # The whole posture: each kind's place on the dashboard.
    assert {"heading", "glance", "entities", "tile", "markdown", "conditional"} <= types


def test_dashboard_entities_are_spec_keys_of_demo_devices() -> None:
    names = _entity_names()
    found: dict[str, tuple[str, str]] = {}
    unknown = []
    for card in _all_cards(_dashboard()):
        for entity_id in _entity_ids(card):
            match = _spec_key(entity_id, names)
            if match is None:
                unknown.append(entity_id)
            else:
                found[entity_id] = match
    assert not unknown, unknown
    keys = {key for _, key in found.values()}
    # What the dashboard is for: days left and trust, last result and age, bans per jail and in
    # all, Domoticz access and login, the certbot renewal, and the buttons.
    assert keys >= {
        "days_remaining",
        "trust",
        "last_result",
        "last_backup",
        "start_backup",
        "server_state",
        "current_bans",
        "banned_now",
        "access",
        "login",
        "unprotected",
        "lowest_tls_version",
        "hsts_max_age",
        "legacy_tls",
        "plain_http",
        "last_renewal",
        "last_renewal_result",
        "renew",
        "pending_updates",
        "security_updates",
        "reboot_required",
        "failed_logins",
        "login_banning_off",
        "admin_without_mfa",
        "plaintext_secrets",
        "ha_ban",
    }
    # Every Duplicati job of the demo has its "Back up now" button.
    buttons = {device for device, key in found.values() if key == "start_backup"}
    assert buttons == {"Documents", "Photos", "Home Assistant config", "Music"}


@pytest.fixture
async def duplicati() -> AsyncGenerator[DuplicatiSimulator]:
    """A Duplicati server, stopped after the test."""
    simulator = DuplicatiSimulator("2.3")
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_problems_summary_renders(hass: HomeAssistant, duplicati: DuplicatiSimulator) -> None:
    summary = next(
        card["content"]
        for card in _all_cards(_dashboard())
        if card["type"] == "markdown" and "integration_entities" in card["content"]
    )
    assert Template(summary, hass).async_render() == (
        "All clear: no certificate, backup or Domoticz problem."
    )

    duplicati.add_backup("Documents", history=["Success"])
    duplicati.add_backup("Photos", history=["Error"])
    await password_entry(hass, duplicati)
    assert Template(summary, hass).async_render() == ("**1 problem**\n\n- Photos Backup problem")


async def test_every_backup_card_renders(
    hass: HomeAssistant, duplicati: DuplicatiSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """One card lists every backup: each Duplicati job and each heartbeat, problems first."""
    card = next(
        card["content"]
        for card in _all_cards(_dashboard())
        if card["type"] == "markdown" and card.get("title") == "Every backup"
    )
    assert Template(card, hass).async_render() == (
        "No backup is watched yet: add a Duplicati server or a heartbeat."
    )

    duplicati.add_backup("Documents", history=["Success"])
    duplicati.add_backup("Photos", history=["Error"])
    await password_entry(hass, duplicati)
    await add_heartbeat(hass, name="Nightly borg")
    await add_heartbeat(hass, name="Weekly dump", webhook_id="f" * 64)
    # Through Home Assistant's webhook component, as its HTTP view hands requests over.
    request = MockRequest(b"", "test", method="POST", query_string="exit_code=1", remote="::1")
    assert (await async_handle_webhook(hass, WEBHOOK_ID, request)).status == 200
    await hass.async_block_till_done()
    freezer.tick(timedelta(minutes=5))

    rows = [
        "| | Kind | Last result | Problem |",
        "|---|---|---|---|",
        "| ⚠️ Nightly borg | heartbeat | failed (5 minutes ago) | failed |",
        "| ⚠️ Photos | Duplicati | error (5 minutes ago) | failed |",
        "| ✅ Documents | Duplicati | success (5 minutes ago) |  |",
        "| ✅ Weekly dump | heartbeat | never (5 minutes ago) |  |",
    ]
    assert Template(card, hass).async_render() == "\n".join(rows)
