"""The one table from a provider's HTTP status to selfmodel's error tree.

Both paths use it: the direct path with the upstream response, the litellm path with the
status its exceptions carry. A 4xx keeps the provider's status and message (the caller's
request was wrong, they need to know how); a 5xx, a refused connection or a timeout becomes
our own message, so no internal host name or traceback reaches a client.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

from pydantic_core import from_json

from selfmodel.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)

_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    413: PayloadTooLarge,
    429: RateLimited,
}

RETRYABLE = (RateLimited, UpstreamError, UpstreamTimeout)


def error_for_status(
    status: int, alias: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """Our error for a provider's non-2xx answer; ``body`` is its parsed JSON, if any."""
    if status >= 500 or status < 400:
        return UpstreamError(f"The provider for model '{alias}' failed (HTTP {status}).")
    message, param, code = _details(body)
    cls = _BY_STATUS.get(status, InvalidRequest)
    error = cls(message or f"The provider rejected the request (HTTP {status}).",
                param=param, code=code)
    error.status = status
    if status == 429:
        retry_after = parse_retry_after(headers or {})
        if retry_after is not None:
            error.headers["retry-after"] = str(math.ceil(retry_after))
        error.retry_after = retry_after
    return error


def error_from_payload(
    status: int, alias: str, payload: bytes, headers: Mapping[str, str]
) -> GatewayError:
    """``error_for_status`` from raw bytes, tolerating bodies that are not JSON."""
    try:
        body = from_json(payload) if payload else None
    except ValueError:
        body = None
    error = error_for_status(status, alias, body, headers)
    if status >= 500:
        error.retry_after = parse_retry_after(headers)
    return error


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``Retry-After`` seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _details(body: Any) -> tuple[str | None, str | None, str | None]:
    """Message, param and code from the error shapes providers use."""
    if not isinstance(body, dict):
        return None, None, None
    error = body.get("error", body)
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return None, None, None
    message = error.get("message") or error.get("detail")
    param, code = error.get("param"), error.get("code")
    return (
        str(message) if message else None,
        str(param) if isinstance(param, str) else None,
        str(code) if isinstance(code, str | int) else None,
    )
