"""Fixtures every test shares."""

from __future__ import annotations

from collections.abc import Generator

from homeassistant import block_async_io
import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load the integration from custom_components in every test."""


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Let tests talk to the real servers they start; the harness still allows 127.0.0.1 only."""


@pytest.fixture(scope="session", autouse=True)
def blocking_call_detector() -> None:
    """Turn on Home Assistant's detector of blocking calls in the event loop, as at run time.

    Home Assistant leaves file and TLS-loading calls out of the detector under unittest; this
    suite wants them in.
    """
    block_async_io._IN_TESTS = False
    block_async_io.enable()


@pytest.fixture(autouse=True)
def no_blocking_calls_by_the_integration(
    caplog: pytest.LogCaptureFixture,
) -> Generator[None]:
    """Fail a test in which the integration blocked the event loop."""
    yield
    offending = [
        record.getMessage()
        for record in caplog.records
        if "Detected blocking call" in record.getMessage()
        and "homelab_sentinel" in record.getMessage()
    ]
    assert not offending, offending
