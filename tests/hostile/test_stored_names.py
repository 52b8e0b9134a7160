"""Names stored before validation existed fail as connection errors, never as library errors."""

from __future__ import annotations

import socket
from typing import Any

import asyncssh
import pytest

from custom_components.homelab_sentinel.certificate.client import (
    InvalidHostnameError,
    fetch_chain,
)
from custom_components.homelab_sentinel.transport import (
    CommandConnectionError,
    HostKey,
    SshRunner,
    async_fetch_host_key,
)


@pytest.fixture
def resolver_encodes_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encode a name with IDNA first, as the real resolver does, before the test harness's.

    The harness refuses every name that is not an address before the system would look at it;
    the real getaddrinfo fails earlier on names IDNA cannot encode, with UnicodeError.
    """
    harness = socket.getaddrinfo

    def getaddrinfo(host: str | None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str):
            host.encode("idna")
        return harness(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


NAMES = ["a" * 300, ".example.com", "exa\x00mple.com", "-oProxyCommand=id"]


@pytest.mark.parametrize("name", NAMES)
async def test_certificate_fetch(name: str) -> None:
    with pytest.raises(InvalidHostnameError):
        await fetch_chain(name, 443)
    with pytest.raises(InvalidHostnameError):
        await fetch_chain("127.0.0.1", 9, server_name=name)


@pytest.mark.usefixtures("resolver_encodes_names")
@pytest.mark.parametrize("name", ["a" * 300, ".example.com", "exa\x00mple.com"])
async def test_ssh_host_key(name: str) -> None:
    with pytest.raises(CommandConnectionError):
        await async_fetch_host_key(name, 22, connect_timeout=5)


@pytest.mark.usefixtures("resolver_encodes_names")
@pytest.mark.parametrize("name", ["a" * 300, ".example.com", "exa\x00mple.com"])
async def test_ssh_runner(name: str) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    runner = SshRunner(
        name,
        22,
        "monitor",
        HostKey.from_key(key),
        private_key=key.export_private_key("openssh").decode(),
        connect_timeout=5,
    )
    with pytest.raises(CommandConnectionError):
        await runner.run(["true"], time_limit=10)
