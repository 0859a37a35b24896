"""Reading and writing typed server-sent events (``event: <type>`` + ``data: <json>``).

The Responses and Messages surfaces speak typed events, unlike chat's bare ``data:`` lines.
Translated streams read a provider's chat chunks and write the surface's events; the routes
read the surface's events back to learn the answer's text. Both need an incremental decoder:
chunks arrive cut anywhere, even inside a line.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json, to_json

_MAX_PENDING = 1 << 22  # an event longer than this is dropped rather than buffered forever


def frame(kind: str, data: Any) -> bytes:
    """One typed event, as OpenAI's Responses API and Anthropic's Messages API frame them."""
    return b"event: " + kind.encode() + b"\ndata: " + to_json(data) + b"\n\n"


class SSEDecoder:
    """Bytes in, complete events out as ``(event type or None, parsed JSON data)``.

    Data that is not JSON (chat's ``[DONE]``, a keep-alive) is skipped; comments and ``id:``
    or ``retry:`` fields are ignored, as the SSE spec says clients do.
    """

    __slots__ = ("_data", "_event", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, Any]]:
        data = self._pending + chunk if self._pending else chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _MAX_PENDING:
            self._pending = b""
        events: list[tuple[str | None, Any]] = []
        for line in lines:
            self._line(line.rstrip(b"\r"), events)
        return events

    def _line(self, line: bytes, events: list[tuple[str | None, Any]]) -> None:
        if not line:
            self._dispatch(events)
        elif line.startswith(b"data:"):
            self._data.append(_value(line[5:]))
        elif line.startswith(b"event:"):
            self._event = _value(line[6:]).decode("utf-8", "replace")

    def _dispatch(self, events: list[tuple[str | None, Any]]) -> None:
        kind, data = self._event, b"\n".join(self._data)
        self._event, self._data = None, []
        if not data or data == b"[DONE]":
            return
        try:
            events.append((kind, from_json(data)))
        except ValueError:
            return


def _value(field: bytes) -> bytes:
    """A field's value: one leading space is part of the syntax, not the value."""
    return field[1:] if field.startswith(b" ") else field
