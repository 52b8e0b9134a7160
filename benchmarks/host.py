"""Benchmark: a host poll over SSH with one connection per command, per poll, or kept open.

Run with `scripts/run python benchmarks/host.py` (as root: it starts an OpenSSH server on
loopback). The host is the tests' private apt world (two pending updates, one of them a security
update) read by the real client through the real sshd, logged in as root by key.
Reports the median wall time of a poll where nothing changed (the usual case: 4 commands) and of
one where the package lists changed (apt's simulation and policy run again: 6 commands), for:

* one connection per command (the command layer's default outside a session);
* one connection per poll (`CommandRunner.session()` around the poll — what the host kind does);
* one connection kept open across polls (a session around all of them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import shutil
import statistics
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from custom_components.homelab_sentinel.host.client import HostClient  # noqa: E402
from custom_components.homelab_sentinel.transport import HostKey, SshRunner  # noqa: E402
from tests.certbot.conftest import make_key_pair  # noqa: E402
from tests.host.conftest import (  # noqa: E402
    AptWorld,
    HostSshServer,
    build_packages,
    make_world,
)

ROUNDS = 20


class ConnectionPerCommand(SshRunner):
    """An SSH runner whose sessions do not share a connection."""

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Every command connects on its own."""
        yield


async def _poll_times(client: HostClient, world: AptWorld, *, changed: bool) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        if changed:
            # A new mtime on dpkg's status: apt's simulation and policy run again.
            await asyncio.to_thread((world.admin / "status").touch)
        start = time.perf_counter()
        await client.poll()
        times.append(time.perf_counter() - start)
    return times


async def _measure(runner: SshRunner, world: AptWorld, *, keep_open: bool) -> dict[str, float]:
    client = HostClient(runner, world.paths())
    figures = {}
    async with runner.session() if keep_open else contextlib.nullcontext():
        await client.poll()
        for changed in (False, True):
            times = await _poll_times(client, world, changed=changed)
            figures["changed" if changed else "unchanged"] = statistics.median(times) * 1000
    return figures


async def main() -> None:
    """Build the world, start sshd, measure the three ways."""
    root = Path(tempfile.mkdtemp(prefix="sentinel-host-bench-"))
    server: HostSshServer | None = None
    try:
        debs = await asyncio.to_thread(build_packages, root)
        world = await asyncio.to_thread(make_world, root, debs)
        key = await asyncio.to_thread(make_key_pair, root, "client")
        server = HostSshServer(root / "sshd", {"root": key.public}, world.environment)
        await asyncio.to_thread(server.start)
        host_key = HostKey.parse(server.host_key.public)

        def runner(kind: type[SshRunner]) -> SshRunner:
            return kind("127.0.0.1", server.port, "root", host_key, private_key=key.private)

        for label, kind, keep_open in (
            ("one connection per command", ConnectionPerCommand, False),
            ("one connection per poll", SshRunner, False),
            ("one connection kept open", SshRunner, True),
        ):
            figures = await _measure(runner(kind), world, keep_open=keep_open)
            print(
                f"{label}: poll with nothing changed {figures['unchanged']:.0f} ms, "
                f"poll after the lists changed {figures['changed']:.0f} ms (median of {ROUNDS})"
            )
    finally:
        if server is not None:
            await asyncio.to_thread(server.remove)
        await asyncio.to_thread(shutil.rmtree, root, True)


if __name__ == "__main__":
    asyncio.run(main())
