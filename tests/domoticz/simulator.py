"""A protocol-faithful Domoticz web server for tests, after contracts/domoticz-auth.md.

The version string picks the era: A (2020.1-2022.2), B (2023.1-2024.x) or C (2025.1+), with the
2023.1 and 2024.6 changes inside era B. Modelled: users with rights, OAuth2 applications, trusted
networks (wildcards, CIDR, era A's CIDR quirk), website protection off, -nowwwpwd, era A's
Basic-Auth mode with its 401/503 fail counter, AllowPlainBasicAuth, HTTPS, logincheck sessions
(DMZSID, renewal, expiry), OpenID discovery and the OAuth2 password grant (HS256 tokens for
confidential applications), the per-level log ring buffers, and each era's 401/403/404/500
answers. Only the commands an authentication probe needs are served; others answer
{"status": "ERR"} as Domoticz does for unknown commands. Host names in trusted networks are not
resolved. The simulated clock can be moved forward to expire sessions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from enum import StrEnum
import functools
import hashlib
import ipaddress
import json
from pathlib import Path
import re
import secrets
import ssl
import tempfile
import time
import uuid

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import jwt
from multidict import CIMultiDict
from yarl import URL

LOG_NORMAL = 1
LOG_STATUS = 2
LOG_ERROR = 4
LOG_ALL = 268435455
LOG_LINES_PER_LEVEL = 100
SESSION_SECONDS = 600
REMEMBER_ME_SECONDS = SESSION_SECONDS + 30 * 86400
TOKEN_SECONDS = 3600
JWT_LEEWAY_SECONDS = 60
APPLICATION_ID_BASE = 20000
RIGHTS_NONE = -1
RIGHTS_ADMIN = 2
RIGHTS_CLIENT = 255

UNAUTHORIZED_HTML = (
    "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>"
)
FORBIDDEN_HTML = (
    "<html><head><title>Forbidden</title></head><body><h1>403 Forbidden</h1></body></html>"
)
NOT_FOUND_HTML = (
    "<html><head><title>Not Found</title></head><body><h1>404 Not Found</h1></body></html>"
)
SERVER_ERROR_HTML = (
    "<html><head><title>Internal Server Error</title></head>"
    "<body><h1>500 Internal Server Error</h1></body></html>"
)
UNAVAILABLE_HTML = (
    "<html><head><title>Service Unavailable</title></head>"
    "<body><h1>503 Service Unavailable</h1></body></html>"
)
EXPIRED_COOKIE = "DMZSID=none; HttpOnly{same_site}; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
BASIC_CHALLENGE = 'Basic realm="Domoticz.com"'
DEFAULT_PASSWORD_LINE = "Default admin password has NOT been changed! Change it asap!"
NO_PASSWORD_LINE = (
    "SECURITY RISK! Allowing access without username/password as all incoming traffic is "
    "considered trusted! Change admin password asap and restart Domoticz!"
)
NO_USERS_LINE = (
    "[Auth Check] No (active) users in the system! There must be at least 1 active user!"
)

# Commands answered without rights; matched as a prefix of the raw URI's param value.
WHITELIST_A = (
    "rfxfirmwaregetpercentage", "sendopenthermcommand", "getlanguage", "getthemes", "gettitle",
    "logincheck", "getversion", "getauth", "getuptime", "getconfig",
)  # fmt: skip
WHITELIST_BC = (
    "gettimertypes", "getlanguages", "getswitchtypes", "getmetertypes", "getthemes", "gettitle",
    "logincheck", "getversion", "getauth", "getuptime", "getconfig",
)  # fmt: skip
_VERSION = re.compile(r"(\d{4})\.(\d+)")


class Malformed(StrEnum):
    """Ways to break json.htm answers, as a broken proxy or a different product would."""

    NOT_JSON = "not_json"  # 200 with an HTML page
    NOT_OBJECT = "not_object"  # a JSON array
    BAD_TYPES = "bad_types"  # every number sent as text, e.g. "rights": "2"
    TRUNCATED = "truncated"  # the first half of the JSON


@dataclass
class SimUser:
    """A row of the Users table (era A: the website username/password preferences)."""

    name: str
    password: str
    rights: int = RIGHTS_ADMIN
    active: bool = True
    totp: str | None = None  # the code that completes a two-factor login (2023.2+)

    @property
    def password_hash(self) -> str:
        """What Domoticz stores and what the web UI sends: md5 hex of the plaintext."""
        return _md5(self.password)


@dataclass
class SimApplication:
    """A row of the Applications table (eras B/C), loaded as a pseudo-user with rights 255."""

    name: str
    secret: str = ""
    public: bool = False
    active: bool = True

    @property
    def secret_hash(self) -> str:
        """The stored secret; it is also the HS256 signing key."""
        return _md5(self.secret)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator answered."""

    method: str
    path: str
    param: str | None
    remote: str | None
    auth_scheme: str | None
    session_cookie: bool
    status: int


