"""Server-sent events: the response that relays a provider stream, and its framing helpers.

Bytes pass through as the provider sent them; the only thing the gateway looks for is the
closing ``data: [DONE]`` event, held back until the exchange is recorded (so a process killed
right after the last byte has already written its observation). A provider that fails
mid-stream gets an in-band ``data: {"error": ...}`` event and no ``[DONE]``, which the openai
SDK raises as ``APIError``. A client that disconnects cancels the relay, which closes the
provider connection at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pydantic_core import from_json, to_json
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from selfmodel.errors import GatewayError

log = logging.getLogger("selfmodel.api")

DONE = b"data: [DONE]\n\n"
MAX_EVENT_BYTES = 1 << 20
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

Pump = Callable[[Send], Awaitable[None]]


class SSEResponse(Response):
    """Runs ``pump(send)`` after the headers and cancels it if the client goes away.

    The pump owns the body (it sends the last message itself); cancelling it runs its
    ``finally`` blocks, which close the provider stream and record the exchange.
    """

    def __init__(self, pump: Pump, headers: dict[str, str]) -> None:
        self.pump = pump
        self.status_code = 200
        self.background = None
        self.raw_headers = _SSE_HEADERS + [(k.encode("latin-1"), v.encode("latin-1"))
                                           for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        pump = asyncio.ensure_future(self.pump(send))
        watch = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            pump.cancel()
            try:
                await pump
            except asyncio.CancelledError:
                if not pump.cancelled():
                    raise


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def error_event(error: GatewayError) -> bytes:
    """The in-band error that ends a stream which already started."""
    return b"data: " + to_json(error.to_openai()) + b"\n\n"


def event(data: object) -> bytes:
    return b"data: " + to_json(data) + b"\n\n"


class HeldEvents:
    """Cuts a provider's byte stream at event boundaries and holds back its terminal event.

    Only whole events are passed on: an event cut across two reads waits for its end (a
    provider that fails mid-event must not leave the client half an event glued to our error
    event). From the terminal event on, everything is held, and sent by the relay only after
    the exchange is recorded. Subclasses say which event is terminal and how the stream ends.
    """

    __slots__ = ("held", "holding")

    def __init__(self) -> None:
        self.held = b""
        self.holding = False

    def terminal(self, data: bytes) -> int:
        """Where the first terminal event starts in ``data`` (whole events), or -1."""
        raise NotImplementedError

    def feed(self, chunk: bytes) -> bytes:
        data = self.held + chunk if self.held else chunk
        if self.holding:
            self.held = data
            return b""
        cut = len(data) if data.endswith(b"\n\n") else last_boundary(data)
        if len(data) - cut > MAX_EVENT_BYTES:
            cut = len(data)  # a runaway event is passed on rather than buffered without end
        whole, self.held = data[:cut], data[cut:]
        start = self.terminal(whole)
        if start >= 0:
            self.holding, self.held = True, whole[start:] + self.held
            return whole[:start]
        return whole


class EventSplitter(HeldEvents):
    """Chat's stream: holds the ``data: [DONE]`` event back. Chunks from a well-behaved
    provider are whole events, so in practice nothing waits. ``end()`` gives the closing
    bytes, sent after ``finish``."""

    __slots__ = ()

    def terminal(self, data: bytes) -> int:
        return _done_line(data)

    def end(self) -> bytes:
        """The closing bytes: the provider's ``[DONE]`` event, or ours if it sent none."""
        if self.holding:
            return self.held
        if not self.held.strip():
            return DONE
        ended = self.held.rstrip(b"\r\n") + b"\n\n"  # a last event the provider left open
        return ended if _done_line(ended) >= 0 else ended + DONE


def last_boundary(data: bytes) -> int:
    """The end of the last complete event in ``data`` (0 if there is none)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _done_line(data: bytes) -> int:
    """Where the line ``data: [DONE]`` starts in ``data``, or -1."""
    index = data.find(b"[DONE]")
    while index >= 0:
        start = data.rfind(b"\n", 0, index) + 1
        if data[start:index].rstrip() == b"data:":
            return start
        index = data.find(b"[DONE]", index + 1)
    return -1


class Delivered:
    """The bytes sent to the client, kept up to ``limit`` to read the answer text at the end."""

    __slots__ = ("_chunks", "_room")

    def __init__(self, limit: int = 1 << 20) -> None:
        self._chunks: list[bytes] = []
        self._room = limit

    def add(self, chunk: bytes) -> None:
        if self._room > 0:
            piece = chunk[: self._room]
            self._chunks.append(piece)
            self._room -= len(piece)

    def answer(self) -> tuple[str, int]:
        """The first choice's text and the usage total, from the SSE events delivered."""
        parts: list[str] = []
        tokens = 0
        for line in b"".join(self._chunks).split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = _json(line[5:].strip())
            if not isinstance(data, dict):
                continue
            parts.extend(_delta_text(data.get("choices")))
            usage = data.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
                tokens = usage["total_tokens"]
        return "".join(parts), tokens


def _json(payload: bytes) -> object:
    if not payload or payload == b"[DONE]":
        return None
    try:
        return from_json(payload)
    except ValueError:
        return None


def _delta_text(choices: object) -> list[str]:
    if not isinstance(choices, list):
        return []
    texts = []
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                texts.append(delta["content"])
    return texts
