"""Server-sent events: the response that relays a provider stream, and what the relay uses
to cut it (``HeldEvents``) and to read the answer out of it (``EventReader``).

Bytes pass through as the provider sent them; the only thing the gateway looks for is the
surface's terminal event (chat's ``data: [DONE]``, ``response.completed``, ``message_stop``),
held back until the exchange is recorded (so a process killed right after the last byte has
already written its observation). A provider that fails mid-stream gets the surface's in-band
error event instead. A client that disconnects cancels the relay, which closes the provider
connection at once.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_core import to_json
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from selfmodel.errors import GatewayError
from selfmodel.providers.sse_events import SSEDecoder

log = logging.getLogger("selfmodel.api")

DONE = b"data: [DONE]\n\n"
MAX_EVENT_BYTES = 1 << 20
TEXT_LIMIT = 1 << 20  # characters of answer text kept for the observation
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

Pump = Callable[[Send], Awaitable[None]]


class SSEResponse(Response):
    """Runs ``pump(send)`` after the headers, in the request's own task, and cancels it if
    the client goes away.

    The pump owns the body (it sends the last message itself); cancelling it runs its
    ``finally`` blocks, which close the provider stream and record the exchange. One task
    watches for the disconnect; the pump needs none of its own.
    """

    def __init__(self, pump: Pump, headers: dict[str, str]) -> None:
        self.pump = pump
        self.status_code = 200
        self.background = None
        self.raw_headers = _SSE_HEADERS + [(k.encode("latin-1"), v.encode("latin-1"))
                                           for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        task = asyncio.current_task()
        assert task is not None
        watch = asyncio.ensure_future(_cancel_on_disconnect(receive, task))
        try:
            await self.pump(send)
        except asyncio.CancelledError:
            # The client went away: that cancellation was ours and ends here. Any other
            # (the server shutting down) goes on.
            if not _finished(watch) or task.uncancel() > 0:
                raise
        finally:
            watch.cancel()
            if watch.done() and not watch.cancelled():
                watch.exception()  # retrieved: a failed receive is not logged as lost


async def _cancel_on_disconnect(receive: Receive, task: asyncio.Task[object]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


def _finished(watch: asyncio.Future[None]) -> bool:
    """Whether the watcher saw the disconnect (and so cancelled the pump)."""
    return watch.done() and not watch.cancelled() and watch.exception() is None


def error_event(error: GatewayError) -> bytes:
    """The in-band error that ends a stream which already started."""
    return b"data: " + to_json(error.to_openai()) + b"\n\n"


def event(data: object) -> bytes:
    return b"data: " + to_json(data) + b"\n\n"


class HeldEvents(ABC):
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

    @abstractmethod
    def terminal(self, data: bytes) -> int:
        """Where the first terminal event starts in ``data`` (whole events), or -1."""

    @abstractmethod
    def end(self) -> bytes:
        """The closing bytes, sent once the exchange is recorded."""

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


class HoldBack(HeldEvents):
    """Holds back a typed-event surface's terminal event (``response.completed``,
    ``message_stop``): it tells the client the answer is whole, so it is sent only after the
    exchange is recorded."""

    __slots__ = ("_markers",)

    def __init__(self, markers: tuple[bytes, ...]) -> None:
        super().__init__()
        self._markers = markers

    def end(self) -> bytes:
        """What was held back (the terminal event), ending with the blank line it needs."""
        if not self.held.strip():
            return self.held
        return self.held.rstrip(b"\r\n") + b"\n\n"

    def terminal(self, data: bytes) -> int:
        found = [i for i in (_line_at(data, m) for m in self._markers) if i >= 0]
        return min(found, default=-1)


def _line_at(data: bytes, marker: bytes) -> int:
    """Where a line starting with ``marker`` starts in ``data``, or -1."""
    if data.startswith(marker):
        return 0
    index = data.find(b"\n" + marker)
    return index + 1 if index >= 0 else -1


class EventReader(ABC):
    """Reads the answer's text and token count from the events sent to the client, as they
    are sent: the one way every surface's streamed answer is read (a non-stream answer is
    read whole by its surface's ``answer``). Keeps at most ``limit`` characters of text."""

    def __init__(self, limit: int = TEXT_LIMIT) -> None:
        self._decoder = SSEDecoder()
        self._parts: list[str] = []
        self._room = limit
        self.tokens = 0
        self.failed = False  # the provider reported a failure in-band (the answer is cut)

    def feed(self, data: bytes) -> None:
        for _kind, event in self._decoder.feed(data):
            if isinstance(event, dict):
                self.event(event)

    def text(self, piece: Any) -> None:
        if isinstance(piece, str) and self._room > 0:
            self._parts.append(piece[: self._room])
            self._room -= len(piece)

    def answer(self) -> tuple[str, int]:
        return "".join(self._parts), self.tokens

    @abstractmethod
    def event(self, event: dict[str, Any]) -> None:
        """Take what matters from one event (text pieces, usage)."""
