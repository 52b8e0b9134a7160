"""Drive certbot: build its argument lists, run them through a CommandRunner, read its output.

Only two certbot commands are ever run: ``certbot certificates`` and ``certbot renew``. Every
value that reaches a command line is validated here first, because over SSH the command line is
read by the remote shell (the transport also quotes it).

This module has no Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
import posixpath
import re
import shlex
from urllib.parse import urlsplit

from ..input_rules import InvalidHostError, validate_host
from ..transport import CommandResult, CommandRunner

DEFAULT_COMMAND = "certbot"
DEFAULT_CONFIG_DIR = "/etc/letsencrypt"
LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
# certbot certificates may check OCSP for each certificate; renew talks to the CA, runs hooks
# and may reload web servers, for every certificate that is due.
CERTIFICATES_TIME_LIMIT = 120.0
RENEW_TIME_LIMIT = 900.0
CONFIG_DIR_TIME_LIMIT = 30.0
# What every certbot configuration directory in use holds: renewal/<name>.conf, live/<name>/.
_CONFIG_DIR_MARKS = ("renewal", "live")
# How many of the last lines of certbot's output a renewal reports.
OUTPUT_LINES = 20
# Another certbot on the same directories (e.g. the host's renewal timer) makes certbot give up
# at once; it is tried again a few times, a second apart.
LOCKED_ATTEMPTS = 10
LOCKED_RETRY_DELAY = 1.0
_LOCKED = "Another instance of Certbot is already running"

# A lineage name as certbot writes it: renewal/<name>.conf. Letters, digits, dot, dash and
# underscore only, starting with a letter or digit, so it can be neither an option nor a path.
_CERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
# One word of the certbot command: a program path, options such as --work-dir=/x, or VAR=value
# for env(1). Nothing a shell would expand, split or redirect.
_COMMAND_WORD = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")
_PATH_CHARACTERS = re.compile(r"[^\x00-\x1f\x7f]+")
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")

_LINEAGE_START = re.compile(r"^\s*Certificate Name: (?P<name>.+?)\s*$")
_FIELD = re.compile(r"^\s+(?P<key>[A-Za-z ]+): (?P<value>.*?)\s*$")
_EXPIRY = re.compile(r"^(?P<date>\S+ \S+) \((?P<state>VALID|INVALID): (?P<detail>.*)\)$")
_REPORT_LINE = re.compile(
    r"^\s+(?P<path>\S.*?)(?: expires on \d{4}-\d{2}-\d{2})?"
    r" \((?P<status>success|failure|skipped|parsefail)\)$"
)
_FAILED_LINEAGE = re.compile(r"^Failed to renew certificate (?P<name>\S+) with error")
_SEPARATOR = re.compile(r"^[\s-]*$")


class CertbotError(Exception):
    """certbot ran but failed, or said something this module cannot read."""

    def __init__(self, message: str, detail: str = "") -> None:
        """Keep the last line certbot wrote, which usually says what went wrong."""
        super().__init__(f"{message}: {detail}" if detail else message)
        self.detail = detail


class NotCertbotDirectoryError(CertbotError):
    """The configuration directory does not exist or holds neither renewal/ nor live/."""


class InvalidSettingError(ValueError):
    """A setting cannot be put on a certbot command line; field names the setting."""

    def __init__(self, field_name: str, message: str) -> None:
        """Name the setting that was refused."""
        super().__init__(message)
        self.field = field_name


class RenewalResult(StrEnum):
    """How a renewal went, for one certificate or for a whole run."""

    RENEWED = "renewed"
    NOT_DUE = "not_due"
    FAILED = "failed"


class LineageState(StrEnum):
    """What certbot says of a certificate's validity, worst first."""

    EXPIRED = "expired"
    REVOKED = "revoked"
    TEST_CERT = "test_cert"
    VALID = "valid"


@dataclass(frozen=True, slots=True)
class Lineage:
    """One certificate that certbot manages, as ``certbot certificates`` lists it."""

    name: str
    domains: tuple[str, ...]
    expires: datetime
    state: LineageState
    validity: str
    serial_number: str = ""
    key_type: str = ""
    certificate_path: str = ""

    def days_remaining(self, now: datetime) -> int:
        """Whole days until expiry, counted towards zero; negative once expired."""
        return int((self.expires - now) / timedelta(days=1))


@dataclass(frozen=True, slots=True)
class RenewalOutcome:
    """What a ``certbot renew`` run did, overall and per certificate."""

    result: RenewalResult
    certificates: dict[str, RenewalResult] = field(default_factory=dict)
    output: str = ""
    dry_run: bool = False
    # The one line that says best what happened, e.g. why a renewal failed.
    summary: str = ""


def validate_cert_name(name: str) -> str:
    """Return a lineage name fit for ``--cert-name``; raise InvalidSettingError otherwise."""
    if not isinstance(name, str) or not _CERT_NAME.fullmatch(name):
        raise InvalidSettingError("cert_name", "not a certbot certificate name")
    return name


