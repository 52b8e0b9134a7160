"""Every row of issue 14 through the public flows: a form error, bounded in time and memory.

Each case asserts a form error on the right field, no entry created, nothing logged at ERROR,
no thread left inside the integration's code, and for hostile servers memory growth under
64 MiB while the server tries to stream 256 MiB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import os
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.certificate.client import Trust, TrustStore, judge_trust
from custom_components.homelab_sentinel.const import DOMAIN
from tests.certificate.certs import make_ca, make_leaf

from .conftest import (
    STREAM_LIMIT,
    Handler,
    HostilePaths,
    StreamCounter,
    read_request_head,
    stream_endlessly,
)
from .flows import (
    MEMORY_GROWTH_LIMIT,
    MemorySampler,
    assert_ended_cleanly,
    integration_threads,
    measured,
    open_step,
    submit,
)

type Serve = Callable[[Handler], Awaitable[int]]

BAD_HOSTS = [
    "a" * 300,
    ".example.com",
    "exa mple.com",
    "http://example.com",
    "example.com/path",
    "-oProxyCommand=id",
    "exa\x00mple.com",
    "",
]
NOT_FINITE = ["nan", float("nan")]
DEEP_JSON = b"[" * 200_000 + b"]" * 200_000


def _paths(hostile: HostilePaths) -> dict[str, str]:
    return {
        "fifo": str(hostile.fifo),
        "directory": str(hostile.directory),
        "zero": "/dev/zero",
        "urandom": "/dev/urandom",
        "loop": str(hostile.loop),
        "long": hostile.long,
        "nul": "/etc/ssl/\x00cert.pem",
    }


REMOTE = {"host": "127.0.0.1", "port": 9, "starttls": "none"}


# --- certificate: host, server name, port, CA bundle ---------------------------------------


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_certificate_host(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    flow_id = await open_step(hass, "certificate")
    result = await submit(hass, flow_id, {**REMOTE, "host": host})
    assert_ended_cleanly(hass, result, {"host": "invalid_host"}, caplog)


@pytest.mark.parametrize("server_name", [name for name in BAD_HOSTS if name])
async def test_certificate_server_name(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, server_name: str
) -> None:
    flow_id = await open_step(hass, "certificate")
    result = await submit(hass, flow_id, {**REMOTE, "server_name": server_name})
    assert_ended_cleanly(hass, result, {"server_name": "invalid_host"}, caplog)


@pytest.mark.parametrize("port", NOT_FINITE)
async def test_certificate_port(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, port: object
) -> None:
    flow_id = await open_step(hass, "certificate")
    result = await submit(hass, flow_id, {**REMOTE, "port": port})
    assert_ended_cleanly(hass, result, {"port": "invalid_number"}, caplog)


@pytest.mark.parametrize("which", ["fifo", "directory", "zero", "urandom", "loop", "long", "nul"])
async def test_certificate_ca_file(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, hostile_paths: HostilePaths, which: str
) -> None:
    flow_id = await open_step(hass, "certificate")
    result = await submit(hass, flow_id, {**REMOTE, "ca_file": _paths(hostile_paths)[which]})
    assert_ended_cleanly(hass, result, {"ca_file": "invalid_ca_file"}, caplog)


# --- certificate_file -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "error"),
    [
        ("fifo", "not_regular_file"),
        ("zero", "not_regular_file"),
        ("urandom", "not_regular_file"),
        ("loop", "invalid_file_path"),
        ("long", "invalid_file_path"),
        ("nul", "invalid_file_path"),
        ("empty", "invalid_file_path"),
        ("blank", "invalid_file_path"),
        ("directory", "no_certificate"),
    ],
)
async def test_certificate_file_path(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    hostile_paths: HostilePaths,
    which: str,
    error: str,
) -> None:
    path = {**_paths(hostile_paths), "empty": "", "blank": "   "}[which]
    flow_id = await open_step(hass, "certificate_file")
    result = await submit(hass, flow_id, {"path": path})
    assert_ended_cleanly(hass, result, {"path": error}, caplog)


async def test_certificate_directory_holding_hostile_files(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A FIFO, a device link and a link loop named like certificates are skipped, not read."""
    directory = tmp_path / "certs"
    directory.mkdir()
    await hass.async_add_executor_job(_hostile_directory, directory)
    flow_id = await open_step(hass, "certificate_file")
    result = await submit(hass, flow_id, {"path": str(directory)})
    assert_ended_cleanly(hass, result, {"path": "no_certificate"}, caplog)


