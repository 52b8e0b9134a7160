"""Start the demo targets, a real Home Assistant with this integration, and wire them together.

Run through `scripts/develop`. Everything listens on loopback only. Home Assistant is onboarded
with the demo user (see DEMO_USER) and gets one config entry per demo target, created through the
integration's real config flow over Home Assistant's REST API.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import ctypes
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
import shutil
import signal
import ssl
import subprocess
import sys
from typing import Any
import warnings

import aiohttp
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.certbot.conftest import CertbotHome, Pebble  # noqa: E402
from tests.certificate.certs import Issued, make_ca, make_leaf  # noqa: E402
from tests.domoticz.simulator import DomoticzSimulator, SimUser  # noqa: E402
from tests.duplicati.simulator import DuplicatiSimulator  # noqa: E402
from tests.fail2ban.conftest import SSHD, Fail2banServer  # noqa: E402
from tests.host.conftest import build_packages, make_world  # noqa: E402

DEMO_USER = ("demo", "demo-sentinel")
DOMOTICZ_USER = ("admin", "demo-domoticz")
DUPLICATI_PASSWORD = "demo-duplicati"  # noqa: S105 - the demo server's own password
PEBBLE_PORT = 14000
HA_URL = "http://127.0.0.1:8123"
# Where scripts/_lib.sh binds the checkout inside the Debian root.
ROOT_WORKSPACE = "/workspace"
CLIENT_ID = f"{HA_URL}/"


@dataclass
class DemoEntry:
    """A config entry to create: the menu option and the form's answers."""

    kind: str
    answers: dict[str, Any]
    # Answers of the forms that follow the first one, e.g. a password after the server.
    follow_up: list[dict[str, Any]] = field(default_factory=list)
    # Told every step's result, e.g. to read the address a heartbeat's last step shows.
    on_result: Callable[[dict[str, Any]], None] | None = None


type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await reader.read()
    writer.close()


def _smtp_with_starttls(context: ssl.SSLContext) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            writer.write(b"220 mail.demo ESMTP demo\r\n")
            await reader.readline()
            writer.write(b"250-mail.demo\r\n250 STARTTLS\r\n")
            await reader.readline()
            writer.write(b"220 Ready to start TLS\r\n")
            await writer.drain()
            await writer.start_tls(context)
            await reader.read()
        writer.close()

    return handler


def _https_site(context: ssl.SSLContext, hsts: str | None) -> Handler:
    """A tiny web site behind TLS; the handshake runs here so that refused versions stay quiet."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            await writer.start_tls(context)
            request = await reader.readuntil(b"\r\n\r\n")
            body = b"<h1>Homelab demo</h1>\n"
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
            if hsts:
                head += f"Strict-Transport-Security: {hsts}\r\n"
            writer.write(head.encode() + b"\r\n")
            if not request.startswith(b"HEAD"):
                writer.write(body)
            await writer.drain()
        writer.transport.abort()

    return handler


def _legacy(context: ssl.SSLContext) -> ssl.SSLContext:
    """Also accept TLS 1.0 and 1.1, as an old appliance does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


