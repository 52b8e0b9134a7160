"""A real fail2ban-server with a private configuration, and fail2ban-format log lines.

The client under test blocks by design: Home Assistant runs it in its executor. The test harness
treats the main thread as the event loop (its blocking-call detector raises on `time.sleep` there),
so every test here, and the fixture's blocking work, runs in a worker thread, as in production.

The server runs in the foreground as a child process in its own session, ended by its pid, with
everything (socket, pid file, database, its own log, the watched log) under the test's tmp_path.
Its jails have no action at all, so bans are only tracked and logged: the firewall is never
touched, and no DNS lookup is made (`usedns = no`, `ignoreself = false`, `allowipv6 = yes`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from datetime import datetime
import itertools
import os
from pathlib import Path
import shutil
import signal
import subprocess
import time

import pytest

from ..threads import in_worker

FAIL2BAN_SERVER = shutil.which("fail2ban-server")
FAIL2BAN_CLIENT = shutil.which("fail2ban-client")
# A Unix socket path must fit in sockaddr_un.sun_path.
_MAX_SOCKET_PATH = 100
SSHD = "sshd"
# Short bantime for natural expiry; the name has a dash and a dot, as real jail names may.
WEB = "web-app.v2"
WEB_BANTIME = 3

_FAIL2BAN_CONF = """\
[Definition]
loglevel = INFO
logtarget = {run}/fail2ban.log
socket = {run}/f2b.sock
pidfile = {run}/f2b.pid
dbfile = {run}/fail2ban.sqlite3
dbpurgeage = 1d
allowipv6 = yes
"""
# No action: bans live in fail2ban's memory, database and log only.
_JAIL_CONF = """\
[DEFAULT]
backend = polling
usedns = no
ignoreself = false
ignoreip =
findtime = 10m
bantime = 1h
maxretry = 2

[{sshd}]
enabled = true
logpath = {watched}
failregex = ^\\s*\\S+ sshd\\[\\d+\\]: Failed password for \\S+ from <HOST>

[{web}]
enabled = true
logpath = {watched}
failregex = ^\\s*\\S+ webapp\\[\\d+\\]: bad login from <HOST>
bantime = {web_bantime}
"""

_pids = itertools.count(20000)


def wait_until[T](probe: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll probe until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if value := probe():
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def f2b_line(
    message: str, *, when: datetime | None = None, logger: str = "fail2ban.actions", pid: int = 4242
) -> str:
    """One line as fail2ban 0.10 to 1.1 write it to their log file."""
    when = when or datetime.now()  # noqa: DTZ005 - fail2ban writes local time
    stamp = when.strftime("%Y-%m-%d %H:%M:%S,") + f"{when.microsecond // 1000:03d}"
    level = "INFO" if logger == "fail2ban.jail" else "NOTICE"
    return f"{stamp} {logger:<24}[{pid}]: {level:<7} {message}\n"


def append(path: Path, *lines: str | bytes) -> None:
    """Append lines (text or raw bytes) to a file in one write, as a logger would."""
    data = b"".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    with path.open("ab") as handle:
        handle.write(data)


class Fail2banServer:
    """One fail2ban-server instance and its files."""

    def __init__(self, root: Path) -> None:
        """Write the configuration; the server is started separately."""
        self.conf = root / "conf"
        self.run = root / "run"
        self.socket = self.run / "f2b.sock"
        self.log = self.run / "fail2ban.log"
        self.database = self.run / "fail2ban.sqlite3"
        self.watched = root / "auth.log"
        self._process: subprocess.Popen[bytes] | None = None
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            pytest.fail(f"socket path too long for AF_UNIX: {self.socket}")
        self.conf.mkdir(parents=True)
        self.run.mkdir()
        self.watched.touch()
        (self.conf / "fail2ban.conf").write_text(_FAIL2BAN_CONF.format(run=self.run))
        (self.conf / "jail.conf").write_text(
            _JAIL_CONF.format(watched=self.watched, sshd=SSHD, web=WEB, web_bantime=WEB_BANTIME)
        )

    def start(self) -> None:
        """Start the server in the foreground and wait until its jails run."""
        assert FAIL2BAN_SERVER is not None
        with (self.run / "server.out").open("ab") as output:
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    FAIL2BAN_SERVER,
                    "-f",  # foreground: the child is the server, stopped by its pid
                    "-x",  # remove a stale socket left by a killed server
                    "-c",
                    str(self.conf),
                    "-s",
                    str(self.socket),
                    "-p",
                    str(self.run / "f2b.pid"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # A configuration error makes the server exit: watch the process, not only the socket.
        wait_until(self._ready, what="fail2ban-server to start its jails")

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            output = (self.run / "server.out").read_text(errors="replace")
            pytest.fail(f"fail2ban-server exited with {self._process.returncode}: {output}")
        result = self._client("status", check=False)
        return result.returncode == 0 and "Number of jail:\t2" in result.stdout

    def stop(self) -> None:
        """Stop the server cleanly, as `fail2ban-client stop` does; kill it if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self._client("stop", check=False)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._kill(process)

    def kill(self) -> None:
        """End the server at once: a clean stop takes seconds, and nothing it wrote is kept."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._kill(process)

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)

    def _client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert FAIL2BAN_CLIENT is not None
        return subprocess.run(  # noqa: S603 - fixed arguments
            [FAIL2BAN_CLIENT, "-s", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=15,
            check=check,
        )

    def client(self, *args: str) -> str:
        """Run fail2ban-client against this server; return its output."""
        return self._client(*args).stdout

    def banned(self, jail: str) -> set[str]:
        """The IPs fail2ban itself holds banned in jail."""
        output = self.client("get", jail, "banned")
        # The reply is a Python list literal such as ['192.0.2.10', '2001:db8::42'].
        return {
            item.strip(" '\"") for item in output.strip().strip("[]").split(",") if item.strip()
        }

    def fail(self, jail: str, ips: Iterable[str], *, times: int = 2) -> None:
        """Write failing lines (a unique sshd PID per line) that make fail2ban ban each IP."""
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # noqa: DTZ005 - syslog local time
        lines = []
        for ip in ips:
            for _ in range(times):
                if jail == SSHD:
                    message = (
                        f"sshd[{next(_pids)}]: Failed password for root from {ip} port 22 ssh2"
                    )
                else:
                    message = f"webapp[{next(_pids)}]: bad login from {ip}"
                lines.append(f"{stamp} testhost {message}\n")
        append(self.watched, *lines)

    def ban(self, jail: str, *ips: str) -> None:
        """Make fail2ban ban ips in jail through failing log lines, and wait for it."""
        self.fail(jail, ips)
        wait_until(lambda: set(ips) <= self.banned(jail), what=f"fail2ban to ban {ips} in {jail}")


@pytest.fixture
def fail2ban(tmp_path: Path) -> Generator[Fail2banServer]:
    """A running fail2ban-server, stopped after the test."""
    if FAIL2BAN_SERVER is None or FAIL2BAN_CLIENT is None:
        pytest.skip("fail2ban is not installed")
    server = Fail2banServer(tmp_path / "f2b")
    in_worker(server.start)
    try:
        yield server
    finally:
        in_worker(server.kill)


# The real OpenSSH server, its client key and its test account, shared with the certbot tests.
from tests.certbot.conftest import (  # noqa: E402
    KeyPair,
    SshServer,
    SshUser,
    client_key,
    own_sshd,
    ssh_user,
    sshd,
)

__all__ = ["KeyPair", "SshServer", "SshUser", "client_key", "own_sshd", "ssh_user", "sshd"]
