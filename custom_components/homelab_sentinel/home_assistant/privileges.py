"""Whether Home Assistant runs as root or may use sudo without a password."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import os
import signal
import subprocess

SUDO_CHECK: tuple[str, ...] = ("sudo", "-n", "true")
SUDO_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Privileges:
    """What the account Home Assistant runs as may do; None when sudo could not be judged."""

    root: bool
    passwordless_sudo: bool | None


def effective_uid() -> int:
    """The effective user ID of this process."""
    return os.geteuid()


async def passwordless_sudo(command: tuple[str, ...] = SUDO_CHECK) -> bool | None:
    """Whether `sudo -n true` succeeds; `-n` refuses instead of asking for a password."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except FileNotFoundError:
        # No sudo at all: nothing to gain through it.
        return False
    except OSError:
        return None
    try:
        async with asyncio.timeout(SUDO_TIMEOUT):
            return await process.wait() == 0
    except TimeoutError:
        await _kill(process)
        return None
    except BaseException:
        # Cancelled (the entry unloads): no sudo is left behind.
        await _kill(process)
        raise


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Stop sudo and whatever it started (its own session and process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await asyncio.shield(process.wait())


async def probe_privileges() -> Privileges:
    """Read the account's privileges; sudo is only asked when not root already."""
    if effective_uid() == 0:
        return Privileges(root=True, passwordless_sudo=None)
    return Privileges(root=False, passwordless_sudo=await passwordless_sudo(SUDO_CHECK))
