"""Read TLS certificates from live endpoints and PEM files, and judge whether they are trusted.

The chain is always read without verification, so that the expiry of a self-signed, expired or
private-CA certificate is still known; trust is then decided separately against a trust store.
This module has no Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import ipaddress
import os
from pathlib import Path
import re
import ssl
import stat
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from ..capped_read import CappedLineReader, ReplyTooLongError
from ..input_rules import InvalidHostError, validate_host
from ..user_files import (
    FileTooLargeError,
    InvalidPathError,
    NotRegularFileError,
    UserFileError,
    UserFileNotFoundError,
    UserFilePermissionError,
    open_regular_file,
    read_capped,
    read_user_file,
    stat_path,
)

# A few public roots carry a non-positive serial; they load fine and are not worth a warning.
warnings.filterwarnings(
    "ignore", "Parsed a serial number which wasn't positive", CryptographyDeprecationWarning
)

DEFAULT_TIMEOUT = 10.0
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer"})
# Caps on what is read: a PEM file of one chain is a few KiB, a CA bundle such as Mozilla's
# about 250 KiB. A mail server's greeting and replies up to the TLS upgrade are a few lines.
MAX_CERTIFICATE_FILE = 1024 * 1024
MAX_CA_BUNDLE = 4 * 1024 * 1024
MAX_STARTTLS_LINE = 8 * 1024
MAX_STARTTLS_DIALOGUE = 64 * 1024
# Let's Encrypt's live/<name>/ layout: the full chain is preferred over the leaf alone.
_LINEAGE_FILES = ("fullchain.pem", "cert.pem")


class CertificateError(Exception):
    """Base class for everything this module raises."""


class CertificateConnectionError(CertificateError):
    """The endpoint could not be reached."""


class InvalidHostnameError(CertificateConnectionError):
    """The host or server name is not one a connection can be made to."""


class CertificateTimeoutError(CertificateError):
    """The endpoint did not answer in time."""


class NoCertificateError(CertificateError):
    """The endpoint answered, but presented no TLS certificate."""


class CertificateFileError(CertificateError):
    """A certificate file or directory could not be read."""


class CertificateNotFoundError(CertificateFileError):
    """The path does not exist."""


class CertificatePermissionError(CertificateFileError):
    """The path exists but may not be read."""


class NotACertificateFileError(CertificateFileError):
    """The path is a FIFO, socket or device, or a directory where a file is expected."""


class CertificateFileTooLargeError(CertificateFileError):
    """The file is far larger than a certificate chain can be."""


class CertificatePathError(CertificateFileError):
    """The path is not valid (empty, a control character) or cannot be followed (a link loop)."""


def file_error(err: UserFileError) -> CertificateFileError:
    """The certificate file error that stands for a user file error, keeping its message."""
    kinds: tuple[tuple[type[UserFileError], type[CertificateFileError]], ...] = (
        (UserFileNotFoundError, CertificateNotFoundError),
        (UserFilePermissionError, CertificatePermissionError),
        (NotRegularFileError, NotACertificateFileError),
        (FileTooLargeError, CertificateFileTooLargeError),
        (InvalidPathError, CertificatePathError),
    )
    kind = next((mine for theirs, mine in kinds if isinstance(err, theirs)), CertificatePathError)
    return kind(str(err))


class InvalidCAFileError(CertificateError):
    """The extra CA bundle is missing or holds no certificate."""


class Trust(StrEnum):
    """The verdict on a certificate, most severe first."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SELF_SIGNED = "self_signed"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    # Only the caIssuers fetch (issuer_fetch.py) reports this, where untrusted_issuer stood.
    INCOMPLETE_CHAIN = "incomplete_chain"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    TRUSTED = "trusted"


class StartTLS(StrEnum):
    """Protocols whose plain-text dialogue upgrades to TLS."""

    NONE = "none"
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"


@dataclass(frozen=True, slots=True)
class CertificateReport:
    """What is known of one presented certificate chain."""

    subject: str
    issuer: str
    not_before: datetime
    expires: datetime
    chain_expires: datetime
    trust: Trust
    serial_number: str
    fingerprint_sha256: str
    dns_names: tuple[str, ...]

    def days_remaining(self, now: datetime) -> int:
        """Whole days until expiry, counted towards zero; negative once expired."""
        return int((self.expires - now) / timedelta(days=1))


