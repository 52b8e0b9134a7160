"""Real TLS servers on loopback, and the certificates they present."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
import socket
import ssl

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
import pytest

from .certs import Issued, make_ca, make_leaf, write_ca_bundle
from .nginx_lifecycle import Nginx

type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Servers:
    """Starts loopback servers for one test and stops them all afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._servers: list[asyncio.Server] = []
        self._count = 0

    def context(self, issued: Issued) -> ssl.SSLContext:
        """A server context presenting the certificate and its chain."""
        self._count += 1
        certfile, keyfile = issued.write(self._tmp_path / "servers", f"server{self._count}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        return context

    async def start(
        self, handler: Handler, context: ssl.SSLContext | None = None, port: int = 0
    ) -> int:
        """Serve on a loopback port (a free one by default); return the port."""
        if context is not None:
            handler = _after_handshake(handler, context)
        server = await asyncio.start_server(handler, "127.0.0.1", port)
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def tls(self, issued: Issued, port: int = 0) -> int:
        """A TLS server presenting issued; it reads until the client leaves."""
        return await self.start(_drain, self.context(issued), port)

    async def close(self) -> None:
        """Stop every server and its connections."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
            server.close_clients()
        for server in servers:
            await server.wait_closed()


def _after_handshake(handler: Handler, context: ssl.SSLContext) -> Handler:
    """The handler behind a TLS handshake that may fail quietly, as a refused version does."""

    async def handshake_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(context)
        except ConnectionError, ssl.SSLError:
            writer.transport.abort()
            return
        await handler(reader, writer)

    return handshake_first


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read until the client leaves; answer an HTTP request, as most TLS endpoints would."""
    try:
        if (await reader.readline()).startswith(b"HEAD / HTTP/1.1"):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await reader.read()
    except ConnectionError, ssl.SSLError, asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncGenerator[Servers]:
    """Loopback servers, stopped after the test."""
    started = Servers(tmp_path)
    yield started
    await started.close()


@pytest.fixture(scope="session")
def test_ca() -> Issued:
    """A private root CA; trusted only through an extra CA bundle."""
    return make_ca()


@pytest.fixture
def ca_bundle(test_ca: Issued, tmp_path: Path) -> Path:
    """The test CA as a PEM bundle file."""
    return write_ca_bundle(test_ca, tmp_path / "test-ca.pem")


@pytest.fixture
def trusted_leaf(test_ca: Issued) -> Issued:
    """A certificate for service.test, 60 days left, issued through an intermediate."""
    intermediate = make_ca("Sentinel Test Intermediate", issuer=test_ca)
    return make_leaf(["service.test", "127.0.0.1"], issuer=intermediate)


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def days_from_now(days: float) -> datetime:
    """A moment some days away."""
    return datetime.now(UTC) + timedelta(days=days)


@pytest.fixture
async def nginx(tmp_path: Path) -> AsyncGenerator[Nginx]:
    """A real nginx of the test's own; sites are added before ``start()``."""
    server = Nginx(tmp_path / "nginx")
    yield server
    await server.stop()


class IssuerServer:
    """A loopback HTTP server standing for a CA's caIssuers URL; counts what it is asked."""

    def __init__(self) -> None:
        self.requests = 0
        self.body = b""
        self.status = 200
        self.delay = 0.0
        self.chunked = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The caIssuers URL to put in leaves."""
        return f"http://127.0.0.1:{self.port}/intermediate.cer"

    def serve(self, certificate: x509.Certificate, encoding: str = "der") -> None:
        """Answer with certificate, DER as CAs publish it, or PEM."""
        self.body = certificate.public_bytes(
            serialization.Encoding.DER if encoding == "der" else serialization.Encoding.PEM
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self.chunked:
            return web.Response(body=self.body, status=self.status)
        response = web.StreamResponse(status=self.status)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(self.body), 4096):
            await response.write(self.body[start : start + 4096])
        await response.write_eof()
        return response

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/intermediate.cer", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening (the URL then refuses connections)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def issuer_server() -> AsyncGenerator[IssuerServer]:
    """A started caIssuers server, stopped after the test."""
    server = IssuerServer()
    await server.start()
    yield server
    await server.stop()