class CertificateTargets:
    """TLS servers on loopback and a Let's Encrypt-like directory, signed by a demo CA."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[asyncio.Server] = []

    def _context(self, issued: Issued, name: str) -> ssl.SSLContext:
        certfile, keyfile = issued.write(self.directory / "servers", name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        return context

    async def start(self) -> list[DemoEntry]:
        """Start the servers; return the entries that watch them."""
        now = datetime.now(UTC)
        root = make_ca("Homelab Demo Root CA")
        intermediate = make_ca("Homelab Demo Issuing CA", issuer=root)
        ca_bundle = self.directory / "demo-ca.pem"
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_bundle.write_bytes(root.pem_chain())
        # A 90-day certificate 10 days before its end: inside the 14-day warning window.
        proxy = make_leaf(
            ["proxy.demo", "127.0.0.1"],
            issuer=intermediate,
            not_before=now - timedelta(days=80),
            not_after=now + timedelta(days=10),
        )
        nas = make_leaf(["nas.demo"], issuer=None, not_after=now + timedelta(days=200))
        mail = make_leaf(["mail.demo"], issuer=intermediate, not_after=now + timedelta(days=70))
        # The proxy sends HSTS; the NAS, an old appliance, accepts TLS 1.0 and sends none.
        proxy_site = _https_site(
            self._context(proxy, "proxy"), "max-age=31536000; includeSubDomains"
        )
        nas_site = _https_site(_legacy(self._context(nas, "nas")), None)
        handlers: list[tuple[int, Handler, ssl.SSLContext | None]] = [
            (8443, proxy_site, None),
            (8444, nas_site, None),
            (8587, _smtp_with_starttls(self._context(mail, "mail")), None),
        ]
        for port, handler, context in handlers:
            self.servers.append(await asyncio.start_server(handler, "127.0.0.1", port, ssl=context))
        live = self.directory / "letsencrypt" / "live"
        for name, days in (("proxy.demo", 10), ("cloud.demo", 75)):
            (live / name).mkdir(parents=True, exist_ok=True)
            # Issued with the certificate served on 8443, not after it: no renewal awaits a
            # reload; 90-day certificates, so proxy.demo's is inside its warning window too.
            leaf = make_leaf(
                [name],
                issuer=intermediate,
                not_before=now + timedelta(days=days - 90),
                not_after=now + timedelta(days=days),
            )
            (live / name / "fullchain.pem").write_bytes(leaf.pem_chain())
        return [
            DemoEntry(
                "certificate",
                {
                    "host": "127.0.0.1",
                    "port": 8443,
                    "server_name": "proxy.demo",
                    "starttls": "none",
                    "ca_file": str(ca_bundle),
                },
            ),
            DemoEntry(
                "certificate",
                {"host": "127.0.0.1", "port": 8444, "server_name": "nas.demo", "starttls": "none"},
            ),
            DemoEntry(
                "certificate",
                {
                    "host": "127.0.0.1",
                    "port": 8587,
                    "server_name": "mail.demo",
                    "starttls": "smtp",
                    "ca_file": str(ca_bundle),
                },
            ),
            DemoEntry("certificate_file", {"path": str(live)}),
        ]

    async def stop(self) -> None:
        """Stop the servers."""
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()


class ChainTargets:
    """What users live with: a server sending its leaf alone, and one never reloaded.

    chain.demo on 8445 sends its certificate without the intermediate; the leaf's caIssuers URL
    points at a loopback HTTP server on 8480 that serves it, so its trust is `incomplete_chain`.
    www.demo on 8446 still serves the certificate certbot replaced two hours ago in
    letsencrypt-www/live/www.demo/fullchain.pem, which a certificate_file entry reads: the
    endpoint's "Renewed certificate not served" is on. Both raise their repair.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[asyncio.Server] = []

    def _context(self, certificate_pem: bytes, issued: Issued, name: str) -> ssl.SSLContext:
        servers = self.directory / "servers"
        servers.mkdir(parents=True, exist_ok=True)
        (servers / f"{name}.crt").write_bytes(certificate_pem)
        (servers / f"{name}.key").write_bytes(issued.key_pem())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(servers / f"{name}.crt", servers / f"{name}.key")
        return context

    async def start(self) -> list[DemoEntry]:
        """Start the servers and write the renewed files; return the entries that watch them."""
        now = datetime.now(UTC)
        root = make_ca("Homelab Demo Web Root CA")
        intermediate = make_ca("Homelab Demo Web CA R1", issuer=root)
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_bundle = self.directory / "demo-web-ca.pem"
        ca_bundle.write_bytes(root.pem_chain())
        issuer_der = intermediate.certificate.public_bytes(serialization.Encoding.DER)

        async def ca_issuers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\n"
                    + f"Content-Length: {len(issuer_der)}\r\nConnection: close\r\n\r\n".encode()
                    + issuer_der
                )
                await writer.drain()
            writer.close()

        chain = make_leaf(
            ["chain.demo"],
            issuer=intermediate,
            ca_issuers="http://127.0.0.1:8480/web-ca-r1.cer",
        )
        leaf_pem = chain.certificate.public_bytes(serialization.Encoding.PEM)
        served = make_leaf(
            ["www.demo"],
            issuer=intermediate,
            not_before=now - timedelta(days=65),
            not_after=now + timedelta(days=25),
        )
        renewed = make_leaf(
            ["www.demo"],
            issuer=intermediate,
            not_before=now - timedelta(hours=2),
            not_after=now + timedelta(days=90),
        )
        letsencrypt = self.directory / "letsencrypt-www"
        archive = letsencrypt / "archive" / "www.demo"
        archive.mkdir(parents=True, exist_ok=True)
        for number, issued in ((1, served), (2, renewed)):
            (archive / f"fullchain{number}.pem").write_bytes(issued.pem_chain())
        two_hours_ago = (now - timedelta(hours=2)).timestamp()
        os.utime(archive / "fullchain2.pem", (two_hours_ago, two_hours_ago))
        link = letsencrypt / "live" / "www.demo" / "fullchain.pem"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(Path("../../archive/www.demo/fullchain2.pem"))

        self.servers.append(await asyncio.start_server(ca_issuers, "127.0.0.1", 8480))
        for port, context in (
            (8445, self._context(leaf_pem, chain, "chain")),
            (8446, self._context(served.pem_chain(), served, "www")),
        ):
            self.servers.append(await asyncio.start_server(_drain, "127.0.0.1", port, ssl=context))
        return [
            DemoEntry(
                "certificate",
                {
                    "host": "127.0.0.1",
                    "port": port,
                    "server_name": name,
                    "starttls": "none",
                    "ca_file": str(ca_bundle),
                },
            )
            for port, name in ((8445, "chain.demo"), (8446, "www.demo"))
        ] + [DemoEntry("certificate_file", {"path": str(link)})]

    async def stop(self) -> None:
        """Stop the servers."""
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()


