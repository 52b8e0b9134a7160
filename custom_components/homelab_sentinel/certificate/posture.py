"""What a TLS endpoint offers besides its certificate: protocol versions, HSTS, plain HTTP.

Every probe asks one question over its own connection, never verifies the certificate (the
certificate is judged in client.py), reads at most a few KiB of response headers and follows no
redirect. All probes of one endpoint run concurrently within one time budget. This module has no
Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
import ipaddress
import re
import ssl
from urllib.parse import urlsplit
import warnings

from .client import NO_VERIFY_CONTEXT, CertificateError, StartTLS, _negotiate_starttls

# Response headers larger than this are not a web server's answer to `HEAD /`.
MAX_HEADER_BYTES = 16 * 1024
# A Location kept as an attribute is cut here; only its scheme and host are judged.
MAX_LOCATION_CHARS = 512
_HTTP_PORT = 80
# Time for port 80 to accept a connection; a dropped SYN means closed.
CONNECT_TIMEOUT = 3.0
_USER_AGENT = "homelab-sentinel"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+")
_STATUS_LINE = re.compile(r"HTTP/1\.[01] ([0-9]{3})(?: .*)?")


class TLSProtocol(StrEnum):
    """The protocol versions probed, oldest first."""

    TLS1_0 = "tls1_0"
    TLS1_1 = "tls1_1"
    TLS1_2 = "tls1_2"
    TLS1_3 = "tls1_3"


LEGACY_PROTOCOLS = frozenset({TLSProtocol.TLS1_0, TLSProtocol.TLS1_1})
_SSL_VERSIONS = {
    TLSProtocol.TLS1_0: ssl.TLSVersion.TLSv1,
    TLSProtocol.TLS1_1: ssl.TLSVersion.TLSv1_1,
    TLSProtocol.TLS1_2: ssl.TLSVersion.TLSv1_2,
    TLSProtocol.TLS1_3: ssl.TLSVersion.TLSv1_3,
}


class Untested(StrEnum):
    """Why a protocol version's acceptance is not known."""

    # This machine's TLS library cannot even send a hello for that version.
    NOT_OFFERED_LOCALLY = "not_offered_locally"
    # The endpoint did not answer that probe (in time).
    NO_ANSWER = "no_answer"


def _offers_hello(context: ssl.SSLContext) -> bool:
    """Whether the context produces a ClientHello at all, tried in memory without a network."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        context.wrap_bio(incoming, outgoing).do_handshake()
    except ssl.SSLWantReadError:
        return outgoing.pending > 0
    except ssl.SSLError:
        return False
    return False


def _pinned_context(protocol: TLSProtocol) -> ssl.SSLContext | None:
    """A context that offers exactly this version, or None when the local library cannot."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        # Python deprecates TLS 1.0/1.1, and OpenSSL 3 refuses them (and their SHA-1 signatures)
        # above security level 0; the point here is precisely to see whether a server takes them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = _SSL_VERSIONS[protocol]
            context.maximum_version = _SSL_VERSIONS[protocol]
        context.set_ciphers("ALL:@SECLEVEL=0")
    except ValueError, ssl.SSLError:
        return None
    return context if _offers_hello(context) else None


_PINNED_CONTEXTS: Mapping[TLSProtocol, ssl.SSLContext | None] = {
    protocol: _pinned_context(protocol) for protocol in TLSProtocol
}


@dataclass(frozen=True, slots=True)
class ProtocolSupport:
    """Which protocol versions an endpoint accepted, and which could not be tested."""

    accepted: tuple[TLSProtocol, ...]
    untested: Mapping[TLSProtocol, Untested]

    @property
    def lowest(self) -> TLSProtocol | None:
        """The oldest accepted version; None when an older one could not be tested."""
        for protocol in TLSProtocol:
            if protocol in self.accepted:
                return protocol
            if protocol in self.untested:
                return None
        return None

    @property
    def reason(self) -> Untested | None:
        """Why the oldest accepted version is not known, when it is not."""
        for protocol in TLSProtocol:
            if protocol in self.accepted:
                return None
            if protocol in self.untested:
                return self.untested[protocol]
        return None

    @property
    def legacy(self) -> bool | None:
        """Whether TLS 1.0 or 1.1 is accepted; None when that cannot be told."""
        if LEGACY_PROTOCOLS.intersection(self.accepted):
            return True
        if LEGACY_PROTOCOLS.intersection(self.untested):
            return None
        return False

    @property
    def legacy_accepted(self) -> tuple[TLSProtocol, ...]:
        """The legacy versions accepted, oldest first."""
        return tuple(protocol for protocol in self.accepted if protocol in LEGACY_PROTOCOLS)


@dataclass(frozen=True, slots=True)
class HstsPolicy:
    """The Strict-Transport-Security policy an endpoint sends; max_age 0 when it sends none."""

    max_age: int
    include_subdomains: bool = False
    preload: bool = False


@dataclass(frozen=True, slots=True)
class PlainHttp:
    """What port 80 of the host answered; status None when it is closed."""

    status: int | None
    location: str | None
    problem: bool


