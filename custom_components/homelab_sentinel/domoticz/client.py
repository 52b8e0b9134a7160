"""Probe the authentication posture of a Domoticz server through its JSON API.

One poll answers: does an anonymous request from our address get rights, and why; do the
configured credentials work, and with which rights; and, given any rights, what are the trusted
networks, AllowPlainBasicAuth, the version and the failed logins in Domoticz's log. The behaviour
of Domoticz's three authentication eras (2020.1-2022.2, 2023.1-2024.x, 2025.1+) is described in
contracts/domoticz-auth.md.

Session cookies and tokens are kept here and sent explicitly. The shared HTTP session's cookie jar
is never trusted with them, or the anonymous probe would stop being anonymous. This module has no
Home Assistant imports.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
import hashlib
from http.cookies import Morsel
import ipaddress
import logging
import re
from time import monotonic

import aiohttp
from yarl import URL

from ..capped_read import InvalidJSONError, ResponseTooLargeError, parse_json, read_capped_body
from .models import (
    Access,
    DomoticzSnapshot,
    Era,
    FailedLogin,
    Login,
    LoginMethod,
    LoginProblem,
    OpenCause,
    OpenReason,
    Rights,
    version_tuple,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
# Every Domoticz 2023.1+ database has this application. Its password grant fails when it has no
# signing key; the client then stops trying OAuth2 and logs in with logincheck instead.
DEFAULT_OAUTH_CLIENT_ID = "domoticzUI"
# A failed logincheck writes "Failed login attempt" to Domoticz's log, which fail2ban may act on,
# so rejected credentials are not sent again before this many seconds (or a validation).
REJECTED_RETRY_SECONDS = 900.0
# Domoticz 2025.1+ gives a caller in its trusted networks no session cookie after logincheck.
# Re-checking the password on every poll would log "Login successful" every time.
SESSIONLESS_REVERIFY_SECONDS = 3600.0
_TOKEN_RENEW_MARGIN_SECONDS = 60.0
# The largest answer read: getlog's 100 lines per level and getusers stay far below this.
MAX_RESPONSE_SIZE = 4 * 1024 * 1024

_JSON_PATH = "json.htm"
_DISCOVERY_PATH = ".well-known/openid-configuration"
_SESSION_COOKIE = "DMZSID"
_SESSION_ENDED = "none"
_LOG_LEVEL_ERROR = "4"
# md5("domoticz"): the hash Domoticz itself compares the admin's password with at start-up.
_DEFAULT_ADMIN_HASH = "59515f6b193071e263f14bfa94bef645"
_DEFAULT_ADMIN = "admin"
_DEFAULT_ADMIN_WARNING = "Default admin password has NOT been changed!"
_NOWWWPWD_WARNING = "SECURITY RISK! Allowing access without username/password"
# The in-memory admin that -nowwwpwd adds when there are no users (eras B/C).
_NOWWWPWD_ADMIN = "tmpadmin"
_FAILED_LOGIN = re.compile(
    r"Failed login attempt from (?P<address>\S+) for (?:user )?'(?P<username>.*)' !"
)
_LOG_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)  ")
# getlog returns at most 100 lines per level; keep a little more in case a build keeps more.
_LOG_MEMORY = 256
# Rights numbers that mean "no rights": -1 (eras A/B), 254 (era C) and 255 (an application).
_NO_RIGHTS = frozenset({-1, 254, 255})


class DomoticzError(Exception):
    """Base class for everything this module raises."""


class DomoticzConnectionError(DomoticzError):
    """Domoticz could not be reached, did not answer in time, or is unavailable."""


class DomoticzCertificateError(DomoticzConnectionError):
    """The server's TLS certificate did not verify."""


class DomoticzAuthError(DomoticzError):
    """Domoticz rejected the configured credentials."""


class DomoticzTwoFactorError(DomoticzAuthError):
    """The password is right, but the account needs a TOTP code to log in."""


class DomoticzResponseError(DomoticzError):
    """Domoticz gave an answer this client cannot use."""


class DomoticzResponseTooLargeError(DomoticzResponseError):
    """An answer passed the byte cap; reading stopped there."""


