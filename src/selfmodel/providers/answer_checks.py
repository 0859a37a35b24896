"""Cheap checks on what a provider sends back, before a client is told it succeeded.

A 200 is not an answer by itself: a proxy's HTML error page, a body cut off mid-JSON, or a
stream request answered with something other than server-sent events would otherwise reach
the client as success (the openai SDK then raises ``JSONDecodeError``, or yields nothing
at all) and be recorded as a complete exchange. What is checked costs little:

- a non-stream answer: a JSON content type (or none), at most ``max_bytes`` (read in pieces,
  so a 50 MB answer is refused after 16 MiB instead of being held whole), and a body that
  parses as a JSON object;
- a stream: the ``text/event-stream`` content type, and every line an SSE field
  (``data:``, ``event:``, ``id:``, ``retry:``), a comment (``:``, keep-alives) or blank.

A failure is ``UpstreamMalformed``: 502 ``upstream_error`` before the answer started, an
in-band error event (and no ``[DONE]``) after; such an exchange is not learned from.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic_core import from_json

from selfmodel.errors import UpstreamMalformed

__all__ = ["SSELines", "check_stream_type", "read_json_answer"]

_CHUNK = 1 << 16
_SSE_FIELDS = (b"data:", b"event:", b"id:", b"retry:", b":")
_BARE_FIELDS = frozenset({b"data", b"event", b"id", b"retry"})
_MAX_LINE = 1 << 22  # a "line" longer than this, with no newline in sight, is not SSE


def _malformed(alias: str, what: str) -> UpstreamMalformed:
    return UpstreamMalformed(f"The provider for model '{alias}' sent a malformed answer "
                             f"({what}).")


def _media_type(response: aiohttp.ClientResponse) -> str:
    raw = response.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower()


async def read_json_answer(response: aiohttp.ClientResponse, alias: str,
                           max_bytes: int | None) -> bytes:
    """The whole body of a 2xx non-stream answer, checked; ``UpstreamMalformed`` otherwise.
    ``max_bytes`` None: no size cap."""
    media = _media_type(response)
    if media and media != "application/json" and not media.endswith("+json"):
        raise _malformed(alias, f"content type {media!r} instead of JSON")
    if max_bytes is None:
        payload = await response.read()
    else:
        declared = response.content_length
        if declared is not None and declared > max_bytes:
            raise _too_large(alias, max_bytes)
        payload = await _read_capped(response, alias, max_bytes)
    try:
        data: Any = from_json(payload)
    except ValueError:
        raise _malformed(alias, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _malformed(alias, "the body is not a JSON object")
    return payload


async def _read_capped(response: aiohttp.ClientResponse, alias: str, max_bytes: int) -> bytes:
    body = bytearray()
    while True:
        piece = await response.content.read(_CHUNK)
        if not piece:
            return bytes(body)
        body += piece
        if len(body) > max_bytes:
            raise _too_large(alias, max_bytes)


def _too_large(alias: str, max_bytes: int) -> UpstreamMalformed:
    return _malformed(alias, f"larger than server.max_upstream_bytes, {max_bytes} bytes")


def check_stream_type(response: aiohttp.ClientResponse, alias: str) -> None:
    """A stream request must be answered with server-sent events."""
    media = _media_type(response)
    if media != "text/event-stream":
        raise _malformed(alias, f"content type {media or 'none'!r} instead of "
                                "text/event-stream")


class SSELines:
    """Checks a stream's bytes line by line as they pass (lines may be cut across chunks)."""

    __slots__ = ("_alias", "_pending")

    def __init__(self, alias: str) -> None:
        self._alias = alias
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk if self._pending else chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _MAX_LINE:
            raise _malformed(self._alias, "a stream line without end")
        for line in lines:
            self._line(line)

    def end(self) -> None:
        """The stream ended: a last line without its newline must be valid too."""
        if self._pending:
            self._line(self._pending)
            self._pending = b""

    def _line(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if line and not line.startswith(_SSE_FIELDS) and line not in _BARE_FIELDS:
            raise _malformed(self._alias, "a stream line that is not a server-sent event")