def parse_command(text: str) -> list[str]:
    """Split the configured certbot command into words, each of them harmless to a shell.

    Allows a plain ``certbot``, a path such as ``/snap/bin/certbot``, and prefixes or options
    such as ``env REQUESTS_CA_BUNDLE=/etc/ssl/ca.pem certbot --work-dir /srv/le/work``.
    """
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise InvalidSettingError("certbot_command", "unbalanced quotes") from err
    if not words or words[0].startswith("-"):
        raise InvalidSettingError("certbot_command", "no command")
    if not all(_COMMAND_WORD.fullmatch(word) for word in words):
        raise InvalidSettingError("certbot_command", "a word holds a character a shell expands")
    return words


def validate_config_dir(path: str) -> str:
    """Return certbot's configuration directory as an absolute, normalised path."""
    text = path.strip()
    if not text.startswith("/") or not _PATH_CHARACTERS.fullmatch(text):
        raise InvalidSettingError("config_dir", "not an absolute path")
    return posixpath.normpath(text)


def config_dir_check_argv(config_dir: str) -> list[str]:
    """The command line that succeeds only when config_dir looks like certbot's."""
    directory = validate_config_dir(config_dir)
    renewal, live = (posixpath.join(directory, mark) for mark in _CONFIG_DIR_MARKS)
    return ["test", "-d", renewal, "-o", "-d", live]


async def check_config_dir(runners: Sequence[CommandRunner], config_dir: str) -> None:
    """Raise NotCertbotDirectoryError unless config_dir holds certbot's renewal/ or live/.

    Run before certbot ever sees a directory: certbot creates whatever configuration directory
    it is given (as root, that can be anywhere). Only test(1) runs, which creates nothing. The
    runners are tried in turn until one sees the directory: first without sudo (the names are
    visible to anyone who may enter config_dir), then as certbot will run, so that a directory
    certbot may use is never refused, and one it could not see is never handed to it.
    """
    argv = config_dir_check_argv(config_dir)
    for runner in runners:
        result = await runner.run(argv, time_limit=CONFIG_DIR_TIME_LIMIT)
        if result.exit_status == 0:
            return
    raise NotCertbotDirectoryError(
        "not a certbot configuration directory", validate_config_dir(config_dir)
    )


def validate_acme_server(url: str) -> str:
    """Return an ACME directory URL: http(s), with a host, without credentials or spaces."""
    text = url.strip()
    if not _URL_CHARACTERS.fullmatch(text):
        raise InvalidSettingError("acme_server", "not a URL")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        raise InvalidSettingError("acme_server", "not an http(s) URL with a host")
    try:
        validate_host(parts.hostname)
    except InvalidHostError as err:
        raise InvalidSettingError("acme_server", "not a host name") from err
    return text


def _lineage(name: str, fields: Mapping[str, str]) -> Lineage:
    expiry = _EXPIRY.match(fields.get("Expiry Date", ""))
    if expiry is None:
        raise CertbotError(f"no expiry date for certificate {name}")
    try:
        expires = datetime.fromisoformat(expiry["date"])
    except ValueError as err:
        raise CertbotError(f"unreadable expiry date for certificate {name}") from err
    if expires.tzinfo is None:
        raise CertbotError(f"expiry date without time zone for certificate {name}")
    reasons = {reason.strip() for reason in expiry["detail"].split(",")}
    state = LineageState.VALID
    if expiry["state"] == "INVALID":
        state = next(
            (candidate for candidate in LineageState if candidate.name in reasons),
            LineageState.EXPIRED,
        )
    # certbot 2.x says "Domains:", 5.x "Identifiers:" (which may also hold IP addresses).
    domains = fields.get("Identifiers", fields.get("Domains", ""))
    return Lineage(
        name=name,
        domains=tuple(domains.split()),
        expires=expires,
        state=state,
        validity=f"{expiry['state']}: {expiry['detail']}",
        serial_number=fields.get("Serial Number", ""),
        key_type=fields.get("Key Type", ""),
        certificate_path=fields.get("Certificate Path", ""),
    )


def parse_certificates(text: str) -> list[Lineage]:
    """Read the lineages in the output of ``certbot certificates`` (certbot 2.x to 5.x)."""
    blocks: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        if start := _LINEAGE_START.match(line):
            blocks.append((start["name"], {}))
        elif blocks and (found := _FIELD.match(line)):
            blocks[-1][1][found["key"]] = found["value"]
    if not blocks and "No certificates found." not in text:
        raise CertbotError("certbot listed no certificates and did not say there are none")
    return [_lineage(name, fields) for name, fields in blocks]


def _name_from_path(path: str, known: Mapping[str, str]) -> str:
    if path in known:
        return known[path]
    if path.endswith(".conf"):
        return posixpath.basename(path)[: -len(".conf")]
    return posixpath.basename(posixpath.dirname(path))


