"""The certificate client against real TLS servers on loopback."""

from __future__ import annotations

import asyncio
import builtins
from datetime import UTC, datetime, timedelta
import io
import os
from pathlib import Path
import ssl

import certifi
from cryptography import x509
import pytest

from custom_components.homelab_sentinel.certificate import client
from custom_components.homelab_sentinel.certificate.client import (
    CertificateConnectionError,
    CertificateFileError,
    CertificateFileReader,
    CertificateNotFoundError,
    CertificatePermissionError,
    CertificateTimeoutError,
    InvalidCAFileError,
    NoCertificateError,
    StartTLS,
    Trust,
    TrustStore,
    assess_chain,
    fetch_chain,
)

from ..threads import in_worker
from .certs import Issued, make_ca, make_leaf
from .conftest import Handler, Servers, days_from_now, free_port


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def system_store() -> TrustStore:
    return in_worker(lambda: TrustStore.from_files(certifi.where()))


async def _report(
    servers: Servers, issued: Issued, store: TrustStore, server_name: str = "service.test"
) -> client.CertificateReport:
    port = await servers.tls(issued)
    chain = await fetch_chain("127.0.0.1", port, server_name=server_name)
    return assess_chain(chain, store, server_name, _now())


async def test_trusted_chain_through_intermediate(
    servers: Servers, trusted_leaf: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    store = await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    report = await _report(servers, trusted_leaf, store)
    assert report.trust is Trust.TRUSTED
    assert report.subject == "service.test"
    assert report.issuer == "Sentinel Test Intermediate"
    assert report.expires == trusted_leaf.certificate.not_valid_after_utc
    assert report.days_remaining(_now()) == 59
    assert report.dns_names == ("service.test", "127.0.0.1")
    assert len(report.fingerprint_sha256.split(":")) == 32


async def test_private_ca_is_untrusted_without_the_bundle(
    servers: Servers, trusted_leaf: Issued, system_store: TrustStore
) -> None:
    report = await _report(servers, trusted_leaf, system_store)
    assert report.trust is Trust.UNTRUSTED_ISSUER
    # The expiry is known all the same: the chain is read without verification.
    assert report.expires == trusted_leaf.certificate.not_valid_after_utc


async def test_ip_address_as_server_name(
    servers: Servers, trusted_leaf: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    store = await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    report = await _report(servers, trusted_leaf, store, server_name="127.0.0.1")
    assert report.trust is Trust.TRUSTED


async def test_self_signed(servers: Servers, system_store: TrustStore) -> None:
    leaf = make_leaf(["service.test"], issuer=None)
    report = await _report(servers, leaf, system_store)
    assert report.trust is Trust.SELF_SIGNED
    assert report.issuer == "service.test"


async def test_expired(
    servers: Servers, test_ca: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    leaf = make_leaf(
        ["service.test"], issuer=test_ca, not_before=days_from_now(-90), not_after=days_from_now(-2)
    )
    report = await _report(
        servers, leaf, await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    )
    assert report.trust is Trust.EXPIRED
    assert report.days_remaining(_now()) == -2


async def test_not_yet_valid(
    servers: Servers, test_ca: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    leaf = make_leaf(["service.test"], issuer=test_ca, not_before=days_from_now(3))
    report = await _report(
        servers, leaf, await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    )
    assert report.trust is Trust.NOT_YET_VALID


async def test_hostname_mismatch(
    servers: Servers, test_ca: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    leaf = make_leaf(["other.test"], issuer=test_ca)
    report = await _report(
        servers, leaf, await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    )
    assert report.trust is Trust.HOSTNAME_MISMATCH


async def test_wildcard_certificate_matches(
    servers: Servers, test_ca: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    leaf = make_leaf(["*.example.test"], issuer=test_ca)
    store = await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    assert (await _report(servers, leaf, store, "www.example.test")).trust is Trust.TRUSTED
    assert (await _report(servers, leaf, store, "a.b.example.test")).trust is (
        Trust.HOSTNAME_MISMATCH
    )


async def test_expiring_intermediate_shows_in_chain_expires(
    servers: Servers, test_ca: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    intermediate = make_ca("Short Intermediate", issuer=test_ca, valid_for=timedelta(days=5))
    leaf = make_leaf(["service.test"], issuer=intermediate)
    report = await _report(
        servers, leaf, await asyncio.to_thread(system_store.with_extra_bundle, ca_bundle)
    )
    assert report.chain_expires == intermediate.certificate.not_valid_after_utc
    assert report.expires == leaf.certificate.not_valid_after_utc
    assert report.chain_expires < report.expires


async def test_connection_refused() -> None:
    with pytest.raises(CertificateConnectionError):
        await fetch_chain("127.0.0.1", free_port())


async def test_timeout(servers: Servers) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    port = await servers.start(silent)
    with pytest.raises(CertificateTimeoutError):
        await fetch_chain("127.0.0.1", port, timeout_seconds=0.3)


@pytest.mark.parametrize(
    "answer", [b"HTTP/1.1 400 Bad Request\r\n\r\n", bytes(range(256)) * 4, b""]
)
async def test_plain_text_or_garbage_is_no_certificate(servers: Servers, answer: bytes) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(answer)
        await writer.drain()
        writer.close()

    port = await servers.start(plain)
    with pytest.raises(NoCertificateError):
        await fetch_chain("127.0.0.1", port)


def _mail_server(
    servers: Servers, context: ssl.SSLContext, protocol: StartTLS, *, offer: bool = True
) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if protocol is StartTLS.SMTP:
                writer.write(b"220 mail.test ESMTP\r\n")
                await reader.readline()
                writer.write(b"250-mail.test\r\n250-SIZE 1000\r\n")
                writer.write(b"250 STARTTLS\r\n" if offer else b"250 HELP\r\n")
                if not offer:
                    await reader.read()
                    return
                await reader.readline()
                writer.write(b"220 Go ahead\r\n")
            elif protocol is StartTLS.IMAP:
                writer.write(b"* OK IMAP4rev1 ready\r\n")
                tag = (await reader.readline()).split(b" ")[0]
                writer.write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK Begin TLS\r\n")
            else:
                writer.write(b"+OK POP3 ready\r\n")
                await reader.readline()
                writer.write(b"+OK Begin TLS\r\n")
            await writer.drain()
            await writer.start_tls(context)
            await reader.read()
        except ConnectionError, ssl.SSLError:
            pass
        finally:
            writer.close()

    return handler


@pytest.mark.parametrize("protocol", [StartTLS.SMTP, StartTLS.IMAP, StartTLS.POP3])
async def test_starttls(servers: Servers, trusted_leaf: Issued, protocol: StartTLS) -> None:
    port = await servers.start(_mail_server(servers, servers.context(trusted_leaf), protocol))
    chain = await fetch_chain("127.0.0.1", port, server_name="service.test", starttls=protocol)
    assert chain[0] == trusted_leaf.certificate
    assert len(chain) == 2


async def test_smtp_without_starttls(servers: Servers, trusted_leaf: Issued) -> None:
    context = servers.context(trusted_leaf)
    port = await servers.start(_mail_server(servers, context, StartTLS.SMTP, offer=False))
    with pytest.raises(NoCertificateError, match="does not offer STARTTLS"):
        await fetch_chain("127.0.0.1", port, starttls=StartTLS.SMTP)


@pytest.mark.parametrize("protocol", [StartTLS.SMTP, StartTLS.IMAP, StartTLS.POP3])
async def test_starttls_against_the_wrong_protocol(servers: Servers, protocol: StartTLS) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"NO hello there\r\n")
        await writer.drain()
        writer.close()

    port = await servers.start(http)
    with pytest.raises(NoCertificateError):
        await fetch_chain("127.0.0.1", port, starttls=protocol)


@pytest.mark.parametrize(
    ("protocol", "dialogue", "message"),
    [
        (
            StartTLS.SMTP,
            [b"220 ok\r\n", b"250 STARTTLS\r\n", b"454 TLS not available\r\n"],
            "refused",
        ),
        (StartTLS.IMAP, [b"* OK ready\r\n", b"hs1 BAD no TLS here\r\n"], "refused"),
        (StartTLS.POP3, [b"+OK ready\r\n", b"-ERR no TLS here\r\n"], "refused"),
        (StartTLS.SMTP, [b"220 ok\r\n"], "closed the connection"),
    ],
)
async def test_starttls_refused_after_greeting(
    servers: Servers, protocol: StartTLS, dialogue: list[bytes], message: str
) -> None:
    async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(dialogue[0])
        for answer in dialogue[1:]:
            await reader.readline()
            writer.write(answer)
        await writer.drain()
        await reader.readline()
        writer.close()

    port = await servers.start(refusing)
    with pytest.raises(NoCertificateError, match=message):
        await fetch_chain("127.0.0.1", port, starttls=protocol)


async def test_endless_greeting_line(servers: Servers) -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220" + b"x" * 200_000)
        await writer.drain()
        await reader.read()
        writer.close()

    port = await servers.start(flood)
    with pytest.raises(NoCertificateError):
        await fetch_chain("127.0.0.1", port, starttls=StartTLS.SMTP)


def test_assess_empty_chain(system_store: TrustStore) -> None:
    with pytest.raises(NoCertificateError):
        assess_chain([], system_store, None, _now())


def test_extra_bundle_errors(tmp_path: Path, system_store: TrustStore) -> None:
    with pytest.raises(InvalidCAFileError):
        system_store.with_extra_bundle(tmp_path / "missing.pem")
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(InvalidCAFileError):
        system_store.with_extra_bundle(empty)


def test_empty_store_trusts_nothing(trusted_leaf: Issued) -> None:
    chain = [trusted_leaf.certificate, *trusted_leaf.chain]
    assert assess_chain(chain, TrustStore([]), "service.test", _now()).trust is (
        Trust.UNTRUSTED_ISSUER
    )


def test_file_reader_single_file_with_key(tmp_path: Path, trusted_leaf: Issued) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(trusted_leaf.key_pem() + trusted_leaf.pem_chain())
    chains = CertificateFileReader(combined).read()
    assert list(chains) == [""]
    assert chains[""][0] == trusted_leaf.certificate


def test_file_reader_letsencrypt_layout(tmp_path: Path, test_ca: Issued) -> None:
    live = tmp_path / "live"
    for name in ("alpha.test", "beta.test"):
        issued = make_leaf([name], issuer=test_ca)
        (live / name).mkdir(parents=True)
        (live / name / "fullchain.pem").write_bytes(issued.pem_chain())
        (live / name / "privkey.pem").write_bytes(issued.key_pem())
    (live / "README").write_text("This directory contains your keys and certificates.\n")
    (live / "loose.crt").write_bytes(make_leaf(["loose.test"], issuer=None).pem_chain())
    (live / "notes.pem").write_text("nothing here\n")
    (live / "empty-lineage").mkdir()
    (live / "dangling.pem").symlink_to(live / "gone.pem")
    reader = CertificateFileReader(live)
    assert sorted(reader.read()) == ["alpha.test", "beta.test", "loose"]
    (live / "beta.test" / "fullchain.pem").unlink()
    (live / "beta.test" / "cert.pem").write_bytes(make_leaf(["beta.test"], issuer=None).pem_chain())
    assert sorted(reader.read()) == ["alpha.test", "beta.test", "loose"]


def test_file_reader_reparses_only_changed_files(
    tmp_path: Path, test_ca: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cert.pem"
    path.write_bytes(make_leaf(["a.test"], issuer=test_ca).pem_chain())
    reader = CertificateFileReader(path)
    parsed: list[bytes] = []
    original = client._load_pem_certificates

    def counting(data: bytes) -> list[x509.Certificate]:
        parsed.append(data)
        return original(data)

    monkeypatch.setattr(client, "_load_pem_certificates", counting)
    reader.read()
    reader.read()
    assert len(parsed) == 1
    renewed = make_leaf(["a.test"], issuer=test_ca, not_after=days_from_now(90))
    path.write_bytes(renewed.pem_chain() + b"\n")
    assert reader.read()[""][0] == renewed.certificate
    assert len(parsed) == 2


def test_file_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(CertificateNotFoundError):
        CertificateFileReader(tmp_path / "missing.pem").read()
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateFileError):
        CertificateFileReader(damaged).read()


def test_file_reader_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    target = tmp_path / "secret.pem"
    target.write_text("x")
    monkeypatch.setattr(Path, "stat", refuse)
    with pytest.raises(CertificatePermissionError):
        CertificateFileReader(target).read()


def _bare_certificate(
    subject: x509.Name, *, alternative_names: list[str] | None = None
) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - timedelta(days=1))
        .not_valid_after(_now() + timedelta(days=30))
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in alternative_names]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


def test_issuer_name_falls_back_to_organisation_then_full_name(system_store: TrustStore) -> None:
    from cryptography.x509.oid import NameOID

    organisation = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Router Vendor")])
    report = assess_chain([_bare_certificate(organisation)], system_store, "router.lan", _now())
    assert report.issuer == "Router Vendor"
    # An old appliance certificate: no subject alternative name at all.
    assert report.dns_names == ()
    assert report.trust is Trust.SELF_SIGNED

    country_only = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "NL")])
    assert assess_chain([_bare_certificate(country_only)], system_store, None, _now()).issuer == (
        "C=NL"
    )


def test_unusable_server_name_is_a_mismatch(
    trusted_leaf: Issued, ca_bundle: Path, system_store: TrustStore
) -> None:
    store = system_store.with_extra_bundle(ca_bundle)
    chain = [trusted_leaf.certificate, *trusted_leaf.chain]
    assert assess_chain(chain, store, "bad..name", _now()).trust is Trust.HOSTNAME_MISMATCH
    assert assess_chain(chain, store, "[127.0.0.1]", _now()).trust is Trust.TRUSTED
    assert assess_chain(chain, store, None, _now()).trust is Trust.TRUSTED


def test_self_named_but_foreign_signature_is_untrusted(system_store: TrustStore) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor.test")])
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - timedelta(days=1))
        .not_valid_after(_now() + timedelta(days=30))
        .sign(other_key, hashes.SHA256())
    )
    assert assess_chain([forged], system_store, "impostor.test", _now()).trust is (
        Trust.UNTRUSTED_ISSUER
    )


