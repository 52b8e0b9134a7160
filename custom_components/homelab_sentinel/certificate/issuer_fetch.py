"""Fetch a leaf's missing issuer from its caIssuers URL, the way browsers complete a chain.

A server that sends its leaf without the intermediate works in browsers, which fetch the
intermediate from the leaf's Authority Information Access extension, and fails in clients that
do not (apps, curl, Python). Fetching it tells such a server apart from one whose leaf no trust
anchor vouches for. Only ``http://`` URLs are followed (as browsers do: the fetched certificate
is verified by its signature, not by its transport), once per leaf while an entry is loaded,
with a deadline and a byte cap for the whole fetch. Nothing here raises; this module has no
Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
import logging

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID
from yarl import URL

from ..capped_read import ResponseTooLargeError, read_capped_body
from .client import CertificateReport, Trust, TrustStore, judge_trust

_LOGGER = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 5.0
MAX_ISSUER_BYTES = 64 * 1024
_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


class IssuerFetchError(Exception):
    """The caIssuers URL gave no usable certificate; the message says why, without secrets."""


def ca_issuers_url(leaf: x509.Certificate) -> str | None:
    """The leaf's first ``http://`` caIssuers URL, or None."""
    try:
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return None
    for description in access.value:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value.lower().startswith("http://")
        ):
            return location.value
    return None


def parse_issuer(data: bytes) -> x509.Certificate:
    """One certificate, DER (as CAs publish it) or PEM."""
    try:
        if data.lstrip().startswith(_PEM_BEGIN):
            return x509.load_pem_x509_certificate(data.strip())
        return x509.load_der_x509_certificate(data)
    except ValueError as err:
        raise IssuerFetchError("the caIssuers URL did not return a certificate") from err


async def _download(session: aiohttp.ClientSession, url_text: str) -> bytes:
    url = URL(url_text)
    if url.scheme != "http" or not url.host:
        raise IssuerFetchError("the caIssuers URL is not a plain http:// URL")
    async with session.get(
        url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=None)
    ) as response:
        if response.status != 200:
            raise IssuerFetchError(f"the caIssuers URL answered HTTP {response.status}")
        try:
            return await read_capped_body(response, MAX_ISSUER_BYTES)
        except ResponseTooLargeError as err:
            raise IssuerFetchError("the caIssuers URL sent more than 64 KiB") from err


class IssuerFetcher:
    """Completes presented chains from caIssuers URLs; remembers each leaf's outcome."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession]) -> None:
        """Fetch through the session given (Home Assistant's shared one), asked for when needed.

        Most servers send their full chain; their entries never need a session.
        """
        self._session = session
        self._issuers: dict[bytes, x509.Certificate | None] = {}

    def forget_others(self, fingerprints: set[bytes]) -> None:
        """Drop what is remembered of leaves no longer presented."""
        self._issuers = {key: value for key, value in self._issuers.items() if key in fingerprints}

    async def issuer_of(self, leaf: x509.Certificate) -> x509.Certificate | None:
        """The certificate at the leaf's caIssuers URL; fetched once per leaf, None on failure."""
        fingerprint = leaf.fingerprint(hashes.SHA256())
        if fingerprint in self._issuers:
            return self._issuers[fingerprint]
        self._issuers[fingerprint] = None
        url_text = ca_issuers_url(leaf)
        if url_text is None:
            return None
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                data = await _download(self._session(), url_text)
            issuer = parse_issuer(data)
        except IssuerFetchError as err:
            reason = str(err)
        except TimeoutError:
            reason = f"the caIssuers URL did not answer within {FETCH_TIMEOUT_SECONDS:g} s"
        except (aiohttp.ClientError, ValueError, OSError) as err:
            reason = f"the caIssuers URL could not be fetched ({type(err).__name__})"
        else:
            self._issuers[fingerprint] = issuer
            return issuer
        # Once per leaf: the outcome is remembered, so the next polls neither fetch nor log.
        _LOGGER.info("Cannot complete the chain of %s: %s", leaf.subject.rfc4514_string(), reason)
        return None


def links_to_anchor(
    chain: list[x509.Certificate],
    issuer: x509.Certificate,
    store: TrustStore,
    hostname: str | None,
    now: datetime,
) -> bool:
    """Whether the fetched issuer, placed after the leaf, makes the chain verify."""
    completed = [chain[0], issuer, *chain[1:]]
    return judge_trust(completed, store, hostname, now) in (
        Trust.TRUSTED,
        Trust.HOSTNAME_MISMATCH,
    )


async def complete_chain(
    fetcher: IssuerFetcher,
    chain: list[x509.Certificate],
    report: CertificateReport,
    store: TrustStore,
    hostname: str | None,
    now: datetime,
) -> tuple[CertificateReport, str | None]:
    """Turn ``untrusted_issuer`` into ``incomplete_chain`` when the leaf's own URL completes it.

    Returns the report and, for an incomplete chain, the missing issuer's subject (RFC 4514).
    """
    if report.trust is not Trust.UNTRUSTED_ISSUER:
        return report, None
    issuer = await fetcher.issuer_of(chain[0])
    if issuer is None or not links_to_anchor(chain, issuer, store, hostname, now):
        return report, None
    return replace(report, trust=Trust.INCOMPLETE_CHAIN), issuer.subject.rfc4514_string()
