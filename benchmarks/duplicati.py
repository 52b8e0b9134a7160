"""Benchmark: one Duplicati entry watching a server with 50 backup jobs, in one Home Assistant.

Run with `scripts/run python benchmarks/duplicati.py`. Reports the HTTP requests of the first
poll and of each steady-state poll through the coordinator (the goal is two, whatever the number
of jobs), the event-loop CPU time and wall time of one poll, and the CPU time of writing every
entity's state, which a poll adds when the jobs changed. The simulated Duplicati server
runs on its own thread and loop, so the loop figures are Home Assistant's and the integration's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import statistics
import sys
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
from custom_components.homelab_sentinel.duplicati.coordinator import server_title  # noqa: E402
from tests.duplicati.simulator import DuplicatiSimulator  # noqa: E402

JOBS = 50
POLL_ROUNDS = 20
ENTITIES_PER_JOB = 12


class ServerThread(threading.Thread):
    """The simulated Duplicati server, on a loop of its own."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.simulator: DuplicatiSimulator

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.simulator = DuplicatiSimulator("2.3")
        for number in range(JOBS):
            history = ["Success", "Warning"] if number % 5 else ["Success", "Error"]
            self.simulator.add_backup(f"Job {number:02d}", history=history)
        await self.simulator.start()


async def _run(simulator: DuplicatiSimulator) -> dict[str, Any]:
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=server_title(simulator.url),
            unique_id=simulator.url,
            data={
                "kind": "duplicati",
                "url": simulator.url,
                "auth_method": "password",
                "verify_ssl": True,
                "password": simulator.password,
            },
        )
        entry.add_to_hass(hass)
        start = time.perf_counter()
        before = len(simulator.requests)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        setup_seconds = time.perf_counter() - start
        first_requests = len(simulator.requests) - before
        states = [s for s in hass.states.async_all() if s.entity_id.startswith("sensor.job_")]
        assert len(states) == JOBS * 8, f"only {len(states)} job sensors"

        coordinator = entry.runtime_data
        requests: list[int] = []
        loop_cpu: list[float] = []
        wall: list[float] = []
        for _ in range(POLL_ROUNDS):
            before = len(simulator.requests)
            cpu_before = time.thread_time()
            wall_before = time.perf_counter()
            await coordinator.async_refresh()
            wall.append(time.perf_counter() - wall_before)
            loop_cpu.append(time.thread_time() - cpu_before)
            requests.append(len(simulator.requests) - before)
            assert coordinator.last_update_success
        # What a poll costs on top when every job changed: all states written again.
        writes: list[float] = []
        for _ in range(POLL_ROUNDS):
            cpu_before = time.thread_time()
            coordinator.async_update_listeners()
            await hass.async_block_till_done()
            writes.append(time.thread_time() - cpu_before)
        entities = len(hass.states.async_all())
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    return {
        "entities": entities,
        "setup_seconds": setup_seconds,
        "first_requests": first_requests,
        "poll_requests": sorted(set(requests)),
        "poll_wall_ms": statistics.median(wall) * 1000,
        "poll_loop_cpu_ms": statistics.median(loop_cpu) * 1000,
        "write_all_ms": statistics.median(writes) * 1000,
    }


def main() -> None:
    server = ServerThread()
    server.start()
    server.ready.wait()
    result = asyncio.run(_run(server.simulator))
    server.loop.call_soon_threadsafe(server.loop.stop)
    per_job = result["poll_loop_cpu_ms"] / JOBS
    print(f"backup jobs .................................... {JOBS}")
    print(f"entities with a state .......................... {result['entities']}")
    print(f"setup until every state is set ................. {result['setup_seconds']:.2f} s")
    print(
        f"HTTP requests of the setup ..................... {result['first_requests']}"
        " (system info, login, list, state, one log per job)"
    )
    print(f"HTTP requests per steady-state poll ............ {result['poll_requests']}")
    print(f"one poll, wall time (median) ................... {result['poll_wall_ms']:.1f} ms")
    print(
        f"one poll, event-loop CPU (median) .............. {result['poll_loop_cpu_ms']:.1f} ms"
        f" ({per_job:.2f} ms per job)"
    )
    print(f"writing every entity's state (median) .......... {result['write_all_ms']:.1f} ms")


if __name__ == "__main__":
    main()
