"""The certbot client: argument lists, validation, output parsing, and real certbot with pebble."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import fcntl
import time
from typing import IO

import pytest

from custom_components.homelab_sentinel.certbot import client as client_module
from custom_components.homelab_sentinel.certbot.client import (
    LETS_ENCRYPT_DIRECTORY,
    CertbotClient,
    CertbotError,
    InvalidSettingError,
    LineageState,
    RenewalResult,
    parse_certificates,
    parse_command,
    parse_renewal,
    validate_acme_server,
    validate_cert_name,
    validate_config_dir,
)
from custom_components.homelab_sentinel.transport import CommandResult, LocalRunner

from .conftest import ALWAYS_DUE, NOT_DUE, CertbotHome

FRAME = "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -"

# certbot 2.1.0 (Debian 12): "Domains:".
CERTIFICATES_2X = f"""
{FRAME}
Found the following certs:
  Certificate Name: test.example
    Serial Number: 41e14ea3db3073b8
    Key Type: ECDSA
    Domains: test.example www.test.example
    Expiry Date: 2031-11-22 13:42:47+00:00 (VALID: 1825 days)
    Certificate Path: /etc/letsencrypt/live/test.example/fullchain.pem
    Private Key Path: /etc/letsencrypt/live/test.example/privkey.pem
  Certificate Name: old.example
    Serial Number: 1a
    Key Type: RSA
    Domains: old.example
    Expiry Date: 2026-11-21 13:55:55+00:00 (INVALID: EXPIRED)
    Certificate Path: /etc/letsencrypt/live/old.example/fullchain.pem
    Private Key Path: /etc/letsencrypt/live/old.example/privkey.pem
{FRAME}
"""

# certbot 5.x: "Identifiers:", which may hold IP addresses; hours when less than a day is left.
CERTIFICATES_5X = f"""
{FRAME}
Found the following certs:
  Certificate Name: venv.example
    Serial Number: 59defc161869637c
    Key Type: ECDSA
    Identifiers: venv.example 192.0.2.7
    Expiry Date: 2026-11-22 20:02:11+00:00 (VALID: 5 hour(s))
    Certificate Path: /srv/le/live/venv.example/fullchain.pem
    Private Key Path: /srv/le/live/venv.example/privkey.pem
  Certificate Name: one.example
    Serial Number: 2b
    Key Type: ECDSA
    Identifiers: one.example
    Expiry Date: 2026-11-23 16:00:00+00:00 (VALID: 1 day)
    Certificate Path: /srv/le/live/one.example/fullchain.pem
    Private Key Path: /srv/le/live/one.example/privkey.pem
  Certificate Name: staging.example
    Serial Number: 3c
    Key Type: ECDSA
    Identifiers: staging.example
    Expiry Date: 2027-01-01 00:00:00+00:00 (INVALID: TEST_CERT)
    Certificate Path: /srv/le/live/staging.example/fullchain.pem
    Private Key Path: /srv/le/live/staging.example/privkey.pem
  Certificate Name: stale.example
    Serial Number: 4d
    Key Type: ECDSA
    Identifiers: stale.example
    Expiry Date: 2026-01-01 00:00:00+00:00 (INVALID: TEST_CERT, EXPIRED)
    Certificate Path: /srv/le/live/stale.example/fullchain.pem
    Private Key Path: /srv/le/live/stale.example/privkey.pem
  Certificate Name: revoked.example
    Serial Number: 5e
    Key Type: ECDSA
    Identifiers: revoked.example
    Expiry Date: 2027-01-01 00:00:00+00:00 (INVALID: REVOKED)
    Certificate Path: /srv/le/live/revoked.example/fullchain.pem
    Private Key Path: /srv/le/live/revoked.example/privkey.pem
{FRAME}
"""

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def test_parse_certbot_2_output() -> None:
    test, old = parse_certificates(CERTIFICATES_2X)
    assert test.name == "test.example"
    assert test.domains == ("test.example", "www.test.example")
    assert test.expires == datetime(2031, 11, 22, 13, 42, 47, tzinfo=UTC)
    assert test.state is LineageState.VALID
    assert test.validity == "VALID: 1825 days"
    assert test.serial_number == "41e14ea3db3073b8"
    assert test.key_type == "ECDSA"
    assert test.certificate_path == "/etc/letsencrypt/live/test.example/fullchain.pem"
    assert old.state is LineageState.EXPIRED
    assert old.validity == "INVALID: EXPIRED"
    assert old.days_remaining(NOW) == -1


def test_parse_certbot_5_output() -> None:
    lineages = {lineage.name: lineage for lineage in parse_certificates(CERTIFICATES_5X)}
    venv = lineages["venv.example"]
    assert venv.domains == ("venv.example", "192.0.2.7")
    assert venv.validity == "VALID: 5 hour(s)"
    assert venv.days_remaining(NOW) == 0
    assert lineages["one.example"].validity == "VALID: 1 day"
    assert lineages["one.example"].days_remaining(NOW) == 1
    assert lineages["staging.example"].state is LineageState.TEST_CERT
    # The worst reason wins.
    assert lineages["stale.example"].state is LineageState.EXPIRED
    assert lineages["revoked.example"].state is LineageState.REVOKED


def test_parse_no_certificates() -> None:
    assert parse_certificates(f"\n{FRAME}\nNo certificates found.\n{FRAME}\n") == []


@pytest.mark.parametrize(
    "text",
    [
        "certbot: error: something unexpected\n",
        "  Certificate Name: x.example\n    Domains: x.example\n",
        "  Certificate Name: x.example\n    Expiry Date: tomorrow (VALID: 1 day)\n",
        "  Certificate Name: x.example\n    Expiry Date: 2026-13-45 00:00:00 (VALID: 1 day)\n",
        "  Certificate Name: x.example\n    Expiry Date: 2026-11-22 00:00:00 (VALID: 1 day)\n",
    ],
    ids=["unknown", "no-expiry", "bad-format", "bad-date", "no-time-zone"],
)
def test_parse_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(CertbotError):
        parse_certificates(text)


def test_unknown_invalid_reason_counts_as_expired() -> None:
    (lineage,) = parse_certificates(
        "  Certificate Name: x.example\n"
        "    Expiry Date: 2027-01-01 00:00:00+00:00 (INVALID: SOMETHING_NEW)\n"
    )
    assert lineage.state is LineageState.EXPIRED
    assert lineage.domains == ()


RENEWED_AND_SKIPPED = CommandResult(
    0,
    f"""
{FRAME}
Processing /etc/letsencrypt/renewal/a.example.conf
{FRAME}
Certificate not yet due for renewal