def _hostile_directory(directory: Path) -> None:
    os.mkfifo(directory / "fifo.pem")
    (directory / "zero.pem").symlink_to("/dev/zero")
    (directory / "loop.pem").symlink_to(directory / "loop.pem")
    (directory / "lineage").mkdir()
    os.mkfifo(directory / "lineage" / "fullchain.pem")
    with (directory / "huge.pem").open("wb") as huge:
        huge.truncate(64 * 1024 * 1024)


async def test_certificate_file_too_large(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    path = tmp_path / "huge.pem"
    await hass.async_add_executor_job(lambda: path.open("wb").truncate(64 * 1024 * 1024))
    flow_id = await open_step(hass, "certificate_file")
    result = await submit(hass, flow_id, {"path": str(path)})
    assert_ended_cleanly(hass, result, {"path": "file_too_large"}, caplog)


# --- STARTTLS servers that never stop talking -----------------------------------------------


async def _endless_dialogue(
    hass: HomeAssistant, serve: Serve, starttls: str, greeting: bytes, line: bytes
) -> tuple[Any, int, StreamCounter]:
    counter = StreamCounter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await stream_endlessly(writer, counter, line)

    port = await serve(handler)
    flow_id = await open_step(hass, "certificate")
    result, growth = await measured(
        lambda: submit(hass, flow_id, {**REMOTE, "port": port, "starttls": starttls})
    )
    return result, growth, counter


@pytest.mark.parametrize(
    ("starttls", "greeting", "line"),
    [
        ("smtp", b"220-mail.test ESMTP\r\n", b"220-more and more\r\n"),
        ("smtp", b"220 mail.test ESMTP\r\n", b"250-PIPELINING\r\n"),
        ("imap", b"* OK IMAP ready\r\n", b"* CAPABILITY IMAP4rev1\r\n"),
        ("pop3", b"+OK", b"x"),
        ("imap", b"", b"* OK" + b"x" * 1000),
    ],
)
async def test_starttls_endless_lines(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    serve: Serve,
    starttls: str,
    greeting: bytes,
    line: bytes,
) -> None:
    result, growth, counter = await _endless_dialogue(hass, serve, starttls, greeting, line)
    assert_ended_cleanly(hass, result, {"base": "no_certificate"}, caplog)
    assert growth < MEMORY_GROWTH_LIMIT
    assert counter.sent < STREAM_LIMIT


# --- HTTP servers: Duplicati and Domoticz ---------------------------------------------------


def _endless_http(counter: StreamCounter, headers: bytes = b"") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + headers
            + b"Connection: close\r\n\r\n"
        )
        await stream_endlessly(writer, counter, b"[")

    return handler


def _deep_json() -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(DEEP_JSON)}\r\nConnection: close\r\n\r\n".encode()
            + DEEP_JSON
        )
        await writer.drain()
        writer.close()

    return handler


async def _duplicati(hass: HomeAssistant, port: int) -> tuple[Any, int]:
    flow_id = await open_step(
        hass,
        "duplicati",
        url=f"http://127.0.0.1:{port}",
        auth_method="password",
        verify_ssl=True,
    )
    return await measured(lambda: submit(hass, flow_id, {"password": "secret"}))


async def _domoticz(hass: HomeAssistant, port: int) -> tuple[Any, int]:
    flow_id = await open_step(hass, "domoticz")
    return await measured(
        lambda: submit(hass, flow_id, {"url": f"http://127.0.0.1:{port}", "verify_ssl": True})
    )


@pytest.mark.parametrize("kind", ["duplicati", "domoticz"])
@pytest.mark.parametrize("headers", [b"", b"Content-Length: 268435456\r\n"])
async def test_endless_http_body(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, serve: Serve, kind: str, headers: bytes
) -> None:
    counter = StreamCounter()
    port = await serve(_endless_http(counter, headers))
    result, growth = await (_duplicati if kind == "duplicati" else _domoticz)(hass, port)
    assert_ended_cleanly(hass, result, {"base": "response_too_large"}, caplog)
    assert growth < MEMORY_GROWTH_LIMIT, f"grew by {growth / 2**20:.0f} MiB"
    assert counter.sent < STREAM_LIMIT


@pytest.mark.parametrize(
    ("kind", "error"), [("duplicati", "cannot_connect"), ("domoticz", "invalid_response")]
)
async def test_deeply_nested_json(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, serve: Serve, kind: str, error: str
) -> None:
    port = await serve(_deep_json())
    result, _ = await (_duplicati if kind == "duplicati" else _domoticz)(hass, port)
    assert_ended_cleanly(hass, result, {"base": error}, caplog)


