"""Hostile files on disk and hostile servers on loopback, shared by the tests of this folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path

import pytest

# What a server streams at most: the 256 MiB.
STREAM_LIMIT = 256 * 1024 * 1024
_CHUNK = b"0" * (256 * 1024)


@dataclass(frozen=True, slots=True)
class HostilePaths:
    """Paths no reader may hang on or read to the end."""

    fifo: Path
    directory: Path
    loop: Path
    long: str


@pytest.fixture
def hostile_paths(tmp_path: Path) -> HostilePaths:
    """A FIFO nobody writes to, a directory, a symbolic link loop and a 5,000-character path."""
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    directory = tmp_path / "directory"
    directory.mkdir()
    loop = tmp_path / "loop.pem"
    loop.symlink_to(tmp_path / "loop2.pem")
    (tmp_path / "loop2.pem").symlink_to(loop)
    return HostilePaths(fifo, directory, loop, str(tmp_path / ("a" * 5000)))


type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(slots=True)
class StreamCounter:
    """How many bytes a hostile server managed to send."""

    sent: int = 0


async def stream_endlessly(
    writer: asyncio.StreamWriter, counter: StreamCounter, line: bytes
) -> None:
    """Send line over and over until STREAM_LIMIT is sent or the client hangs up."""
    chunk = line * max(1, len(_CHUNK) // len(line))
    with contextlib.suppress(ConnectionError, OSError):
        while counter.sent < STREAM_LIMIT:
            writer.write(chunk)
            await writer.drain()
            counter.sent += len(chunk)
    writer.transport.abort()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    """Start a TCP server on 127.0.0.1 with the given connection handler; returns its port."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


async def read_request_head(reader: asyncio.StreamReader) -> None:
    """Read an HTTP request up to its blank line (its body, if any, is left unread)."""
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        await reader.readuntil(b"\r\n\r\n")
