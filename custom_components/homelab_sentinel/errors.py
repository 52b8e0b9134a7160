"""Naming errors for users: the translation key shared by form errors and exceptions."""

from __future__ import annotations

# Most specific first: the first class an error is an instance of names its translation.
type ErrorKeys = tuple[tuple[type[Exception], str], ...]


def error_key_in(table: ErrorKeys, err: Exception) -> str:
    """The translation key the table gives the error; the table must end with a catch-all."""
    return next(key for kind, key in table if isinstance(err, kind))