@dataclass
class _Session:
    sid: str
    token: str
    user: str
    rights: int
    expires: int
    lifetime: int
    remote: str


@dataclass(frozen=True)
class _Identity:
    user: str
    rights: int
    trusted: bool = False
    set_cookie: str | None = None


_ANONYMOUS = _Identity("", RIGHTS_NONE)


@dataclass
class _LogLine:
    at: float
    level: int
    message: str


class DomoticzSimulator:
    """A Domoticz web server on 127.0.0.1 and a given or random port (kept across restarts)."""

    def __init__(
        self,
        version: str = "2025.1",
        *,
        users: list[SimUser] | None = None,
        applications: list[SimApplication] | None = None,
        trusted_networks: str = "",
        https: bool = False,
        allow_plain_basic_auth: bool | None = None,
        no_www_password: bool = False,
        basic_auth_mode: bool = False,
        timestamps: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the server; users default to admin/domoticz (era A: no protection).

        port 0 picks a free port at the first start.
        """
        match = _VERSION.match(version)
        if match is None:
            raise ValueError(f"not a Domoticz version: {version}")
        self.version = version
        self.release = (int(match.group(1)), int(match.group(2)))
        self.era = "A" if self.release[0] < 2023 else "B" if self.release[0] < 2025 else "C"
        if users is None:
            users = [] if self.era == "A" else [SimUser("admin", "domoticz")]
        if applications is None:
            applications = (
                []
                if self.era == "A"
                else [
                    SimApplication("domoticzUI", public=True),
                    SimApplication("domoticzMobileApp", active=False),
                ]
            )
        self.users = users
        self.applications = applications
        self.trusted_networks = trusted_networks
        self.https = https
        self.allow_plain_basic_auth = allow_plain_basic_auth
        self.no_www_password = no_www_password
        self.basic_auth_mode = basic_auth_mode
        self.timestamps = timestamps
        self.host = host
        self.malformed: Malformed | None = None
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self._port = port
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._clock_offset = 0.0
        self._sessions: dict[str, _Session] = {}
        self._ip_sessions: dict[str, _Session] = {}
        self._seen_clients: dict[str, float] = {}
        self._fail_counter = 0
        self._logs: dict[int, deque[_LogLine]] = {
            level: deque(maxlen=LOG_LINES_PER_LEVEL)
            for level in (LOG_NORMAL, LOG_STATUS, LOG_ERROR)
        }
        self._log_start_up()

    # Control from tests

    @property
    def url(self) -> URL:
        """The web root, e.g. http://127.0.0.1:41234/."""
        scheme = "https" if self.https else "http"
        return URL.build(scheme=scheme, host=self.host, port=self._port, path="/")

    @property
    def realm(self) -> str:
        """The OAuth2 issuer: scheme, listening address and (always) the port."""
        return f"{self.url.scheme}://{self.host}:{self._port}/"

    async def start(self) -> None:
        """Listen; a restarted simulator keeps its port and its state."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(
            runner, self.host, self._port, ssl_context=_server_ssl_context() if self.https else None
        )
        await site.start()
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening; requests held by `delay` are released first."""
        if self._runner is None:
            return
        self._stopping.set()
        await self._runner.cleanup()
        self._runner = None
        self._stopping = asyncio.Event()

    def set_password(self, name: str, password: str) -> None:
        """Change a user's password, as an admin would in Setup > Users."""
        self._user(name).password = password

    def advance_time(self, seconds: float) -> None:
        """Move the simulated clock (sessions, tokens, log timestamps) forward."""
        self._clock_offset += seconds

    def log(self, level: int, text: str) -> None:
        """Append a line to a level's ring buffer, formatted as Domoticz does."""
        now = self.now()
        prefix = {LOG_NORMAL: "", LOG_STATUS: "Status: ", LOG_ERROR: "Error: "}[level]
        message = f"{prefix}{text}"
        if self.timestamps:
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            message = f"{stamp}  {message}"
        self._logs[level].append(_LogLine(now, level, message))

    def log_failed_login(self, address: str, username: str, *, known_user: bool = True) -> None:
        """Log a failed login from someone else, in logincheck's words."""
        who = f"'{username}'" if known_user else f"user '{username}'"
        self.log(LOG_ERROR, f"Failed login attempt from {address} for {who} !")

    def clear_log(self) -> None:
        """Empty every level, as param=clearlog or a restart does."""
        for lines in self._logs.values():
            lines.clear()

    def log_lines(self, level: int = LOG_ERROR) -> list[str]:
        """The messages currently held for one level."""
        return [line.message for line in self._logs[level]]

    def now(self) -> float:
        """The simulated wall clock."""
        return time.time() + self._clock_offset

    def session_count(self) -> int:
        """Live logincheck sessions."""
        return sum(1 for session in self._sessions.values() if session.expires > self.now())

    # Configuration as Domoticz loads it

    def _user(self, name: str) -> SimUser:
        for user in self.users:
            if user.name == name:
                return user
        raise KeyError(name)

    def _active_users(self) -> list[SimUser]:
        if self.era == "A" and self.no_www_password:
            return []  # era A's -nowwwpwd does not load the users at all
        users = [user for user in self.users if user.active]
        if self.era != "A" and self.no_www_password and not users:
            users = [SimUser("tmpadmin", secrets.token_hex(8))]
        return users

    def _accounts_loaded(self) -> bool:
        """Whether the in-memory user list (users plus active applications) has anyone."""
        if self._active_users():
            return True
        return self.era != "A" and any(app.active for app in self.applications)

    def _first_admin(self) -> SimUser | None:
        return next((u for u in self._active_users() if u.rights == RIGHTS_ADMIN), None)

    def _application(self, name: str) -> tuple[int, SimApplication] | None:
        for index, app in enumerate(self.applications, start=1):
            if app.name == name and app.active:
                return index, app
        return None

    def _application_by_id(self, app_id: int) -> SimApplication | None:
        if 1 <= app_id <= len(self.applications) and self.applications[app_id - 1].active:
            return self.applications[app_id - 1]
        return None

    def _check_password(self, name: str, password_hash: str) -> SimUser | None:
        for user in self._active_users():
            if user.name == name and user.password_hash == password_hash:
                return user
        return None

    def _check_basic(self, credentials: tuple[str, str]) -> SimUser | None:
        return self._check_password(credentials[0], _md5(credentials[1]))

    def _trusted(self, remote: str | None) -> bool:
        if remote is None:
            return False
        try:
            address = ipaddress.ip_address(remote.removeprefix("::ffff:"))
        except ValueError:
            return False
        entries = [entry.strip() for entry in self.trusted_networks.split(";") if entry.strip()]
        if self.era == "A":
            if self.no_www_password or address.version != 4:
                return False
            return any(_matches_era_a(entry, address) for entry in entries)
        if self.no_www_password:
            entries += ["0.0.0.0/0", "::"]
        return any(_matches(entry, address) for entry in entries)

    def _log_start_up(self) -> None:
        self.log(LOG_STATUS, f"Domoticz V{self.version} (c)2012-{self.release[0]} GizMoCuz")
        if self.era == "A":
            return
        admin = next((u for u in self.users if u.name == "admin" and u.active), None)
        if admin is not None and admin.password == "domoticz":
            self.log(LOG_ERROR, DEFAULT_PASSWORD_LINE)
        if self.no_www_password:
            self.log(LOG_ERROR, NO_PASSWORD_LINE)

    # HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay)
        response = await self._dispatch(request)
        authorization = request.headers.get("Authorization", "")
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                param=request.query.get("param"),
                remote=request.remote,
                auth_scheme=authorization.split(" ", 1)[0] or None,
                session_cookie="DMZSID" in request.cookies,
                status=response.status,
            )
        )
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self.era == "C":
            if not self._accounts_loaded():
                self.log(LOG_ERROR, NO_USERS_LINE)
                return self._html(500, SERVER_ERROR_HTML)
            self._note_client(request.remote)
        path = request.path
        if path == "/json.htm":
            return await self._json_htm(request)
        if self.era != "A" and path == "/.well-known/openid-configuration":
            return self._discovery()
        if self.era != "A" and path == "/oauth2/v1/token":
            return await self._token(request)
        if path in ("/", "/index.html"):
            return self._html(200, "<html><head><title>Domoticz</title></head></html>")
        return self._html(404, NOT_FOUND_HTML)

    def _note_client(self, remote: str | None) -> None:
        # Era C logs a client it has not seen for 10 minutes.
        if remote is None:
            return
        now = self.now()
        if now - self._seen_clients.get(remote, -1e12) > SESSION_SECONDS:
            self.log(LOG_STATUS, f"[web:{self._port}] Incoming connection from: {remote}")
        self._seen_clients[remote] = now

    async def _json_htm(self, request: web.Request) -> web.StreamResponse:
        params = {key: str(value) for key, value in request.query.items()}
        if request.method == "POST":
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
        raw = request.raw_path
        whitelisted = self._whitelisted(raw)
        identity = (
            self._identify_a(request, raw) if self.era == "A" else self._identify(request, raw)
        )
        if isinstance(identity, web.Response):
            return identity
        if identity.rights == RIGHTS_NONE and not whitelisted:
            return self._unauthorized()
        rtype = params.get("type", "")
        if rtype != "command":
            response = self._rtype(rtype, identity)
        else:
            response = self._command(params.get("param", ""), params, request, identity)
        # One cookie per answer: logincheck's own session wins over the caller's.
        if identity.set_cookie is not None and "Set-Cookie" not in response.headers:
            response.headers.add("Set-Cookie", identity.set_cookie)
        return response

    def _whitelisted(self, raw: str) -> bool:
        if self.era == "A" and raw.startswith(("/logincheck", "/html5.appcache")):
            return True
        if "type=command" not in raw:
            return False
        commands = WHITELIST_A if self.era == "A" else WHITELIST_BC
        return any(f"?param={name}" in raw or f"&param={name}" in raw for name in commands)

    def _identify_a(self, request: web.Request, raw: str) -> _Identity | web.Response:
        """Era A's CheckAuthentication (2020.1-2022.2)."""
        rights = RIGHTS_NONE
        if not self._active_users() or self._trusted(request.remote):
            rights = RIGHTS_ADMIN
        stale = False
        if cookie := request.cookies.get("DMZSID"):
            if (found := self._session_for(cookie)) is not None:
                session, renewal = found
                return _Identity(session.user, session.rights, set_cookie=renewal)
            stale = True
        if rights == RIGHTS_ADMIN:
            session = self._new_session("", RIGHTS_ADMIN, request.remote or "", SESSION_SECONDS)
            self.log(LOG_STATUS, f"Incoming connection from: {request.remote}")
            return _Identity("", RIGHTS_ADMIN, trusted=True, set_cookie=self._set_cookie(session))
        credentials = _basic_credentials(request) if "json.htm" in raw else None
        if credentials is not None and (user := self._check_basic(credentials)) is not None:
            self._fail_counter = 0
            return _Identity(user.name, user.rights)
        if self.basic_auth_mode:
            self._fail_counter += 2 if "json.htm" in raw else 1
            self.log(
                LOG_ERROR,
                f"[web:{self._port}] Failed authentication attempt, ignoring client request "
                f"(remote address: {request.remote})",
            )
            if self._fail_counter > 2:
                self._fail_counter = 0
                return self._html(503, UNAVAILABLE_HTML)
            return self._unauthorized()
        if stale:
            return self._unauthorized()
        return _ANONYMOUS

    def _identify(self, request: web.Request, raw: str) -> _Identity:
        """Eras B and C (cWebem CheckAuthentication, 2023.1+)."""
        if not self._accounts_loaded():
            self.log(LOG_ERROR, NO_USERS_LINE)  # era B carries on anonymously
            return _ANONYMOUS
        remote = request.remote or ""
        identity = _ANONYMOUS
        if self._trusted(remote):
            if (admin := self._first_admin()) is not None:
                identity = _Identity(admin.name, RIGHTS_ADMIN, trusted=True)
            elif self.era == "C":
                self.log(LOG_STATUS, "[Auth Check] No admin user found, using temporary admin")
                identity = _Identity("tmp_admin", RIGHTS_ADMIN, trusted=True)
            elif self.release >= (2024, 6):
                identity = _Identity("{admin}", RIGHTS_ADMIN, trusted=True)
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            if (user := self._bearer_user(authorization[7:].strip())) is not None:
                return _Identity(user.name, user.rights)
        elif authorization.startswith("Basic ") and "/json.htm?" in raw:
            allowed = self.https or bool(self.allow_plain_basic_auth)
            if allowed:
                credentials = _basic_credentials(request)
                if credentials is not None and (user := self._check_basic(credentials)):
                    return _Identity(user.name, user.rights)
                return _ANONYMOUS  # a bad password drops even a trusted caller
            if self.release != (2023, 1):
                return _ANONYMOUS  # 2023.2+ rejects Basic that is not allowed; 2023.1 ignores it
        cookie = request.cookies.get("DMZSID")
        if cookie and (found := self._session_for(cookie)) is not None:
            session, renewal = found
            return _Identity(session.user, session.rights, set_cookie=renewal)
        if self.era == "B" and identity.trusted:
            return self._trusted_session(identity, remote)
        return identity

    def _trusted_session(self, identity: _Identity, remote: str) -> _Identity:
        # Era B makes a trusted caller without a cookie a session, reused by IP for 10 minutes.
        now = self.now()
        known = self._ip_sessions.get(remote)
        if known is not None and known.expires > now:
            return identity
        session = self._new_session(identity.user, identity.rights, remote, SESSION_SECONDS)
        self._ip_sessions[remote] = session
        self.log(LOG_STATUS, f"[web:{self._port}] Incoming connection from: {remote}")
        return _Identity(
            identity.user, identity.rights, trusted=True, set_cookie=self._set_cookie(session)
        )

    # Sessions (UserSessions table)

    def _cookie_attributes(self) -> str:
        return "; SameSite=strict" if self.release >= (2024, 6) else ""

    def _new_session(self, user: str, rights: int, remote: str, lifetime: int) -> _Session:
        session = _Session(
            sid=secrets.token_hex(16),
            token=base64.b64encode(secrets.token_bytes(36)).decode(),
            user=user,
            rights=rights,
            expires=int(self.now()) + lifetime,
            lifetime=lifetime,
            remote=remote,
        )
        self._sessions[session.sid] = session
        return session

    def _set_cookie(self, session: _Session) -> str:
        expires = formatdate(session.expires, usegmt=True)
        return (
            f"DMZSID={session.sid}_{session.token}.{session.expires}; HttpOnly"
            f"{self._cookie_attributes()}; path=/; Expires={expires}"
        )

    def _session_for(self, cookie: str) -> tuple[_Session, str | None] | None:
        sid, _, rest = cookie.partition("_")
        token, _, _expiry = rest.rpartition(".")
        session = self._sessions.get(sid)
        now = int(self.now())
        if session is None or session.token != token or session.expires <= now:
            return None
        renewal = None
        if session.expires - now < session.lifetime / 2:
            session.token = base64.b64encode(secrets.token_bytes(36)).decode()
            session.expires = now + session.lifetime
            renewal = self._set_cookie(session)
        return session, renewal

    # Answers

    def _headers(self, content_type: str) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict({"Content-Type": content_type})
        if self.era != "A":
            headers["Access-Control-Allow-Origin"] = "*"
            if self.https:
                headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        return headers

    def _html(self, status: int, body: str) -> web.Response:
        plain = self.era == "A" and self.release < (2022, 1)
        content_type = "text/html" if plain else "text/html;charset=UTF-8"
        return web.Response(status=status, body=body.encode(), headers=self._headers(content_type))

    def _unauthorized(self) -> web.Response:
        response = self._html(401, UNAUTHORIZED_HTML)
        response.headers.add(
            "Set-Cookie", EXPIRED_COOKIE.format(same_site=self._cookie_attributes())
        )
        if self.era == "A" and self.basic_auth_mode:
            response.headers["WWW-Authenticate"] = BASIC_CHALLENGE
        return response

    def _json(self, data: Mapping[str, object], status: int = 200) -> web.Response:
        body = json.dumps(data, indent=3, sort_keys=True, separators=(",", " : "))
        content_type = "application/json;charset=UTF-8"
        if self.malformed is Malformed.NOT_JSON:
            body, content_type = "<html><body><h1>Welcome</h1></body></html>", "text/html"
        elif self.malformed is Malformed.NOT_OBJECT:
            body = json.dumps(list(data))
        elif self.malformed is Malformed.BAD_TYPES:
            body = json.dumps({key: _as_text(value) for key, value in data.items()})
        elif self.malformed is Malformed.TRUNCATED:
            body = body[: len(body) // 2]
        headers = self._headers(content_type)
        headers["Cache-Control"] = "no-cache"
        headers["Pragma"] = "no-cache"
        return web.Response(status=status, body=body.encode(), headers=headers)

    def _forbidden(self) -> web.Response:
        if self.era == "A":
            return self._html(403, FORBIDDEN_HTML)
        return self._json({"status": "ERR"}, status=403)  # era C keeps the JSON body

    # json.htm commands

    def _rtype(self, rtype: str, identity: _Identity) -> web.Response:
        if self.era == "C":
            return web.Response(status=404, headers=self._headers("text/html;charset=UTF-8"))
        if self.era == "B" and self.release >= (2023, 2):
            self.log(LOG_STATUS, f"RType {rtype} is DEPRECATED, please use param=get{rtype}")
        if rtype == "settings":
            return self._settings(identity)
        if rtype == "devices":
            return self._json({"status": "OK", "title": "Devices"})
        return self._json({"status": "ERR"})

    def _command(
        self, name: str, params: dict[str, str], request: web.Request, identity: _Identity
    ) -> web.Response:
        if name == "getauth":
            return self._getauth(identity)
        if name == "getversion":
            return self._getversion(identity)
        if name == "logincheck":
            return self._logincheck(params, request)
        if name == "dologout":
            return self._dologout(request)
        if name == "getsettings" and self.era != "A":
            return self._settings(identity)
        if name == "storesettings":
            return self._store_settings(params, identity)
        if name == "getlog":
            return self._getlog(params)
        if name == "getusers":
            return self._getusers(identity)
        return self._json({"status": "ERR"})

    def _getauth(self, identity: _Identity) -> web.Response:
        data: dict[str, object] = {"status": "OK", "title": "GetAuth"}
        if self.era == "A":
            data.update(rights=identity.rights, user=identity.user)
            if identity.rights != RIGHTS_NONE:
                data["version"] = self.version
        elif identity.rights != RIGHTS_NONE:
            data.update(rights=identity.rights, user=identity.user, version=self.version)
        return self._json(data)

    def _getversion(self, identity: _Identity) -> web.Response:
        data: dict[str, object] = {"status": "OK", "title": "GetVersion"}
        if identity.rights != RIGHTS_NONE or self.era == "A" or self.release == (2023, 1):
            data.update(
                HaveUpdate=False,
                UseUpdate=True,
                build_time=f"{self.release[0]}-05-05 09:02:49",
                dzvents_version="3.0.1" if self.era == "A" else "3.1.8",
                hash="89d5c900d",
                python_version="3.11.2 (main)",
                version=self.version,
            )
            if identity.rights == RIGHTS_ADMIN:
                data.update(DomoticzUpdateURL="", Revision=0, SystemName="linux")
        return self._json(data)

    def _logincheck(self, params: dict[str, str], request: web.Request) -> web.Response:
        encoded, password_hash = params.get("username", ""), params.get("password", "")
        if not encoded or not password_hash:
            return self._json({"status": "ERR"})
        remote = request.remote or ""
        try:
            name = base64.b64decode(encoded, validate=True).decode()
        except binascii.Error, UnicodeDecodeError:
            return self._json({"status": "ERR"})
        user = next((u for u in self._active_users() if u.name == name), None)
        if user is None:
            known = self.era != "A" and self._application(name) is not None
            self.log_failed_login(remote, name, known_user=known)
            return self._json({"status": "ERR"})
        if user.password_hash != password_hash:
            self.log_failed_login(remote, name)
            return self._json({"status": "ERR"})
        if user.totp is not None and self.release >= (2023, 2):
            code = params.get("2fatotp")
            if not code:
                return self._json({"require2fa": "true", "status": "OK", "title": "logincheck"})
            if code != user.totp:
                self.log_failed_login(remote, name)
                return self._json({"status": "ERR"})
        self.log(LOG_STATUS, f"Login successful from {remote} for user '{name}'")
        response = self._json(
            {
                "rights": user.rights,
                "status": "OK",
                "title": "logincheck",
                "user": user.name,
                "version": self.version,
            }
        )
        if not (self.era == "C" and self._trusted(remote)):
            lifetime = (
                REMEMBER_ME_SECONDS if params.get("rememberme") == "true" else SESSION_SECONDS
            )
            session = self._new_session(user.name, user.rights, remote, lifetime)
            response.headers.add("Set-Cookie", self._set_cookie(session))
        return response

    def _dologout(self, request: web.Request) -> web.Response:
        cookie = request.cookies.get("DMZSID")
        if cookie:
            self._sessions.pop(cookie.partition("_")[0], None)
        if self.era == "A":
            return self._unauthorized()
        response = web.Response(status=204, headers=self._headers("text/html;charset=UTF-8"))
        if cookie:
            response.headers.add(
                "Set-Cookie",
                f"DMZSID=none; HttpOnly{self._cookie_attributes()}; "
                "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            )
        return response

    def _settings(self, identity: _Identity) -> web.Response:
        del identity  # no admin check in any era
        data: dict[str, object] = {
            "WebLocalNetworks": self.trusted_networks,
            "SecPassword": _md5(""),
            "ProtectionPassword": _md5(""),
            "SecOnDelay": 30,
            "RemoteSharedPort": 6144,
            "status": "OK",
            "title": "settings",
        }
        if self.era == "A":
            admin = self._first_admin()
            data.update(
                AuthenticationMethod=1 if self.basic_auth_mode else 0,
                WebUserName=admin.name if admin is not None else "",
                cloudenabled=True,
            )
            if self.release <= (2022, 1):
                data["WebRemoteProxyIPs"] = ""
        else:
            data["cloudenabled"] = False
            if self.allow_plain_basic_auth is not None:
                data["AllowPlainBasicAuth"] = int(self.allow_plain_basic_auth)
        return self._json(data)

    def _store_settings(self, params: dict[str, str], identity: _Identity) -> web.Response:
        if identity.rights != RIGHTS_ADMIN:
            return self._forbidden()
        if "WebLocalNetworks" in params:
            self.trusted_networks = params["WebLocalNetworks"]
        if self.era != "A" and "AllowPlainBasicAuth" in params:
            self.allow_plain_basic_auth = params["AllowPlainBasicAuth"] in ("1", "on", "true")
        return self._json({"status": "OK", "title": "StoreSettings"})

    def _getlog(self, params: dict[str, str]) -> web.Response:
        try:
            level = int(params.get("loglevel", str(LOG_NORMAL)))
            since = int(params.get("lastlogtime", "0"))
        except ValueError:
            return self._json({"status": "ERR"})
        if level == LOG_ALL:
            lines = sorted((line for ring in self._logs.values() for line in ring), key=_log_time)
        else:
            lines = list(self._logs.get(level, ()))
        lines = [line for line in lines if line.at > since]
        data: dict[str, object] = {
            "LastLogTime": str(int(max((line.at for line in lines), default=since))),
            "status": "OK",
            "title": "GetLog",
        }
        if lines:
            data["result"] = [{"level": line.level, "message": line.message} for line in lines]
        return self._json(data)

    def _getusers(self, identity: _Identity) -> web.Response:
        if identity.rights != RIGHTS_ADMIN:
            return self._json({"status": "ERR", "title": "Users"})
        result = [
            {
                "idx": str(index),
                "Enabled": "true" if user.active else "false",
                "Username": user.name,
                "Password": user.password_hash,
                "Rights": user.rights,
                "RemoteSharing": 0,
                "TabsEnabled": 31,
            }
            for index, user in enumerate(self.users, start=1)
        ]
        return self._json({"result": result, "status": "OK", "title": "Users"})

    # OAuth2 / OpenID Connect (eras B/C)

    def _discovery(self) -> web.Response:
        issuer = self.realm
        base = issuer.rstrip("/")
        return self._json(
            {
                "authorization_endpoint": f"{base}/oauth2/v1/authorize",
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "password", "refresh_token"],
                "issuer": issuer,
                "response_types_supported": ["code"],
                "token_endpoint": f"{base}/oauth2/v1/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "token_endpoint_auth_signing_alg_values_supported": [
                    "PS256",
                    "RS256",
                    "HS256",
                    "HS384",
                    "HS512",
                ],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return self._json({"error": "invalid_request"}, status=400)
        params = {key: str(value) for key, value in request.query.items()}
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
        grant = params.get("grant_type")
        if grant == "refresh_token" and not params.get("refresh_token"):
            return self._json({"error": "invalid_request"}, status=400)
        if grant != "password":
            return self._json({"error": "unsupported_grant_type"}, status=400)
        credentials = _basic_credentials(request)
        user = self._check_basic(credentials) if credentials is not None else None
        application = self._application(params.get("client_id", ""))
        if user is None or application is None:
            return self._json({"error": "invalid_client"}, status=401)
        app_id, app = application
        if app.public:
            # A public application signs with PS256 and its PEM key; the stock one has none.
            self.log(LOG_ERROR, "[IAM] PO exception occurred : no private key")
            return web.Response(status=400, headers=self._headers("application/json;charset=UTF-8"))
        now = int(self.now())
        claims = {
            "iss": self.realm,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_SECONDS,
            "aud": app.name,
            "sub": user.name,
            "jti": str(uuid.uuid4()),
            "preferred_username": user.name,
            "name": user.name,
            "roles": [user.rights],
        }
        token = jwt.encode(
            claims,
            app.secret_hash,
            algorithm="HS256",
            headers={"kid": str(APPLICATION_ID_BASE + app_id), "typ": "JWT"},
        )
        return self._json(
            {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"}
        )

    def _bearer_user(self, token: str) -> SimUser | None:
        try:
            header = jwt.get_unverified_header(token)
            if "JWT" not in str(header.get("typ", "")):
                return None
            kid = int(str(header.get("kid")))
            found = self._application_by_id(kid - APPLICATION_ID_BASE)
            if found is None:
                return None
            app = found
            claims = jwt.decode(
                token,
                app.secret_hash,
                algorithms=["HS256", "HS384", "HS512"],
                audience=app.name,
                issuer=self.realm,
                options={
                    "require": ["exp", "nbf", "iat", "sub", "aud", "iss"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError, ValueError:
            return None
        now = self.now()
        if not (claims["nbf"] - JWT_LEEWAY_SECONDS <= now <= claims["exp"] + JWT_LEEWAY_SECONDS):
            return None
        return next((u for u in self._active_users() if u.name == claims["sub"]), None)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _log_time(line: _LogLine) -> float:
    return line.at


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    authorization = request.headers.get("Authorization", "")
    if not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except binascii.Error, UnicodeDecodeError:
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def _matches(entry: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """cWebem::AddTrustedNetworks (2023.1+): wildcard, CIDR, or a single address."""
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
        return network.version == address.version and address in network
    if "*" in entry:
        separator = ":" if ":" in entry else "."
        if (separator == ":") != (address.version == 6):
            return False
        text = address.exploded if address.version == 6 else str(address)
        # Missing trailing parts are wildcards, so "192.168.*" covers 192.168.0.0/16.
        return all(
            want in ("*", have)
            for want, have in zip(entry.split(separator), text.split(separator), strict=False)
        )
    try:
        return ipaddress.ip_address(entry) == address
    except ValueError:
        return False  # a host name; not resolved here


def _matches_era_a(entry: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Era A reads a CIDR entry as its bare network address and knows no IPv6.
    if "/" in entry:
        entry = entry.split("/", 1)[0]
    if ":" in entry:
        return False
    return _matches(entry, address)


@functools.cache
def _self_signed_pem() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "domoticz.local")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _server_ssl_context() -> ssl.SSLContext:
    certificate_pem, key_pem = _self_signed_pem()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        certificate_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        certificate_file.write_bytes(certificate_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(certificate_file, key_file)
    return context
