"""Benchmark: what one fail2ban poll costs through Home Assistant, against core's fail2ban sensor.

Run with `scripts/run python benchmarks/fail2ban_ha.py`. For each size it writes a 1,000,000-line
fail2ban log with five jails (by default about 42,000 and about 420,000 bans in force), starts a
real Home Assistant (the test harness's), sets up a log entry of this integration on it, and
times `homeassistant.update_entity` on a jail's `current_bans` sensor, the way a user or an
automation asks for a fresh value:

* "99 Found lines + 1 ban": 99 lines that change no ban, and one ban, appended since the last poll;
* "100 lines, about 50 bans/unbans": bans of new addresses and unbans of addresses in force.

Before each timed call, time is moved past the coordinator's 10 s refresh cooldown (otherwise the
call is debounced and measures nothing), and each call is checked to have polled: the tailer's
read offset reaches the end of the file, and the event entities fired one state per ban or unban.
The time is the call's wall time and the process CPU time (event loop and executor alike) from
the service call to its return: the log read, the coordinator, every state written.

On the smaller log, Home Assistant core's own `fail2ban` sensor platform is first set up in the
same Home Assistant for the same log and jails, and `homeassistant.update_entity` is timed on its
five sensors after "99 Found lines + 1 ban" (they re-read the whole file, once per jail, at every
update; their own 120 s polling is turned off, and they are removed before this integration is
set up, so that no update of theirs runs beside a timed call). On the larger log core is left
out: its update looks up every Ban line of the whole log in its list of bans in force, which at
420,000 bans would take hours.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
import random
import socket
import statistics
import sys
import tempfile
import time
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from homeassistant import loader  # noqa: E402
from homeassistant.core import Event, HomeAssistant, callback  # noqa: E402
from homeassistant.helpers.entity import Entity  # noqa: E402
from homeassistant.helpers.entity_platform import async_get_platforms  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_fire_time_changed,
    async_test_home_assistant,
)

from benchmarks.fail2ban_log import JAILS, LogWriter, random_ip, seeded  # noqa: E402
from custom_components.homelab_sentinel.const import DOMAIN  # noqa: E402

LINES = 1_000_000
ROUNDS = 15
CORE_ROUNDS = 2
TARGET = "sensor.fail2ban_sshd_current_bans"
EVENT_ENTITIES = [
    f"event.fail2ban_{jail.replace('-', '_').replace('.', '_')}_ban" for jail in JAILS
]


class HeavyLogWriter(LogWriter):
    """The same lines with more bans than unbans and no restarts, to pile up bans in force."""

    def __init__(self, seed: int, start: datetime, *, bans: float, unbans: float) -> None:
        super().__init__(seed, start)
        self.bans, self.unbans = bans, unbans

    def step(self) -> list[str]:
        rng = self.rng
        jail = rng.choice(JAILS)
        ips = self.banned[jail]
        roll = rng.random()
        if roll < self.bans:
            ip = random_ip(rng)
            ips.append(ip)
            return [self.line("fail2ban.actions", "NOTICE", f"[{jail}] Ban {ip}")]
        if roll < self.bans + self.unbans and ips:
            # Swap-remove: a list.pop from the middle of 80,000 addresses is slow to generate.
            index = rng.randrange(len(ips))
            ips[index], ips[-1] = ips[-1], ips[index]
            return [self.line("fail2ban.actions", "NOTICE", f"[{jail}] Unban {ips.pop()}")]
        found = f"[{jail}] Found {random_ip(rng)} - {self.now:%Y-%m-%d %H:%M:%S}"
        return [self.line("fail2ban.filter", "INFO", found)]


@dataclass
class Scenario:
    """Lines appended before one timed call, and the ban events they hold."""

    lines: list[str]
    events: int


def found_and_one_ban(writer: LogWriter, rng: random.Random) -> Scenario:
    lines = []
    for _ in range(99):
        jail = rng.choice(JAILS)
        found = f"[{jail}] Found {random_ip(rng)} - {writer.now:%Y-%m-%d %H:%M:%S}"
        lines.append(writer.line("fail2ban.filter", "INFO", found))
    jail = rng.choice(JAILS)
    ip = random_ip(rng)
    writer.banned[jail].append(ip)
    lines.append(writer.line("fail2ban.actions", "NOTICE", f"[{jail}] Ban {ip}"))
    return Scenario(lines, 1)


def bans_and_unbans(writer: LogWriter, rng: random.Random) -> Scenario:
    lines = []
    events = 0
    # Unbans lift bans in force before this batch: a ban lifted in the batch that imposed it
    # was never seen, and is no event.
    fresh: dict[str, list[str]] = {jail: [] for jail in JAILS}
    for _ in range(100):
        jail = rng.choice(JAILS)
        ips = writer.banned[jail]
        roll = rng.random()
        if roll < 0.5:
            found = f"[{jail}] Found {random_ip(rng)} - {writer.now:%Y-%m-%d %H:%M:%S}"
            lines.append(writer.line("fail2ban.filter", "INFO", found))
            continue
        if roll < 0.75 or not ips:
            ip = random_ip(rng)
            fresh[jail].append(ip)
            lines.append(writer.line("fail2ban.actions", "NOTICE", f"[{jail}] Ban {ip}"))
        else:
            index = rng.randrange(len(ips))
            ips[index], ips[-1] = ips[-1], ips[index]
            lines.append(writer.line("fail2ban.actions", "NOTICE", f"[{jail}] Unban {ips.pop()}"))
        events += 1
    for jail, ips in fresh.items():
        writer.banned[jail] += ips
    return Scenario(lines, events)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_log(path: Path, writer: LogWriter, count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        written = 0
        while written < count:
            batch = writer.lines(min(100_000, count - written))
            handle.writelines(batch)
            written += len(batch)


def append(path: Path, lines: list[str]) -> int:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(lines)
    return path.stat().st_size


class WriteMeter:
    """Counts and times every state write an entity makes (Home Assistant's own work)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._original = Entity._async_write_ha_state  # noqa: SLF001

    def __enter__(self) -> WriteMeter:
        original, meter = self._original, self

        def timed(entity: Entity) -> None:
            start = time.perf_counter()
            try:
                original(entity)
            finally:
                meter.seconds += time.perf_counter() - start
                meter.count += 1

        Entity._async_write_ha_state = timed  # type: ignore[method-assign,assignment] # noqa: SLF001
        return self

    def __exit__(self, *_: object) -> None:
        Entity._async_write_ha_state = self._original  # type: ignore[method-assign] # noqa: SLF001


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]
    writes: list[int] = field(default_factory=list)
    write_seconds: list[float] = field(default_factory=list)

    @property
    def write_ms(self) -> float:
        return statistics.median(self.write_seconds) * 1e3

    @property
    def rest_ms(self) -> float:
        return (
            statistics.median(w - s for w, s in zip(self.wall, self.write_seconds, strict=True))
            * 1e3
        )

    @property
    def wall_ms(self) -> float:
        return statistics.median(self.wall) * 1e3

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1e3


