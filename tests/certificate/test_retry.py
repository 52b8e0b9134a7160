"""A failed poll is retried after 1 minute, then doubling, up to the scan interval.

The rule lives in the shared coordinator, so it holds for every kind; a certificate endpoint
that refuses one poll shows it with simulated time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import ssl
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.homelab_sentinel.certificate.posture import (
    HstsPolicy,
    PlainHttp,
    PostureReport,
    ProtocolSupport,
    TLSProtocol,
)

from ..states import state_of
from .certs import Issued
from .conftest import Servers
from .helpers import setup_endpoint

DAYS = "sensor.proxy_days_remaining"


@pytest.fixture(autouse=True)
def posture_answered_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count only the certificate's own handshake per poll: the posture probes answer at once."""
    known = PostureReport(
        protocols=ProtocolSupport(accepted=(TLSProtocol.TLS1_2, TLSProtocol.TLS1_3), untested={}),
        hsts=HstsPolicy(31536000),
        plain_http=PlainHttp(status=None, location=None, problem=False),
    )

    async def probe_posture(*args: Any, **kwargs: Any) -> PostureReport:
        return known

    monkeypatch.setattr(
        "custom_components.homelab_sentinel.certificate.coordinator.probe_posture", probe_posture
    )


class FlakyEndpoint:
    """A loopback endpoint that completes TLS handshakes, or hangs up while refusing."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.refusing = False
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if not self.refusing:
                await writer.start_tls(self.context)
                await reader.read()
        except ConnectionError, ssl.SSLError:
            pass
        finally:
            writer.close()


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_endpoint_back_within_minutes_not_an_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    servers: Servers,
    trusted_leaf: Issued,
    ca_bundle: Path,
) -> None:
    endpoint = FlakyEndpoint(servers.context(trusted_leaf))
    port = await servers.start(endpoint.handle)
    entry = await setup_endpoint(hass, port, ca_bundle)
    assert state_of(hass, DAYS) == "59"

    endpoint.refusing = True
    await _advance(hass, freezer, 3600)
    assert endpoint.connections == 2
    assert state_of(hass, DAYS) == STATE_UNAVAILABLE
    # Scheduling without a poll in between (e.g. a first listener) counts no new failure.
    entry.runtime_data._schedule_refresh()

    # Back a minute later: polled again after one minute, not at the next hourly poll.
    endpoint.refusing = False
    await _advance(hass, freezer, 55)
    assert endpoint.connections == 2
    await _advance(hass, freezer, 10)
    assert endpoint.connections == 3
    assert state_of(hass, DAYS) == "59"


async def test_retries_double_up_to_the_interval_then_return_to_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    servers: Servers,
    trusted_leaf: Issued,
    ca_bundle: Path,
) -> None:
    endpoint = FlakyEndpoint(servers.context(trusted_leaf))
    port = await servers.start(endpoint.handle)
    await setup_endpoint(hass, port, ca_bundle, options={"scan_interval": 300})
    endpoint.refusing = True
    await _advance(hass, freezer, 305)
    assert endpoint.connections == 2
    # 1 minute, 2, 4, then 5 (the scan interval) rather than 8.
    for retry_after in (60, 120, 240, 300, 300):
        await _advance(hass, freezer, retry_after - 5)
        polled = endpoint.connections
        await _advance(hass, freezer, 10)
        # The next wait counts from this poll.
        assert endpoint.connections == polled + 1, retry_after
    assert state_of(hass, DAYS) == STATE_UNAVAILABLE

    endpoint.refusing = False
    await _advance(hass, freezer, 305)
    assert state_of(hass, DAYS) == "59"
    polled = endpoint.connections
    # Back at the scan interval: nothing after a minute.
    await _advance(hass, freezer, 65)
    assert endpoint.connections == polled
    await _advance(hass, freezer, 240)
    assert endpoint.connections == polled + 1
