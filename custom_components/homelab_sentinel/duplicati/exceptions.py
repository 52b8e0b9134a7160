"""Errors raised by the Duplicati client.

Messages are written by this package only: they name the request and the status, never a
password, token, cookie, nonce or response body (a backup list holds target URLs with credentials).
"""

from __future__ import annotations


class DuplicatiError(Exception):
    """Base class for everything this package raises."""


class DuplicatiConnectionError(DuplicatiError):
    """The server could not be reached or did not answer in time."""


class DuplicatiAuthError(DuplicatiError):
    """The password or access token was rejected."""


class DuplicatiInvalidTokenError(DuplicatiAuthError):
    """The sign-in token is malformed, expired, already used or sign-in tokens are disabled."""


class DuplicatiRefreshExpiredError(DuplicatiAuthError):
    """The refresh token family is gone: a new sign-in token is needed."""


class DuplicatiResponseError(DuplicatiError):
    """The server answered with something this client does not understand."""


class DuplicatiResponseTooLargeError(DuplicatiResponseError):
    """An answer passed the byte cap; reading stopped there."""


class DuplicatiHostnameError(DuplicatiResponseError):
    """The server refuses the host name of the URL (``--webservice-allowed-hostnames``)."""


class DuplicatiNotFoundError(DuplicatiError):
    """The backup or task does not exist on the server."""
