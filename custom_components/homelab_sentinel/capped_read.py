"""One rule for every answer read from the network: a byte cap, read incrementally.

An HTTP body is read chunk by chunk and given up on as soon as it passes the cap that fits its
protocol, so a server streaming without end costs at most the cap in memory. JSON is parsed
strictly, and every way the parser can fail (bad syntax, nesting deep enough to exhaust the
recursion limit) is one error. This module has no Home Assistant imports.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

_CHUNK = 64 * 1024


class ResponseTooLargeError(Exception):
    """The answer passed the byte cap of its protocol; reading stopped there."""


class InvalidJSONError(ValueError):
    """The text is not JSON this parser can read."""


class ByteStream(Protocol):
    """What a body arrives through: aiohttp's StreamReader, or a webhook MockRequest's stream."""

    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes; b"" at the end of the stream."""


class HttpMessage(Protocol):
    """What a body is read from: an aiohttp ClientResponse, or a web.Request (a webhook's)."""

    @property
    def content_length(self) -> int | None:
        """The announced Content-Length, if any."""

    @property
    def content(self) -> ByteStream:
        """The body, as it arrives."""


async def read_capped_stream(stream: ByteStream, declared_length: int | None, limit: int) -> bytes:
    """The whole of a stream of at most limit bytes; ResponseTooLargeError otherwise.

    A declared length over the cap is refused before anything is read. The stream's own errors
    (a broken connection, a timeout) pass through unchanged.
    """
    if declared_length is not None and declared_length > limit:
        raise ResponseTooLargeError(f"the answer announces {declared_length} bytes")
    body = bytearray()
    while chunk := await stream.read(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise ResponseTooLargeError(f"the answer passed {limit} bytes")
    return bytes(body)


async def read_capped_body(response: HttpMessage, limit: int) -> bytes:
    """The whole body of a message of at most limit bytes; ResponseTooLargeError otherwise.

    Works for an answer to a request (ClientResponse) and for a request received (web.Request)
    alike.
    """
    return await read_capped_stream(response.content, response.content_length, limit)


def parse_json(data: bytes | str) -> Any:
    """Decode JSON, or raise InvalidJSONError whatever the parser's failure was."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as err:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; deep nesting is not.
        raise InvalidJSONError(type(err).__name__) from None


class ReplyTooLongError(Exception):
    """A line-based dialogue sent more than its cap before the expected line."""


class CappedLineReader:
    """Read the lines of a plain-text dialogue (SMTP, IMAP, POP3) within one byte budget.

    Each line and the dialogue as a whole are capped, so a server sending an endless line or
    endless continuation lines ends the dialogue with ReplyTooLongError.
    """

    def __init__(self, reader: asyncio.StreamReader, budget: int) -> None:
        """Read from reader; budget is the most the whole dialogue may send."""
        self._reader = reader
        self.remaining = budget

    async def readline(self) -> bytes:
        """The next line, its line ending included; IncompleteReadError at the end of the stream."""
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as err:
            raise ReplyTooLongError("a line passed the stream's limit") from err
        self.remaining -= len(line)
        if self.remaining < 0:
            raise ReplyTooLongError("the dialogue passed its byte cap")
        return line