class _Auth:
    """What a request presents to identify us; it never prints its secrets."""

    __slots__ = ("authorization", "cookie")

    def __init__(self, authorization: str | None = None, cookie: str | None = None) -> None:
        self.authorization = authorization
        self.cookie = cookie

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        if self.cookie is not None:
            headers["Cookie"] = f"{_SESSION_COOKIE}={self.cookie}"
        return headers

    def __repr__(self) -> str:
        return "<_Auth>"


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    challenge: bool  # WWW-Authenticate: Basic, which only era A's Basic-Auth mode sends
    session_cookie: str | None = field(repr=False)
    body: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Probe:
    """The answer to an anonymous getauth."""

    open: bool
    user: str | None
    rights: Rights | None
    version: str | None
    era: Era | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The verdict on the configured credentials."""

    login: Login
    method: LoginMethod | None = None
    rights: Rights | None = None
    version: str | None = None
    problem: LoginProblem | None = None


_NOT_CONFIGURED = _Outcome(Login.NOT_CONFIGURED)


class FailedLoginCounter:
    """Count each "Failed login attempt" line of Domoticz's error log once.

    getlog returns the whole ring buffer (the last 100 error lines) every time, so the same lines
    come back poll after poll while the oldest rotate out. The previous answer is remembered (at
    most _LOG_MEMORY lines) and aligned with the new one: the longest tail of the previous answer
    that equals the head of the new answer is what the two share, and only the lines after it are
    new. Alignment needs no unique timestamps, so identical lines (the same millisecond, or
    Domoticz started with -notimestamps) are still counted one by one. A cleared or restarted log
    shares nothing, so all of its lines are new. Lines that rotated out between two polls (more
    than 100 new error lines) were dropped by Domoticz before they could be seen.
    """

    def __init__(self) -> None:
        """Start at zero, having seen nothing."""
        self.total = 0
        self._previous: tuple[str, ...] = ()

    def update(self, lines: Sequence[str]) -> tuple[FailedLogin, ...]:
        """Take the current error log, oldest line first; return the failed logins new in it."""
        current = tuple(lines)
        shared = _shared_length(self._previous, current)
        new = tuple(
            failed for line in current[shared:] if (failed := _parse_failed_login(line)) is not None
        )
        self._previous = current[-_LOG_MEMORY:]
        self.total += len(new)
        return new


def _shared_length(previous: tuple[str, ...], current: tuple[str, ...]) -> int:
    for length in range(min(len(previous), len(current)), 0, -1):
        if previous[len(previous) - length :] == current[:length]:
            return length
    return 0


def _parse_failed_login(line: str) -> FailedLogin | None:
    if (match := _FAILED_LOGIN.search(line)) is None:
        return None
    stamp = _LOG_TIMESTAMP.match(line)
    return FailedLogin(
        logged_at=stamp.group(1) if stamp else None,
        address=match.group("address"),
        username=match.group("username"),
    )


def catch_all_networks(networks: str, era: Era | None) -> tuple[str, ...]:
    """The entries of a WebLocalNetworks value that trust every address.

    A wildcard entry whose every part is "*" matches everything (missing trailing parts are
    wildcards too). A CIDR entry with prefix length 0 does so from 2023.1 on, but era A parses a
    CIDR entry as its bare network address, so there "0.0.0.0/0" trusts only 0.0.0.0.
    """
    found: list[str] = []
    for raw in networks.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        if "/" in entry:
            if era is Era.A:
                continue
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if network.prefixlen == 0:
                found.append(entry)
        elif all(part == "*" for part in re.split(r"[.:]", entry)):
            found.append(entry)
    return tuple(found)


class DomoticzClient:
    """Poll one Domoticz server's authentication posture.

    The aiohttp session is borrowed, never closed. Polls are serialised, so one client may be
    shared by a coordinator and a config flow.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        username: str | None = None,
        password: str | None = None,
        verify_ssl: bool = True,
        *,
        oauth_client_id: str | None = DEFAULT_OAUTH_CLIENT_ID,
        oauth_refused: bool = False,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Prepare the client; nothing is sent before the first poll.

        url is the web root, e.g. "http://domoticz.lan:8080" or "https://proxy.lan/domoticz/".
        Without a username, only the anonymous posture is read. oauth_client_id names the
        Domoticz application used for the OAuth2 password grant; None never uses OAuth2.
        oauth_refused says the server already refused that application's password grant: each
        refusal writes an error line into Domoticz's log, so it is not asked again.
        """
        root = URL(url)
        if not root.is_absolute() or root.scheme not in ("http", "https") or not root.host:
            raise ValueError("the Domoticz URL must be an absolute http:// or https:// URL")
        if root.user is not None or root.password is not None:
            raise ValueError("give the credentials as username and password, not in the URL")
        root = root.with_query(None).with_fragment(None)
        # A trailing slash makes json.htm resolve below a reverse proxy's path prefix.
        root = root.with_path(root.path if root.path.endswith("/") else f"{root.path}/")
        self._session = session
        self._root = root
        self._display = f"{root.host}:{root.port}"
        self._https = root.scheme == "https"
        self._ssl = verify_ssl
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._username = username or None
        self._password = password or ""
        self._oauth_client_id = oauth_client_id
        self._lock = asyncio.Lock()

        self._basic_auth_mode = False  # era A "Website Protection: Basic-Auth" seen
        self._preferred: LoginMethod | None = None
        self._session_auth: _Auth | None = None
        self._sessionless: _Outcome | None = None
        self._sessionless_until = 0.0
        self._session_proven_until = 0.0
        self._bearer: _Auth | None = None
        self._bearer_until = 0.0
        self._oauth_usable = oauth_client_id is not None and not oauth_refused
        self._oauth_refused = oauth_refused
        # A 401 from the token endpoint blames the user, the password or the client id alike.
        self._oauth_suspect = False
        self._rejection: _Outcome | None = None
        self._retry_rejected_at = 0.0
        self._failed_logins = FailedLoginCounter()
        self._default_password = False

    def __repr__(self) -> str:
        """Name the server and the user, never the secrets."""
        return f"<DomoticzClient {self._root} user={self._username!r}>"

    @property
    def url(self) -> str:
        """The normalised web root."""
        return str(self._root)

    @property
    def oauth_refused(self) -> bool:
        """Whether the server refused the password grant of the OAuth2 application."""
        return self._oauth_refused

    def retry_oauth(self) -> None:
        """Try the OAuth2 password grant again at the next login, e.g. after an upgrade."""
        self._oauth_refused = self._oauth_suspect = False
        self._oauth_usable = self._oauth_client_id is not None
        # A login that works already would be kept; the grant is asked first, once.
        if self._preferred is LoginMethod.SESSION:
            self._preferred = None
        self._session_auth = self._bearer = self._sessionless = None

    async def async_poll(self) -> DomoticzSnapshot:
        """Read the posture; rejected credentials show as Login.REJECTED, not as an error.

        Raises DomoticzConnectionError and DomoticzResponseError.
        """
        async with self._lock:
            return await self._poll(force_login=False)

    async def async_validate(self) -> DomoticzSnapshot:
        """Read the posture for a config or reauth flow: always try the credentials.

        Raises DomoticzAuthError (DomoticzTwoFactorError) when Domoticz rejects them, besides
        DomoticzConnectionError and DomoticzResponseError.
        """
        async with self._lock:
            snapshot = await self._poll(force_login=True)
        if snapshot.login is Login.REJECTED:
            if snapshot.login_problem is LoginProblem.TWO_FACTOR_REQUIRED:
                raise DomoticzTwoFactorError(
                    f"Domoticz account {self._username!r} needs a two-factor code to log in"
                )
            raise DomoticzAuthError(f"Domoticz rejected the password of {self._username!r}")
        return snapshot

    async def async_close(self) -> None:
        """End the Domoticz session, if one is open; the HTTP session stays open."""
        async with self._lock:
            session_auth, self._session_auth = self._session_auth, None
            self._bearer = None
            if session_auth is None or session_auth.cookie is None:
                return
            with suppress(DomoticzError):
                await self._request("GET", _JSON_PATH, _command("dologout"), session_auth)

    async def _poll(self, *, force_login: bool) -> DomoticzSnapshot:
        probe = await self._probe_anonymous()
        outcome, login_auth = await self._login(probe, force=force_login)
        version = outcome.version or probe.version
        if version is None:
            version = await self._anonymous_version()
        era = Era.from_version(version) or probe.era

        read_auth: _Auth | None = None
        read_rights: Rights | None = None
        if outcome.login is Login.AUTHENTICATED:
            read_auth, read_rights = login_auth, outcome.rights
        elif probe.open:
            read_auth, read_rights = _Auth(), probe.rights
        settings = log_lines = users = None
        if read_auth is not None:
            settings = await self._read_settings(read_auth, era)
            log_lines = await self._read_log(read_auth)
            if read_rights is Rights.ADMIN and era is not Era.A:
                users = await self._read_users(read_auth)

        trusted = _optional_str(settings, "WebLocalNetworks") if settings is not None else None
        catch_all = catch_all_networks(trusted, era) if trusted is not None else ()
        new_failed = self._failed_logins.update(log_lines) if log_lines is not None else ()
        open_cause = open_reason = None
        if probe.open:
            open_cause = _open_cause(
                probe,
                era,
                settings=settings,
                trusted=trusted,
                catch_all=catch_all,
                log_lines=log_lines,
            )
            open_reason = OpenReason.EVERYONE if open_cause else OpenReason.TRUSTED_NETWORK
        return DomoticzSnapshot(
            url=str(self._root),
            transport_https=self._https,
            era=era,
            version=version,
            access=Access.OPEN if probe.open else Access.PROTECTED,
            open_reason=open_reason,
            open_cause=open_cause,
            anonymous_user=probe.user if probe.open else None,
            login=outcome.login,
            login_problem=outcome.problem,
            login_method=outcome.method,
            rights=outcome.rights,
            plain_basic_auth=self._plain_basic_auth(era, settings, outcome),
            trusted_networks=trusted,
            catch_all_networks=catch_all,
            log_available=log_lines is not None,
            failed_logins=self._failed_logins.total,
            new_failed_logins=new_failed,
            default_password_warning=self._default_password_warning(users, log_lines),
        )

    async def _probe_anonymous(self) -> _Probe:
        reply = await self._request("GET", _JSON_PATH, _command("getauth"))
        if reply.status == 401:
            # Only era A's Basic-Auth mode challenges a whitelisted command; it then answers
            # failed checks alternately with 401 and 503.
            self._basic_auth_mode = reply.challenge
            return _Probe(False, None, None, None, Era.A if reply.challenge else None)
        if reply.status == 503 and self._basic_auth_mode:
            return _Probe(False, None, None, None, Era.A)
        data = self._json(reply, "getauth")
        user, rights, version = _parse_identity(data)
        # Only era A sends "rights" (-1) to a caller without rights.
        era = Era.from_version(version) or (Era.A if "rights" in data else None)
        if rights is None:
            return _Probe(False, None, None, version, era)
        return _Probe(True, user, rights, version, era)

    async def _anonymous_version(self) -> str | None:
        # Whitelisted; era A and 2023.1 tell the version to anyone, 2023.2+ only to callers
        # with rights, and era A's Basic-Auth mode to nobody without credentials.
        reply = await self._request("GET", _JSON_PATH, _command("getversion"))
        if reply.status in (401, 503):
            return None
        return _optional_str(self._json(reply, "getversion"), "version")

    async def _login(self, probe: _Probe, *, force: bool) -> tuple[_Outcome, _Auth | None]:
        if self._username is None:
            return _NOT_CONFIGURED, None
        now = monotonic()
        if self._rejection is not None and not force and now < self._retry_rejected_at:
            return self._rejection, None
        if (
            self._sessionless is not None
            and self._preferred is LoginMethod.SESSION
            and probe.open
            and not force
            and now < self._sessionless_until
        ):
            return self._sessionless, _Auth()
        self._rejection = None
        for method in self._login_methods(probe):
            result = await self._try_login(method, probe)
            if result is None:
                continue
            outcome, auth = result
            if outcome.login is Login.REJECTED:
                _LOGGER.debug(
                    "Domoticz at %s rejected the credentials of %r (%s, %s)",
                    self._display,
                    self._username,
                    method,
                    outcome.problem,
                )
                self._rejection = outcome
                self._retry_rejected_at = now + REJECTED_RETRY_SECONDS
                self._session_auth = self._bearer = self._sessionless = None
            else:
                _LOGGER.debug("Logged in to Domoticz at %s with %s", self._display, method)
                self._preferred = method
            return outcome, auth
        raise DomoticzResponseError("Domoticz neither accepted nor rejected the credentials")

    def _login_methods(self, probe: _Probe) -> list[LoginMethod]:
        if probe.era is Era.A:
            methods = [LoginMethod.BASIC, LoginMethod.SESSION]
        else:
            methods = [LoginMethod.BASIC, LoginMethod.OAUTH2, LoginMethod.SESSION]
        if not self._oauth_usable and LoginMethod.OAUTH2 in methods:
            methods.remove(LoginMethod.OAUTH2)
        if ":" in (self._username or ""):
            # Basic credentials cannot carry a colon in the user name.
            methods = [LoginMethod.SESSION]
        if self._preferred in methods:
            methods.remove(self._preferred)
            methods.insert(0, self._preferred)
        return methods

    async def _try_login(
        self, method: LoginMethod, probe: _Probe
    ) -> tuple[_Outcome, _Auth | None] | None:
        """Return the verdict of one method, or None when it cannot tell."""
        if method is LoginMethod.BASIC:
            return await self._try_basic(probe)
        if method is LoginMethod.OAUTH2:
            return await self._try_oauth2()
        return await self._try_session(probe)

    async def _try_basic(self, probe: _Probe) -> tuple[_Outcome, _Auth | None] | None:
        auth = _Auth(authorization=self._basic_header())
        reply = await self._request("GET", _JSON_PATH, _command("getauth"), auth)
        if reply.status in (401, 503) and (probe.era is Era.A or reply.challenge):
            return _rejected(LoginMethod.BASIC), None
        data = self._json(reply, "getauth")
        user, rights, version = _parse_identity(data)
        if rights is not None and user == self._username:
            if probe.open and probe.user == user and self._basic_may_be_ignored(probe):
                return None
            return _Outcome(Login.AUTHENTICATED, LoginMethod.BASIC, rights, version), auth
        if probe.era is Era.A and not probe.open:
            # Era A checks Basic on every json.htm request over any transport, so only wrong
            # credentials leave a caller outside the trusted networks without rights.
            return _rejected(LoginMethod.BASIC), None
        # Eras B/C ignore Basic over plain HTTP unless AllowPlainBasicAuth is on, also when
        # Domoticz itself speaks plain HTTP behind a TLS proxy; era A ignores it from a
        # trusted network. Neither proves the password wrong.
        return None

    def _basic_may_be_ignored(self, probe: _Probe) -> bool:
        # 2023.1 ignores disallowed Basic, so a trusted caller keeps the first admin's identity,
        # which may be our user name whatever the password. Later releases drop such a caller
        # to anonymous instead.
        return not self._https and version_tuple(probe.version) == (2023, 1)

    async def _try_oauth2(self) -> tuple[_Outcome, _Auth | None] | None:
        if (
            self._bearer is not None
            and monotonic() < self._bearer_until
            and (outcome := await self._verify(self._bearer, LoginMethod.OAUTH2)) is not None
        ):
            return outcome, self._bearer
        self._bearer = None
        client_id = self._oauth_client_id
        token_path = await self._token_path()
        if token_path is None or client_id is None:
            self._oauth_usable = False
            return None
        reply = await self._request(
            "POST",
            token_path,
            auth=_Auth(authorization=self._basic_header()),
            form={"grant_type": "password", "client_id": client_id},
        )
        if reply.status == 401:
            self._oauth_suspect = True
            return None
        if reply.status != 200:
            _LOGGER.debug(
                "Domoticz at %s issued no token for client %r (HTTP %s); not using OAuth2",
                self._display,
                self._oauth_client_id,
                reply.status,
            )
            self._oauth_usable = False
            # Only the server's own refusal is remembered; a proxy's 5xx is a passing fault.
            self._oauth_refused = reply.status < 500
            return None
        data = self._json(reply, "token", require_status=False)
        token = data.get("access_token")
        expires_in = data.get("expires_in", 3600)
        if (
            not isinstance(token, str)
            or not token
            or not isinstance(expires_in, int)
            or isinstance(expires_in, bool)
            or str(data.get("token_type", "Bearer")).lower() != "bearer"
        ):
            raise DomoticzResponseError("Domoticz's token endpoint gave no usable bearer token")
        bearer = _Auth(authorization=f"Bearer {token}")
        if (outcome := await self._verify(bearer, LoginMethod.OAUTH2)) is None:
            self._oauth_usable = False
            return None
        self._bearer = bearer
        self._bearer_until = monotonic() + max(expires_in - _TOKEN_RENEW_MARGIN_SECONDS, 0.0)
        return outcome, bearer

    async def _token_path(self) -> str | None:
        reply = await self._request("GET", _DISCOVERY_PATH)
        if reply.status != 200:
            return None  # era A has no OpenID Connect discovery
        data = self._json(reply, "openid-configuration", require_status=False)
        endpoint = data.get("token_endpoint")
        grants = data.get("grant_types_supported")
        if (
            not isinstance(endpoint, str)
            or not isinstance(grants, list)
            or "password" not in grants
        ):
            return None
        # The advertised host is Domoticz's own idea of its name (e.g. domoticz.local:8080);
        # only the path is kept, below the root we know reaches it, also through a proxy.
        return URL(endpoint).path.lstrip("/") or None

    async def _try_session(self, probe: _Probe) -> tuple[_Outcome, _Auth | None] | None:
        if (
            self._session_auth is not None
            and self._session_auth.cookie is not None
            and not self._session_unprovable(probe)
            and (outcome := await self._verify(self._session_auth, LoginMethod.SESSION)) is not None
        ):
            return outcome, self._session_auth
        self._session_auth = None
        reply = await self._request(
            "POST",
            _JSON_PATH,
            _command("logincheck"),
            form={
                "username": base64.b64encode((self._username or "").encode()).decode(),
                "password": hashlib.md5(self._password.encode(), usedforsecurity=False).hexdigest(),
                "rememberme": "false",
            },
        )
        if reply.status in (401, 503):
            return None
        data = self._json(reply, "logincheck", require_status=False)
        if str(data.get("require2fa", "")).lower() == "true":
            return _rejected(LoginMethod.SESSION, LoginProblem.TWO_FACTOR_REQUIRED), None
        if data.get("status") != "OK":
            return _rejected(LoginMethod.SESSION), None
        _user, rights, version = _parse_identity(data)
        if rights is None:
            raise DomoticzResponseError("Domoticz accepted the login but named no rights")
        if self._oauth_suspect:
            # The password is right, so the client id was refused.
            self._oauth_usable = False
            self._oauth_refused = True
            self._oauth_suspect = False
        outcome = _Outcome(Login.AUTHENTICATED, LoginMethod.SESSION, rights, version)
        self._session_proven_until = monotonic() + SESSIONLESS_REVERIFY_SECONDS
        if reply.session_cookie not in (None, _SESSION_ENDED):
            self._session_auth = _Auth(cookie=reply.session_cookie)
            self._sessionless = None
            return outcome, self._session_auth
        # Era C issues no cookie to a trusted caller, who is an admin anyway.
        self._sessionless = outcome
        self._sessionless_until = monotonic() + SESSIONLESS_REVERIFY_SECONDS
        return outcome, _Auth()

    def _session_unprovable(self, probe: _Probe) -> bool:
        """Whether getauth cannot tell our session from trust, and the password is due a check.

        Domoticz answers a stale cookie from a trusted network as its first admin. When that is
        our user, a session that ended looks alive, so the password is checked again with
        logincheck now and then (which Domoticz logs as a successful login).
        """
        return (
            probe.open
            and probe.user == self._username
            and monotonic() >= self._session_proven_until
        )

    async def _verify(self, auth: _Auth, method: LoginMethod) -> _Outcome | None:
        """Check that a session cookie or token still stands for our user."""
        reply = await self._request("GET", _JSON_PATH, _command("getauth"), auth)
        if reply.status == 401:
            return None  # era A answers a stale session cookie with 401
        user, rights, version = _parse_identity(self._json(reply, "getauth"))
        if rights is None or user != self._username:
            return None
        return _Outcome(Login.AUTHENTICATED, method, rights, version)

    async def _read_settings(self, auth: _Auth, era: Era | None) -> Mapping[str, object] | None:
        query = {"type": "settings"} if era is Era.A else _command("getsettings")
        reply = await self._request("GET", _JSON_PATH, query, auth)
        if reply.status in (401, 403):
            return None
        data = self._json(reply, "getsettings", require_status=False)
        return data if data.get("status") == "OK" else None

    async def _read_log(self, auth: _Auth) -> list[str] | None:
        query = {**_command("getlog"), "loglevel": _LOG_LEVEL_ERROR}
        reply = await self._request("GET", _JSON_PATH, query, auth)
        if reply.status in (401, 403):
            return None
        data = self._json(reply, "getlog", require_status=False)
        if data.get("status") != "OK":
            return None
        lines: list[str] = []
        for entry in _optional_list(data, "result"):
            message = entry.get("message") if isinstance(entry, dict) else None
            if not isinstance(message, str):
                raise DomoticzResponseError("getlog: a log entry has no message")
            lines.append(message)
        return lines

    async def _read_users(self, auth: _Auth) -> list[Mapping[str, object]] | None:
        reply = await self._request("GET", _JSON_PATH, _command("getusers"), auth)
        if reply.status in (401, 403):
            return None
        data = self._json(reply, "getusers", require_status=False)
        if data.get("status") != "OK":
            return None
        users: list[Mapping[str, object]] = []
        for entry in _optional_list(data, "result"):
            if not isinstance(entry, dict):
                raise DomoticzResponseError("getusers: a user entry is not an object")
            users.append(entry)
        return users

    def _plain_basic_auth(
        self, era: Era | None, settings: Mapping[str, object] | None, outcome: _Outcome
    ) -> bool | None:
        if era is Era.A:
            return None  # no such setting: era A takes Basic over any transport
        if settings is not None:
            value = settings.get("AllowPlainBasicAuth", 0)  # absent until first saved
            if not isinstance(value, int):
                raise DomoticzResponseError("getsettings: AllowPlainBasicAuth is not a number")
            return bool(value)
        if outcome.method is LoginMethod.BASIC and outcome.login is Login.AUTHENTICATED:
            return True if not self._https else None
        return None

    def _default_password_warning(
        self, users: list[Mapping[str, object]] | None, log_lines: list[str] | None
    ) -> bool:
        if users is not None:
            # An admin sees the hashes; this is the very test Domoticz makes at start-up.
            self._default_password = any(
                user.get("Username") == _DEFAULT_ADMIN
                and str(user.get("Enabled", "true")).lower() == "true"
                and user.get("Password") == _DEFAULT_ADMIN_HASH
                for user in users
            )
        elif log_lines is not None:
            # Logged at start-up only, so it is there until 100 newer error lines push it out.
            self._default_password = any(_DEFAULT_ADMIN_WARNING in line for line in log_lines)
        return self._default_password

    def _basic_header(self) -> str:
        pair = f"{self._username or ''}:{self._password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    async def _request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        auth: _Auth | None = None,
        form: Mapping[str, str] | None = None,
    ) -> _Reply:
        url = self._root.join(URL(path))
        if query is not None:
            url = url.with_query(query)
        self._forget_jar_session()
        try:
            async with self._session.request(
                method,
                url,
                headers=auth.headers() if auth is not None else None,
                data=dict(form) if form is not None else None,
                allow_redirects=False,
                ssl=self._ssl,
                timeout=self._timeout,
            ) as response:
                body = await read_capped_body(response, MAX_RESPONSE_SIZE)
                reply = _Reply(
                    status=response.status,
                    challenge=_is_basic_challenge(response.headers.getall("WWW-Authenticate", [])),
                    session_cookie=_session_cookie(response.headers.getall("Set-Cookie", [])),
                    body=body.decode("utf-8", "replace"),
                )
        except ResponseTooLargeError as err:
            raise DomoticzResponseTooLargeError(
                f"Domoticz at {self._display} sent an answer larger than {MAX_RESPONSE_SIZE} bytes"
            ) from err
        except aiohttp.ClientConnectorCertificateError as err:
            raise DomoticzCertificateError(
                f"the TLS certificate of {self._display} did not verify"
            ) from err
        except (TimeoutError, aiohttp.ClientError) as err:
            raise DomoticzConnectionError(
                f"cannot talk to Domoticz at {self._display}: {type(err).__name__}"
            ) from err
        if auth is not None and auth.cookie is not None and reply.session_cookie is not None:
            # Domoticz renews the cookie after half its lifetime and sends "none" when it ends.
            auth.cookie = None if reply.session_cookie == _SESSION_ENDED else reply.session_cookie
        return reply

    def _forget_jar_session(self) -> None:
        # The shared session's jar stores cookies for host names (not for IP addresses); a
        # DMZSID kept there would ride along on the anonymous probe and make it look open.
        host = self._root.host

        def ours(morsel: Morsel[str]) -> bool:
            return morsel.key == _SESSION_COOKIE and morsel["domain"] == host

        self._session.cookie_jar.clear(ours)

    def _json(
        self, reply: _Reply, what: str, *, require_status: bool = True
    ) -> Mapping[str, object]:
        if reply.status != 200:
            if reply.status == 500:
                raise DomoticzResponseError(
                    f"Domoticz answered {what} with HTTP 500; 2025.1 and later do so while "
                    "no user account is active (e.g. after a resetpwd file)"
                )
            if reply.status in (502, 503, 504):
                raise DomoticzConnectionError(
                    f"Domoticz at {self._display} is unavailable (HTTP {reply.status})"
                )
            raise DomoticzResponseError(f"Domoticz answered {what} with HTTP {reply.status}")
        try:
            data = parse_json(reply.body)
        except InvalidJSONError:
            raise DomoticzResponseError(f"Domoticz's answer to {what} is not JSON") from None
        if not isinstance(data, dict):
            raise DomoticzResponseError(f"Domoticz's answer to {what} is not a JSON object")
        if require_status and data.get("status") != "OK":
            raise DomoticzResponseError(f"Domoticz's answer to {what} is not OK")
        return data


def _command(name: str) -> dict[str, str]:
    # "type=command" must come first: Domoticz whitelists by matching the raw URI.
    return {"type": "command", "param": name}


def _rejected(
    method: LoginMethod, problem: LoginProblem = LoginProblem.INVALID_CREDENTIALS
) -> _Outcome:
    return _Outcome(Login.REJECTED, method, problem=problem)


def _parse_identity(data: Mapping[str, object]) -> tuple[str | None, Rights | None, str | None]:
    """Read user, rights and version from a getauth or logincheck answer."""
    code = data.get("rights")
    rights: Rights | None = None
    if code is not None:
        if not isinstance(code, int) or isinstance(code, bool):
            raise DomoticzResponseError("Domoticz sent rights that are not a number")
        rights = Rights.from_code(code)
        if rights is None and code not in _NO_RIGHTS:
            raise DomoticzResponseError(f"Domoticz sent unknown rights {code}")
    return _optional_str(data, "user"), rights, _optional_str(data, "version")


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise DomoticzResponseError(f"Domoticz sent a {key} that is not text")
    return value


def _optional_list(data: Mapping[str, object], key: str) -> list[object]:
    # jsoncpp leaves out an array that stayed empty.
    value = data.get(key, [])
    if not isinstance(value, list):
        raise DomoticzResponseError(f"Domoticz sent a {key} that is not a list")
    return value


def _is_basic_challenge(values: Sequence[str]) -> bool:
    return any(value.strip().lower().startswith("basic") for value in values)


def _session_cookie(values: Sequence[str]) -> str | None:
    for value in values:
        name, _, rest = value.partition("=")
        if name.strip() == _SESSION_COOKIE:
            return rest.split(";", 1)[0].strip()
    return None


def _open_cause(
    probe: _Probe,
    era: Era | None,
    *,
    settings: Mapping[str, object] | None,
    trusted: str | None,
    catch_all: tuple[str, ...],
    log_lines: list[str] | None,
) -> OpenCause | None:
    """Name what lets every address in, or None when only trusted networks can explain it."""
    if era is Era.A and settings is not None and settings.get("WebUserName") == "":
        return OpenCause.PROTECTION_OFF
    if probe.user == _NOWWWPWD_ADMIN or any(_NOWWWPWD_WARNING in line for line in log_lines or ()):
        return OpenCause.NOWWWPWD
    if catch_all:
        return OpenCause.CATCH_ALL_NETWORK
    if era in (Era.B, Era.C) and trusted == "":
        # From 2023.1 nothing but -nowwwpwd lets a caller in without a trusted network.
        return OpenCause.NOWWWPWD
    return None