_STATUS = {
    "success": RenewalResult.RENEWED,
    "skipped": RenewalResult.NOT_DUE,
    "failure": RenewalResult.FAILED,
    "parsefail": RenewalResult.FAILED,
}


def _last_lines(result: CommandResult) -> str:
    lines = [
        line.rstrip()
        for line in (*result.stdout.splitlines(), *result.stderr.splitlines())
        if not _SEPARATOR.match(line)
    ]
    return "\n".join(lines[-OUTPUT_LINES:])


def _last_complaint(result: CommandResult) -> str:
    for line in reversed([*result.stdout.splitlines(), *result.stderr.splitlines()]):
        if not _SEPARATOR.match(line) and not line.startswith(("Saving debug", "Ask for help")):
            return line.strip()
    return f"exit status {result.exit_status}"


def parse_renewal(
    result: CommandResult, known_paths: Mapping[str, str], *, dry_run: bool = False
) -> RenewalOutcome:
    """Read what ``certbot renew`` did from its report and exit status.

    known_paths maps certificate (fullchain) paths to lineage names, for lineages whose files
    are not in certbot's usual live/<name>/ layout.
    """
    certificates: dict[str, RenewalResult] = {}
    summary = ""
    for line in (*result.stdout.splitlines(), *result.stderr.splitlines()):
        if report := _REPORT_LINE.match(line):
            certificates[_name_from_path(report["path"], known_paths)] = _STATUS[report["status"]]
        elif failed := _FAILED_LINEAGE.match(line):
            certificates.setdefault(failed["name"], RenewalResult.FAILED)
            summary = summary or line.strip()
    values = set(certificates.values())
    if result.exit_status != 0 or RenewalResult.FAILED in values:
        overall = RenewalResult.FAILED
    elif RenewalResult.RENEWED in values:
        overall = RenewalResult.RENEWED
    else:
        overall = RenewalResult.NOT_DUE
    return RenewalOutcome(
        overall, certificates, _last_lines(result), dry_run, summary or _last_complaint(result)
    )


class CertbotClient:
    """Lists and renews the certificates of one certbot configuration directory."""

    def __init__(
        self,
        runner: CommandRunner,
        command: Sequence[str],
        config_dir: str,
        acme_server: str = LETS_ENCRYPT_DIRECTORY,
    ) -> None:
        """Use runner to run command (already split) on config_dir; dry runs go to acme_server."""
        self.runner = runner
        self.command = list(command)
        self.config_dir = validate_config_dir(config_dir)
        self.acme_server = validate_acme_server(acme_server)

    def certificates_argv(self) -> list[str]:
        """The command line that lists the certificates."""
        return [
            *self.command,
            "certificates",
            "--non-interactive",
            "--config-dir",
            self.config_dir,
        ]

    def renew_argv(
        self, cert_name: str | None = None, *, force: bool = False, dry_run: bool = False
    ) -> list[str]:
        """The command line that renews the due certificates, or one, or simulates it.

        A dry run always names the configured ACME server: without --server, certbot would
        pick Let's Encrypt's staging server on its own.
        """
        argv = [
            *self.command,
            "renew",
            "--non-interactive",
            "--no-random-sleep-on-renew",
            "--config-dir",
            self.config_dir,
        ]
        if cert_name is not None:
            argv += ["--cert-name", validate_cert_name(cert_name)]
        if force:
            argv.append("--force-renewal")
        if dry_run:
            argv += ["--dry-run", "--server", self.acme_server]
        return argv

    async def _run(self, argv: list[str], time_limit: float) -> CommandResult:
        """Run a certbot command; while another certbot holds the directories, wait and retry."""
        for _ in range(LOCKED_ATTEMPTS - 1):
            result = await self.runner.run(argv, time_limit=time_limit)
            if result.exit_status == 0 or _LOCKED not in result.stdout + result.stderr:
                return result
            await asyncio.sleep(LOCKED_RETRY_DELAY)
        return await self.runner.run(argv, time_limit=time_limit)

    async def certificates(self) -> list[Lineage]:
        """The certificates certbot manages in the configuration directory."""
        result = await self._run(self.certificates_argv(), CERTIFICATES_TIME_LIMIT)
        if result.exit_status != 0:
            raise CertbotError("certbot certificates failed", _last_complaint(result))
        return parse_certificates(result.stdout)

    async def renew(
        self,
        cert_name: str | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
        known_paths: Mapping[str, str] | None = None,
    ) -> RenewalOutcome:
        """Run certbot renew; certbot's own failures are an outcome, not an exception."""
        argv = self.renew_argv(cert_name, force=force, dry_run=dry_run)
        result = await self._run(argv, RENEW_TIME_LIMIT)
        return parse_renewal(result, known_paths or {}, dry_run=dry_run)
