"""strings.json and every translation keep the rules hassfest enforces on translation files.

hassfest (Home Assistant's validator, run by the hassfest GitHub action) rejects an integration
whose strings break these rules; checking them here keeps them from coming back with a new kind.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import string
from typing import Any

from homeassistant.helpers import config_validation as cv
import probatio as vol
import pytest

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "homelab_sentinel"
FILES = [INTEGRATION / "strings.json", *sorted((INTEGRATION / "translations").glob("*.json"))]

# A scheme and a host with a top-level domain, or a www. name: what hassfest calls a URL.
URL = re.compile(
    r"((ftps?|scp|https?|mqtts?|socket|socks5)://|www\.)[a-z0-9]+([.-][a-z0-9]+)*\.[a-z]{2,5}",
    re.IGNORECASE,
)
TRANSLATION_KEY = re.compile(r"^(?![_-])(?!.*[_-]{2})[a-z0-9_-]+(?<![_-])$")


def _text(*, placeholders: bool = True) -> vol.All[Any]:
    """A translated string: no HTML, URLs, stray spaces or malformed placeholders."""

    def check(value: Any) -> str:
        text = cv.string_with_no_html(value)
        if text != text.strip():
            raise vol.Invalid("leading or trailing white space")
        if URL.search(text):
            raise vol.Invalid("a URL; use a description placeholder instead")
        if re.search(r"'\{\w+\}'", text):
            raise vol.Invalid("a placeholder inside single quotes")
        if re.search(r"(.+\[%)|(%\].+)", text):
            raise vol.Invalid("a combined translation reference")
        for _, field, _, _ in string.Formatter().parse(text):
            if field and not placeholders:
                raise vol.Invalid("placeholders are not allowed here")
            if field and not field.isidentifier():
                raise vol.Invalid(f"placeholder {{{field}}} is not an identifier")
        return text

    return vol.All(str, check)


def _key(value: Any) -> str:
    if not isinstance(value, str) or not TRANSLATION_KEY.match(value):
        raise vol.Invalid(f"invalid translation key {value!r}")
    return value


def _keyed(schema: Any) -> vol.Schema:
    return vol.Schema({_key: schema})


def _descriptions_name_fields(value: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in value["step"].items():
        unknown = set(step.get("data_description", {})) - set(step.get("data", {}))
        if unknown:
            raise vol.Invalid(f"step {step_id}: data_description of unknown fields {unknown}")
    return value


FLOW = vol.All(
    vol.Schema(
        {
            vol.Optional("flow_title"): _text(),
            vol.Required("step"): {
                str: {
                    vol.Optional("title"): _text(),
                    vol.Optional("description"): _text(),
                    vol.Optional("data"): {str: _text()},
                    vol.Optional("data_description"): {str: _text()},
                    vol.Optional("menu_options"): {str: _text()},
                    vol.Optional("menu_option_descriptions"): {str: _text()},
                    vol.Optional("submit"): _text(),
                    vol.Optional("sections"): {
                        str: {
                            vol.Optional("name"): _text(),
                            vol.Optional("description"): _text(),
                            vol.Optional("data"): {str: _text()},
                            vol.Optional("data_description"): {str: _text()},
                        }
                    },
                }
            },
            vol.Optional("error"): {str: _text()},
            vol.Optional("abort"): {str: _text()},
            vol.Optional("progress"): {str: _text()},
            vol.Optional("create_entry"): {str: _text()},
        }
    ),
    _descriptions_name_fields,
)

ISSUE = vol.All(
    # A fixable issue's text belongs in its fix flow's steps: one or the other, never both.
    cv.has_at_least_one_key("description", "fix_flow"),
    vol.Schema(
        {
            vol.Required("title"): _text(),
            vol.Exclusive("description", "fixable"): _text(),
            vol.Exclusive("fix_flow", "fixable"): FLOW,
        }
    ),
)

ENTITY = {
    vol.Optional("name"): _text(),
    vol.Optional("state"): _keyed(_text(placeholders=False)),
    vol.Optional("state_attributes"): _keyed(
        {
            vol.Optional("name"): _text(placeholders=False),
            vol.Optional("state"): _keyed(_text(placeholders=False)),
        }
    ),
    vol.Optional("unit_of_measurement"): _text(placeholders=False),
}

FIELD = {vol.Required("name"): str, vol.Required("description"): _text()}

STRINGS = vol.Schema(
    {
        vol.Optional("title"): _text(),
        vol.Optional("config"): FLOW,
        vol.Optional("options"): FLOW,
        vol.Optional("selector"): {
            str: {
                vol.Optional("options"): _keyed(_text()),
                vol.Optional("choices"): _keyed(_text()),
                vol.Optional("unit_of_measurement"): _keyed(_text()),
            }
        },
        vol.Optional("entity"): {str: _keyed(ENTITY)},
        vol.Optional("device"): _keyed({vol.Optional("name"): _text()}),
        vol.Optional("exceptions"): {str: {vol.Optional("message"): _text()}},
        vol.Optional("issues"): {str: ISSUE},
        vol.Optional("services"): _keyed(
            {
                vol.Required("name"): _text(),
                vol.Required("description"): _text(),
                vol.Optional("fields"): _keyed({**FIELD, vol.Optional("example"): _text()}),
                vol.Optional("sections"): _keyed(
                    {vol.Required("name"): str, vol.Optional("description"): _text()}
                ),
            }
        ),
    }
)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_translation_file_follows_hassfest_rules(path: Path) -> None:
    STRINGS(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("strings", "problem"),
    [
        ({"issues": {"x": {"title": "T", "description": "D", "fix_flow": {"step": {}}}}}, "two"),
        ({"issues": {"x": {"title": "T"}}}, "at least one"),
        (
            {"config": {"step": {"s": {"data_description": {"url": "e.g. https://nas.lan"}}}}},
            "URL",
        ),
        ({"config": {"step": {"s": {"data": {}, "data_description": {"x": "y"}}}}}, "unknown"),
        ({"entity": {"sensor": {"trust": {"state": {"ok": "{x}"}}}}}, "not allowed"),
        ({"entity": {"sensor": {"Bad_Key": {"name": "N"}}}}, "invalid translation key"),
        ({"config": {"step": {}, "abort": {"x": " padded"}}}, "white space"),
        ({"config": {"step": {}, "abort": {"x": "a '{name}' b"}}}, "single quotes"),
        ({"config": {"step": {}, "abort": {"x": "a {0} b"}}}, "identifier"),
        ({"config": {"step": {}, "abort": {"x": "<b>bold</b>"}}}, "HTML"),
    ],
)
def test_the_rules_catch_what_hassfest_rejects(strings: dict[str, Any], problem: str) -> None:
    with pytest.raises(vol.Invalid, match=problem):
        STRINGS(strings)


def test_urls_hassfest_accepts_stay_accepted() -> None:
    # An address without a top-level domain is not what hassfest calls a URL.
    STRINGS(
        {
            "config": {
                "step": {},
                "abort": {"x": "e.g. `http://192.168.1.20:8080` or http://localhost"},
            }
        }
    )