@dataclass(frozen=True, slots=True)
class PostureReport:
    """Everything probed besides the certificate; None where a probe could not tell."""

    protocols: ProtocolSupport
    hsts: HstsPolicy | None
    plain_http: PlainHttp | None


class _NoAnswerError(Exception):
    """The endpoint did not take part in a probe (refused, reset before TLS, not HTTP)."""


def _sni(server_name: str) -> str | None:
    try:
        ipaddress.ip_address(server_name.strip("[]"))
    except ValueError:
        return server_name
    return None


async def _accepts(
    host: str, port: int, server_name: str, starttls: StartTLS, context: ssl.SSLContext
) -> bool:
    """One handshake offering a single protocol version."""
    try:
        reader, writer = await asyncio.open_connection(host, port, happy_eyeballs_delay=0.25)
    except OSError as err:
        raise _NoAnswerError from err
    try:
        if starttls is not StartTLS.NONE:
            try:
                await _negotiate_starttls(starttls, reader, writer)
            except (CertificateError, ConnectionError) as err:
                raise _NoAnswerError from err
        await writer.start_tls(context, server_hostname=_sni(server_name))
    except ssl.SSLError, ConnectionError, EOFError:
        # A protocol_version or handshake_failure alert, or a server that just hangs up.
        return False
    finally:
        writer.transport.abort()
    return True


def _mark_retrieved(task: asyncio.Task[bool]) -> None:
    """Outcomes are read after the wait, or not at all when the probe is given up."""
    if not task.cancelled():
        task.exception()


async def probe_protocols(
    host: str,
    port: int,
    *,
    server_name: str,
    starttls: StartTLS = StartTLS.NONE,
    timeout_seconds: float,
) -> ProtocolSupport:
    """Offer each protocol version on its own connection, all at once, within the budget."""
    untested: dict[TLSProtocol, Untested] = {
        protocol: Untested.NOT_OFFERED_LOCALLY
        for protocol, context in _PINNED_CONTEXTS.items()
        if context is None
    }
    tasks = {
        protocol: asyncio.create_task(_accepts(host, port, server_name, starttls, context))
        for protocol, context in _PINNED_CONTEXTS.items()
        if context is not None
    }
    for task in tasks.values():
        task.add_done_callback(_mark_retrieved)
    try:
        _, pending = await asyncio.wait(tasks.values(), timeout=timeout_seconds)
    finally:
        # Also when this probe is itself cancelled, none of its handshakes outlives it.
        for task in tasks.values():
            task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    accepted: list[TLSProtocol] = []
    for protocol, task in tasks.items():
        if task.cancelled() or task.exception() is not None:
            untested[protocol] = Untested.NO_ANSWER
        elif task.result():
            accepted.append(protocol)
    return ProtocolSupport(
        accepted=tuple(sorted(accepted, key=list(TLSProtocol).index)), untested=untested
    )


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """The status and header fields of an HTTP response; names lower-cased, in order."""

    status: int
    fields: tuple[tuple[str, str], ...]

    def first(self, name: str) -> str | None:
        """The first field of that name; later ones are ignored, as RFC 6797 says for HSTS."""
        return next((value for key, value in self.fields if key == name), None)


