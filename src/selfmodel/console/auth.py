"""Who is using the console: operator sessions, the open-mode rule, CSRF and sign-in limits.

Operators sign in with a tenant API key. The key is checked by the gateway's own
``TenantDirectory`` and then forgotten: the session cookie holds a signed token with the
tenant's name, a random session id, an expiry and a fingerprint of the key's digest (an
HMAC, so the cookie reveals nothing about the key). Every request checks that fingerprint
against the tenant's keys as configured now, so a session ends with the key it came from.
The cookie is HttpOnly, SameSite=Strict, Secure when the console is served over https
(then named with the ``__Host-`` prefix, which browsers bind to the host and path /).

Open mode (no tenants configured): the console is served only to loopback clients, and
"sign in" takes no key. Anyone who can reach a loopback port already has the open API.

CSRF: every form carries a token that is a MAC of the session id (or, on the sign-in form,
of a random nonce held in a short-lived cookie), and an ``Origin`` header naming another
site is refused as well.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.config import ConsoleSettings, Tenant
from selfmodel.console.signing import Signer
from selfmodel.errors import AuthenticationFailed
from selfmodel.tenants import TenantDirectory

SESSION = "session"
OPEN_FINGERPRINT = "open"
PRE_COOKIE_AGE = 3600


@dataclass(frozen=True)
class Operator:
    """A signed-in operator: the tenant they see, their session, its CSRF token."""

    tenant: Tenant
    sid: str
    expires_at: float
    csrf: str


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    return f"__Host-{base}" if secure(request) else base


def set_cookie(response: Response, request: Request, base: str, value: str, max_age: int,
               path: str = "/") -> None:
    """An HttpOnly, SameSite=Strict cookie, Secure (and ``__Host-``) over https."""
    https = secure(request)
    response.set_cookie(cookie_name(request, base), value, max_age=max_age,
                        path="/" if https else path, httponly=True, samesite="strict",
                        secure=https)


def clear_cookie(response: Response, request: Request, base: str, path: str = "/") -> None:
    https = secure(request)
    response.delete_cookie(cookie_name(request, base), path="/" if https else path,
                           httponly=True, samesite="strict", secure=https)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin. An absent or
    opaque (``null``) origin proves nothing either way; the CSRF token decides then."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


class Sessions:
    """Issues and reads operator session cookies."""

    COOKIE = "sm_console"
    PRE = "sm_console_pre"  # the sign-in form's CSRF nonce

    def __init__(self, signer: Signer, directory: TenantDirectory,
                 settings: ConsoleSettings) -> None:
        self._signer = signer
        self._directory = directory
        self._lifetime = settings.session_minutes * 60
        self._ended: dict[str, float] = {}  # signed-out session ids -> their expiry

    @property
    def open_mode(self) -> bool:
        return self._directory.open_mode

    def tenant_for_key(self, key: str) -> Tenant | None:
        """The tenant of an API key, through the gateway's own directory."""
        try:
            return self._directory.authenticate(Headers({"authorization": f"Bearer {key}"}))
        except AuthenticationFailed:
            return None

    def issue(self, response: Response, request: Request, tenant: Tenant,
              key: str | None) -> None:
        now = time.time()
        payload = {"t": tenant.name, "sid": secrets.token_urlsafe(16),
                   "k": self._fingerprint(key_digest_of(key)) if key else OPEN_FINGERPRINT}
        token = self._signer.sign(SESSION, payload, now + self._lifetime)
        set_cookie(response, request, self.COOKIE, token, int(self._lifetime))
        clear_cookie(response, request, self.PRE)

    def read(self, request: Request) -> Operator | None:
        token = request.cookies.get(cookie_name(request, self.COOKIE))
        if not token:
            return None
        payload = self._signer.verify(SESSION, token, time.time())
        if payload is None or payload.get("sid") in self._ended:
            return None
        tenant = self._directory.tenants.get(str(payload.get("t")))
        if tenant is None or not self._key_still_valid(tenant, str(payload.get("k"))):
            return None
        if self.open_mode and not is_loopback(request):
            return None
        sid = str(payload["sid"])
        return Operator(tenant, sid, float(payload["exp"]), self._signer.mac("csrf", sid))

    def end(self, response: Response, request: Request, operator: Operator) -> None:
        now = time.time()
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}
        self._ended[operator.sid] = operator.expires_at
        clear_cookie(response, request, self.COOKIE)

    def _fingerprint(self, digest: str) -> str:
        return self._signer.mac("key", digest)[:22]

    def _key_still_valid(self, tenant: Tenant, fingerprint: str) -> bool:
        if self.open_mode:
            return fingerprint == OPEN_FINGERPRINT
        return any(secrets.compare_digest(self._fingerprint(d), fingerprint)
                   for d in tenant.key_digests())

    # -- the sign-in form's CSRF ------------------------------------------------------------
    def sign_in_token(self, request: Request) -> tuple[str, str]:
        """(nonce, form token) for the sign-in page: the nonce goes in a cookie
        (``keep_nonce``), the token in the form; a POST needs both to match."""
        nonce = request.cookies.get(cookie_name(request, self.PRE)) or secrets.token_urlsafe(16)
        return nonce, self._signer.mac("csrf-sign-in", nonce)

    def keep_nonce(self, response: Response, request: Request, nonce: str) -> None:
        set_cookie(response, request, self.PRE, nonce, PRE_COOKIE_AGE)

    def sign_in_token_ok(self, request: Request, token: str) -> bool:
        nonce = request.cookies.get(cookie_name(request, self.PRE))
        return bool(nonce) and self._signer.check_mac("csrf-sign-in", token, nonce or "")


def key_digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SignInLimiter:
    """At most ``per_minute`` sign-in attempts per client address in any 60 seconds (a
    sliding window), for at most ``clients`` addresses (the longest idle are forgotten)."""

    def __init__(self, per_minute: int, clients: int = 10_000) -> None:
        self._limit = per_minute
        self._clients = clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def attempt(self, client: str, now: float) -> float:
        """0 when this attempt is allowed (and counted), else seconds until one is."""
        times = self._seen.pop(client, None) or deque()
        while times and times[0] <= now - 60.0:
            times.popleft()
        self._seen[client] = times
        if len(self._seen) > self._clients:
            self._seen.popitem(last=False)
        if len(times) >= self._limit:
            return max(times[0] + 60.0 - now, 1.0)
        times.append(now)
        return 0.0
