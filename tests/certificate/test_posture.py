"""The posture probes against a real nginx, and the parsers they rest on."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from custom_components.homelab_sentinel.certificate import posture
from custom_components.homelab_sentinel.certificate.client import StartTLS
from custom_components.homelab_sentinel.certificate.posture import (
    HstsPolicy,
    PlainHttp,
    ProtocolSupport,
    TLSProtocol,
    Untested,
    judge_plain_http,
    parse_hsts,
    parse_response_head,
    probe_hsts,
    probe_plain_http,
    probe_posture,
    probe_protocols,
)

from .certs import Issued
from .conftest import Servers, free_port
from .nginx import (
    HSTS,
    LEGACY,
    MODERN,
    REDIRECT_PLAIN,
    REDIRECT_TO_HTTPS,
    SERVE_SITE,
    TLS13_ONLY,
    Nginx,
    Site,
    nginx,
)
from .test_client import _mail_server

__all__ = ["nginx"]

T10, T11, T12, T13 = TLSProtocol
HEAD_REFUSED = 'if ($request_method = HEAD) { return 405; } return 200 "site\\n";'


@pytest.mark.parametrize(
    ("protocols", "accepted", "lowest", "legacy"),
    [
        (MODERN, (T12, T13), T12, False),
        (LEGACY, (T10, T11, T12), T10, True),
        (TLS13_ONLY, (T13,), T13, False),
    ],
)
async def test_protocol_versions(
    nginx: Nginx,
    protocols: str,
    accepted: tuple[TLSProtocol, ...],
    lowest: TLSProtocol,
    legacy: bool,
) -> None:
    await nginx.start(Site(protocols=protocols))
    support = await probe_protocols(
        nginx.address, 443, server_name="service.test", timeout_seconds=5
    )
    assert support.accepted == accepted
    assert support.untested == {}
    assert support.lowest is lowest
    assert support.reason is None
    assert support.legacy is legacy
    assert support.legacy_accepted == tuple(p for p in accepted if p in (T10, T11))


@pytest.mark.parametrize("legacy", [False, True])
async def test_protocol_versions_over_starttls(
    servers: Servers, trusted_leaf: Issued, legacy: bool
) -> None:
    context = servers.context(trusted_leaf)
    if legacy:
        # An old mail server: TLS 1.0 and 1.1 with the security level they need.
        with pytest.warns(DeprecationWarning, match="TLSv1"):
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    port = await servers.start(_mail_server(servers, context, StartTLS.SMTP))
    support = await probe_protocols(
        "127.0.0.1", port, server_name="service.test", starttls=StartTLS.SMTP, timeout_seconds=5
    )
    # By default, Python's server context refuses TLS 1.0 and 1.1, as OpenSSL 3 does.
    assert support.accepted == ((T10, T11, T12, T13) if legacy else (T12, T13))
    assert support.legacy is legacy


async def test_a_version_the_local_library_cannot_offer_is_unknown(
    nginx: Nginx, monkeypatch: pytest.MonkeyPatch
) -> None:
    await nginx.start(Site(protocols=MODERN))
    monkeypatch.setitem(posture._PINNED_CONTEXTS, T10, None)
    support = await probe_protocols(
        nginx.address, 443, server_name="service.test", timeout_seconds=5
    )
    assert support.accepted == (T12, T13)
    assert support.untested == {T10: Untested.NOT_OFFERED_LOCALLY}
    assert support.lowest is None
    assert support.reason is Untested.NOT_OFFERED_LOCALLY
    assert support.legacy is None


def test_an_accepted_legacy_version_is_known_even_when_an_older_one_is_not() -> None:
    support = ProtocolSupport(accepted=(T11, T12), untested={T10: Untested.NOT_OFFERED_LOCALLY})
    assert support.legacy is True
    assert support.lowest is None
    support = ProtocolSupport(accepted=(T10,), untested={T11: Untested.NO_ANSWER})
    assert support.lowest is T10
    assert support.reason is None


def test_the_local_library_offers_every_version_after_lowering_its_security_level() -> None:
    assert all(context is not None for context in posture._PINNED_CONTEXTS.values())
    refusing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    refusing.check_hostname = False
    refusing.minimum_version = ssl.TLSVersion.TLSv1_2
    refusing.maximum_version = ssl.TLSVersion.TLSv1_2
    # A library built or configured without the pinned version cannot even say hello.
    with pytest.warns(DeprecationWarning, match="deprecated"):
        refusing.options |= ssl.OP_NO_TLSv1_2
    assert not posture._offers_hello(refusing)


async def test_protocols_of_a_closed_port_are_unknown() -> None:
    support = await probe_protocols(
        "127.0.0.1", free_port(), server_name="service.test", timeout_seconds=5
    )
    assert support.accepted == ()
    assert set(support.untested.values()) == {Untested.NO_ANSWER}
    assert support.lowest is None
    assert support.reason is Untested.NO_ANSWER


async def test_protocols_of_a_silent_port_are_unknown_within_the_budget(
    servers: Servers,
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    port = await servers.start(silent)
    async with asyncio.timeout(2):
        support = await probe_protocols(
            "127.0.0.1", port, server_name="127.0.0.1", timeout_seconds=0.3
        )
    assert set(support.untested.values()) == {Untested.NO_ANSWER}


@pytest.mark.parametrize(
    ("tls_extra", "root", "expected"),
    [
        (HSTS, 'return 200 "site\\n";', HstsPolicy(31536000, include_subdomains=True)),
        # Without `always`, nginx leaves the header off error responses such as this one.
        (
            'add_header Strict-Transport-Security "max-age=31536000";',
            "return 403;",
            HstsPolicy(0),
        ),
        (
            'add_header Strict-Transport-Security "max-age=63072000; preload";',
            'return 200 "site\\n";',
            HstsPolicy(63072000, preload=True),
        ),
        (
            (
                "add_header Strict-Transport-Security "
                "'max-age=\"15768000\"; includeSubDomains; preload' always;"
            ),
            "return 404;",
            HstsPolicy(15768000, include_subdomains=True, preload=True),
        ),
        ("", 'return 200 "site\\n";', HstsPolicy(0)),
        # HEAD is refused: the answer to GET counts, its body unread.
        (HSTS, HEAD_REFUSED, None),
    ],
)
async def test_hsts(nginx: Nginx, tls_extra: str, root: str, expected: HstsPolicy | None) -> None:
    await nginx.start(Site(tls_extra=tls_extra, root=root))
    found = await probe_hsts(nginx.address, 443, server_name="service.test", timeout_seconds=5)
    assert found == (expected or HstsPolicy(31536000, include_subdomains=True))


async def test_hsts_of_a_server_that_is_not_http(servers: Servers, trusted_leaf: Issued) -> None:
    async def mqtt_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"\x20\x02\x00\x00\r\n\r\n")
        await writer.drain()
        writer.close()

    port = await servers.start(mqtt_like, servers.context(trusted_leaf))
    closed = free_port()
    assert (
        await probe_hsts("127.0.0.1", port, server_name="service.test", timeout_seconds=0.5) is None
    )
    assert (
        await probe_hsts("127.0.0.1", closed, server_name="service.test", timeout_seconds=0.5)
        is None
    )


@pytest.mark.parametrize(
    ("port80", "expected"),
    [
        (
            REDIRECT_TO_HTTPS,
            PlainHttp(status=301, location="https://service.test/", problem=False),
        ),
        (SERVE_SITE, PlainHttp(status=200, location=None, problem=True)),
        (
            REDIRECT_PLAIN,
            PlainHttp(status=302, location="http://elsewhere.test/", problem=True),
        ),
        (None, PlainHttp(status=None, location=None, problem=False)),
        # HEAD refused on port 80: the GET that follows decides.
        (
            HEAD_REFUSED,
            PlainHttp(status=200, location=None, problem=True),
        ),
    ],
)
async def test_plain_http(nginx: Nginx, port80: str | None, expected: PlainHttp) -> None:
    await nginx.start(Site(port80=port80))
    found = await probe_plain_http(nginx.address, server_name="service.test", timeout_seconds=5)
    assert found == expected


async def test_plain_http_port_that_is_not_http(servers: Servers) -> None:
    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.9\r\n\r\n")
        await writer.drain()
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    port = await servers.start(banner)
    assert (
        await probe_plain_http(
            "127.0.0.1", server_name="service.test", timeout_seconds=2, port=port
        )
        is None
    )
    # A port that accepts and never answers counts as closed: nothing is served there.
    port = await servers.start(silent)
    found = await probe_plain_http(
        "127.0.0.1", server_name="service.test", timeout_seconds=0.3, port=port
    )
    assert found == PlainHttp(status=None, location=None, problem=False)


async def test_posture_of_a_legacy_site_without_hsts_serving_plain_http(nginx: Nginx) -> None:
    await nginx.start(Site(protocols=LEGACY, tls_extra="", port80=SERVE_SITE))
    report = await probe_posture(
        nginx.address,
        443,
        server_name="service.test",
        starttls=StartTLS.NONE,
        check_plain_http=True,
        timeout_seconds=5,
    )
    assert report.protocols.lowest is T10
    assert report.hsts == HstsPolicy(0)
    assert report.plain_http == PlainHttp(status=200, location=None, problem=True)
    skipped = await probe_posture(
        nginx.address,
        443,
        server_name="service.test",
        starttls=StartTLS.NONE,
        check_plain_http=False,
        timeout_seconds=5,
    )
    assert skipped.plain_http is None
    assert skipped.hsts == HstsPolicy(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=31536000", HstsPolicy(31536000)),
        ('max-age="31536000"; includeSubDomains', HstsPolicy(31536000, include_subdomains=True)),
        ("MAX-AGE=10;INCLUDESUBDOMAINS;Preload", HstsPolicy(10, True, True)),
        (' max-age = 10 ;; ext="a;b\\"c" ; ', HstsPolicy(10)),
        ("max-age=0", HstsPolicy(0)),
        ("includeSubDomains", None),
        ("max-age=1; max-age=2", None),
        ("max-age=-1", None),
        ("max-age=1d", None),
        ("max-age=", None),
        ("max-age=10 includeSubDomains", None),
        ('max-age="10', None),
        ("=10", None),
        ("", None),
    ],
)
def test_parse_hsts(value: str, expected: HstsPolicy | None) -> None:
    assert parse_hsts(value) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
    ],
)
def test_parse_response_head_rejects_garbage(head: bytes) -> None:
    with pytest.raises(ValueError, match=r"status line|header field"):
        parse_response_head(head)


def test_parse_response_head_keeps_the_first_field() -> None:
    head = parse_response_head(
        b"HTTP/1.1 301 Moved\r\nLocation: https://a.test/\r\nlocation: http://b.test/\r\n\r\n"
    )
    assert head.status == 301
    assert head.first("location") == "https://a.test/"
    assert head.first("strict-transport-security") is None


def test_a_redirect_to_an_unparsable_location_is_a_problem() -> None:
    head = parse_response_head(b"HTTP/1.1 301 Moved\r\nLocation: https://[service.test/\r\n\r\n")
    assert judge_plain_http(head) == PlainHttp(301, "https://[service.test/", problem=True)
    head = parse_response_head(b"HTTP/1.1 301 Moved\r\nLocation: /login\r\n\r\n")
    assert judge_plain_http(head).problem


def test_an_endpoint_that_refuses_every_version() -> None:
    support = ProtocolSupport(accepted=(), untested={})
    assert support.lowest is None
    assert support.reason is None
    assert support.legacy is False


async def test_protocols_when_starttls_is_refused(servers: Servers, trusted_leaf: Issued) -> None:
    context = servers.context(trusted_leaf)
    port = await servers.start(_mail_server(servers, context, StartTLS.SMTP, offer=False))
    support = await probe_protocols(
        "127.0.0.1", port, server_name="service.test", starttls=StartTLS.SMTP, timeout_seconds=2
    )
    assert support.accepted == ()
    assert set(support.untested.values()) == {Untested.NO_ANSWER}


@pytest.mark.parametrize(
    ("name", "port", "expected"),
    [
        ("service.test", 443, "service.test"),
        ("service.test", 8443, "service.test:8443"),
        ("bücher.test", 80, "xn--bcher-kva.test"),
        ("::1", 443, "[::1]"),
        ("[::1]", 8443, "[::1]:8443"),
    ],
)
def test_host_header(name: str, port: int, expected: str) -> None:
    assert posture._host_header(name, port, 443 if port != 80 else 80) == expected


@pytest.mark.parametrize("name", ["evil.test\r\nX-Injected: 1", "a b", "[::g]"])
async def test_a_name_that_cannot_be_a_host_header_is_never_sent(
    servers: Servers, trusted_leaf: Issued, name: str
) -> None:
    requests: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.read(100))
        writer.close()

    tls_port = await servers.start(record, servers.context(trusted_leaf))
    plain_port = await servers.start(record)
    assert await probe_hsts("127.0.0.1", tls_port, server_name=name, timeout_seconds=1) is None
    found = await probe_plain_http(
        "127.0.0.1", server_name=name, timeout_seconds=1, port=plain_port
    )
    assert found is None
    assert requests == []