{FRAME}
Processing /etc/letsencrypt/renewal/b.example.conf
{FRAME}
Renewing an existing certificate for b.example

{FRAME}
The following certificates are not due for renewal yet:
  /etc/letsencrypt/live/a.example/fullchain.pem expires on 2031-11-22 (skipped)
Congratulations, all renewals succeeded:
  /etc/letsencrypt/live/b.example/fullchain.pem (success)
{FRAME}
""",
    "Saving debug log to /var/log/letsencrypt/letsencrypt.log\n",
)

ALL_FAILED = CommandResult(
    1,
    f"\n{FRAME}\nProcessing /etc/letsencrypt/renewal/e2e.example.conf\n{FRAME}\n",
    """Saving debug log to /var/log/letsencrypt/letsencrypt.log
Failed to renew certificate e2e.example with error: Requesting 127.0.0.1/dir: Connection refused
All renewals failed. The following certificates could not be renewed:
  /etc/letsencrypt/live/e2e.example/fullchain.pem (failure)
1 renew failure(s), 0 parse failure(s)
Ask for help or search for solutions at https://community.letsencrypt.org.
""",
)


def test_parse_renewal_reports() -> None:
    outcome = parse_renewal(RENEWED_AND_SKIPPED, {})
    assert outcome.result is RenewalResult.RENEWED
    assert outcome.certificates == {
        "a.example": RenewalResult.NOT_DUE,
        "b.example": RenewalResult.RENEWED,
    }
    assert "- - -" not in outcome.output
    assert outcome.output.endswith("Saving debug log to /var/log/letsencrypt/letsencrypt.log")
    assert not outcome.dry_run

    failed = parse_renewal(ALL_FAILED, {})
    assert failed.result is RenewalResult.FAILED
    assert failed.certificates == {"e2e.example": RenewalResult.FAILED}
    assert "Connection refused" in failed.output
    assert failed.summary.startswith("Failed to renew certificate e2e.example with error")

    not_due = parse_renewal(
        CommandResult(
            0,
            "The following certificates are not due for renewal yet:\n"
            "  /etc/letsencrypt/live/a.example/fullchain.pem expires on 2031-11-22 (skipped)\n"
            "No renewals were attempted.\n",
            "",
        ),
        {},
    )
    assert not_due.result is RenewalResult.NOT_DUE
    assert not_due.certificates == {"a.example": RenewalResult.NOT_DUE}


def test_parse_renewal_edge_cases() -> None:
    # Lineages kept outside live/<name>/ are named through the paths the last listing gave.
    custom = parse_renewal(
        CommandResult(
            0, "Congratulations, all renewals succeeded:\n  /srv/www.pem (success)\n", ""
        ),
        {"/srv/www.pem": "www.example"},
        dry_run=True,
    )
    assert custom.certificates == {"www.example": RenewalResult.RENEWED}
    assert custom.dry_run
    # A configuration certbot cannot read, and a failure it only logs.
    broken = parse_renewal(
        CommandResult(
            1,
            "Additionally, the following renewal configurations were invalid:\n"
            "  /etc/letsencrypt/renewal/broken.example.conf (parsefail)\n",
            "Failed to renew certificate lonely.example with error: boom\n",
        ),
        {},
    )
    assert broken.certificates == {
        "broken.example": RenewalResult.FAILED,
        "lonely.example": RenewalResult.FAILED,
    }
    # Another certbot holding the lock: no report at all, still a failure.
    locked = parse_renewal(
        CommandResult(1, "", "Another instance of Certbot is already running.\n"), {}
    )
    assert locked.result is RenewalResult.FAILED
    assert locked.certificates == {}
    assert locked.output == "Another instance of Certbot is already running."
    assert locked.summary == locked.output
    # Killed before it said anything.
    assert parse_renewal(CommandResult(-9, "", ""), {}).summary == "exit status -9"
    # Only the last lines are kept.
    long = parse_renewal(CommandResult(0, "".join(f"line {n}\n" for n in range(100)), ""), {})
    assert long.output.splitlines() == [f"line {n}" for n in range(80, 100)]


@pytest.mark.parametrize("name", ["example.org", "www.example.org-0001", "a", "x_y.z", "9" * 253])
def test_valid_cert_names(name: str) -> None:
    assert validate_cert_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-rf", "--deploy-hook=x", "../etc", "a/b", "a b", "$(id)", "a;b", "`id`", "9" * 254],
)
def test_invalid_cert_names(name: str) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        validate_cert_name(name)
    assert caught.value.field == "cert_name"


def test_command_words() -> None:
    assert parse_command("certbot") == ["certbot"]
    assert parse_command(" /snap/bin/certbot ") == ["/snap/bin/certbot"]
    assert parse_command("env REQUESTS_CA_BUNDLE=/etc/ca.pem certbot --work-dir=/w") == [
        "env",
        "REQUESTS_CA_BUNDLE=/etc/ca.pem",
        "certbot",
        "--work-dir=/w",
    ]
    for bad in ("", "-certbot", "certbot; id", "certbot $HOME", "certbot 'unbalanced", "a|b"):
        with pytest.raises(InvalidSettingError) as caught:
            parse_command(bad)
        assert caught.value.field == "certbot_command"


def test_paths_and_urls() -> None:
    assert validate_config_dir(" /etc/letsencrypt/ ") == "/etc/letsencrypt"
    assert validate_config_dir("/srv/le/../letsencrypt") == "/srv/letsencrypt"
    for bad in ("etc/letsencrypt", "-d", "/etc/\nx"):
        with pytest.raises(InvalidSettingError):
            validate_config_dir(bad)
    assert validate_acme_server(LETS_ENCRYPT_DIRECTORY) == LETS_ENCRYPT_DIRECTORY
    assert validate_acme_server("http://127.0.0.1:14000/dir") == "http://127.0.0.1:14000/dir"
    for bad in ("ftp://x/dir", "https:///dir", "https://user:pw@ca.example/dir", "https://a b"):
        with pytest.raises(InvalidSettingError):
            validate_acme_server(bad)


def test_argument_lists() -> None:
    client = CertbotClient(LocalRunner(), ["certbot"], "/etc/letsencrypt/")
    assert client.certificates_argv() == [
        "certbot",
        "certificates",
        "--non-interactive",
        "--config-dir",
        "/etc/letsencrypt",
    ]
    assert client.renew_argv() == [
        "certbot",
        "renew",
        "--non-interactive",
        "--no-random-sleep-on-renew",
        "--config-dir",
        "/etc/letsencrypt",
    ]
    # A dry run always names the ACME server: certbot would otherwise pick one on its own.
    assert client.renew_argv("a.example", force=True, dry_run=True)[-6:] == [
        "--cert-name",
        "a.example",
        "--force-renewal",
        "--dry-run",
        "--server",
        LETS_ENCRYPT_DIRECTORY,
    ]
    with pytest.raises(InvalidSettingError):
        client.renew_argv("$(reboot)")


def _client(home: CertbotHome, config_dir: str | None = None) -> CertbotClient:
    return CertbotClient(
        LocalRunner(),
        parse_command(home.command),
        config_dir or str(home.config_dir),
        home.pebble.url,
    )


async def test_real_certificates(certbot_home: CertbotHome) -> None:
    lineages = {lineage.name: lineage for lineage in await _client(certbot_home).certificates()}
    assert set(lineages) == {ALWAYS_DUE, NOT_DUE}
    alpha = lineages[ALWAYS_DUE]
    assert alpha.domains == (ALWAYS_DUE, f"www.{ALWAYS_DUE}")
    assert alpha.state is LineageState.VALID
    assert alpha.days_remaining(datetime.now(UTC)) == 4
    assert alpha.validity == "VALID: 4 days"
    assert alpha.certificate_path == str(
        certbot_home.config_dir / "live" / ALWAYS_DUE / "fullchain.pem"
    )


async def test_another_certbot_on_the_same_directories_is_waited_for(
    certbot_home: CertbotHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hold certbot's own lock, as another certbot (e.g. the host's timer) would.
    lock_file = certbot_home.config_dir / ".certbot.lock"

    def take() -> IO[str]:
        handle = lock_file.open("a")
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return handle

    handle = await asyncio.to_thread(take)
    with monkeypatch.context() as patch:
        patch.setattr(client_module, "LOCKED_ATTEMPTS", 1)
        with pytest.raises(CertbotError) as caught:
            await _client(certbot_home).certificates()
    assert caught.value.detail == "Another instance of Certbot is already running."

    asyncio.get_running_loop().call_later(1.0, handle.close)
    started = time.monotonic()
    lineages = await _client(certbot_home).certificates()
    assert time.monotonic() - started > 1.0
    assert {lineage.name for lineage in lineages} == {ALWAYS_DUE, NOT_DUE}


async def test_real_certificates_failure(certbot_home: CertbotHome) -> None:
    with pytest.raises(CertbotError) as caught:
        await _client(certbot_home, "/proc/version").certificates()
    assert caught.value.detail
    assert not caught.value.detail.startswith("Saving debug log")


async def test_real_renewal_not_due(certbot_home: CertbotHome) -> None:
    serial = await asyncio.to_thread(certbot_home.serial, NOT_DUE)
    not_due = await _client(certbot_home).renew(NOT_DUE)
    assert not_due.result is RenewalResult.NOT_DUE
    assert not_due.certificates == {NOT_DUE: RenewalResult.NOT_DUE}
    assert not_due.summary == "No renewals were attempted."
    assert await asyncio.to_thread(certbot_home.serial, NOT_DUE) == serial


async def test_real_renewal_fails_when_the_ca_is_gone(stopped_pebble_home: CertbotHome) -> None:
    outcome = await _client(stopped_pebble_home).renew()
    assert outcome.result is RenewalResult.FAILED
    assert outcome.certificates == {"gamma.test": RenewalResult.FAILED}
    assert outcome.summary.startswith("Failed to renew certificate gamma.test with error")
