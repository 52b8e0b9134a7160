"""One HTTP exchange with Duplicati, read completely and mapped to this package's errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ..capped_read import InvalidJSONError, ResponseTooLargeError, parse_json, read_capped_body
from .exceptions import (
    DuplicatiConnectionError,
    DuplicatiHostnameError,
    DuplicatiResponseError,
    DuplicatiResponseTooLargeError,
)

_LOGGER = logging.getLogger(__package__)
# The largest answer read: a backup list with every setting and filter, or a page of log rows,
# is well under 1 MiB even for dozens of backups.
MAX_RESPONSE_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete answer; the body is kept out of the repr because it can hold credentials."""

    method: str
    path: str
    status: int
    reason: str
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def set_cookies(self) -> dict[str, str]:
        """Cookies set by this answer, values exactly as sent (not unquoted)."""
        cookies: dict[str, str] = {}
        for header in self.headers.getall("Set-Cookie", ()):
            name, _, value = header.partition(";")[0].partition("=")
            if name.strip():
                cookies[name.strip()] = value.strip()
        return cookies

    def json(self) -> Any:
        """Decode the body as JSON or raise DuplicatiResponseError."""
        try:
            return parse_json(self.body)
        except InvalidJSONError as err:
            raise DuplicatiResponseError(
                f"Duplicati sent malformed JSON for {self.method} {self.path}"
            ) from err

    def error_text(self) -> str | None:
        """The ``Error`` of a ``{"Error", "Code"}`` answer, if the body is one."""
        try:
            data = parse_json(self.body)
        except InvalidJSONError:
            return None
        if isinstance(data, dict) and isinstance(error := data.get("Error"), str):
            return error
        return None

    def help_id(self) -> str | None:
        """The ``HelpId`` of a UserInformationException answer (2.1.2+)."""
        try:
            data = parse_json(self.body)
        except InvalidJSONError:
            return None
        if isinstance(data, dict) and isinstance(help_id := data.get("HelpId"), str):
            return help_id
        return None

    def unexpected(self) -> DuplicatiResponseError:
        """The error to raise for an answer the caller has no use for."""
        if self.status == 403 and (self.error_text() or "").startswith("Invalid hostname"):
            return DuplicatiHostnameError(
                "Duplicati refuses this host name; add it to --webservice-allowed-hostnames"
            )
        return DuplicatiResponseError(
            f"Unexpected answer from Duplicati to {self.method} {self.path}: HTTP {self.status}"
        )


class Transport:
    """Send requests to one Duplicati server through a shared aiohttp session.

    Cookies are passed per request instead of living in the session's jar: Home Assistant's
    shared session jar is used by every integration, may be a dummy, drops cookies set for IP
    addresses, and would override an explicit Cookie header with a stale value of the same name.
    """

    def __init__(self, session: aiohttp.ClientSession, url: URL, timeout: float) -> None:
        """Remember where and how to send requests."""
        self._session = session
        self._base = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def base_url(self) -> URL:
        """The server's URL, without a trailing path."""
        return self._base

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request and read the whole answer."""
        url = self._base.joinpath(path.lstrip("/"))
        try:
            async with self._session.request(
                method,
                url,
                headers=dict(headers or {}),
                cookies=dict(cookies) if cookies else None,
                params=dict(params) if params else None,
                json=json_body,
                data=dict(form) if form is not None else None,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                body = await read_capped_body(response, MAX_RESPONSE_SIZE)
        except ResponseTooLargeError as err:
            raise DuplicatiResponseTooLargeError(
                f"Duplicati's answer to {method} {path} is larger than {MAX_RESPONSE_SIZE} bytes"
            ) from err
        except TimeoutError as err:
            raise DuplicatiConnectionError(
                f"Timeout talking to Duplicati ({method} {path})"
            ) from err
        except aiohttp.ClientError as err:
            raise DuplicatiConnectionError(
                f"Cannot talk to Duplicati ({method} {path}): {type(err).__name__}"
            ) from err
        _LOGGER.debug("Duplicati %s %s: HTTP %s", method, path, response.status)
        return Reply(
            method=method,
            path=path,
            status=response.status,
            reason=response.reason or "",
            headers=response.headers,
            body=body,
        )
