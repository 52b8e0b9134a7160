"""Fixtures for the Domoticz client tests: simulated servers and plain aiohttp sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from custom_components.homelab_sentinel.domoticz.client import DomoticzClient

from .simulator import DomoticzSimulator

type StartSimulator = Callable[..., Awaitable[DomoticzSimulator]]
type MakeClient = Callable[..., DomoticzClient]


@pytest.fixture
async def domoticz(socket_enabled: None) -> AsyncIterator[StartSimulator]:
    """Start simulators (version first, then DomoticzSimulator options); all stop at teardown."""
    started: list[DomoticzSimulator] = []

    async def start(version: str = "2025.1", **options: Any) -> DomoticzSimulator:
        simulator = DomoticzSimulator(version, **options)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def http_session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A session like Home Assistant's shared one, whose cookie jar ignores IP addresses."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_client(http_session: aiohttp.ClientSession) -> MakeClient:
    """Build a client for a simulator; self-signed HTTPS is not verified unless asked."""

    def make(
        simulator: DomoticzSimulator,
        username: str | None = None,
        password: str | None = None,
        **options: Any,
    ) -> DomoticzClient:
        options.setdefault("verify_ssl", False)
        options.setdefault("session", http_session)
        return DomoticzClient(
            url=str(simulator.url), username=username, password=password, **options
        )

    return make