async def timed_call(hass: HomeAssistant, entity_ids: list[str]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": entity_ids}, blocking=True
    )
    return time.perf_counter() - wall, time.process_time() - cpu


async def time_ours(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    path: Path,
    writer: LogWriter,
    make: Any,
    rounds: int,
) -> tuple[Timing, int]:
    """Time update_entity after each scenario; every call is checked to have polled."""
    coordinator = entry.runtime_data
    source = coordinator._source  # noqa: SLF001 - the read offset proves each poll
    rng = seeded(17)
    fired: list[str] = []

    @callback
    def count_events(event: Event[Any]) -> None:
        if event.data["entity_id"] in EVENT_ENTITIES:
            fired.append(event.data["entity_id"])

    unsubscribe = hass.bus.async_listen("state_changed", count_events)
    timing = Timing([], [])
    events = 0
    for _ in range(rounds):
        # Past the 10 s cooldown of the last request, so this call is not debounced.
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
        await hass.async_block_till_done()
        scenario = make(writer, rng)
        size = await hass.async_add_executor_job(append, path, scenario.lines)
        assert source._offset < size, "a scheduled poll read the lines first"  # noqa: SLF001
        data, fired[:] = coordinator.data, []
        with WriteMeter() as meter:
            wall, cpu = await timed_call(hass, [TARGET])
        assert source._offset == size, "the timed call did not read the new lines"  # noqa: SLF001
        assert coordinator.data is not data, "the timed call did not poll"
        assert len(fired) == scenario.events, (len(fired), scenario.events)
        timing.wall.append(wall)
        timing.cpu.append(cpu)
        timing.writes.append(meter.count)
        timing.write_seconds.append(meter.seconds)
        events = scenario.events
    unsubscribe()
    return timing, events