class Fail2banTarget:
    """A real fail2ban-server with an sshd-like jail watching config/demo/fail2ban/auth.log.

    `scripts/demo-ban IP` writes failed logins there, and fail2ban bans the address for real
    (its jails have no action: the firewall is never touched).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server: Fail2banServer | None = None

    async def start(self) -> list[DemoEntry]:
        """Start fail2ban with a few bans in place; return the entries that watch it."""
        await asyncio.to_thread(shutil.rmtree, self.directory, ignore_errors=True)
        server = Fail2banServer(self.directory)
        self.server = server
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.ban, SSHD, "203.0.113.23", "198.51.100.77")
        return [
            DemoEntry("fail2ban", {"source": "database", "path": str(server.database)}),
            DemoEntry("fail2ban", {"source": "log", "path": str(server.log)}),
        ]

    async def stop(self) -> None:
        """Stop fail2ban."""
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


class CertbotTarget:
    """pebble, the ACME test CA, on 127.0.0.1:14000, and a certificate certbot got from it.

    certbot.demo lasts five days and is always due (`renew_before_expiry = 30 days`): its repair
    issue offers to renew it, and "Renew certificates" really renews it. pebble keeps its CA and
    accounts in memory, so every start issues the certificate afresh.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pebble: Pebble | None = None

    async def start(self) -> list[DemoEntry]:
        """Start pebble and issue the certificate; return the entry that renews it."""
        await asyncio.to_thread(shutil.rmtree, self.directory, ignore_errors=True)
        pebble = await asyncio.to_thread(Pebble, self.directory / "pebble", PEBBLE_PORT)
        self.pebble = pebble
        await asyncio.to_thread(pebble.start)
        home = CertbotHome(self.directory / "certbot", pebble)
        await asyncio.to_thread(home.issue, "certbot.demo", always_due=True)
        return [
            DemoEntry(
                "certbot",
                {"transport": "local"},
                follow_up=[
                    {
                        "certbot_command": home.command,
                        "config_dir": str(home.config_dir),
                        "acme_server": pebble.url,
                    }
                ],
            )
        ]

    async def stop(self) -> None:
        """Stop pebble."""
        if self.pebble is not None:
            await asyncio.to_thread(self.pebble.stop)


