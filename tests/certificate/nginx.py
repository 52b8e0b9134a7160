"""A real nginx on a loopback address of its own, with a TLS port and port 80, per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
from dataclasses import dataclass
from pathlib import Path
import random
import shutil

import pytest
import pytest_socket

from .certs import Issued

# Loopback addresses beyond 127.0.0.1, so that every test has port 80 to itself.
LOOPBACK = "127.0.0.0/8"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODERN = "TLSv1.2 TLSv1.3"
LEGACY = "TLSv1 TLSv1.1 TLSv1.2"
TLS13_ONLY = "TLSv1.3"
HSTS = 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;'
# Redirects to https on the same name: the fix the repair issue gives.
REDIRECT_TO_HTTPS = "return 301 https://$host$request_uri;"
SERVE_SITE = 'return 200 "plain site\\n";'
REDIRECT_PLAIN = "return 302 http://elsewhere.test/;"


@dataclass
class Site:
    """How one nginx serves a name: its TLS server block, and what port 80 does (None: closed)."""

    protocols: str = MODERN
    # Settings OpenSSL 3 needs to serve TLS 1.0/1.1 at all: SHA-1 suites, security level 0.
    ciphers: str = "DEFAULT:@SECLEVEL=0"
    tls_extra: str = HSTS
    # What `/` over TLS does.
    root: str = 'return 200 "site\\n";'
    port80: str | None = REDIRECT_TO_HTTPS


def random_loopback() -> str:
    """An address in 127.0.0.0/8 that another test is unlikely to hold."""
    pick = random.SystemRandom().randint
    return f"127.{pick(16, 254)}.{pick(0, 255)}.{pick(2, 254)}"


class Nginx:
    """Runs nginx in the foreground for one test; start it with a site, stop it at the end."""

    def __init__(self, directory: Path, issued: Issued) -> None:
        self.directory = directory
        self.issued = issued
        self.address = ""
        self.tls_port = 443
        self._process: asyncio.subprocess.Process | None = None

    def _config(self, site: Site, certfile: Path, keyfile: Path) -> str:
        port80 = (
            f"server {{ listen {self.address}:80; server_name service.test; "
            f"location / {{ {site.port80} }} }}"
            if site.port80 is not None
            else ""
        )
        temp = self.directory
        return f"""
daemon off;
master_process off;
worker_processes 1;
pid {temp}/nginx.pid;
error_log {temp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen {self.address}:{self.tls_port} ssl;
        server_name service.test;
        ssl_certificate {certfile};
        ssl_certificate_key {keyfile};
        ssl_protocols {site.protocols};
        ssl_ciphers {site.ciphers};
        {site.tls_extra}
        location / {{ {site.root} }}
    }}
    {port80}
}}
"""

    async def start(self, site: Site) -> None:
        """Start nginx with the site; waits until it listens.

        The first start picks a loopback address of its own; a restart keeps it, as a reload would.
        """
        await self.stop()
        self.directory.mkdir(parents=True, exist_ok=True)
        certfile, keyfile = self.issued.write(self.directory, "site")
        for _attempt in range(5):
            self.address = self.address or random_loopback()
            config = self.directory / "nginx.conf"
            config.write_text(self._config(site, certfile, keyfile))
            self._process = await asyncio.create_subprocess_exec(
                NGINX, "-p", str(self.directory), "-c", str(config), "-e", "stderr",
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            if await self._listening():
                return
            await self.stop()
            self.address = ""
        pytest.fail("nginx did not start")

    async def _listening(self) -> bool:
        assert self._process is not None
        for _ in range(100):
            if self._process.returncode is not None:
                return False
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self.address, self.tls_port)
                writer.close()
                return True
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        """Stop nginx, if it runs."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            process.terminate()
        await process.communicate()


@pytest.fixture
async def nginx(tmp_path: Path, trusted_leaf: Issued) -> AsyncGenerator[Nginx]:
    """An nginx to configure per case; sockets may reach the whole loopback range meanwhile."""
    pytest_socket.socket_allow_hosts([LOOPBACK], allow_unix_socket=True)
    server = Nginx(tmp_path / "nginx", trusted_leaf)
    yield server
    await server.stop()
