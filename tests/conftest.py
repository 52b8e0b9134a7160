"""Fixtures every test shares."""

from __future__ import annotations

from collections.abc import Generator
import inspect

from homeassistant import block_async_io
import pytest

from .threads import in_worker


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run each synchronous test in a worker thread, as Home Assistant's executor would.

    Synchronous tests exercise the blocking clients, which the integration only ever calls in
    the executor; on the main thread the blocking-call detector would take them for the loop.
    """
    # pytest-asyncio wraps coroutine tests in a synchronous runner and marks them.
    if pyfuncitem.get_closest_marker("asyncio") or inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    in_worker(lambda: pyfuncitem.obj(**arguments))
    return True


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load the integration from custom_components in every test."""


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Let tests talk to the real servers they start; the harness still allows 127.0.0.1 only."""


@pytest.fixture(scope="session", autouse=True)
def blocking_call_detector() -> Generator[None]:
    """Turn on Home Assistant's detector of blocking calls in the event loop, as at run time.

    Home Assistant leaves file and TLS-loading calls out of the detector under unittest; this
    suite wants them in.
    """
    block_async_io._IN_TESTS = False
    block_async_io.enable()
    yield
    # pytest's own clean-up runs on the main thread after the last test.
    calls = block_async_io._BLOCKED_CALLS.calls
    for call in calls:
        setattr(call.object, call.function, call.original_func)
    calls.clear()


@pytest.fixture(autouse=True)
def no_blocking_calls_by_the_integration(
    caplog: pytest.LogCaptureFixture,
) -> Generator[None]:
    """Fail a test in which the integration blocked the event loop."""
    yield
    offending = [
        record.getMessage()
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if "Detected blocking call" in record.getMessage()
        and "by custom integration 'homelab_sentinel'" in record.getMessage()
    ]
    assert not offending, offending
