"""Real pebble, certbot and OpenSSH on loopback, shared by the certbot tests.

* pebble, the ACME test CA, listens on free loopback ports with a listener certificate from a test
  CA made here; its VA says every challenge is valid and does not sleep, and it issues 5-day
  certificates, so they are "expiring soon" for real.
* certbot issues two certificates through it once per session, into directories under the
  session's tmp path: alpha.test (always due: ``renew_before_expiry = 30 days``) and beta.test
  (not due: certbot 5 renews a 5-day certificate only in its second half).
* sshd runs in the foreground with generated host and client keys: root logs in by key, and a
  system account without sudo rights, created for this test run and removed after it, by key or
  password.
* A second pebble issues gamma.test (always due) and stops: renewing it fails as it would with
  the CA down.

Every process is started here and stopped by its pid. Blocking work runs in a worker thread: the
harness's blocking-call detector watches the main thread.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import json
import os
from pathlib import Path
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
import pytest
import pytest_socket

from tests.certificate.certs import make_ca, make_leaf

CERTBOT = shutil.which("certbot")
PEBBLE = shutil.which("pebble")
SSHD = "/usr/sbin/sshd"
# Test accounts are named this, plus a suffix of their own.
TEST_USER_PREFIX = "sentinel-"
# Renewed by every plain `certbot renew`, and never due, respectively.
ALWAYS_DUE = "alpha.test"
NOT_DUE = "beta.test"
FIVE_DAYS = 5 * 24 * 3600


def in_worker[T](function: Callable[[], T]) -> T:
    """Run blocking work in a worker thread and wait for it.

    Session fixtures run before the test's own fixtures allow loopback sockets; the work may
    use them (free ports, waiting for a server to listen) all the same.
    """
    blocked = socket.socket.__name__ == "GuardedSocket"
    if blocked:
        pytest_socket.enable_socket()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="certbot-test") as pool:
            return pool.submit(function).result()
    finally:
        if blocked:
            pytest_socket.disable_socket(allow_unix_socket=True)


def run_tool(name: str, *arguments: str, input_text: str | None = None) -> str:
    """Run one of the system's tools to its end (blocking); return what it printed."""
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{name} is not installed")
    result = subprocess.run(  # noqa: S603 - a system tool, arguments made by the tests
        [path, *arguments], input=input_text, capture_output=True, text=True, check=True
    )
    return result.stdout


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait until something accepts connections on the port (blocking)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    pytest.fail(f"{what} did not listen on port {port}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process started here, by its pid (blocking)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Pebble:
    """One pebble instance; its state (CA, accounts) lives in memory until it stops."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        """Make its listener certificate and configuration; start() starts it.

        The ACME directory listens on port, or on a free one.
        """
        self.directory = directory
        self.port = port or free_port()
        self.ca_bundle = directory / "listener-ca.pem"
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        ca = make_ca("Sentinel pebble listener CA")
        certfile, keyfile = make_leaf(["localhost", "127.0.0.1"], issuer=ca).write(
            directory, "listener"
        )
        self.ca_bundle.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{free_port()}",
                "certificate": str(certfile),
                "privateKey": str(keyfile),
                "httpPort": free_port(),
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "profiles": {"default": {"description": "5 days", "validityPeriod": FIVE_DAYS}},
            }
        }
        (directory / "pebble.json").write_text(json.dumps(config))

    @property
    def url(self) -> str:
        """The ACME directory."""
        return f"https://127.0.0.1:{self.port}/dir"

    def start(self) -> None:
        """Start pebble and wait until it listens (blocking)."""
        environment = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_VA_ALWAYS_VALID": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "100",
        }
        with (self.directory / "pebble.log").open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [str(PEBBLE), "-config", str(self.directory / "pebble.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        wait_for_port(self.port, self._process, "pebble")

    def stop(self) -> None:
        """Stop pebble (blocking); it forgets every account and certificate."""
        stop(self._process)


class CertbotHome:
    """certbot's configuration, work and log directories for one pebble."""

    def __init__(self, directory: Path, pebble: Pebble) -> None:
        """Use directories under directory; certificates come from pebble."""
        self.pebble = pebble
        self.config_dir = directory / "config"
        self.work_dir = directory / "work"
        self.logs_dir = directory / "logs"

    @property
    def command(self) -> str:
        """The certbot command an entry is configured with: pebble's CA, private directories."""
        return (
            f"env REQUESTS_CA_BUNDLE={self.pebble.ca_bundle} certbot"
            f" --work-dir {self.work_dir} --logs-dir {self.logs_dir}"
        )

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run certbot on these directories (blocking)."""
        return subprocess.run(  # noqa: S603 - fixed arguments
            [*shlex.split(self.command), "--config-dir", str(self.config_dir), *arguments],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def issue(self, name: str, *, always_due: bool = False) -> None:
        """Have certbot obtain a certificate for name and www.name (blocking)."""
        result = self.run(
            "certonly",
            "--non-interactive",
            "--server",
            self.pebble.url,
            "--agree-tos",
            "--register-unsafely-without-email",
            "--manual",
            "--preferred-challenges",
            "http",
            "--manual-auth-hook",
            "/bin/true",
            "-d",
            name,
            "-d",
            f"www.{name}",
        )
        if result.returncode != 0:
            pytest.fail(f"certbot certonly failed: {result.stderr}")
        if always_due:
            conf = self.config_dir / "renewal" / f"{name}.conf"
            conf.write_text("renew_before_expiry = 30 days\n" + conf.read_text())

    def serial(self, name: str) -> str:
        """The serial number of a lineage's current certificate (blocking)."""
        pem = (self.config_dir / "live" / name / "cert.pem").read_bytes()
        return format(x509.load_pem_x509_certificate(pem).serial_number, "x")


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Generator[Pebble]:
    """A pebble for the whole session."""
    if PEBBLE is None or CERTBOT is None:
        pytest.skip("pebble and certbot are not installed")
    server = in_worker(lambda: Pebble(tmp_path_factory.mktemp("pebble")))
    in_worker(server.start)
    try:
        yield server
    finally:
        in_worker(server.stop)


@pytest.fixture(scope="session")
def certbot_home(pebble: Pebble, tmp_path_factory: pytest.TempPathFactory) -> CertbotHome:
    """certbot with alpha.test (always due) and beta.test (not due), issued by the pebble."""
    home = CertbotHome(tmp_path_factory.mktemp("certbot"), pebble)
    in_worker(lambda: home.issue(ALWAYS_DUE, always_due=True))
    in_worker(lambda: home.issue(NOT_DUE))
    return home


@pytest.fixture(scope="session")
def stopped_pebble_home(tmp_path_factory: pytest.TempPathFactory) -> CertbotHome:
    """certbot with gamma.test, always due, whose pebble has stopped: renewals fail."""
    directory = tmp_path_factory.mktemp("stopped")
    server = in_worker(lambda: Pebble(directory / "pebble"))
    in_worker(server.start)
    home = CertbotHome(directory / "certbot", server)
    try:
        in_worker(lambda: home.issue("gamma.test", always_due=True))
    finally:
        in_worker(server.stop)
    return home


@dataclass(frozen=True)
class KeyPair:
    """An SSH key pair: the private key as pasted into the flow, the public key line."""

    private: str
    public: str


def make_key_pair(directory: Path, name: str) -> KeyPair:
    """Generate an ed25519 key pair with ssh-keygen (blocking)."""
    path = directory / name
    run_tool("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path))
    return KeyPair(path.read_text(), (directory / f"{name}.pub").read_text().strip())


@dataclass(frozen=True)
class SshUser:
    """An account without sudo rights that logs in by key or by password."""

    name: str
    password: str


class SshServer:
    """One OpenSSH server on a free loopback port."""

    def __init__(self, directory: Path, authorized: dict[str, str]) -> None:
        """Write its configuration; authorized maps user names to public key lines."""
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        # sshd reads authorized keys as the user logging in, so pytest's private (0700) tmp
        # directories will not do for the test user.
        keys = Path(tempfile.mkdtemp(prefix="sentinel-sshd-keys-"))
        keys.chmod(0o755)
        for user, line in authorized.items():
            (keys / user).write_text(line + "\n")
        self.host_key = make_key_pair(directory, "host-key-1")
        self._generation = 1
        self._keys = keys

    def _write_config(self) -> Path:
        config = self.directory / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\n"
            f"Port {self.port}\n"
            f"HostKey {self.directory / f'host-key-{self._generation}'}\n"
            f"PidFile {self.directory / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self._keys}/%u\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\n"
            "PerSourcePenalties no\n"
            "MaxStartups 100\n"
            "LogLevel VERBOSE\n"
        )
        return config

    def start(self) -> None:
        """Start sshd in the foreground and wait until it listens (blocking)."""
        config = self._write_config()
        with (self.directory / "sshd.log").open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [SSHD, "-D", "-e", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port, self._process, "sshd")

    def stop(self) -> None:
        """Stop sshd (blocking)."""
        stop(self._process)

    def remove(self) -> None:
        """Stop sshd and remove its authorized keys (blocking)."""
        self.stop()
        shutil.rmtree(self._keys, ignore_errors=True)

    def restart_with_new_host_key(self) -> None:
        """Restart sshd with a freshly generated host key (blocking)."""
        self.stop()
        self._generation += 1
        self.host_key = make_key_pair(self.directory, f"host-key-{self._generation}")
        self.start()


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The key Home Assistant logs in with."""
    return in_worker(lambda: make_key_pair(tmp_path_factory.mktemp("client"), "client"))


def _create_test_user(name: str, password: str) -> None:
    """Create a system account with a password and no sudo rights (blocking)."""
    hashed = run_tool("openssl", "passwd", "-6", "-stdin", input_text=password).strip()
    run_tool(
        "useradd",
        "--system",
        "--shell",
        "/bin/sh",
        "--home-dir",
        "/tmp",
        "--no-create-home",
        "--password",
        hashed,
        name,
    )


@pytest.fixture(scope="session")
def ssh_user() -> Generator[SshUser]:
    """A system account without sudo rights, of this test run only, removed afterwards.

    Its name is new for every run: test runs at the same time must not share its password.
    """
    if os.geteuid() != 0:
        pytest.skip("creating the SSH test user needs root")
    user = SshUser(f"{TEST_USER_PREFIX}{secrets.token_hex(4)}", secrets.token_urlsafe(16))
    in_worker(lambda: _create_test_user(user.name, user.password))
    try:
        yield user
    finally:
        in_worker(lambda: run_tool("userdel", user.name))


def _ssh_server(directory: Path, client_key: KeyPair, user: SshUser) -> SshServer:
    return SshServer(directory, {"root": client_key.public, user.name: client_key.public})


@pytest.fixture(scope="session")
def sshd(
    tmp_path_factory: pytest.TempPathFactory, client_key: KeyPair, ssh_user: SshUser
) -> Generator[SshServer]:
    """An OpenSSH server for the whole session."""
    server = in_worker(lambda: _ssh_server(tmp_path_factory.mktemp("sshd"), client_key, ssh_user))
    in_worker(server.start)
    try:
        yield server
    finally:
        in_worker(server.remove)


@pytest.fixture
def own_sshd(tmp_path: Path, client_key: KeyPair, ssh_user: SshUser) -> Generator[SshServer]:
    """An OpenSSH server of one test, which may restart it with another host key."""
    server = in_worker(lambda: _ssh_server(tmp_path / "sshd", client_key, ssh_user))
    in_worker(server.start)
    try:
        yield server
    finally:
        in_worker(server.remove)
