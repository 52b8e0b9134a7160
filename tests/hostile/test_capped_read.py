"""One rule for every answer read from the network: capped, incremental, strictly parsed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
import pytest

from custom_components.homelab_sentinel.capped_read import (
    CappedLineReader,
    InvalidJSONError,
    ReplyTooLongError,
    ResponseTooLargeError,
    parse_json,
    read_capped_body,
)

from .conftest import Handler, StreamCounter, read_request_head, stream_endlessly

CAP = 1024 * 1024


async def _get(port: int) -> bytes:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/") as response,
    ):
        return await read_capped_body(response, CAP)


async def test_body_within_the_cap(serve: Callable[[Handler], Awaitable[int]]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        await writer.drain()
        writer.close()

    assert await _get(await serve(handler)) == b"hello"


async def test_endless_body_stops_at_the_cap(serve: Callable[[Handler], Awaitable[int]]) -> None:
    counter = StreamCounter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        await stream_endlessly(writer, counter, b"[")

    with pytest.raises(ResponseTooLargeError, match="passed"):
        await _get(await serve(handler))
    await asyncio.sleep(0.1)
    # The connection is dropped: the server got rid of little more than the cap and buffers.
    assert counter.sent < 64 * CAP


async def test_announced_length_past_the_cap(serve: Callable[[Handler], Awaitable[int]]) -> None:
    counter = StreamCounter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 268435456\r\n\r\n")
        await stream_endlessly(writer, counter, b"0")

    with pytest.raises(ResponseTooLargeError, match="announces"):
        await _get(await serve(handler))


async def test_chunked_endless_body(serve: Callable[[Handler], Awaitable[int]]) -> None:
    counter = StreamCounter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await stream_endlessly(writer, counter, b"4000\r\n" + b"x" * 0x4000 + b"\r\n")

    with pytest.raises(ResponseTooLargeError):
        await _get(await serve(handler))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000 + "]" * 200_000,
        '{"a":' * 200_000 + "1" + "}" * 200_000,
        "",
        "{",
        "NaN garbage",
        b"\xff\xfe\x00",
    ],
)
def test_every_parser_failure_is_one_error(text: str | bytes) -> None:
    with pytest.raises(InvalidJSONError):
        parse_json(text)


def test_json_is_parsed() -> None:
    assert parse_json(b'{"status": "OK", "list": [1, 2]}') == {"status": "OK", "list": [1, 2]}


async def test_line_reader_budget() -> None:
    stream = asyncio.StreamReader(limit=64)
    stream.feed_data(b"220-hello\r\n" * 10)
    reader = CappedLineReader(stream, budget=50)
    for _ in range(4):
        assert await reader.readline() == b"220-hello\r\n"
    with pytest.raises(ReplyTooLongError, match="byte cap"):
        await reader.readline()


async def test_line_reader_line_limit() -> None:
    stream = asyncio.StreamReader(limit=64)
    stream.feed_data(b"x" * 1000)
    with pytest.raises(ReplyTooLongError, match="limit"):
        await CappedLineReader(stream, budget=10_000).readline()


async def test_line_reader_end_of_stream() -> None:
    stream = asyncio.StreamReader(limit=64)
    stream.feed_data(b"partial")
    stream.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError):
        await CappedLineReader(stream, budget=10_000).readline()


async def test_request_bodies_received_are_capped_too() -> None:
    """A webhook's request body is read with the same helper and the same cap rule."""

    async def handler(request: web.Request) -> web.Response:
        try:
            body = await read_capped_body(request, 1024)
        except ResponseTooLargeError:
            return web.Response(status=413)
        return web.Response(body=body)

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/", data=b"small") as response:
                assert response.status == 200
                assert await response.read() == b"small"
            async with session.post(f"http://127.0.0.1:{port}/", data=b"x" * 2048) as response:
                assert response.status == 413
            async with session.post(f"http://127.0.0.1:{port}/", data=chunks()) as response:
                assert response.status == 413
    finally:
        await runner.cleanup()