class TrustStore:
    """Root certificates trusted when verifying a chain."""

    def __init__(self, roots: Iterable[x509.Certificate]) -> None:
        """Build the store; an empty store trusts nothing."""
        self._roots = list(roots)
        self._store = Store(self._roots) if self._roots else None

    @classmethod
    def from_files(cls, *paths: str | os.PathLike[str]) -> TrustStore:
        """Load every certificate in the given PEM bundles (blocking)."""
        roots: list[x509.Certificate] = []
        for path in paths:
            for block in _PEM_CERTIFICATE.findall(Path(path).read_bytes()):
                # One root that a newer cryptography refuses must not empty the whole store.
                with contextlib.suppress(ValueError):
                    roots.append(x509.load_pem_x509_certificate(block))
        return cls(roots)

    def with_extra_bundle(self, path: str | os.PathLike[str]) -> TrustStore:
        """Return a store that also trusts the certificates of a PEM bundle (blocking)."""
        try:
            extra = _load_pem_certificates(read_user_file(path, MAX_CA_BUNDLE))
        except (UserFileError, ValueError) as err:
            raise InvalidCAFileError(f"cannot read CA bundle {path}") from err
        if not extra:
            raise InvalidCAFileError(f"CA bundle {path} holds no certificate")
        return TrustStore([*self._roots, *extra])

    def verifies(
        self, chain: list[x509.Certificate], subject: x509.verification.Subject, *, when: datetime
    ) -> bool:
        """Whether the chain leads from a trusted root to a leaf valid for subject at when."""
        if self._store is None:
            return False
        try:
            verifier = PolicyBuilder().store(self._store).time(when).build_server_verifier(subject)
        except ValueError, TypeError:
            return False
        try:
            verifier.verify(chain[0], chain[1:])
        except VerificationError, ValueError, TypeError:
            # A name the library refuses verifies nothing; it must not fail the whole check.
            return False
        return True


