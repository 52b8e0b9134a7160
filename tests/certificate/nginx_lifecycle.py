"""A real nginx serving a certificate lineage from files, reloaded as a deploy hook would."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
import re
import shutil
import socket
import ssl
import threading

from cryptography.hazmat.primitives import serialization

from .certs import Issued

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Site:
    """One TLS server block: its port and the files nginx loads."""

    port: int
    certfile: Path
    keyfile: Path

    def write(self, issued: Issued, *, full_chain: bool = True) -> None:
        """Put a certificate in place; nginx serves it after its next reload."""
        pem = (
            issued.pem_chain()
            if full_chain
            else issued.certificate.public_bytes(serialization.Encoding.PEM)
        )
        # New files, as certbot writes them: nginx keeps a loaded certificate across reloads
        # while its file's inode and modification second stay the same.
        for path, content in ((self.certfile, pem), (self.keyfile, issued.key_pem())):
            fresh = path.with_name(f"{path.name}.new")
            fresh.write_bytes(content)
            fresh.replace(path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Nginx:
    """An nginx master process of one test, with its own prefix, configuration and pid file."""

    def __init__(self, directory: Path) -> None:
        """Keep everything under directory."""
        self.directory = directory
        self.sites: list[Site] = []
        self._running = False
        for name in ("logs", "sites", "tmp"):
            (directory / name).mkdir(parents=True, exist_ok=True)

    def site(self, issued: Issued, *, full_chain: bool = True) -> Site:
        """A new server block on a free loopback port, presenting issued."""
        index = len(self.sites)
        site = Site(
            _free_port(),
            self.directory / "sites" / f"site{index}.crt",
            self.directory / "sites" / f"site{index}.key",
        )
        site.write(issued, full_chain=full_chain)
        self.sites.append(site)
        return site

    def _write_configuration(self) -> Path:
        servers = "\n".join(
            f"""
    server {{
        listen 127.0.0.1:{site.port} ssl;
        ssl_certificate {site.certfile};
        ssl_certificate_key {site.keyfile};
        location / {{ return 200 "ok"; }}
    }}"""
            for site in self.sites
        )
        temp = self.directory / "tmp"
        configuration = self.directory / "nginx.conf"
        configuration.write_text(
            f"""
daemon on;
master_process on;
worker_processes 1;
pid {self.directory}/nginx.pid;
error_log {self.directory}/logs/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {servers}
}}
"""
        )
        return configuration

    async def _run(self, *arguments: str) -> None:
        process = await asyncio.create_subprocess_exec(
            NGINX,
            "-p",
            str(self.directory),
            "-c",
            str(self.directory / "nginx.conf"),
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, error = await process.communicate()
        assert process.returncode == 0, error.decode()

    async def start(self) -> None:
        """Start serving every site added so far."""
        self._write_configuration()
        await self._run()
        self._running = True
        for site in self.sites:
            await self._wait_until_serving(site, None)

    async def reload(self) -> None:
        """``nginx -s reload``: new workers load the certificate files as they are now."""
        self._write_configuration()
        log = self.directory / "logs" / "error.log"
        exited = _exits(log)
        await self._run("-s", "reload")
        # Until the old worker has exited, it may still accept connections with the old files.
        await asyncio.get_running_loop().run_in_executor(None, _wait_for_exits, log, exited + 1)
        for site in self.sites:
            await self._wait_until_serving(site, site.certfile.read_bytes())

    async def stop(self) -> None:
        """Stop nginx."""
        if self._running:
            self._running = False
            await self._run("-s", "stop")
            # nginx removes its pid file as its master process exits.
            pid_file = self.directory / "nginx.pid"
            await asyncio.get_running_loop().run_in_executor(None, _wait_for_removal, pid_file)

    async def _wait_until_serving(self, site: Site, pem: bytes | None) -> None:
        """Wait until the site answers, presenting the leaf of pem when given.

        The wait runs in a thread with real sleeps, so that it also works in tests that
        freeze the event loop's clock.
        """
        wanted = None
        if pem is not None:
            first = pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
            wanted = ssl.PEM_cert_to_DER_cert(first.decode())
        try:
            await asyncio.get_running_loop().run_in_executor(None, _wait_for, site.port, wanted)
        except AssertionError as err:
            log = (self.directory / "logs" / "error.log").read_text()
            raise AssertionError(f"{err}; nginx's error log:\n{log}") from None


def _wait_for_removal(path: Path) -> None:
    for _ in range(500):
        if not path.exists():
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"nginx did not stop: {path} is still there")


def _exits(log: Path) -> int:
    return len(re.findall(r"worker process \d+ exited", log.read_text()))


def _wait_for_exits(log: Path, count: int) -> None:
    for _ in range(500):
        if _exits(log) >= count:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"nginx's old worker did not exit:\n{log.read_text()}")


def _served_leaf(port: int) -> bytes | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def _wait_for(port: int, wanted: bytes | None) -> None:
    for _ in range(400):
        served = _served_leaf(port)
        if served is not None and (wanted is None or served == wanted):
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"nginx does not serve the expected certificate on {port}")
