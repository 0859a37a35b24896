"""The one error tree of selfmodel.

Every failure a client can see is a ``GatewayError``: it knows its HTTP status, its OpenAI
error ``type`` and ``code``, and the request field (``param``) it concerns. One handler in
``selfmodel.api`` renders it, in OpenAI's shape (or Anthropic's on ``/v1/messages``), so no
client ever sees a traceback or FastAPI's 422 list.

    GatewayError
    ├── InvalidRequest          400 invalid_request_error
    │   └── ContextTooLarge     400 invalid_request_error (too many messages or tokens)
    ├── AuthenticationFailed    401 authentication_error
    ├── PermissionDenied        403 permission_error
    ├── NotFound                404 not_found_error
    │   └── ModelNotFound       404 model_not_found
    ├── PayloadTooLarge         413 invalid_request_error
    ├── RateLimited             429 rate_limit_error (Retry-After passed on)
    ├── UpstreamError           502 api_error (provider 5xx, unreachable, bad answer)
    │   └── UpstreamMalformed   502 api_error (a 2xx that is not a well-formed answer)
    ├── UpstreamTimeout         504 timeout_error
    └── StoreUnavailable        503 service_unavailable (self-model API only; chat degrades)

Lower-level errors are translated with ``raise ... from exc`` at the boundary that knows what
they mean (providers, store), never by matching strings.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base of every error a client may see."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait (retries use it)

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def to_openai(self) -> dict[str, Any]:
        """The body OpenAI's API (and so the openai SDK) uses for errors."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_anthropic(self) -> dict[str, Any]:
        """The body Anthropic's Messages API uses for errors."""
        return {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(self.status, "api_error"),
                                           "message": self.message}}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class ContextTooLarge(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class ModelNotFound(NotFound):
    type = "invalid_request_error"
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(GatewayError):
    status = 502
    type = "api_error"
    code = "upstream_error"


class UpstreamMalformed(UpstreamError):
    """A 2xx answer that is not one (wrong content type, cut JSON, not SSE, too large): the
    exchange failed and is not learned from (providers/answer_checks.py)."""


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class StoreUnavailable(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "store_unavailable"


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}


class ConfigError(Exception):
    """A config.yaml that cannot be used; the message names the field and the line."""
