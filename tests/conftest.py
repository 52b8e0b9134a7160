"""Fixtures every test shares."""

from __future__ import annotations

from collections.abc import Generator

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Load the integration from custom_components in every test."""
    yield


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Let tests talk to the real servers they start; the harness still allows 127.0.0.1 only."""
