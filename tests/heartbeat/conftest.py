"""Fixtures of the heartbeat tests: an HTTP client of Home Assistant's real server, a proxy."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
import logging
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from .common import WEBHOOK_ID

# Home Assistant's HTTP app, served on loopback.
type HassClient = TestClient[web.Request, web.Application]
type Caller = Callable[..., Awaitable[tuple[int, str]]]

# An address on the internet (TEST-NET-2, never contacted): the caller a proxy reports.
OUTSIDE_ADDRESS = "198.51.100.7"


@pytest.fixture(autouse=True)
def quiet_access_log() -> None:
    """aiohttp's access log reads the local time zone, which a frozen clock does not have."""
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@pytest.fixture
def http_config() -> dict[str, Any]:
    """The http integration's configuration; a test behind a proxy sets its own."""
    return {}


@pytest.fixture
async def client(
    hass: HomeAssistant, hass_client_no_auth: Any, http_config: dict[str, Any]
) -> HassClient:
    """A client of Home Assistant's HTTP server, listening on loopback."""
    assert await async_setup_component(hass, "http", {"http": http_config})
    # Everything that adds routes comes first: the client's server freezes the router.
    for component in ("webhook", "repairs", "diagnostics"):
        assert await async_setup_component(hass, component, {})
    test_client: HassClient = await hass_client_no_auth()
    return test_client


@pytest.fixture
def call(client: HassClient) -> Caller:
    """Call the heartbeat's webhook: call(method="POST", query=..., body=...) -> (status, text)."""

    async def _call(
        method: str = "POST",
        query: str = "",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        webhook_id: str = WEBHOOK_ID,
    ) -> tuple[int, str]:
        path = f"/api/webhook/{webhook_id}" + (f"?{query}" if query else "")
        async with client.request(method, path, data=body, headers=headers) as response:
            return response.status, await response.text()

    return _call


@pytest.fixture
async def outside_proxy(client: HassClient) -> AsyncGenerator[str]:
    """A reverse proxy on loopback, in front of Home Assistant, for a caller on the internet.

    It forwards every request as nginx does with ``proxy_set_header X-Forwarded-For``, naming
    OUTSIDE_ADDRESS as the client; its own base URL is yielded.
    """
    upstream = str(client.make_url("/")).rstrip("/")
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        async with session.request(
            request.method,
            f"{upstream}{request.rel_url}",
            data=await request.read(),
            headers={"X-Forwarded-For": OUTSIDE_ADDRESS},
        ) as response:
            return web.Response(status=response.status, body=await response.read())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
    await session.close()
