"""Completing a presented chain from the leaf's caIssuers URL, against a real loopback server."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
import logging
from unittest.mock import patch

import aiohttp
from cryptography.hazmat.primitives import hashes
import pytest

from custom_components.homelab_sentinel.certificate import issuer_fetch
from custom_components.homelab_sentinel.certificate.client import (
    Trust,
    TrustStore,
    assess_chain,
)
from custom_components.homelab_sentinel.certificate.issuer_fetch import (
    IssuerFetcher,
    ca_issuers_url,
    complete_chain,
)

from .certs import Issued, make_ca, make_leaf
from .conftest import IssuerServer, free_port


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """A client session as Home Assistant's shared one would be."""
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
def intermediate(test_ca: Issued) -> Issued:
    """An intermediate of the test CA."""
    return make_ca("Sentinel Test Intermediate", issuer=test_ca)


def _store(test_ca: Issued) -> TrustStore:
    return TrustStore([test_ca.certificate])


async def _judge(
    fetcher: IssuerFetcher, leaf: Issued, store: TrustStore
) -> tuple[Trust, str | None]:
    now = datetime.now(UTC)
    chain = [leaf.certificate]
    report = assess_chain(chain, store, "service.test", now)
    report, missing = await complete_chain(fetcher, chain, report, store, "service.test", now)
    return report.trust, missing


@pytest.mark.parametrize("encoding", ["der", "pem"])
async def test_leaf_alone_with_fetchable_intermediate_is_incomplete_chain(
    session: aiohttp.ClientSession,
    issuer_server: IssuerServer,
    test_ca: Issued,
    intermediate: Issued,
    encoding: str,
) -> None:
    issuer_server.serve(intermediate.certificate, encoding)
    leaf = make_leaf(["service.test"], issuer=intermediate, ca_issuers=issuer_server.url)
    fetcher = IssuerFetcher(lambda: session)
    for _ in range(3):
        trust, missing = await _judge(fetcher, leaf, _store(test_ca))
        assert trust is Trust.INCOMPLETE_CHAIN
        assert missing == intermediate.certificate.subject.rfc4514_string()
    # Once per leaf: the next polls use what the first fetched.
    assert issuer_server.requests == 1

    renewed = make_leaf(["service.test"], issuer=intermediate, ca_issuers=issuer_server.url)
    fetcher.forget_others({renewed.certificate.fingerprint(hashes.SHA256())})
    assert (await _judge(fetcher, renewed, _store(test_ca)))[0] is Trust.INCOMPLETE_CHAIN
    assert issuer_server.requests == 2


async def test_full_chain_fetches_nothing(
    session: aiohttp.ClientSession,
    issuer_server: IssuerServer,
    test_ca: Issued,
    intermediate: Issued,
) -> None:
    issuer_server.serve(intermediate.certificate)
    leaf = make_leaf(["service.test"], issuer=intermediate, ca_issuers=issuer_server.url)
    now = datetime.now(UTC)
    chain = [leaf.certificate, intermediate.certificate]
    store = _store(test_ca)
    report = assess_chain(chain, store, "service.test", now)
    completed, missing = await complete_chain(
        IssuerFetcher(lambda: session), chain, report, store, "service.test", now
    )
    assert completed.trust is Trust.TRUSTED
    assert missing is None
    assert issuer_server.requests == 0


async def test_private_root_leaf_stays_untrusted_issuer(
    session: aiohttp.ClientSession, issuer_server: IssuerServer, test_ca: Issued
) -> None:
    private_root = make_ca("Someone's Private Root")
    private_intermediate = make_ca("Private Intermediate", issuer=private_root)
    issuer_server.serve(private_intermediate.certificate)
    leaf = make_leaf(["service.test"], issuer=private_intermediate, ca_issuers=issuer_server.url)
    trust, missing = await _judge(IssuerFetcher(lambda: session), leaf, _store(test_ca))
    assert trust is Trust.UNTRUSTED_ISSUER
    assert missing is None
    assert issuer_server.requests == 1


@pytest.mark.parametrize(
    ("setup", "logged"),
    [
        ("junk", "did not return a certificate"),
        ("oversized", "more than 64 KiB"),
        ("oversized_chunked", "more than 64 KiB"),
        ("not_found", "HTTP 404"),
        ("slow", "did not answer within"),
        ("down", "could not be fetched (ClientConnectorError)"),
    ],
)
async def test_failed_fetch_stays_untrusted_issuer_and_logs_once(
    session: aiohttp.ClientSession,
    issuer_server: IssuerServer,
    test_ca: Issued,
    intermediate: Issued,
    caplog: pytest.LogCaptureFixture,
    setup: str,
    logged: str,
) -> None:
    issuer_server.serve(intermediate.certificate)
    if setup == "junk":
        issuer_server.body = b"<html>not a certificate</html>"
    elif setup.startswith("oversized"):
        # A real certificate followed by padding: the cap, not the parser, refuses it.
        issuer_server.body += b"\0" * (64 * 1024)
        issuer_server.chunked = setup.endswith("chunked")
    elif setup == "not_found":
        issuer_server.status = 404
    elif setup == "slow":
        issuer_server.delay = 2.0
    url = issuer_server.url
    if setup == "down":
        url = f"http://127.0.0.1:{free_port()}/intermediate.cer"
    leaf = make_leaf(["service.test"], issuer=intermediate, ca_issuers=url)
    fetcher = IssuerFetcher(lambda: session)
    caplog.set_level(logging.INFO, logger=issuer_fetch.__name__)
    # The deadline covers the whole fetch; shortened so that the slow case takes no 5 s.
    with patch.object(issuer_fetch, "FETCH_TIMEOUT_SECONDS", 0.3):
        for _ in range(3):
            trust, missing = await _judge(fetcher, leaf, _store(test_ca))
            assert trust is Trust.UNTRUSTED_ISSUER
            assert missing is None
    messages = [r.getMessage() for r in caplog.records if r.name == issuer_fetch.__name__]
    assert len(messages) == 1, messages
    assert logged in messages[0]
    assert issuer_server.requests == (0 if setup == "down" else 1)


async def test_only_plain_http_urls_are_followed(
    session: aiohttp.ClientSession, intermediate: Issued, test_ca: Issued
) -> None:
    for url in ("https://127.0.0.1:1/ca.cer", "ldap://127.0.0.1/cn=ca", "http://"):
        leaf = make_leaf(["service.test"], issuer=intermediate, ca_issuers=url)
        trust, _ = await _judge(IssuerFetcher(lambda: session), leaf, _store(test_ca))
        assert trust is Trust.UNTRUSTED_ISSUER
    assert ca_issuers_url(make_leaf(["a.test"], issuer=intermediate).certificate) is None
    https_leaf = make_leaf(["a.test"], issuer=intermediate, ca_issuers="https://ca.test/i.cer")
    assert ca_issuers_url(https_leaf.certificate) is None
