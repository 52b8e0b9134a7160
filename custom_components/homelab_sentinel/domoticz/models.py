"""What one poll of a Domoticz server's authentication posture found.

Nothing here holds a secret: snapshots are safe to log, store in diagnostics and show in repairs.
This module has no Home Assistant imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import re


class Era(StrEnum):
    """Domoticz's three authentication designs."""

    A = "A"  # 2020.1-2022.2: one admin in preferences, login page or Basic-Auth mode
    B = "B"  # 2023.1-2024.x: Users table, AllowPlainBasicAuth, OAuth2/OIDC
    C = "C"  # 2025.1+: as B, but HTTP 500 when no user is active and no `type=<rtype>` pages

    @classmethod
    def from_version(cls, version: str | None) -> Era | None:
        """Map a version such as "2024.7" or "2025.1 (build 16794)" to its era."""
        if version is None or (match := _VERSION.match(version)) is None:
            return None
        year = int(match.group(1))
        if year < 2023:
            return cls.A
        return cls.B if year < 2025 else cls.C


_VERSION = re.compile(r"\s*(\d{4})\.(\d+)")


def version_tuple(version: str | None) -> tuple[int, int] | None:
    """The (year, release) of a Domoticz version string, if it has one."""
    if version is None or (match := _VERSION.match(version)) is None:
        return None
    return int(match.group(1)), int(match.group(2))


class Access(StrEnum):
    """Whether an anonymous request from our address gets any rights."""

    OPEN = "open"
    PROTECTED = "protected"


class OpenReason(StrEnum):
    """Why an anonymous request gets rights."""

    # Our address is in WebLocalNetworks; other addresses may still need a login.
    TRUSTED_NETWORK = "trusted_network"
    # Every address gets rights; see OpenCause.
    EVERYONE = "everyone"


class OpenCause(StrEnum):
    """What opened Domoticz to every address."""

    PROTECTION_OFF = "protection_off"  # era A: no website username/password set
    NOWWWPWD = "nowwwpwd"  # started with -nowwwpwd (config file: reset_password=yes)
    CATCH_ALL_NETWORK = "catch_all_network"  # e.g. "*.*.*.*" or "0.0.0.0/0" in WebLocalNetworks


class Login(StrEnum):
    """The outcome of logging in with the configured credentials."""

    AUTHENTICATED = "authenticated"
    REJECTED = "rejected"
    NOT_CONFIGURED = "not_configured"


class LoginProblem(StrEnum):
    """Why Domoticz rejected the credentials."""

    INVALID_CREDENTIALS = "invalid_credentials"
    # The password is right, but the account needs a TOTP code that an unattended client lacks.
    TWO_FACTOR_REQUIRED = "two_factor_required"


class LoginMethod(StrEnum):
    """How the credentials were presented."""

    BASIC = "basic"  # Authorization: Basic on every json.htm request
    SESSION = "session"  # logincheck, then the DMZSID session cookie
    OAUTH2 = "oauth2"  # password grant, then Authorization: Bearer <JWT>


class Rights(StrEnum):
    """Domoticz user rights (URIGHTS_VIEWER=0, URIGHTS_SWITCHER=1, URIGHTS_ADMIN=2)."""

    VIEWER = "viewer"
    USER = "user"
    ADMIN = "admin"

    @classmethod
    def from_code(cls, code: int) -> Rights | None:
        """Map Domoticz's rights number; -1 and 254 (none) and 255 (application) give None."""
        return _RIGHTS_BY_CODE.get(code)


_RIGHTS_BY_CODE = {0: Rights.VIEWER, 1: Rights.USER, 2: Rights.ADMIN}


@dataclass(frozen=True, slots=True)
class FailedLogin:
    """One "Failed login attempt" line of Domoticz's log."""

    logged_at: (
        str | None
    )  # Domoticz's local time, "YYYY-MM-DD HH:MM:SS.mmm"; None with -notimestamps
    address: str
    username: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DomoticzSnapshot:
    """The authentication posture of one Domoticz server, as seen from our address.

    Fields that need rights to read (trusted_networks, plain_basic_auth, the log) are None or keep
    their last value while neither our credentials nor our address give any rights.
    """

    url: str
    transport_https: bool
    # None while the version is hidden: Domoticz 2023.2+ tells it only to callers with rights.
    era: Era | None
    version: str | None

    access: Access
    open_reason: OpenReason | None
    open_cause: OpenCause | None
    # Whom Domoticz maps an anonymous caller to while access is open ("" in era A, else an admin).
    anonymous_user: str | None

    login: Login
    login_problem: LoginProblem | None
    login_method: LoginMethod | None
    rights: Rights | None

    # The AllowPlainBasicAuth preference (eras B/C); None in era A, which has no such setting.
    plain_basic_auth: bool | None
    # The WebLocalNetworks preference, verbatim; None when unreadable.
    trusted_networks: str | None
    # Entries of trusted_networks that match every IPv4 (or IPv6) address.
    catch_all_networks: tuple[str, ...]

    log_available: bool
    failed_logins: int  # cumulative since this client was created; never decreases
    # The ones first seen in this poll; not part of equality, so that a poll that found nothing
    # new equals the last one (failed_logins counts them all).
    new_failed_logins: tuple[FailedLogin, ...] = field(compare=False)
    default_password_warning: bool

    @property
    def exposed_to_everyone(self) -> bool:
        """Whether any address reaches Domoticz without a login (the repair condition)."""
        return self.open_reason is OpenReason.EVERYONE
