"""Ways to authenticate against Duplicati, and keeping those credentials alive.

Three server generations are handled:

* 2.1.2+ (ASP.NET): JWT access tokens living 15 minutes, a rotating refresh token in a cookie
  and a refresh nonce that has to be echoed; refreshing with an old token revokes the family.
* 2.1.0.x: the same without the nonce.
* 2.0.x (legacy HttpServer): a salted SHA-256 nonce login giving a ``session-auth`` cookie, and an
  ``xsrf-token`` cookie that has to be echoed in ``X-XSRF-Token`` on every API call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
import hashlib
import logging
import re
from typing import Any, Final
from urllib.parse import quote, unquote

from ..capped_read import parse_json
from .exceptions import (
    DuplicatiAuthError,
    DuplicatiConnectionError,
    DuplicatiInvalidTokenError,
    DuplicatiRefreshExpiredError,
    DuplicatiResponseError,
)
from .models import redact
from .transport import Reply, Transport

_LOGGER = logging.getLogger(__package__)

LOGIN_PATH: Final = "/api/v1/auth/login"
SIGNIN_PATH: Final = "/api/v1/auth/signin"
REFRESH_PATH: Final = "/api/v1/auth/refresh"
LOGOUT_PATH: Final = "/api/v1/auth/refresh/logout"
LEGACY_LOGIN_PATH: Final = "/login.cgi"
LEGACY_LOGOUT_PATH: Final = "/logout.cgi"

_REFRESH_COOKIE_PREFIX: Final = "RefreshToken_"
_LEGACY_AUTH_COOKIE: Final = "session-auth"
_LEGACY_NONCE_COOKIE: Final = "session-nonce"
_LEGACY_XSRF_COOKIE: Final = "xsrf-token"
_LEGACY_XSRF_HEADER: Final = "X-XSRF-Token"
_LEGACY_MISSING_XSRF: Final = "Missing XSRF Token"

# Renew when 80 % of the access token's life is used: at 12 of Duplicati's 15 minutes.
_RENEW_FRACTION: Final = 0.8
_DEFAULT_ACCESS_LIFETIME: Final = 15 * 60.0
_JWT: Final = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_SIGNIN_LINK_TOKEN: Final = re.compile(r"[?&#]token=([^&#\s]+)")
# What Duplicati accepts for --webservice-pre-auth-tokens; others are dropped by the server.
_PREAUTH_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{10,}$")


class AuthMethod(StrEnum):
    """How the integration signs in; the values are the config flow's ``auth_method``."""

    PASSWORD = "password"  # noqa: S105 - names of methods, not secrets
    SIGNIN_TOKEN = "signin_token"  # noqa: S105
    PREAUTH_TOKEN = "preauth_token"  # noqa: S105
    FOREVER_TOKEN = "forever_token"  # noqa: S105