class DomoticzTarget:
    """A simulated Domoticz 2025.1 on port 8080, protected but loose in places.

    It asks for a login, yet takes passwords over plain HTTP (AllowPlainBasicAuth on, which
    raises a repair) and has seen a few failed logins.
    """

    def __init__(self) -> None:
        self.simulator = DomoticzSimulator(
            "2025.1",
            users=[
                SimUser(*DOMOTICZ_USER),
                SimUser("wallpanel", "demo-wallpanel", rights=0),
            ],
            trusted_networks="192.168.1.*",  # Home Assistant (127.0.0.1) is not trusted
            allow_plain_basic_auth=True,
            port=8080,
        )

    async def start(self) -> list[DemoEntry]:
        """Start the server; return the entry that watches it."""
        await self.simulator.start()
        self.simulator.log_failed_login("192.168.1.66", "admin")
        self.simulator.log_failed_login("203.0.113.7", "root", known_user=False)
        self.simulator.log_failed_login("203.0.113.7", "pi", known_user=False)
        return [
            DemoEntry(
                "domoticz",
                {
                    "url": "http://127.0.0.1:8080",
                    "username": DOMOTICZ_USER[0],
                    "password": DOMOTICZ_USER[1],
                    "verify_ssl": True,
                },
            )
        ]

    async def stop(self) -> None:
        """Stop the server."""
        await self.simulator.stop()


class DuplicatiTarget:
    """A simulated Duplicati 2.3 on port 8200 with five backup jobs, one of them failing.

    A backup started from Home Assistant runs for a few seconds, then ends as the job's
    backups do: the failing job fails again. *Mail archive* missed its schedule: its start was
    due five hours ago and the server's scheduler is stuck, so it stays a problem (with its
    repair) even after *Back up now*. *Verify now* writes a verification into a job's log.
    """

    def __init__(self) -> None:
        self.simulator = DuplicatiSimulator(
            "2.3", password=DUPLICATI_PASSWORD, port=8200, task_duration=8.0
        )

    async def start(self) -> list[DemoEntry]:
        """Start the server; return the entry that watches it."""
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(
            hour=3, minute=0, second=0, microsecond=0
        )
        sim = self.simulator
        sim.add_backup("Documents", schedule=tomorrow, history=["Success"] * 3)
        sim.add_backup(
            "Photos", schedule=tomorrow + timedelta(hours=1), history=["Success", "Warning"]
        )
        config = sim.add_backup(
            "Home Assistant config",
            target_url="ssh://backup.demo/srv/ha?auth-username=ha&auth-password=demo-secret",
            schedule=tomorrow + timedelta(hours=2),
            history=["Success", "Error"],
        )
        config.next_error = "Failed to connect to ssh://backup.demo: Connection refused"
        config.next_result = "Error"
        sim.add_backup("Music", history=["Success"])
        # Added last: the dashboard's entity IDs of the other jobs stay as they were.
        sim.add_backup(
            "Mail archive",
            schedule=datetime.now(UTC) - timedelta(hours=5),
            history=["Success"] * 3,
        )
        # Set before the start, which would otherwise catch up the missed start at once.
        sim.scheduler_stuck = True
        await sim.start()
        return [
            DemoEntry(
                "duplicati",
                {"url": sim.url, "auth_method": "password", "verify_ssl": True},
                [{"password": DUPLICATI_PASSWORD}],
            )
        ]

    async def stop(self) -> None:
        """Stop the server."""
        await self.simulator.stop()


