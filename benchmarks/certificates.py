"""Benchmark: 50 certificate entries against 50 loopback TLS servers in one Home Assistant.

Run with `scripts/run python benchmarks/certificates.py`. Reports the wall time from starting the
entries' setup to every entity having a state, and the event-loop CPU time of one refresh of all
entries, posture probes included (protocol versions, HSTS, port 80): the TLS servers answer
`HEAD /` with an HSTS header, as a reverse proxy does; port 80 of 127.0.0.1 is closed. They run on
their own thread and loop, so the loop figures are ours alone.

It runs twice: servers sending the full chain, then servers sending their leaf alone with a
caIssuers URL on a loopback HTTP server, so that every entry's first poll fetches the missing
intermediate (`incomplete_chain`); the difference is what the caIssuers fetch adds.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from typing import Any
from unittest.mock import patch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiohttp import ThreadedResolver  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.helpers import frame  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.homelab_sentinel.const import DOMAIN  # noqa: E402
from tests.certificate.certs import Issued, make_ca, make_leaf  # noqa: E402

ENTRIES = 50
REFRESH_ROUNDS = 10


class ServerThread(threading.Thread):
    """Loopback TLS servers on a loop of their own."""

    def __init__(self, contexts: list[ssl.SSLContext], issuer_der: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.contexts = contexts
        self.ports: list[int] = []
        self.issuer_der = issuer_der
        self.issuer_port = 0
        self.issuer_requests = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        def site(context: ssl.SSLContext) -> Any:
            # A reverse proxy: TLS (refusing the old versions the posture probes try), then an
            # answer with HSTS to the probe's `HEAD /`.
            async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                with contextlib.suppress(
                    ConnectionError, ssl.SSLError, asyncio.IncompleteReadError
                ):
                    await writer.start_tls(context)
                    if await reader.readuntil(b"\r\n\r\n"):
                        writer.write(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                            b"Strict-Transport-Security: max-age=31536000\r\n\r\n"
                        )
                        await writer.drain()
                writer.transport.abort()

            return answer

        async def ca_issuers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.issuer_requests += 1
            with contextlib.suppress(ConnectionError):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\n"
                    + f"Content-Length: {len(self.issuer_der)}\r\n".encode()
                    + b"Connection: close\r\n\r\n"
                    + self.issuer_der
                )
                await writer.drain()
            writer.close()

        if self.issuer_der:
            http = await asyncio.start_server(ca_issuers, "127.0.0.1", self.issuer_port)
            self.issuer_port = http.sockets[0].getsockname()[1]
        for context in self.contexts:
            server = await asyncio.start_server(site(context), "127.0.0.1", 0)
            self.ports.append(server.sockets[0].getsockname()[1])


def _contexts(
    directory: Path, intermediate: Issued, ca_issuers: str | None
) -> list[ssl.SSLContext]:
    contexts = []
    for index in range(ENTRIES):
        leaf = make_leaf([f"host{index}.bench"], issuer=intermediate, ca_issuers=ca_issuers)
        certfile, keyfile = leaf.write(directory, f"host{index}")
        if ca_issuers:
            # The leaf alone, as a server configured with cert.pem instead of fullchain.pem.
            certfile.write_bytes(leaf.certificate.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        contexts.append(context)
    return contexts


async def _run(ports: list[int], bundle: Path, verdict: str) -> dict[str, Any]:
    # As in the tests: no multicast DNS resolver for Home Assistant's shared HTTP session.
    with patch(
        "homeassistant.helpers.aiohttp_client._async_make_resolver",
        side_effect=lambda hass: _resolver(),
    ):
        return await _measure(ports, bundle, verdict)


def _resolver() -> ThreadedResolver:
    resolver = ThreadedResolver()
    # Home Assistant closes its resolver through this name at shutdown.
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    return resolver


async def _measure(ports: list[int], bundle: Path, verdict: str) -> dict[str, Any]:
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        frame.async_setup(hass)
        entries = []
        for index, port in enumerate(ports):
            entry = MockConfigEntry(
                domain=DOMAIN,
                title=f"host{index}",
                unique_id=f"cert:127.0.0.1:{port}:host{index}.bench",
                data={
                    "kind": "certificate",
                    "host": "127.0.0.1",
                    "port": port,
                    "server_name": f"host{index}.bench",
                    "starttls": "none",
                    "ca_file": str(bundle),
                },
            )
            entry.add_to_hass(hass)
            entries.append(entry)
        start = time.perf_counter()
        await asyncio.gather(
            *(hass.config_entries.async_setup(entry.entry_id) for entry in entries)
        )
        await hass.async_block_till_done()
        setup_seconds = time.perf_counter() - start
        states = [s for s in hass.states.async_all() if s.entity_id.startswith("sensor.host")]
        hass_entities = [s for s in hass.states.async_all() if ".host" in s.entity_id]
        judged = [s for s in states if s.entity_id.endswith("_trust") and s.state == verdict]
        assert len(judged) == ENTRIES, f"only {len(judged)} {verdict}"

        loop_cpu: list[float] = []
        wall: list[float] = []
        for _ in range(REFRESH_ROUNDS):
            cpu_before = time.thread_time()
            wall_before = time.perf_counter()
            await asyncio.gather(*(entry.runtime_data.async_refresh() for entry in entries))
            wall.append(time.perf_counter() - wall_before)
            loop_cpu.append(time.thread_time() - cpu_before)
        for entry in entries:
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    return {
        "entities": len(hass_entities),
        "setup_seconds": setup_seconds,
        "refresh_wall_ms": statistics.median(wall) * 1000,
        "refresh_loop_cpu_ms": statistics.median(loop_cpu) * 1000,
    }


def _scenario(directory: Path, bundle: Path, intermediate: Issued, *, leaf_only: bool) -> Any:
    issuer_der = intermediate.certificate.public_bytes(serialization.Encoding.DER)
    servers = ServerThread([], issuer_der if leaf_only else b"")
    if leaf_only:
        # The HTTP server's port must be known before the leaves naming it are made.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            servers.issuer_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{servers.issuer_port}/bench.cer" if leaf_only else None
    servers.contexts = _contexts(directory / ("leaf" if leaf_only else "full"), intermediate, url)
    servers.start()
    servers.ready.wait()
    result = asyncio.run(
        _run(servers.ports, bundle, "incomplete_chain" if leaf_only else "trusted")
    )
    result["issuer_requests"] = servers.issuer_requests
    return result


def _report(title: str, result: dict[str, Any]) -> None:
    per_check = result["refresh_loop_cpu_ms"] / ENTRIES
    print(title)
    print(f"certificate entries ............................ {ENTRIES}")
    print(f"entities with a state .......................... {result['entities']}")
    print(f"setup of all entries until every state is set .. {result['setup_seconds']:.2f} s")
    print(f"refresh of all entries, wall time (median) ..... {result['refresh_wall_ms']:.1f} ms")
    print(
        f"refresh of all entries, event-loop CPU (median) {result['refresh_loop_cpu_ms']:.1f} ms"
        f" ({per_check:.2f} ms per check)"
    )
    print(f"caIssuers requests ............................. {result['issuer_requests']}")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = make_ca("Bench Root")
        intermediate = make_ca("Bench Intermediate", issuer=root)
        bundle = Path(directory) / "ca.pem"
        bundle.write_bytes(root.pem_chain())
        full = _scenario(Path(directory), bundle, intermediate, leaf_only=False)
        leaf_only = _scenario(Path(directory), bundle, intermediate, leaf_only=True)
    _report("Servers sending the full chain", full)
    _report(
        "\nServers sending the leaf alone (incomplete chain, one caIssuers fetch per leaf)",
        leaf_only,
    )
    added = leaf_only["setup_seconds"] - full["setup_seconds"]
    print(f"\nwhat the caIssuers fetches add to the setup .... {added * 1000:.0f} ms")


if __name__ == "__main__":
    main()
