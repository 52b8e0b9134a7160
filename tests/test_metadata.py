"""What hassfest and HACS check, checked here too: manifest, translations, icons, brand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion

from custom_components.homelab_sentinel import COORDINATORS
from custom_components.homelab_sentinel.config_flow import options_schema
from custom_components.homelab_sentinel.const import Kind
from custom_components.homelab_sentinel.heartbeat.flow import OPTIONS_SCHEMA as HEARTBEAT_OPTIONS

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "homelab_sentinel"
REPO = INTEGRATION.parent.parent


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_manifest() -> None:
    manifest = _json(INTEGRATION / "manifest.json")
    for key in (
        "domain",
        "name",
        "codeowners",
        "config_flow",
        "documentation",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "requirements",
        "version",
    ):
        assert key in manifest, key
    assert manifest["domain"] == "homelab_sentinel"
    assert manifest["integration_type"] == "service"
    assert manifest["iot_class"] == "local_polling"
    assert AwesomeVersion(manifest["version"]).valid
    hacs = _json(REPO / "hacs.json")
    assert hacs["name"] == "Homelab Sentinel"
    assert AwesomeVersion(hacs["homeassistant"]) >= AwesomeVersion("2026.10.0")


def test_brand_images() -> None:
    for name in ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png"):
        assert (INTEGRATION / "brand" / name).stat().st_size > 1000


def test_english_translation_is_strings_json() -> None:
    assert _json(INTEGRATION / "translations" / "en.json") == _json(INTEGRATION / "strings.json")


def test_every_entity_has_a_name_and_an_icon() -> None:
    strings = _json(INTEGRATION / "strings.json")["entity"]
    icons = _json(INTEGRATION / "icons.json")["entity"]
    for coordinator in COORDINATORS.values():
        for platform, descriptions in coordinator.descriptions.items():
            for description in descriptions:
                key = description.translation_key
                assert key in strings[platform.value], (platform, key)
                assert "name" in strings[platform.value][key]
                assert key in icons[platform.value], (platform, key)
                for option in getattr(description, "options", None) or []:
                    assert option in strings[platform.value][key]["state"], (key, option)
                    assert option in icons[platform.value][key]["state"], (key, option)


def test_every_form_field_is_explained() -> None:
    strings = _json(INTEGRATION / "strings.json")
    steps = strings["config"]["step"]
    assert set(steps["user"]["menu_options"]) == {kind.value for kind in Kind}
    for kind in Kind:
        assert kind.value in steps, kind
        step = steps[kind.value]
        assert set(step["data"]) == set(step["data_description"]), kind
        options = strings["options"]["step"]["init"]
        if kind is Kind.HEARTBEAT:
            # Not polled: its own options step, without a scan interval.
            options = strings["options"]["step"]["heartbeat"]
            schema = HEARTBEAT_OPTIONS
        else:
            schema = options_schema(kind)
        for key in schema.schema:
            assert str(key) in options["data"]
            assert str(key) in options["data_description"]