@pytest.mark.parametrize("host", [".example.com", "exa%20mple.com", "-oproxycommand=id", "a" * 300])
async def test_url_hosts(hass: HomeAssistant, caplog: pytest.LogCaptureFixture, host: str) -> None:
    flow_id = await open_step(hass, "domoticz")
    result = await submit(hass, flow_id, {"url": f"http://{host}:8080", "verify_ssl": True})
    assert_ended_cleanly(hass, result, {"url": "invalid_url"}, caplog)
    flow_id = await open_step(hass, "duplicati")
    result = await submit(
        hass,
        flow_id,
        {"url": f"http://{host}:8200", "auth_method": "password", "verify_ssl": True},
    )
    assert_ended_cleanly(hass, result, {"url": "invalid_url"}, caplog)


@pytest.mark.parametrize("secret", ["", "   "])
@pytest.mark.parametrize(
    ("method", "field"),
    [
        ("password", "password"),
        ("signin_token", "token"),
        ("preauth_token", "token"),
        ("forever_token", "token"),
    ],
)
async def test_duplicati_blank_secret(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, method: str, field: str, secret: str
) -> None:
    flow_id = await open_step(
        hass, "duplicati", url="http://127.0.0.1:9", auth_method=method, verify_ssl=True
    )
    result = await submit(hass, flow_id, {field: secret})
    assert_ended_cleanly(hass, result, {field: "secret_required"}, caplog)


# --- fail2ban, on this machine and over SSH -------------------------------------------------


@pytest.mark.parametrize("source", ["database", "log"])
@pytest.mark.parametrize(
    ("which", "error"),
    [
        ("fifo", "not_fail2ban"),
        ("directory", "not_fail2ban"),
        ("zero", "not_fail2ban"),
        ("urandom", "not_fail2ban"),
        ("loop", "unreadable_fail2ban"),
        ("long", "unreadable_fail2ban"),
        ("nul", "unreadable_fail2ban"),
    ],
)
async def test_fail2ban_path(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    hostile_paths: HostilePaths,
    source: str,
    which: str,
    error: str,
) -> None:
    flow_id = await open_step(hass, "fail2ban")
    result = await submit(
        hass,
        flow_id,
        {"transport": "local", "source": source, "path": _paths(hostile_paths)[which]},
    )
    assert_ended_cleanly(hass, result, {"path": error}, caplog)


SSH_FORM = {"port": 22, "username": "monitor", "password": "secret", "use_sudo": False}


async def _ssh_step(hass: HomeAssistant, kind: str) -> str:
    return await open_step(hass, kind, transport="ssh")


@pytest.mark.parametrize("kind", ["fail2ban", "certbot"])
@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_ssh_host(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, kind: str, host: str
) -> None:
    flow_id = await _ssh_step(hass, kind)
    result = await submit(hass, flow_id, {**SSH_FORM, "host": host})
    assert_ended_cleanly(hass, result, {"host": "invalid_host"}, caplog)


@pytest.mark.parametrize("kind", ["fail2ban", "certbot"])
@pytest.mark.parametrize("port", NOT_FINITE)
async def test_ssh_port(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, kind: str, port: object
) -> None:
    flow_id = await _ssh_step(hass, kind)
    result = await submit(hass, flow_id, {**SSH_FORM, "host": "127.0.0.1", "port": port})
    assert_ended_cleanly(hass, result, {"port": "invalid_number"}, caplog)


@pytest.mark.parametrize("username", ["mon\x00itor", "mon itor", "-oProxyCommand=id", ""])
async def test_ssh_username(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, username: str
) -> None:
    flow_id = await _ssh_step(hass, "fail2ban")
    result = await submit(hass, flow_id, {**SSH_FORM, "host": "127.0.0.1", "username": username})
    assert_ended_cleanly(hass, result, {"username": "invalid_username"}, caplog)


# --- certbot's configuration directory ------------------------------------------------------


