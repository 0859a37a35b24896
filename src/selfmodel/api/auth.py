"""Tenant identification: API key -> tenant, by SHA-256 digest only.

Keys are never kept in plain text: config.yaml holds digests (or plain values hashed at load
and dropped). A presented key is hashed and looked up by digest; the digest is compared with
``hmac.compare_digest`` so the comparison leaks no timing about the stored value.
"""

from __future__ import annotations

import hashlib
import hmac

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