def one_event_write(hass: HomeAssistant, rounds: int = 500) -> float:
    """CPU seconds of one event entity firing one event: its own state write."""
    entity = next(
        platform.entities[EVENT_ENTITIES[0]]
        for platform in async_get_platforms(hass, DOMAIN)
        if EVENT_ENTITIES[0] in platform.entities
    )
    cpu = time.process_time()
    for number in range(rounds):
        entity._trigger_event("banned", {"ip": f"192.0.2.{number % 250}", "jail": "sshd"})  # type: ignore[attr-defined] # noqa: SLF001
        entity.async_write_ha_state()
    return (time.process_time() - cpu) / rounds


async def time_core(hass: HomeAssistant, path: Path, writer: LogWriter) -> tuple[float, Timing]:
    """Set up core's fail2ban sensors, time update_entity on all five, then remove them.

    Core reads the whole log at setup, then at every update; its own 120 s polling is turned off
    (scan_interval), so that no update of its own runs beside a timed one, or beside ours later.
    """
    start = time.perf_counter()
    config: dict[str, Any] = {"platform": "fail2ban", "name": "core", "jails": list(JAILS)}
    config |= {"file_path": str(path), "scan_interval": 24 * 3600}
    assert await async_setup_component(hass, "sensor", {"sensor": [config]})
    await hass.async_block_till_done()
    setup = time.perf_counter() - start
    core = sorted(s.entity_id for s in hass.states.async_all("sensor"))
    core = [entity_id for entity_id in core if entity_id.startswith("sensor.core_")]
    assert len(core) == len(JAILS), core
    timing = Timing([], [])
    rng = seeded(23)
    for _ in range(CORE_ROUNDS):
        scenario = found_and_one_ban(writer, rng)
        await hass.async_add_executor_job(append, path, scenario.lines)
        wall, cpu = await timed_call(hass, core)
        timing.wall.append(wall)
        timing.cpu.append(cpu)
    await hass.async_block_till_done()
    for platform in async_get_platforms(hass, "fail2ban"):
        await platform.async_reset()
    return setup, timing


async def run_size(
    directory: Path, label: str, writer: LogWriter, *, with_core: bool, lines: int
) -> dict[str, Any]:
    path = directory / f"fail2ban-{label}.log"
    start = time.perf_counter()
    await asyncio.to_thread(write_log, path, writer, lines)
    in_force = sum(len(ips) for ips in writer.banned.values())
    print(
        f"[{label}] log: {lines:,} lines, {path.stat().st_size / 1e6:.0f} MB, "
        f"{in_force:,} bans in force, written in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    result: dict[str, Any] = {"label": label, "in_force": in_force}
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        # The integration depends on repairs, which needs http: on loopback, on a free port.
        http = {"server_host": ["127.0.0.1"], "server_port": free_port()}
        assert await async_setup_component(hass, "http", {"http": http})
        assert await async_setup_component(hass, "homeassistant", {})
        if with_core:
            # First: the sensor component reads its YAML platforms only when it is set up.
            result["core_setup_s"], result["core"] = await time_core(hass, path, writer)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="fail2ban",
            unique_id=f"fail2ban:log:{path}",
            data={"kind": "fail2ban", "source": "log", "path": str(path)},
        )
        entry.add_to_hass(hass)
        start = time.perf_counter()
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        result["setup_s"] = time.perf_counter() - start
        banned_now = hass.states.get("sensor.fail2ban_banned_now")
        assert banned_now is not None
        result["banned_now"] = int(banned_now.state)

        result["one_ban"], _ = await time_ours(hass, entry, path, writer, found_and_one_ban, ROUNDS)
        result["churn"], result["churn_events"] = await time_ours(
            hass, entry, path, writer, bans_and_unbans, ROUNDS
        )
        result["event_write_ms"] = one_event_write(hass) * 1e3

        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    path.unlink()
    return result


