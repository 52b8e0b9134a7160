"""Host and server names, and numbers, as a user may type them."""

from __future__ import annotations

import pytest

from custom_components.homelab_sentinel.input_rules import (
    InvalidHostError,
    InvalidNumberError,
    finite_number,
    validate_host,
)


@pytest.mark.parametrize(
    ("typed", "host"),
    [
        ("example.com", "example.com"),
        (" Mail.Example.COM ", "mail.example.com"),
        ("example.com.", "example.com"),
        ("nas", "nas"),
        ("my_host.lan", "my_host.lan"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("bücher.example", "bücher.example"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
        (".".join(["a" * 61] * 4), ".".join(["a" * 61] * 4)),
    ],
)
def test_names_accepted(typed: str, host: str) -> None:
    assert validate_host(typed) == host


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "a" * 300,
        ".".join(["a" * 62] * 5),
        ".".join(["ü" + "a" * 50] * 4) + "." + "a" * 30,  # 238 characters, 266 once encoded
        "a" * 64 + ".example",
        ".example.com",
        "a..b",
        "exa mple.com",
        "exa\tmple.com",
        "exa\x00mple.com",
        "example.com\nevil",
        "http://example.com",
        "example.com/path",
        "-oProxyCommand=id",
        "-example.com",
        "example-.com",
        "ex%ample.com",
        "user@example.com",
        "fe80::1%eth0",
        "[::1",
        "example.com:443",
        "\u200b.example",
    ],
)
def test_names_refused(typed: str) -> None:
    with pytest.raises(InvalidHostError):
        validate_host(typed)


def test_not_text_is_refused() -> None:
    with pytest.raises(InvalidHostError):
        validate_host(None)


@pytest.mark.parametrize(
    ("typed", "number"), [(1, 1), (65535.0, 65535), ("443", 443), (22.9, 22), (" 10 ", 10)]
)
def test_numbers_accepted(typed: object, number: int) -> None:
    assert finite_number(typed, minimum=1, maximum=65535) == number


@pytest.mark.parametrize(
    "typed",
    [
        float("nan"),
        "nan",
        float("inf"),
        "-inf",
        "Infinity",
        1e400,
        0,
        65536,
        "",
        "port",
        None,
        True,
        [1],
        10**400,
    ],
)
def test_numbers_refused(typed: object) -> None:
    with pytest.raises(InvalidNumberError):
        finite_number(typed, minimum=1, maximum=65535)
