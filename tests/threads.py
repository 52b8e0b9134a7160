"""Blocking work in a worker thread, as Home Assistant's executor runs it.

The test harness treats the main thread as the event loop: Home Assistant's blocking-call
detector is enabled there, so blocking work of the tests themselves runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def in_worker[T](function: Callable[[], T]) -> T:
    """Run blocking work in a worker thread and wait for it."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-worker") as pool:
        return pool.submit(function).result()
