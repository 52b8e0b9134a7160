"""Drive the public flows with hostile input and check that each ends cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
import logging
import os
import sys
import threading
import time
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.homelab_sentinel.const import DOMAIN

# Every flow, even against a silent or endless server, ends within this.
FLOW_TIME_LIMIT = 20.0
MEMORY_GROWTH_LIMIT = 64 * 1024 * 1024
_INTEGRATION_CODE = f"custom_components{os.sep}homelab_sentinel{os.sep}"


async def open_step(hass: HomeAssistant, kind: str, **first: Any) -> str:
    """Open the kind's step from the menu (and, with first, submit that step); the flow ID."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    assert result["type"] is FlowResultType.FORM
    if first:
        result = await hass.config_entries.flow.async_configure(result["flow_id"], first)
        assert result["type"] is FlowResultType.FORM
    flow_id: str = result["flow_id"]
    return flow_id


async def submit(hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]) -> ConfigFlowResult:
    """Submit a step, within the time every flow must end in."""
    started = time.monotonic()
    async with asyncio.timeout(FLOW_TIME_LIMIT):
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert time.monotonic() - started < FLOW_TIME_LIMIT
    return result


def integration_threads() -> list[str]:
    """Threads other than this one that are running the integration's code right now."""
    busy: list[str] = []
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        current: Any = frame
        while current is not None:
            if _INTEGRATION_CODE in current.f_code.co_filename:
                busy.append(f"{names.get(ident)}: {current.f_code.co_name}")
                break
            current = current.f_back
    return busy


def assert_ended_cleanly(
    hass: HomeAssistant,
    result: ConfigFlowResult,
    errors: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A form error, no entry, nothing logged at ERROR, no thread left in the integration."""
    assert result["type"] is FlowResultType.FORM, result
    assert result["errors"] == errors
    assert hass.config_entries.async_entries(DOMAIN) == []
    logged = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not logged, [record.getMessage() for record in logged]
    assert integration_threads() == []


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:  # noqa: PTH123
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class MemorySampler:
    """Samples the process's resident memory from a thread while a flow runs."""

    def __init__(self) -> None:
        """Take the baseline now."""
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    @property
    def growth(self) -> int:
        """The highest resident memory seen, above the baseline."""
        return self.peak - self.baseline

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss())


async def measured(run: Callable[[], Awaitable[ConfigFlowResult]]) -> tuple[ConfigFlowResult, int]:
    """Run a flow step while sampling memory; the result and the memory growth."""
    sampler = MemorySampler()
    with sampler.sampling():
        result = await run()
    return result, sampler.growth