def _load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Parse only the CERTIFICATE blocks, never touching key material beside them."""
    return [x509.load_pem_x509_certificate(block) for block in _PEM_CERTIFICATE.findall(data)]


def _common_name(name: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME):
        attributes = name.get_attributes_for_oid(oid)
        if attributes:
            value = attributes[0].value
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return name.rfc4514_string()


def _alternative_names(certificate: x509.Certificate) -> list[x509.verification.Subject]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    # A wildcard name stands for any one label; verifying for one such concrete name tests it.
    subjects: list[x509.verification.Subject] = [
        x509.DNSName(name.replace("*.", "wildcard.", 1))
        for name in extension.value.get_values_for_type(x509.DNSName)
    ]
    subjects.extend(
        x509.IPAddress(address) for address in extension.value.get_values_for_type(x509.IPAddress)
    )
    return subjects


def _dns_names(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    names = extension.value.get_values_for_type(x509.DNSName)
    addresses = [str(address) for address in extension.value.get_values_for_type(x509.IPAddress)]
    return (*names, *addresses)


def _subject_for(hostname: str) -> x509.verification.Subject | None:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname.strip("[]")))
    except ValueError:
        pass
    try:
        return x509.DNSName(hostname.rstrip(".").encode("idna").decode("ascii"))
    except UnicodeError, ValueError:
        return None


def _is_self_issued(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except ValueError, TypeError, InvalidSignature:
        return False
    return True


def judge_trust(
    chain: list[x509.Certificate], store: TrustStore, hostname: str | None, now: datetime
) -> Trust:
    """Decide the trust verdict for a presented chain, leaf first.

    Without a hostname (a certificate file), only the chain itself is judged.
    """
    leaf = chain[0]
    if leaf.not_valid_after_utc <= now:
        return Trust.EXPIRED
    if leaf.not_valid_before_utc > now:
        return Trust.NOT_YET_VALID
    wanted = _subject_for(hostname) if hostname else None
    if wanted is not None and store.verifies(chain, wanted, when=now):
        return Trust.TRUSTED
    # Verifying against a name the leaf itself carries tells whether the chain alone is trusted.
    if any(store.verifies(chain, own, when=now) for own in _alternative_names(leaf)[:1]):
        return Trust.HOSTNAME_MISMATCH if hostname else Trust.TRUSTED
    if _is_self_issued(leaf):
        return Trust.SELF_SIGNED
    return Trust.UNTRUSTED_ISSUER


def assess_chain(
    chain: list[x509.Certificate], store: TrustStore, hostname: str | None, now: datetime
) -> CertificateReport:
    """Summarise a presented chain, leaf first, into a report."""
    if not chain:
        raise NoCertificateError("no certificate presented")
    leaf = chain[0]
    return CertificateReport(
        subject=_common_name(leaf.subject),
        issuer=_common_name(leaf.issuer),
        not_before=leaf.not_valid_before_utc,
        expires=leaf.not_valid_after_utc,
        chain_expires=min(certificate.not_valid_after_utc for certificate in chain),
        trust=judge_trust(chain, store, hostname, now),
        serial_number=format(leaf.serial_number, "x"),
        fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(":"),
        dns_names=_dns_names(leaf),
    )


def _no_verify_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Old servers are exactly the ones worth reporting on; do not refuse their handshakes.
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


NO_VERIFY_CONTEXT = _no_verify_context()


async def _read_line(reader: CappedLineReader) -> str:
    try:
        line = await reader.readline()
    except ReplyTooLongError as err:
        raise NoCertificateError(
            f"not a mail server: an over-long line, or more than {MAX_STARTTLS_DIALOGUE} bytes "
            "before STARTTLS"
        ) from err
    except asyncio.IncompleteReadError as err:
        raise NoCertificateError("the server closed the connection during STARTTLS") from err
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


async def _smtp_reply(reader: CappedLineReader) -> tuple[str, list[str]]:
    lines: list[str] = []
    while True:
        line = await _read_line(reader)
        lines.append(line[4:])
        if len(line) < 4 or line[3] != "-":
            return line[:3], lines


async def _negotiate_starttls(
    protocol: StartTLS, stream: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    # One budget for the whole dialogue: endless continuation or untagged lines end it.
    reader = CappedLineReader(stream, MAX_STARTTLS_DIALOGUE)
    if protocol is StartTLS.SMTP:
        code, _ = await _smtp_reply(reader)
        if code != "220":
            raise NoCertificateError("not an SMTP server")
        writer.write(b"EHLO homelab-sentinel\r\n")
        code, capabilities = await _smtp_reply(reader)
        if code != "250" or not any(c.upper().startswith("STARTTLS") for c in capabilities):
            raise NoCertificateError("the SMTP server does not offer STARTTLS")
        writer.write(b"STARTTLS\r\n")
        code, _ = await _smtp_reply(reader)
        if code != "220":
            raise NoCertificateError("the SMTP server refused STARTTLS")
    elif protocol is StartTLS.IMAP:
        if not (await _read_line(reader)).startswith("* OK"):
            raise NoCertificateError("not an IMAP server")
        writer.write(b"hs1 STARTTLS\r\n")
        while not (line := await _read_line(reader)).startswith("hs1 "):
            continue
        if not line.startswith("hs1 OK"):
            raise NoCertificateError("the IMAP server refused STARTTLS")
    elif protocol is StartTLS.POP3:
        if not (await _read_line(reader)).startswith("+OK"):
            raise NoCertificateError("not a POP3 server")
        writer.write(b"STLS\r\n")
        if not (await _read_line(reader)).startswith("+OK"):
            raise NoCertificateError("the POP3 server refused STLS")


async def fetch_chain(
    host: str,
    port: int,
    *,
    server_name: str | None = None,
    starttls: StartTLS = StartTLS.NONE,
    timeout_seconds: float | None = None,
) -> list[x509.Certificate]:
    """Connect, complete a handshake without verification and return the presented chain."""
    try:
        host = validate_host(host)
        sni = validate_host(server_name or host)
    except InvalidHostError as err:
        raise InvalidHostnameError(f"not a host name: {err}") from err
    if timeout_seconds is None:
        timeout_seconds = DEFAULT_TIMEOUT
    try:
        async with asyncio.timeout(timeout_seconds):
            try:
                reader, writer = await asyncio.open_connection(
                    host, port, happy_eyeballs_delay=0.25, limit=MAX_STARTTLS_LINE
                )
            except OSError as err:
                raise CertificateConnectionError(
                    f"cannot connect to {host}:{port}: {err.strerror or type(err).__name__}"
                ) from err
            try:
                if starttls is not StartTLS.NONE:
                    await _negotiate_starttls(starttls, reader, writer)
                await writer.start_tls(
                    NO_VERIFY_CONTEXT, server_hostname=None if _is_ip(sni) else sni
                )
                ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
                chain = [
                    x509.load_der_x509_certificate(der)
                    for der in ssl_object.get_unverified_chain() or []
                ]
            except (ssl.SSLError, ConnectionError, EOFError) as err:
                raise NoCertificateError(
                    f"{host}:{port} did not complete a TLS handshake ({type(err).__name__})"
                ) from err
            finally:
                writer.transport.abort()
    except TimeoutError as err:
        raise CertificateTimeoutError(
            f"{host}:{port} did not answer within {timeout_seconds} s"
        ) from err
    return chain


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _FileIdentity:
    device: int
    inode: int
    size: int
    modified_ns: int


class CertificateFileReader:
    """Read certificates from a PEM file or a directory of them, re-parsing only changed files.

    A directory yields one certificate chain per Let's Encrypt lineage (``<name>/fullchain.pem``)
    and per loose ``.pem``/``.crt``/``.cer`` file holding a certificate; a file yields one chain
    under the name ``""``. All methods block and belong in an executor.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Watch the given file or directory."""
        self.path = Path(path)
        self._cache: dict[Path, tuple[_FileIdentity, list[x509.Certificate]]] = {}
        self._seen: set[Path] = set()

    def read(self) -> dict[str, list[x509.Certificate]]:
        """Return the chains found now, keyed by certificate name."""
        try:
            mode = stat_path(self.path).st_mode
        except UserFileError as err:
            raise file_error(err) from err
        self._seen = set()
        found = self._read_directory() if stat.S_ISDIR(mode) else {"": self._read_file(self.path)}
        self._cache = {path: entry for path, entry in self._cache.items() if path in self._seen}
        return {name: chain for name, chain in found.items() if chain}

    def _read_directory(self) -> dict[str, list[x509.Certificate]]:
        try:
            children = sorted(self.path.iterdir())
        except PermissionError as err:
            raise CertificatePermissionError(f"{self.path} may not be listed") from err
        except OSError as err:
            raise CertificatePathError(f"{self.path} cannot be listed: {err.strerror}") from err
        found: dict[str, list[x509.Certificate]] = {}
        for child in children:
            try:
                if child.is_dir():
                    lineage = next(
                        (child / n for n in _LINEAGE_FILES if (child / n).exists()), None
                    )
                    if lineage is not None:
                        found[child.name] = self._read_file(lineage)
                elif child.suffix.lower() in _CERTIFICATE_SUFFIXES:
                    found[child.stem] = self._read_file(child)
            except CertificateFileError, OSError:
                # One unreadable lineage (or a FIFO named like a certificate) hides no other.
                continue
        return found

    def _read_file(self, path: Path) -> list[x509.Certificate]:
        self._seen.add(path)
        try:
            with open_regular_file(path) as handle:
                info = os.fstat(handle.fileno())
                identity = _FileIdentity(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
                cached = self._cache.get(path)
                if cached is not None and cached[0] == identity:
                    return cached[1]
                data = read_capped(handle, MAX_CERTIFICATE_FILE, path)
        except UserFileError as err:
            raise file_error(err) from err
        try:
            chain = _load_pem_certificates(data)
        except ValueError as err:
            raise CertificateFileError(f"{path} holds a damaged certificate") from err
        self._cache[path] = (identity, chain)
        return chain