def report(results: list[dict[str, Any]]) -> None:
    load = os.getloadavg()
    print(
        f"\nHome Assistant in the test harness; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs; medians of {ROUNDS} calls (core: {CORE_ROUNDS})"
    )
    print(
        "| bans in force | new lines since the last poll | ours: wall | ours: CPU "
        "| core (all 5 jails): wall | core / ours |"
    )
    print("|---|---|---|---|---|---|")
    for result in results:
        core: Timing | None = result.get("core")
        for key, what in (
            ("one_ban", "99 Found lines + 1 ban"),
            ("churn", f"100 lines, {result['churn_events']} bans/unbans"),
        ):
            ours: Timing = result[key]
            core_cell = f"{core.wall_ms / 1e3:,.1f} s" if core else "not run (hours)"
            ratio = f"{core.wall_ms / ours.wall_ms:,.0f}x" if core else "-"
            print(
                f"| {result['banned_now']:,} | {what} | {ours.wall_ms:.2f} ms | "
                f"{ours.cpu_ms:.2f} ms | {core_cell} | {ratio} |"
            )
    print()
    for result in results:
        one: Timing = result["one_ban"]
        churn: Timing = result["churn"]
        events = result["churn_events"]
        print(
            f"[{result['label']}] {result['banned_now']:,} bans in force: setup (first read) "
            f"{result['setup_s']:.1f} s"
            + (f", core's setup {result['core_setup_s']:.1f} s" if "core" in result else "")
        )
        for name, timing in (("99 Found + 1 ban", one), (f"{events} bans/unbans", churn)):
            print(
                f"  {name}: {timing.wall_ms:.2f} ms = {timing.write_ms:.2f} ms in "
                f"{statistics.median(timing.writes):.0f} state writes + {timing.rest_ms:.2f} ms "
                "for the rest (service call, log read, events, coordinator)"
            )
        print(
            f"  per ban/unban event: {churn.wall_ms / events:.3f} ms in all; beyond the poll "
            f"itself {(churn.wall_ms - one.wall_ms) / (events - 1):.3f} ms, of which state writes "
            f"{(churn.write_ms - one.write_ms) / (events - 1):.3f} ms and the rest "
            f"{(churn.rest_ms - one.rest_ms) / (events - 1):.3f} ms; one event state write "
            f"alone {result['event_write_ms']:.3f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("small", "large"), help="run one size only")
    parser.add_argument("--no-core", action="store_true", help="leave core's sensor out")
    parser.add_argument("--lines", type=int, default=LINES, help="lines of each log")
    arguments = parser.parse_args()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sizes = [
        ("small", HeavyLogWriter(7, start, bans=0.2, unbans=0.158), not arguments.no_core),
        ("large", HeavyLogWriter(7, start, bans=0.6, unbans=0.18), False),
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="f2b-ha-bench-") as name:
        for label, writer, with_core in sizes:
            if arguments.only in (None, label):
                results.append(
                    await run_size(
                        Path(name), label, writer, with_core=with_core, lines=arguments.lines
                    )
                )
    report(results)


if __name__ == "__main__":
    asyncio.run(main())
