"""Benchmark: 50 certificate entries against 50 loopback TLS servers in one Home Assistant.

Run with `scripts/run python benchmarks/certificates.py`. Reports the wall time from starting the
entries' setup to every entity having a state, and the event-loop CPU time of one refresh of all
entries, with the posture probes (protocol versions, HSTS, port 80) and without them. The TLS
servers answer `HEAD /` with an HSTS header, as a reverse proxy does; port 80 of 127.0.0.1 is
closed. They run on their own thread and loop, so the loop figures are ours alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
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

from homeassistant import loader  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.homelab_sentinel.certificate.posture import (  # noqa: E402
    HstsPolicy,
    PlainHttp,
    PostureReport,
    ProtocolSupport,
    TLSProtocol,
)
from custom_components.homelab_sentinel.const import DOMAIN  # noqa: E402
from tests.certificate.certs import make_ca, make_leaf  # noqa: E402

ENTRIES = 50
ENTITIES_PER_ENTRY = 10
REFRESH_ROUNDS = 10


class ServerThread(threading.Thread):
    """Loopback TLS servers on a loop of their own."""

    def __init__(self, contexts: list[ssl.SSLContext]) -> None:
        super().__init__(daemon=True)
        self.contexts = contexts
        self.ports: list[int] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        def site(context: ssl.SSLContext) -> Any:
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

        for context in self.contexts:
            server = await asyncio.start_server(site(context), "127.0.0.1", 0)
            self.ports.append(server.sockets[0].getsockname()[1])


def _contexts(directory: Path) -> tuple[list[ssl.SSLContext], Path]:
    root = make_ca("Bench Root")
    intermediate = make_ca("Bench Intermediate", issuer=root)
    bundle = directory / "ca.pem"
    bundle.write_bytes(root.pem_chain())
    contexts = []
    for index in range(ENTRIES):
        leaf = make_leaf([f"host{index}.bench"], issuer=intermediate)
        certfile, keyfile = leaf.write(directory, f"host{index}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        contexts.append(context)
    return contexts, bundle


async def _run(ports: list[int], bundle: Path) -> dict[str, Any]:
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
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
        states = [
            s for s in hass.states.async_all() if s.entity_id.split(".")[1].startswith("host")
        ]
        trusted = [s for s in states if s.entity_id.endswith("_trust") and s.state == "trusted"]
        assert len(trusted) == ENTRIES, f"only {len(trusted)} trusted: {states[:12]}"
        modern = [s for s in states if s.entity_id.endswith("_lowest_tls_version")]
        assert {s.state for s in modern} == {"tls1_2"}, {s.state for s in modern}

        async def refresh_rounds() -> tuple[list[float], list[float]]:
            loop_cpu: list[float] = []
            wall: list[float] = []
            for _ in range(REFRESH_ROUNDS):
                cpu_before = time.thread_time()
                wall_before = time.perf_counter()
                await asyncio.gather(*(entry.runtime_data.async_refresh() for entry in entries))
                wall.append(time.perf_counter() - wall_before)
                loop_cpu.append(time.thread_time() - cpu_before)
            return loop_cpu, wall

        loop_cpu, wall = await refresh_rounds()
        # The same refreshes with the probes answered at once: what the certificate alone costs.
        known = PostureReport(
            protocols=ProtocolSupport(
                accepted=(TLSProtocol.TLS1_2, TLSProtocol.TLS1_3), untested={}
            ),
            hsts=HstsPolicy(31536000),
            plain_http=PlainHttp(status=None, location=None, problem=False),
        )

        async def no_probes(*args: Any, **kwargs: Any) -> PostureReport:
            return known

        with patch(
            "custom_components.homelab_sentinel.certificate.coordinator.probe_posture", no_probes
        ):
            bare_cpu, bare_wall = await refresh_rounds()
        for entry in entries:
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    return {
        "entities": len(states),
        "setup_seconds": setup_seconds,
        "refresh_wall_ms": statistics.median(wall) * 1000,
        "refresh_loop_cpu_ms": statistics.median(loop_cpu) * 1000,
        "bare_wall_ms": statistics.median(bare_wall) * 1000,
        "bare_loop_cpu_ms": statistics.median(bare_cpu) * 1000,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        contexts, bundle = _contexts(Path(directory))
        servers = ServerThread(contexts)
        servers.start()
        servers.ready.wait()
        result = asyncio.run(_run(servers.ports, bundle))
    per_check = result["refresh_loop_cpu_ms"] / ENTRIES
    print(f"certificate entries ............................ {ENTRIES}")
    print(f"entities with a state .......................... {result['entities']}")
    print(f"setup of all entries until every state is set .. {result['setup_seconds']:.2f} s")
    print(f"refresh of all entries, wall time (median) ..... {result['refresh_wall_ms']:.1f} ms")
    print(
        f"refresh of all entries, event-loop CPU (median) {result['refresh_loop_cpu_ms']:.1f} ms"
        f" ({per_check:.2f} ms per check)"
    )
    print(f"  without the posture probes, wall time ....... {result['bare_wall_ms']:.1f} ms")
    print(f"  without the posture probes, event-loop CPU .. {result['bare_loop_cpu_ms']:.1f} ms")
    added = (result["refresh_loop_cpu_ms"] - result["bare_loop_cpu_ms"]) / ENTRIES
    print(f"  the probes add per entry, event-loop CPU .... {added:.2f} ms")


if __name__ == "__main__":
    main()
