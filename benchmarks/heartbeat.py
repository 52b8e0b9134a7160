"""Benchmark: what one call to a heartbeat's webhook costs Home Assistant's event loop.

Run with `scripts/run python benchmarks/heartbeat.py`. Calls go through Home Assistant's webhook
component as its HTTP view hands them over (parsing, the new state, the Store, the entity writes,
the `run` event); the HTTP server's own work is left out. Reports the median event-loop CPU time
of a plain ping, of a Duplicati report (a typical 3 kB one), and of refusing a body over 1 MiB.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import statistics
import sys
import time
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from homeassistant import loader  # noqa: E402
from homeassistant.components.webhook import async_handle_webhook  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402
from homeassistant.util.aiohttp import MockRequest  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.homelab_sentinel.const import DOMAIN  # noqa: E402
from custom_components.homelab_sentinel.heartbeat.protocol import MAX_BODY_BYTES  # noqa: E402
from tests.heartbeat.common import WEBHOOK_ID, duplicati_report  # noqa: E402

ROUNDS = 400


async def _cost(hass: HomeAssistant, query: str, body: bytes, status: int) -> float:
    """Event-loop CPU time of one call, until everything it caused is done."""
    request = MockRequest(body, "benchmark", method="POST", query_string=query, remote="::1")
    cpu_before = time.thread_time()
    response = await async_handle_webhook(hass, WEBHOOK_ID, request)
    await hass.async_block_till_done()
    spent = time.thread_time() - cpu_before
    assert response.status == status, response.status
    return spent


async def _run() -> dict[str, Any]:
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Nightly borg",
            unique_id="heartbeat:nightly_borg",
            data={
                "kind": "heartbeat",
                "name": "Nightly borg",
                "period_hours": 24,
                "grace_minutes": 60,
                "webhook_id": WEBHOOK_ID,
            },
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        report = duplicati_report("Warning")
        oversized = b"x" * (MAX_BODY_BYTES + 1)
        pings = [
            await _cost(hass, "status=start" if n % 2 else "exit_code=0", b"", 200)
            for n in range(ROUNDS)
        ]
        reports = [await _cost(hass, "", report, 200) for _ in range(ROUNDS)]
        refusals = [await _cost(hass, "", oversized, 400) for _ in range(ROUNDS // 10)]
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    return {
        "report_bytes": len(report),
        "ping_ms": statistics.median(pings) * 1000,
        "report_ms": statistics.median(reports) * 1000,
        "refusal_ms": statistics.median(refusals) * 1000,
    }


def main() -> None:
    result = asyncio.run(_run())
    print(f"a plain ping, event-loop CPU (median) .......... {result['ping_ms']:.2f} ms")
    print(
        f"a Duplicati report of {result['report_bytes']} bytes (median) ..... "
        f"{result['report_ms']:.2f} ms"
    )
    print(f"refusing a body over 1 MiB (median) ............ {result['refusal_ms']:.2f} ms")


if __name__ == "__main__":
    main()