class HostTarget:
    """The demo machine itself as a `host` entry, with a private apt world and a reboot flag.

    apt sees the tests' private world (Home Assistant gets its APT_CONFIG): two old packages
    installed, their newer versions in a local `file:` repository and a security one, so the
    machine's own apt state is never read or touched. The reboot flag is written to a /run of the
    demo's own (see `private_run_directory`), when it has one.
    """

    def __init__(self, directory: Path, *, reboot_flag: bool) -> None:
        self.directory = directory
        self.reboot_flag = reboot_flag

    @property
    def environment(self) -> dict[str, str]:
        """What Home Assistant needs to read the private apt world."""
        return {"APT_CONFIG": str(self.directory / "apt.conf")}

    async def start(self) -> list[DemoEntry]:
        """Build the apt world; return the entry that watches this machine."""
        await asyncio.to_thread(shutil.rmtree, self.directory, ignore_errors=True)
        await asyncio.to_thread(self.directory.mkdir, parents=True)
        debs = await asyncio.to_thread(build_packages, self.directory)
        await asyncio.to_thread(make_world, self.directory, debs)
        if self.reboot_flag:
            await asyncio.to_thread(_ask_for_reboot)
        return [DemoEntry("host", {"transport": "local"}, follow_up=[{}])]

    async def stop(self) -> None:
        """Nothing runs: the world stays on disk until the next start."""


def _ask_for_reboot() -> None:
    Path("/run/reboot-required").write_text("*** System restart required ***\n")
    Path("/run/reboot-required.pkgs").write_text("linux-image-amd64\nlibc6\n")


def private_run_directory() -> bool:
    """Give the demo (and its Home Assistant) a /run of its own, so a reboot flag can be shown.

    A new mount namespace with an empty tmpfs on /run: the machine's /run is not touched, and the
    mount ends with the demo. Needs root and a process without threads yet; otherwise the demo
    shows the machine's own reboot flag.
    """
    if os.geteuid() != 0:
        return False
    try:
        os.unshare(os.CLONE_NEWNS)
        # Nothing mounted here may reach the machine: our mounts must not propagate. Inside the
        # project's Debian root (checkout at /workspace) "/" is no mount point, but scripts/_lib.sh
        # entered it through a mount namespace that is private already.
        private = subprocess.run(
            ["mount", "--make-rprivate", "/"], capture_output=True, check=False
        )
        if private.returncode != 0 and Path(ROOT_WORKSPACE) != REPO:
            print("demo: cannot make a private /run; no reboot flag is shown", flush=True)
            return False
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "mode=755", "sentinel-demo-run", "/run"], check=True
        )
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"demo: no private /run ({err}); no reboot flag is shown", flush=True)
        return False
    for directory in ("lock", "sshd"):
        Path("/run", directory).mkdir(mode=0o755)
    Path("/run/lock").chmod(0o1777)
    return True


class HomeAssistantTarget:
    """This Home Assistant itself, with a password written inline in an included package.

    With the demo user (an administrator without MFA), no login banning and no automatic backups,
    the entry shows several problems and their repairs.
    """

    PACKAGE = (
        "# Written by scripts/demo.py for Homelab Sentinel's plain-text secrets check:\n"
        "# a password written inline where `!secret` belongs. It only customizes an\n"
        "# entity that does not exist.\n"
        "homeassistant:\n"
        "  customize:\n"
        "    sensor.demo_guest_wifi:\n"
        "      password: demo-guest-wifi\n"
    )

    def __init__(self, packages: Path) -> None:
        self.packages = packages

    def _write(self) -> None:
        self.packages.mkdir(parents=True, exist_ok=True)
        (self.packages / "guest_wifi.yaml").write_text(self.PACKAGE, encoding="utf-8")

    async def start(self) -> list[DemoEntry]:
        """Write the package; return the entry that watches Home Assistant."""
        await asyncio.to_thread(self._write)
        return [DemoEntry("home_assistant", {})]

    async def stop(self) -> None:
        """Nothing runs."""


