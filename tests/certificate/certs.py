"""Certificates made for the tests: a test CA, intermediates, and leaves of every kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Homelab Sentinel tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    def pem_chain(self) -> bytes:
        """The certificate and its intermediates, as a server presents them."""
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in [self.certificate, *self.chain]
        )

    def key_pem(self) -> bytes:
        """The private key."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write fullchain and key files, as a TLS server loads them."""
        directory.mkdir(parents=True, exist_ok=True)
        certfile = directory / f"{stem}.crt"
        keyfile = directory / f"{stem}.key"
        certfile.write_bytes(self.pem_chain())
        keyfile.write_bytes(self.key_pem())
        return certfile, keyfile


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def make_ca(
    name: str = "Sentinel Test Root",
    *,
    issuer: Issued | None = None,
    valid_for: timedelta = timedelta(days=3650),
) -> Issued:
    """A root CA, or an intermediate when an issuer is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    signer_name = issuer.certificate.subject if issuer else _name(name)
    builder = (
        _builder(
            _name(name), signer_name, key.public_key(), now - timedelta(days=1), now + valid_for
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    signing_key = issuer.key if issuer else key
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    chain = [issuer.certificate, *issuer.chain] if issuer else []
    # The root is not presented by servers; only intermediates travel in the chain.
    presented = [c for c in chain if c.issuer != c.subject]
    return Issued(builder.sign(signing_key, hashes.SHA256()), key, presented)


def make_leaf(
    names: list[str],
    *,
    issuer: Issued | None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca_issuers: str | None = None,
) -> Issued:
    """A server certificate for names; self-signed when issuer is None.

    ca_issuers puts an Authority Information Access caIssuers URL in it.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = _name(names[0])
    alternative: list[x509.GeneralName] = []
    for entry in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            alternative.append(x509.DNSName(entry))
    builder = (
        _builder(
            subject,
            issuer.certificate.subject if issuer else subject,
            key.public_key(),
            not_before or now - timedelta(days=1),
            not_after or now + timedelta(days=60),
        )
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if ca_issuers is not None:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(ca_issuers),
                    )
                ]
            ),
            critical=False,
        )
    signed = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    is_intermediate = issuer is not None and issuer.certificate.issuer != issuer.certificate.subject
    chain = [issuer.certificate, *issuer.chain] if issuer and is_intermediate else []
    return Issued(signed, key, chain)


def write_ca_bundle(ca: Issued, path: Path) -> Path:
    """Write a CA as a PEM bundle."""
    path.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    return path
