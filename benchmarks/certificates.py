"""Benchmark: 50 certificate entries against 50 loopback TLS servers in one Home Assistant.

Run with `scripts/run python benchmarks/certificates.py`. Reports the wall time from starting the
entries' setup to every entity having a state, and the event-loop CPU time of one refresh of all
entries. The TLS servers run on their own thread and loop, so the loop figures are ours alone.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from homeassistant import loader  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.homelab_sentinel.const import DOMAIN  # noqa: E402
from tests.certificate.certs import make_ca, make_leaf  # noqa: E402

ENTRIES = 50
ENTITIES_PER_ENTRY = 6
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
        async def drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await reader.read()
            writer.close()

        for context in self.contexts:
            server = await asyncio.start_server(drain, "127.0.0.1", 0, ssl=context)
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
        states = [s for s in hass.states.async_all() if s.entity_id.startswith("sensor.host")]
        trusted = [s for s in states if s.entity_id.endswith("_trust") and s.state == "trusted"]
        assert len(trusted) == ENTRIES, f"only {len(trusted)} trusted"

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
        "entities": len(states) + ENTRIES,  # plus one binary sensor per entry
        "setup_seconds": setup_seconds,
        "refresh_wall_ms": statistics.median(wall) * 1000,
        "refresh_loop_cpu_ms": statistics.median(loop_cpu) * 1000,
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


if __name__ == "__main__":
    main()