class HeartbeatTarget:
    """A nightly job reporting to a heartbeat entry: one run that succeeds, then one that fails.

    It calls the address the flow's last step shows, as the wrapper example there does:
    `status=start`, then the exit code.
    """

    def __init__(self) -> None:
        self.path = ""
        self.job: asyncio.Task[None] | None = None

    async def start(self) -> list[DemoEntry]:
        """Return the entry; the job runs once the entry exists."""
        return [
            DemoEntry(
                "heartbeat",
                {"name": "Nightly borg", "period_hours": 24, "grace_minutes": 60},
                [{}],
                on_result=self._note_result,
            )
        ]

    def _note_result(self, result: dict[str, Any]) -> None:
        placeholders = result.get("description_placeholders") or {}
        # Home Assistant listens on HA_URL only: keep the webhook's path, not its host.
        if "/api/webhook/" in placeholders.get("cron", ""):
            webhook_id = placeholders["cron"].split("/api/webhook/", 1)[1].split("?", 1)[0]
            self.path = f"/api/webhook/{webhook_id}"
        if result.get("type") == "create_entry" and self.path:
            self.job = asyncio.get_running_loop().create_task(self._run_job())

    async def _run_job(self) -> None:
        async with aiohttp.ClientSession() as session:

            async def call(query: str) -> None:
                async with session.post(f"{HA_URL}{self.path}?{query}") as response:
                    print(f"demo: heartbeat job {query}: {response.status}", flush=True)

            for exit_code, seconds in ((0, 4), (2, 2)):
                await call("status=start")
                await asyncio.sleep(seconds)
                await call(f"exit_code={exit_code}")
                await asyncio.sleep(5)

    async def stop(self) -> None:
        """Stop the job if it still runs."""
        if self.job is not None:
            self.job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.job


class HomeAssistantAPI:
    """Just enough of Home Assistant's onboarding, auth and config-flow APIs."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.token = ""

    async def wait_until_up(self, process: asyncio.subprocess.Process) -> None:
        """Wait for the HTTP server to answer."""
        for _ in range(600):
            if process.returncode is not None:
                raise SystemExit("Home Assistant stopped during start-up; see its log above")
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.get(f"{HA_URL}/api/onboarding") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.5)
        raise SystemExit("Home Assistant did not start within five minutes")

    async def _token_from_code(self, code: str) -> None:
        async with self.session.post(
            f"{HA_URL}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
        ) as response:
            response.raise_for_status()
            self.token = (await response.json())["access_token"]

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def onboard_or_login(self) -> None:
        """Onboard with the demo user on the first start; log in as it afterwards."""
        async with self.session.get(f"{HA_URL}/api/onboarding") as response:
            steps = {step["step"]: step["done"] for step in await response.json()}
        username, password = DEMO_USER
        if not steps.get("user"):
            async with self.session.post(
                f"{HA_URL}/api/onboarding/users",
                json={
                    "client_id": CLIENT_ID,
                    "name": "Demo",
                    "username": username,
                    "password": password,
                    "language": "en",
                },
            ) as response:
                response.raise_for_status()
                await self._token_from_code((await response.json())["auth_code"])
            for step, body in (
                ("core_config", {}),
                ("analytics", {}),
                ("integration", {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID}),
            ):
                if not steps.get(step):
                    async with self.session.post(
                        f"{HA_URL}/api/onboarding/{step}", json=body, headers=self._auth
                    ) as response:
                        response.raise_for_status()
            return
        async with self.session.post(
            f"{HA_URL}/auth/login_flow",
            json={
                "client_id": CLIENT_ID,
                "handler": ["homeassistant", None],
                "redirect_uri": CLIENT_ID,
            },
        ) as response:
            flow_id = (await response.json())["flow_id"]
        async with self.session.post(
            f"{HA_URL}/auth/login_flow/{flow_id}",
            json={"client_id": CLIENT_ID, "username": username, "password": password},
        ) as response:
            await self._token_from_code((await response.json())["result"])

    async def keep_http_settings(self) -> None:
        """Confirm the HTTP settings migrated from configuration.yaml.

        Home Assistant 2026.10 stages them as a trial and, unconfirmed, reverts them and restarts
        five minutes later, which would end the demo.
        """
        async with self.session.ws_connect(f"{HA_URL}/api/websocket") as socket:
            await socket.receive_json()
            await socket.send_json({"type": "auth", "access_token": self.token})
            await socket.receive_json()
            await socket.send_json({"id": 1, "type": "http/config/promote"})
            # An error only means there was nothing left to confirm.
            await socket.receive_json()

    async def add_entry(self, entry: DemoEntry) -> str:
        """Run the integration's config flow; return how it ended."""
        base = f"{HA_URL}/api/config/config_entries/flow"
        async with self.session.post(
            base, json={"handler": "homelab_sentinel"}, headers=self._auth
        ) as response:
            flow_id = (await response.json())["flow_id"]
        for body in ({"next_step_id": entry.kind}, entry.answers, *entry.follow_up):
            async with self.session.post(
                f"{base}/{flow_id}", json=body, headers=self._auth
            ) as response:
                result = await response.json()
            if entry.on_result is not None:
                entry.on_result(result)
        return str(result.get("reason") or result.get("title") or result.get("errors"))


