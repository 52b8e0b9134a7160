"""The nl, fr and de translations cover strings.json exactly and keep its placeholders."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

import pytest

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "homelab_sentinel"
STRINGS = INTEGRATION / "strings.json"
TRANSLATIONS = INTEGRATION / "translations"
LANGUAGES = ("nl", "fr", "de")

PLACEHOLDER = re.compile(r"\{[^{}]*\}")
CODE_SPAN = re.compile(r"`[^`]*`")

type Leaves = dict[tuple[str, ...], str]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf of a nested mapping with the path of keys that leads to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    else:
        yield path, node


def _leaves(path: Path) -> Leaves:
    leaves: Leaves = {}
    for keys, value in _walk(_load(path)):
        assert isinstance(value, str), f"{path.name}: {'.'.join(keys)} is not a string"
        leaves[keys] = value
    return leaves


def _keys(node: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path, of inner mappings as well as of leaves."""
    if not isinstance(node, dict):
        return set()
    found: set[tuple[str, ...]] = set()
    for key, value in node.items():
        found.add((*path, key))
        found |= _keys(value, (*path, key))
    return found


def _dotted(paths: set[tuple[str, ...]]) -> list[str]:
    return sorted(".".join(path) for path in paths)


def test_english_translation_is_strings_json() -> None:
    assert _load(TRANSLATIONS / "en.json") == _load(STRINGS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_as_strings_json(language: str) -> None:
    english = _keys(_load(STRINGS))
    translated = _keys(_load(TRANSLATIONS / f"{language}.json"))
    assert _dotted(english - translated) == [], "missing"
    assert _dotted(translated - english) == [], "not in strings.json"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_empty_string(language: str) -> None:
    translated = _leaves(TRANSLATIONS / f"{language}.json")
    assert _dotted({keys for keys, text in translated.items() if not text.strip()}) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_kept(language: str) -> None:
    english = _leaves(STRINGS)
    translated = _leaves(TRANSLATIONS / f"{language}.json")
    lost = {
        ".".join(keys): sorted(set(PLACEHOLDER.findall(text)) - set(PLACEHOLDER.findall(other)))
        for keys, text in english.items()
        if (other := translated.get(keys)) is not None
        and not set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(other))
    }
    assert lost == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_unknown_placeholder(language: str) -> None:
    """A placeholder the English string lacks would be left unfilled, or fail to format."""
    english = _leaves(STRINGS)
    translated = _leaves(TRANSLATIONS / f"{language}.json")
    extra = {
        ".".join(keys): sorted(set(PLACEHOLDER.findall(other)) - set(PLACEHOLDER.findall(text)))
        for keys, text in english.items()
        if (other := translated.get(keys)) is not None
        and not set(PLACEHOLDER.findall(other)) <= set(PLACEHOLDER.findall(text))
    }
    assert extra == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_code_spans_kept_verbatim(language: str) -> None:
    """Commands, paths and option names in backticks are never translated."""
    english = _leaves(STRINGS)
    translated = _leaves(TRANSLATIONS / f"{language}.json")
    changed = {
        ".".join(keys): sorted(set(CODE_SPAN.findall(text)) ^ set(CODE_SPAN.findall(other)))
        for keys, text in english.items()
        if (other := translated.get(keys)) is not None
        and set(CODE_SPAN.findall(text)) != set(CODE_SPAN.findall(other))
    }
    assert changed == {}
