"""Rules for names and numbers a user types: host and server names, and numeric fields.

This module has no Home Assistant imports.
"""

from __future__ import annotations

import ipaddress
import math
import re

# RFC 1035: 253 characters for a whole name, 63 for one label.
MAX_HOST_LENGTH = 253
_MAX_LABEL_LENGTH = 63
# After IDNA encoding: letters, digits, hyphen and underscore (some LAN names carry one).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")


class InvalidHostError(ValueError):
    """Not a host name or IP address a connection can be made to."""


class InvalidNumberError(ValueError):
    """Not a finite number in the allowed range."""


def _ip_literal(text: str) -> str | None:
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(inner)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and inner.count("%"):
        # A scope ID names an interface of this machine; it is no part of a host to store.
        return None
    return str(address)


def validate_host(value: object) -> str:
    """Return a host name or IP address, lower-cased, or raise InvalidHostError.

    Refused: empty, longer than 253 characters, whitespace or control characters, a scheme or
    a path (``http://x``, ``x/y``), a leading dash (an option to ssh) or dot, an empty label
    (``.example.com``, ``a..b``), a label of more than 63 characters, and names IDNA cannot
    encode. Accepted: DNS names (also internationalised ones), IPv4 and IPv6 addresses
    (``::1`` or ``[::1]``); a single trailing dot is dropped.
    """
    if not isinstance(value, str):
        raise InvalidHostError("not text")
    text = value.strip().lower()
    if not text or len(text) > MAX_HOST_LENGTH + 2:
        raise InvalidHostError("empty or too long")
    if any(character.isspace() or not character.isprintable() for character in text):
        raise InvalidHostError("whitespace or a control character")
    if (address := _ip_literal(text)) is not None:
        return address
    name = text.removesuffix(".")
    if name.startswith("-"):
        raise InvalidHostError("starts with a dash")
    try:
        encoded = name.encode("idna").decode("ascii")
    except UnicodeError as err:
        raise InvalidHostError("not a host name IDNA can encode") from err
    if len(encoded) > MAX_HOST_LENGTH:
        raise InvalidHostError("longer than 253 characters")
    labels = encoded.split(".")
    if not all(len(label) <= _MAX_LABEL_LENGTH and _LABEL.fullmatch(label) for label in labels):
        raise InvalidHostError("a label is empty, too long or holds a character names cannot")
    return name


def finite_number(value: object, *, minimum: float, maximum: float) -> int:
    """Return a whole number from a form's number field, or raise InvalidNumberError.

    ``nan``, infinities, booleans, text that is not a number and values outside
    [minimum, maximum] are refused; a fraction is rounded down.
    """
    if isinstance(value, bool):
        raise InvalidNumberError("not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as err:
        raise InvalidNumberError("not a number") from err
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise InvalidNumberError("not a finite number in range")
    return int(number)