@pytest.mark.parametrize("config_dir", ["/", "/nonexistent", "/proc"])
async def test_certbot_config_dir_never_reaches_certbot(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, tmp_path: Path, config_dir: str
) -> None:
    marker = tmp_path / "certbot-ran"
    fake = tmp_path / "certbot"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    flow_id = await open_step(hass, "certbot", transport="local")
    result = await submit(
        hass,
        flow_id,
        {
            "certbot_command": str(fake),
            "config_dir": config_dir,
            "acme_server": "https://acme.test/dir",
        },
    )
    assert_ended_cleanly(hass, result, {"config_dir": "not_certbot_config_dir"}, caplog)
    assert not marker.exists()
    assert not Path("/nonexistent").exists()
    assert not Path("/renewal-hooks").exists()


@pytest.mark.parametrize("acme_server", ["https://.example.com/dir", "https://-oproxy/dir"])
async def test_certbot_acme_server_host(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, acme_server: str
) -> None:
    flow_id = await open_step(hass, "certbot", transport="local")
    result = await submit(
        hass,
        flow_id,
        {
            "certbot_command": "certbot",
            "config_dir": "/etc/letsencrypt",
            "acme_server": acme_server,
        },
    )
    assert_ended_cleanly(hass, result, {"acme_server": "invalid_acme_server"}, caplog)


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("certificate", "scan_interval"),
        ("certificate", "warning_days"),
        ("duplicati", "max_age_hours"),
        ("certbot", "warning_days"),
    ],
)
@pytest.mark.parametrize("value", NOT_FINITE)
async def test_options_numbers(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    field: str,
    value: object,
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={"kind": kind}, options={})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    defaults = {
        key.schema: key.default()
        for key in result["data_schema"].schema  # type: ignore[union-attr]
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**defaults, field: value}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: "invalid_number"}
    assert entry.options == {}
    assert not [record for record in caplog.records if record.levelno >= 40]


# --- names already stored --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "server_name"),
    [("exa mple.com", None), ("127.0.0.1", "exa mple.com"), ("127.0.0.1", "-oProxyCommand=id")],
)
async def test_stored_invalid_names_fail_plainly(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, host: str, server_name: str | None
) -> None:
    data: dict[str, Any] = {"kind": "certificate", "host": host, "port": 9, "starttls": "none"}
    if server_name:
        data["server_name"] = server_name
    entry = MockConfigEntry(domain=DOMAIN, data=data, unique_id="cert")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    messages = [record.getMessage() for record in caplog.records]
    assert not any("Unexpected error" in message for message in messages), messages
    assert not [record for record in caplog.records if record.levelno >= 40]
    assert integration_threads() == []


def test_trust_of_names_the_library_refuses() -> None:
    root = make_ca()
    leaf = make_leaf(["service.test"], issuer=root)
    store = TrustStore([root.certificate])
    now = datetime.now(UTC)
    chain = [leaf.certificate, *leaf.chain]
    for name in ("exa mple.com", "-oproxycommand=id", "http://x/", "a" * 300, "\x00"):
        assert judge_trust(chain, store, name, now) is not Trust.TRUSTED


# --- the same rules at poll time -------------------------------------------------------------


async def _set_up(hass: HomeAssistant, data: dict[str, Any]) -> MockConfigEntry:
    entry = MockConfigEntry(domain=DOMAIN, data=data, unique_id="hostile")
    entry.add_to_hass(hass)
    async with asyncio.timeout(30):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return entry


@pytest.mark.parametrize("which", ["fifo", "zero", "loop"])
async def test_stored_paths_at_poll_time(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, hostile_paths: HostilePaths, which: str
) -> None:
    path = _paths(hostile_paths)[which]
    entries = [
        await _set_up(hass, {"kind": "certificate_file", "path": path}),
        await _set_up(
            hass,
            {"kind": "certificate", "host": "127.0.0.1", "port": 9, "ca_file": path},
        ),
    ]
    for entry in entries:
        assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not any("Unexpected error" in record.getMessage() for record in caplog.records)
    assert integration_threads() == []


@pytest.mark.parametrize("kind", ["duplicati", "domoticz"])
async def test_endless_answers_at_poll_time(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, serve: Serve, kind: str
) -> None:
    counter = StreamCounter()
    port = await serve(_endless_http(counter))
    url = f"http://127.0.0.1:{port}"
    data: dict[str, Any] = {"kind": kind, "url": url, "verify_ssl": True}
    if kind == "duplicati":
        data |= {"auth_method": "password", "password": "secret"}
    sampler = MemorySampler()
    with sampler.sampling():
        entry = await _set_up(hass, data)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert sampler.growth < MEMORY_GROWTH_LIMIT
    assert counter.sent < STREAM_LIMIT
    assert not any("Unexpected error" in record.getMessage() for record in caplog.records)