def test_unreadable_file_inside_a_directory_is_skipped(
    tmp_path: Path, test_ca: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "live"
    for name in ("good.test", "locked.test"):
        (live / name).mkdir(parents=True)
        (live / name / "fullchain.pem").write_bytes(make_leaf([name], issuer=test_ca).pem_chain())
    original = os.open

    def open_file(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if "locked.test" in str(path):
            raise PermissionError(13, "Permission denied")
        return original(path, flags, *args)

    monkeypatch.setattr(os, "open", open_file)
    assert list(CertificateFileReader(live).read()) == ["good.test"]


def test_unlistable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(CertificatePermissionError):
        CertificateFileReader(tmp_path).read()


def test_directory_failing_to_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: Path) -> object:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "iterdir", fail)
    with pytest.raises(CertificateFileError, match="cannot be listed: Input/output error"):
        CertificateFileReader(tmp_path).read()


def test_io_error_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cert.pem"
    path.write_text("x")

    class Broken(io.FileIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(5, "Input/output error")

    def open_descriptor(descriptor: int, mode: str) -> io.FileIO:
        return Broken(descriptor, "r")

    monkeypatch.setattr(builtins, "open", open_descriptor)
    with pytest.raises(CertificateFileError, match="Input/output error"):
        CertificateFileReader(path).read()