def _die_with_parent() -> None:
    """Have the kernel stop Home Assistant if this script dies without cleaning up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.asynccontextmanager
async def home_assistant(
    config: Path, environment: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run Home Assistant with the checkout's integration until the context ends."""
    link = config / "custom_components" / "homelab_sentinel"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(
            os.path.relpath(REPO / "custom_components" / "homelab_sentinel", link.parent)
        )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "homeassistant",
        "--config",
        str(config),
        "--skip-pip",
        preexec_fn=_die_with_parent,
        env={**os.environ, **environment},
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()


async def main(*, private_run: bool) -> int:
    """Start everything, then wait until Home Assistant stops or the user presses Ctrl+C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=REPO / "config")
    arguments = parser.parse_args()
    config: Path = arguments.config.resolve()
    host = HostTarget(config / "demo" / "host", reboot_flag=private_run)
    targets: list[
        CertificateTargets
        | ChainTargets
        | Fail2banTarget
        | CertbotTarget
        | DomoticzTarget
        | DuplicatiTarget
        | HostTarget
        | HomeAssistantTarget
        | HeartbeatTarget
    ] = [
        CertificateTargets(config / "demo"),
        ChainTargets(config / "demo" / "web"),
        Fail2banTarget(config / "demo" / "fail2ban"),
        CertbotTarget(config / "demo" / "certbot"),
        DomoticzTarget(),
        DuplicatiTarget(),
        host,
        HomeAssistantTarget(config / "demo" / "packages"),
        HeartbeatTarget(),
    ]
    entries = [entry for target in targets for entry in await target.start()]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with (
            home_assistant(config, host.environment) as process,
            aiohttp.ClientSession() as session,
        ):
            api = HomeAssistantAPI(session)
            await api.wait_until_up(process)
            await api.onboard_or_login()
            await api.keep_http_settings()
            for entry in entries:
                target = (
                    entry.answers.get("server_name")
                    or entry.answers.get("path")
                    or entry.answers.get("url")
                    or entry.answers.get("transport")
                    or entry.answers.get("name")
                    or "this instance"
                )
                print(f"demo: {entry.kind} {target}: {await api.add_entry(entry)}", flush=True)
            print(
                f"demo: Home Assistant is at {HA_URL}; log in as {DEMO_USER[0]} / {DEMO_USER[1]}",
                flush=True,
            )
            waiter = asyncio.ensure_future(process.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
    finally:
        for target in targets:
            await target.stop()
    return 0


if __name__ == "__main__":
    # Before any thread exists: a mount namespace can only be left single-threaded.
    sys.exit(asyncio.run(main(private_run=private_run_directory())))