def parse_response_head(data: bytes) -> ResponseHead:
    """Parse a response's status line and header fields, strictly; ValueError when malformed."""
    lines = data.decode("latin-1").split("\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ValueError("not an HTTP/1.x status line")
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise ValueError("malformed header field")
        fields.append((name.lower(), value.strip(" \t")))
    return ResponseHead(int(match.group(1)), tuple(fields))


def parse_hsts(value: str) -> HstsPolicy | None:
    """Parse a Strict-Transport-Security value per RFC 6797 6.1; None when invalid.

    Directive names are case-insensitive, values tokens or quoted strings, unknown directives
    ignored; a repeated directive or a missing or non-numeric max-age invalidates the header.
    """
    directives: dict[str, str | None] = {}
    position = 0
    while True:
        while position < len(value) and value[position] in " \t":
            position += 1
        if position == len(value):
            break
        if value[position] == ";":
            position += 1
            continue
        name_match = _TOKEN.match(value, position)
        if name_match is None:
            return None
        name = name_match.group().lower()
        position = name_match.end()
        while position < len(value) and value[position] in " \t":
            position += 1
        directive_value: str | None = None
        if position < len(value) and value[position] == "=":
            position += 1
            while position < len(value) and value[position] in " \t":
                position += 1
            if quoted := _QUOTED.match(value, position):
                directive_value = re.sub(r"\\(.)", r"\1", quoted.group(1))
                position = quoted.end()
            elif token := _TOKEN.match(value, position):
                directive_value = token.group()
                position = token.end()
            else:
                return None
        while position < len(value) and value[position] in " \t":
            position += 1
        if position < len(value) and value[position] != ";":
            return None
        if name in directives:
            return None
        directives[name] = directive_value
    max_age = directives.get("max-age")
    if max_age is None or not max_age.isascii() or not max_age.isdigit():
        return None
    return HstsPolicy(
        max_age=int(max_age),
        include_subdomains="includesubdomains" in directives,
        preload="preload" in directives,
    )


type _Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class _ClosedError(Exception):
    """Nothing accepted the connection."""


async def _one_request(open_connection: _Opener, method: str, host_header: str) -> ResponseHead:
    try:
        reader, writer = await open_connection()
    except OSError as err:
        # ssl.SSLError is an OSError too: the port is open but does not speak TLS.
        raise (_NoAnswerError if isinstance(err, ssl.SSLError) else _ClosedError) from err
    try:
        writer.write(
            f"{method} / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {_USER_AGENT}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        return parse_response_head(await reader.readuntil(b"\r\n\r\n"))
    except (OSError, EOFError, asyncio.LimitOverrunError, ValueError) as err:
        # IncompleteReadError is an EOFError: the server hung up before a full head.
        raise _NoAnswerError from err
    finally:
        writer.transport.abort()


async def _request_head(open_connection: _Opener, host_header: str) -> ResponseHead:
    """`HEAD /`, or `GET /` when HEAD is not allowed; the body is never read."""
    head = await _one_request(open_connection, "HEAD", host_header)
    if head.status in {405, 501}:
        head = await _one_request(open_connection, "GET", host_header)
    return head


def _host_header(name: str, port: int, default_port: int) -> str:
    """The Host header for the server name; ValueError for a name that cannot be one."""
    if ":" in name:
        host = f"[{ipaddress.ip_address(name.strip('[]'))}]"
    else:
        host = name.encode("idna").decode("ascii")
        if not _HOST_NAME.fullmatch(host):
            raise ValueError("not a host name")
    return host if port == default_port else f"{host}:{port}"


async def probe_hsts(
    host: str, port: int, *, server_name: str, timeout_seconds: float
) -> HstsPolicy | None:
    """The HSTS policy sent on `/` over TLS; None when no HTTP answer came in time."""

    async def open_tls() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            host,
            port,
            ssl=NO_VERIFY_CONTEXT,
            server_hostname=_sni(server_name) or "",
            limit=MAX_HEADER_BYTES,
            happy_eyeballs_delay=0.25,
        )

    try:
        async with asyncio.timeout(timeout_seconds):
            head = await _request_head(open_tls, _host_header(server_name, port, 443))
    except TimeoutError, ValueError, _ClosedError, _NoAnswerError:
        return None
    header = head.first("strict-transport-security")
    return (parse_hsts(header) if header is not None else None) or HstsPolicy(max_age=0)


def judge_plain_http(head: ResponseHead) -> PlainHttp:
    """A redirect to https:// is fine; content, or a redirect that stays plain HTTP, is not."""
    location = head.first("location")
    secure = False
    if head.status in _REDIRECTS and location:
        try:
            target = urlsplit(location)
            secure = target.scheme.lower() == "https" and bool(target.hostname)
        except ValueError:
            secure = False
    return PlainHttp(
        status=head.status,
        location=location[:MAX_LOCATION_CHARS] if location is not None else None,
        problem=not secure,
    )


async def probe_plain_http(
    host: str, *, server_name: str, timeout_seconds: float, port: int = _HTTP_PORT
) -> PlainHttp | None:
    """What `http://host/` answers with the server name as Host; None when it is not HTTP.

    A port that refuses the connection or stays silent is closed, which is fine.
    """

    async def open_plain() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # A firewall that drops port 80 must not hold the poll for the whole budget.
        async with asyncio.timeout(min(timeout_seconds, CONNECT_TIMEOUT)):
            return await asyncio.open_connection(
                host, port, limit=MAX_HEADER_BYTES, happy_eyeballs_delay=0.25
            )

    closed = PlainHttp(status=None, location=None, problem=False)
    try:
        async with asyncio.timeout(timeout_seconds):
            head = await _request_head(open_plain, _host_header(server_name, port, _HTTP_PORT))
    except TimeoutError, _ClosedError:
        return closed
    except ValueError, _NoAnswerError:
        return None
    return judge_plain_http(head)


async def _skipped() -> None:
    return None


async def probe_posture(
    host: str,
    port: int,
    *,
    server_name: str,
    starttls: StartTLS,
    check_plain_http: bool,
    timeout_seconds: float,
) -> PostureReport:
    """Run every probe that applies to the endpoint at once; none takes longer than the budget.

    HSTS and port 80 are web questions: they are only asked of direct TLS endpoints.
    """
    is_web = starttls is StartTLS.NONE
    protocols, hsts, plain_http = await asyncio.gather(
        probe_protocols(
            host, port, server_name=server_name, starttls=starttls, timeout_seconds=timeout_seconds
        ),
        probe_hsts(host, port, server_name=server_name, timeout_seconds=timeout_seconds)
        if is_web
        else _skipped(),
        probe_plain_http(host, server_name=server_name, timeout_seconds=timeout_seconds)
        if is_web and check_plain_http
        else _skipped(),
    )
    return PostureReport(protocols=protocols, hsts=hsts, plain_http=plain_http)
