"""Fixtures for the Duplicati client tests: simulators per profile and client sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import socket
from typing import Any
from unittest.mock import patch

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
import pytest

from custom_components.homelab_sentinel.duplicati.coordinator import DuplicatiCoordinator
from tests.duplicati.simulator import DuplicatiSimulator

type SimulatorFactory = Callable[..., Awaitable[DuplicatiSimulator]]


class LoopbackResolver(AbstractResolver):
    """Resolve every name to 127.0.0.1, so that host names reach the simulator."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
async def make_simulator() -> AsyncIterator[SimulatorFactory]:
    """Start simulators on demand; all are stopped after the test."""
    started: list[DuplicatiSimulator] = []

    async def factory(profile: str = "2.3", **options: Any) -> DuplicatiSimulator:
        simulator = DuplicatiSimulator(profile, **options)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        await simulator.stop()


@pytest.fixture(params=["2.3", "2.1.0", "2.0.8"])
async def simulator(
    request: pytest.FixtureRequest, make_simulator: SimulatorFactory
) -> DuplicatiSimulator:
    """A simulator of each profile, with two jobs."""
    simulator = await make_simulator(request.param)
    simulator.add_backup("Documents", history=["Success", "Warning"])
    simulator.add_backup("Photos")
    return simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session with a real cookie jar, like Home Assistant's shared one."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def named_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that reaches the simulator through any host name (e.g. nas.lan)."""
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver())
    async with aiohttp.ClientSession(connector=connector) as client_session:
        yield client_session


@pytest.fixture
def fast_task_follow() -> Iterator[None]:
    """Follow started tasks every 20 ms instead of every few seconds."""
    with patch.object(DuplicatiCoordinator, "task_poll_interval", 0.02):
        yield
