"""Signed, expiring tokens for the console: session cookies, CSRF tokens and portal links.

A token is ``base64url(json payload) "." base64url(HMAC-SHA256)``. Each use has its own key,
derived from the one secret (HMAC of the purpose), so a token made for one purpose (a portal
link) is worthless as another (an operator session). The payload is signed, not encrypted:
it holds only what its bearer may see (a tenant name, a user id, an expiry, a random id),
never an API key.

The secret comes from ``console.secret``; without one a random secret is made when the
process starts, which ends every session and link at a restart and is not shared between
replicas (``selfmodel.console`` logs which of the two is in force).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Makes and checks tokens with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the console secret must be at least 16 bytes")
        self._secret = secret
        self._keys: dict[str, bytes] = {}

    @classmethod
    def generated(cls) -> Signer:
        return cls(secrets.token_bytes(32))

    def _key(self, purpose: str) -> bytes:
        key = self._keys.get(purpose)
        if key is None:
            key = self._keys[purpose] = hmac.new(
                self._secret, b"selfmodel-console:" + purpose.encode(), hashlib.sha256).digest()
        return key

    def mac(self, purpose: str, *parts: str) -> str:
        """A MAC over ``parts`` (CSRF tokens, key fingerprints): url-safe, 43 characters."""
        message = "\x00".join(parts).encode()
        return _b64(hmac.new(self._key(purpose), message, hashlib.sha256).digest())

    def check_mac(self, purpose: str, mac: str, *parts: str) -> bool:
        return hmac.compare_digest(self.mac(purpose, *parts), mac)

    def sign(self, purpose: str, payload: dict[str, Any], expires_at: float) -> str:
        body = _b64(json.dumps({**payload, "exp": round(expires_at, 3)},
                               separators=(",", ":"), sort_keys=True).encode())
        digest = hmac.new(self._key(purpose), body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(digest)}"

    def verify(self, purpose: str, token: str, now: float) -> dict[str, Any] | None:
        """The payload of a valid, unexpired token of ``purpose``; None otherwise."""
        body, _, signature = token.partition(".")
        if not body or not signature or len(token) > 4096:
            return None
        expected = hmac.new(self._key(purpose), body.encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int | float):
            return None
        return payload if payload["exp"] > now else None