@dataclass(frozen=True, slots=True)
class SigninState:
    """What a sign-in-token client must keep across restarts: the refresh cookie and nonce.

    Both rotate on every refresh (about every 12 minutes); persist each new value, since
    refreshing with an outdated one revokes the whole token family on the server.
    """

    cookie_name: str
    refresh_token: str = field(repr=False)
    nonce: str | None = field(repr=False)

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready form, for a config entry's data."""
        return {
            "cookie_name": self.cookie_name,
            "refresh_token": self.refresh_token,
            "nonce": self.nonce,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SigninState:
        """Rebuild from :meth:`as_dict`; unusable data means a new sign-in is needed."""
        cookie_name = data.get("cookie_name")
        refresh_token = data.get("refresh_token")
        nonce = data.get("nonce")
        if (
            not isinstance(cookie_name, str)
            or not cookie_name.startswith(_REFRESH_COOKIE_PREFIX)
            or not isinstance(refresh_token, str)
            or not refresh_token
            or not (nonce is None or isinstance(nonce, str))
        ):
            raise DuplicatiRefreshExpiredError("The stored Duplicati sign-in state is unusable")
        return cls(cookie_name=cookie_name, refresh_token=refresh_token, nonce=nonce)


def parse_signin_token(text: str) -> str:
    """Take the token out of a ``signin.html?token=...`` link, or accept a bare token."""
    text = text.strip()
    if match := _SIGNIN_LINK_TOKEN.search(text):
        text = unquote(match.group(1))
    if not _JWT.match(text):
        raise DuplicatiInvalidTokenError("This is not a Duplicati sign-in link or token")
    return text


def _strip_scheme(text: str, scheme: str) -> str:
    """Accept a token pasted with its header, as ServerUtil prints it."""
    text = text.strip()
    text = re.sub(r"^authorization:\s*", "", text, flags=re.IGNORECASE)
    return re.sub(rf"^{scheme}\s+", "", text, flags=re.IGNORECASE).strip()


def looks_legacy(reply: Reply) -> bool:
    """Whether an answer comes from the 2.0.x HttpServer (XSRF check, no JSON error body)."""
    return reply.reason == _LEGACY_MISSING_XSRF or _LEGACY_XSRF_COOKIE in reply.set_cookies


def _token_lifetime(token: str) -> float:
    """Seconds between ``nbf`` and ``exp`` of a JWT, read without verifying it.

    The server's own clock may differ from ours, so only the difference is used.
    """
    try:
        payload = token.split(".")[1]
        claims = parse_json(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        lifetime = float(claims["exp"]) - float(claims.get("nbf", claims.get("iat")))
    except IndexError, KeyError, TypeError, ValueError, binascii.Error:
        return _DEFAULT_ACCESS_LIFETIME
    return lifetime if lifetime > 0 else _DEFAULT_ACCESS_LIFETIME


class Authenticator(ABC):
    """Obtains and renews the credentials sent with protected API calls."""

    def __init__(self) -> None:
        """Set up the lock that keeps renewals one at a time."""
        # Two concurrent refreshes would present the same refresh token twice, which the
        # server may take for token theft and revoke the family.
        self._lock = asyncio.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes whenever the credentials change; tells whether a failure is already handled."""
        return self._generation

    # Only the password works with 2.0.x servers.
    supports_legacy = False

    @property
    def legacy(self) -> bool:
        """Whether the server is a 2.0.x one."""
        return False

    @abstractmethod
    async def ensure(self, transport: Transport) -> None:
        """Make sure credentials exist and will not expire during the next call."""

    @abstractmethod
    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and cookies for a protected call."""

    def observe(self, reply: Reply) -> None:  # noqa: B027 - an optional hook
        """Learn from an answer to a protected call (legacy servers rotate cookies)."""

    async def recover(self, transport: Transport, reply: Reply, generation: int) -> bool:
        """Handle a rejected call; True when the call should be sent once more."""
        async with self._lock:
            if generation != self._generation:
                return True
            return await self._recover(transport, reply)

    async def _recover(self, transport: Transport, reply: Reply) -> bool:
        """Renew credentials after a rejection; called under the lock."""
        return False

    async def close(self, transport: Transport) -> None:  # noqa: B027 - an optional hook
        """End the server-side session where that is harmless to persisted state."""


class StaticTokenAuth(Authenticator):
    """A pre-auth token (2.1.2+) or a forever token: sent as is, nothing to renew."""

    def __init__(self, method: AuthMethod, token: str) -> None:
        """Check the token's shape so that it cannot break the header."""
        super().__init__()
        if method is AuthMethod.PREAUTH_TOKEN:
            token = _strip_scheme(token, "PreAuth")
            if not _PREAUTH_TOKEN.match(token):
                raise DuplicatiAuthError(
                    "A Duplicati pre-auth token has 10 or more of A-Z, a-z, 0-9, _ and -"
                )
            self._header = f"PreAuth {token}"
        else:
            token = _strip_scheme(token, "Bearer")
            if not _JWT.match(token):
                raise DuplicatiAuthError("This is not a Duplicati forever token")
            self._header = f"Bearer {token}"

    async def ensure(self, transport: Transport) -> None:
        """Nothing to obtain: the token is the credential."""

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """The Authorization header."""
        return {"Authorization": self._header}, {}


class _JwtSession:
    """Access token plus the refresh cookie and nonce of ASP.NET servers (2.1.0+)."""

    def __init__(self, state: SigninState | None = None) -> None:
        self.access_token: str | None = None
        self.renew_at = 0.0
        self.cookie_name: str | None = state.cookie_name if state else None
        self.refresh_token: str | None = state.refresh_token if state else None
        self.nonce: str | None = state.nonce if state else None

    @property
    def state(self) -> SigninState | None:
        if self.cookie_name is None or self.refresh_token is None:
            return None
        return SigninState(self.cookie_name, self.refresh_token, self.nonce)

    def due(self) -> bool:
        return self.access_token is None or asyncio.get_running_loop().time() >= self.renew_at

    def accept(self, reply: Reply) -> None:
        """Take the tokens of a login, sign-in or refresh answer."""
        data = reply.json()
        if not isinstance(data, dict) or not isinstance(access := data.get("AccessToken"), str):
            raise DuplicatiResponseError(f"Duplicati sent no access token for {reply.path}")
        self.access_token = access
        self.renew_at = (
            asyncio.get_running_loop().time() + _token_lifetime(access) * _RENEW_FRACTION
        )
        cookie = next(
            (
                (name, value)
                for name, value in reply.set_cookies.items()
                if name.startswith(_REFRESH_COOKIE_PREFIX) and value
            ),
            None,
        )
        if cookie is None:
            # 2.1.0.x without RememberMe: an access token only.
            self.cookie_name = self.refresh_token = self.nonce = None
            return
        self.cookie_name, self.refresh_token = cookie
        # 2.1.0.x sends no nonce and does not check one.
        nonce = data.get("RefreshNonce")
        self.nonce = nonce if isinstance(nonce, str) and nonce else None

    def forget(self) -> None:
        self.access_token = None
        self.cookie_name = self.refresh_token = self.nonce = None

    async def refresh(self, transport: Transport) -> bool:
        """Rotate the refresh token; False when the server refuses it (expired or revoked)."""
        if self.cookie_name is None or self.refresh_token is None:
            return False
        body = {"Nonce": self.nonce} if self.nonce is not None else {}
        cookies = {self.cookie_name: self.refresh_token}
        try:
            reply = await transport.send("POST", REFRESH_PATH, json_body=body, cookies=cookies)
        except DuplicatiConnectionError:
            # The server may have rotated the family without us seeing the answer. The old
            # token is accepted once more only within 30 seconds: retry now, not next poll.
            reply = await transport.send("POST", REFRESH_PATH, json_body=body, cookies=cookies)
        if reply.status == 401:
            _LOGGER.debug("Duplicati refused the refresh token")
            self.forget()
            return False
        if reply.status != 200:
            raise reply.unexpected()
        self.accept(reply)
        _LOGGER.debug("Renewed the Duplicati access token")
        return True

    async def logout(self, transport: Transport) -> None:
        if self.cookie_name is None or self.refresh_token is None:
            return
        await transport.send(
            "POST",
            LOGOUT_PATH,
            json_body={"Nonce": self.nonce},
            cookies={self.cookie_name: self.refresh_token},
        )
        self.forget()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}


class _LegacySession:
    """Cookie session of a 2.0.x server."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    @property
    def logged_in(self) -> bool:
        return _LEGACY_AUTH_COOKIE in self.cookies

    def observe(self, reply: Reply) -> bool:
        """Keep the session and XSRF cookies the server (re)sets; True if one changed."""
        changed = False
        for name in (_LEGACY_AUTH_COOKIE, _LEGACY_XSRF_COOKIE):
            value = reply.set_cookies.get(name)
            if value and self.cookies.get(name) != value:
                self.cookies[name] = value
                changed = True
        return changed

    async def login(self, transport: Transport, password: str) -> None:
        """Nonce login of ``login/login.js``: password = b64(SHA256(nonce ‖ SHA256(pw ‖ salt)))."""
        self.cookies.pop(_LEGACY_AUTH_COOKIE, None)
        reply = await transport.send(
            "POST", LEGACY_LOGIN_PATH, form={"get-nonce": "1"}, cookies=self._cookies()
        )
        self.observe(reply)
        if reply.status != 200:
            raise reply.unexpected()
        data = reply.json()
        nonce_cookie = reply.set_cookies.get(_LEGACY_NONCE_COOKIE)
        try:
            nonce = base64.b64decode(data["Nonce"], validate=True)
            salt = base64.b64decode(data["Salt"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as err:
            raise DuplicatiResponseError("Duplicati sent an unusable login nonce") from err
        if not nonce_cookie:
            raise DuplicatiResponseError("Duplicati sent no login nonce cookie")
        salted = hashlib.sha256(password.encode() + salt).digest()
        answer = base64.b64encode(hashlib.sha256(nonce + salted).digest()).decode()
        reply = await transport.send(
            "POST",
            LEGACY_LOGIN_PATH,
            form={"password": answer},
            cookies={**self._cookies(), _LEGACY_NONCE_COOKIE: _cookie_safe(nonce_cookie)},
        )
        self.observe(reply)
        if reply.status == 401:
            raise DuplicatiAuthError("Duplicati rejected the password")
        if reply.status != 200 or not self.logged_in:
            raise reply.unexpected()

    def _cookies(self) -> dict[str, str]:
        return {name: _cookie_safe(value) for name, value in self.cookies.items()}

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        headers: dict[str, str] = {}
        if xsrf := self.cookies.get(_LEGACY_XSRF_COOKIE):
            # The server compares the header with the decoded token, byte for byte.
            headers[_LEGACY_XSRF_HEADER] = unquote(xsrf)
        return headers, self._cookies()

    async def logout(self, transport: Transport) -> None:
        if self.logged_in:
            await transport.send("POST", LEGACY_LOGOUT_PATH, cookies=self._cookies())
        self.cookies.pop(_LEGACY_AUTH_COOKIE, None)


def _cookie_safe(value: str) -> str:
    """Percent-encode a legacy cookie value; the server URL-decodes what it does not find.

    Base64 values would otherwise be sent in double quotes, which the server does not strip.
    """
    return quote(unquote(value), safe="")


class PasswordAuth(Authenticator):
    """Password login, for every server generation; 2.0.x is recognised by its XSRF answer."""

    supports_legacy = True

    def __init__(self, password: str) -> None:
        """Remember the password; nothing is sent yet."""
        super().__init__()
        if not password:
            raise DuplicatiAuthError("Duplicati always needs a password")
        self._password = password
        self._jwt = _JwtSession()
        self._legacy: _LegacySession | None = None

    @property
    def legacy(self) -> bool:
        """Whether the last login found a 2.0.x server."""
        return self._legacy is not None

    async def ensure(self, transport: Transport) -> None:
        """Log in when there is no session, refresh when the access token gets old."""
        async with self._lock:
            if self._legacy is not None:
                if not self._legacy.logged_in:
                    await self._login(transport)
            elif self._jwt.access_token is None or (
                self._jwt.due() and not await self._jwt.refresh(transport)
            ):
                await self._login(transport)
            else:
                return
            self._generation += 1

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """Bearer header, or the legacy cookies and XSRF header."""
        if self._legacy is not None:
            return self._legacy.credentials()
        return self._jwt.headers(), {}

    def observe(self, reply: Reply) -> None:
        """Follow the cookies a legacy server slides or replaces."""
        if self._legacy is not None and self._legacy.observe(reply):
            self._generation += 1

    async def _recover(self, transport: Transport, reply: Reply) -> bool:
        if self._legacy is not None and reply.status != 401:
            # A refused XSRF token came with a new one, which observe() already took; an
            # answer without one (the server's token table is full) will not change on retry.
            return False
        # 401: the access token expired or the legacy session ended. Empty 500: the token's
        # family was revoked, so the refresh fails as well and a new login starts a new family.
        if (
            self._legacy is not None
            or looks_legacy(reply)
            or not await self._jwt.refresh(transport)
        ):
            await self._login(transport)
        self._generation += 1
        return True

    async def _login(self, transport: Transport) -> None:
        # Always try the current API first, so that an upgraded 2.0.x server is noticed.
        # No Authorization header: a stale token would turn even this call into a 500.
        reply = await transport.send(
            "POST", LOGIN_PATH, json_body={"Password": self._password, "RememberMe": True}
        )
        if reply.status == 200:
            self._legacy = None
            self._jwt.accept(reply)
            _LOGGER.debug("Logged in to Duplicati")
            return
        if looks_legacy(reply):
            legacy = _LegacySession()
            legacy.observe(reply)
            await legacy.login(transport, self._password)
            self._legacy = legacy
            _LOGGER.debug("Logged in to Duplicati 2.0.x")
            return
        self._jwt.forget()
        if reply.status == 401:
            raise DuplicatiAuthError("Duplicati rejected the password")
        raise reply.unexpected()

    async def close(self, transport: Transport) -> None:
        """Log out, which on 2.1+ deletes the token family instead of leaving it in the DB."""
        async with self._lock:
            if self._legacy is not None:
                await self._legacy.logout(transport)
            else:
                await self._jwt.logout(transport)
            self._generation += 1


class SigninTokenAuth(Authenticator):
    """A one-time sign-in token exchanged for a refresh token family kept alive by refreshing."""

    def __init__(
        self,
        token: str | None,
        state: SigninState | None,
        on_state: Callable[[SigninState], None] | None,
    ) -> None:
        """Take a sign-in link or token, a persisted state, or both (the token wins)."""
        super().__init__()
        if token is None and state is None:
            raise ValueError("A sign-in token or a stored sign-in state is needed")
        self._token = parse_signin_token(token) if token is not None else None
        self._jwt = _JwtSession(state)
        self._on_state = on_state

    @property
    def state(self) -> SigninState | None:
        """The refresh cookie and nonce to persist, once signed in."""
        return self._jwt.state

    async def ensure(self, transport: Transport) -> None:
        """Exchange the sign-in token, or refresh when the access token gets old."""
        async with self._lock:
            if self._jwt.due():
                await self._renew(transport)

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """The Bearer header."""
        return self._jwt.headers(), {}

    async def _recover(self, transport: Transport, reply: Reply) -> bool:
        await self._renew(transport)
        return True

    async def _renew(self, transport: Transport) -> None:
        if self._token is not None:
            await self._exchange(transport)
        elif not await self._jwt.refresh(transport):
            raise DuplicatiRefreshExpiredError(
                "Duplicati no longer accepts the refresh token; a new sign-in link is needed"
            )
        self._generation += 1
        if self._on_state is not None and (state := self._jwt.state) is not None:
            self._on_state(state)

    async def _exchange(self, transport: Transport) -> None:
        token, self._token = self._token, None  # the token is spent whatever happens next
        reply = await transport.send(
            "POST", SIGNIN_PATH, json_body={"SigninToken": token, "RememberMe": True}
        )
        if reply.status == 401:
            reason = redact(reply.error_text() or "unauthorized", (token or "",))
            raise DuplicatiInvalidTokenError(f"Duplicati refused the sign-in token: {reason}")
        if looks_legacy(reply):
            raise DuplicatiAuthError("Duplicati 2.0.x has no sign-in tokens; use the password")
        if reply.status != 200:
            raise reply.unexpected()
        self._jwt.accept(reply)
        if self._jwt.state is None:
            raise DuplicatiResponseError("Duplicati issued no refresh token for the sign-in")
        _LOGGER.debug("Exchanged a Duplicati sign-in token")


def create_authenticator(
    method: AuthMethod | str,
    secret: str | None,
    signin_state: SigninState | None = None,
    on_signin_state: Callable[[SigninState], None] | None = None,
) -> Authenticator:
    """Build the authenticator for a config entry's ``auth_method``."""
    method = AuthMethod(method)
    if method is AuthMethod.SIGNIN_TOKEN:
        return SigninTokenAuth(secret, signin_state, on_signin_state)
    if secret is None:
        raise ValueError(f"{method} needs a secret")
    if method is AuthMethod.PASSWORD:
        return PasswordAuth(secret)
    return StaticTokenAuth(method, secret)
