"""Who may call the gateway: API key -> tenant, and the guard on open mode (no tenants).

Keys are never kept in plain text: config.yaml holds digests (or plain values hashed at load
and dropped). A presented key is hashed and looked up by digest; the digest is compared with
``hmac.compare_digest`` so the comparison leaks no timing about the stored value.

Open mode (no tenants) is for one machine: without tenants any caller can create, read,
export and erase every user's self-model. That is what a developer wants on their laptop and
never what a server wants, so ``serve`` on an address other than loopback refuses open mode
unless told otherwise (``--allow-open`` or ``server.allow_open: true``), and open mode always
logs a warning at startup.

Outside ``api/``: the gateway's routes, the console and the services all consult the
directory, and none of them should depend on another's package for it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from starlette.datastructures import Headers

from selfmodel.config import Config, Tenant
from selfmodel.errors import AuthenticationFailed
from selfmodel.observability import note_tenant


class TenantDirectory:
    """Who is calling: built once from the config, consulted on every request."""

    def __init__(self, config: Config) -> None:
        self.open_mode = config.open_mode
        self.tenants = {t.name: t for t in config.effective_tenants()}
        self._by_digest: dict[str, Tenant] = {}
        self._digests: dict[str, tuple[str, ...]] = {}  # hashed once here, not per request
        for tenant in config.tenants:
            self._digests[tenant.name] = tuple(tenant.key_digests())
            for digest in self._digests[tenant.name]:
                self._by_digest[digest] = tenant

    def authenticate(self, headers: Headers) -> Tenant:
        """The tenant of the request's key (``Authorization: Bearer`` or ``x-api-key``)."""
        key = presented_key(headers)
        if self.open_mode:
            note_tenant("default")  # the request's metric label and log field
            return self.tenants["default"]
        if not key:
            raise AuthenticationFailed(
                "No API key was given. Pass your selfmodel key as 'Authorization: Bearer <key>'."
            )
        digest = hashlib.sha256(key.encode()).hexdigest()
        tenant = self._by_digest.get(digest)
        if tenant is None or not any(
            hmac.compare_digest(digest, d) for d in self._digests[tenant.name]
        ):
            raise AuthenticationFailed("Incorrect API key provided.")
        note_tenant(tenant.name)
        return tenant


def presented_key(headers: Headers) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None

OPEN_WARNING = ("open mode: no tenants are configured, so any caller can read, export and "
                "erase every user's self-model; configure tenants with api_keys before "
                "exposing this gateway")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the gateway on this machine (a name other than
    ``localhost`` could resolve anywhere, so it counts as a network address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_bind_refusal(config: Config, host: str, allow_open: bool = False) -> str | None:
    """Why ``serve`` must not start on ``host`` with ``config``, or None."""
    if not config.open_mode or is_loopback(host) or allow_open or config.server.allow_open:
        return None
    return (f"refusing to serve open mode (no tenants) on {host}: any caller could read and "
            "erase every user's data. Configure tenants with api_keys, bind 127.0.0.1, or "
            "pass --allow-open (server.allow_open: true) if this network is trusted.")
