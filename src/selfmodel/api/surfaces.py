"""What the Responses and Messages routes share: chat's request path, with their own wire.

Every surface takes the same steps as chat (openai_routes.py, whose helpers are used here
rather than copied): authenticate (401) -> body within the limit (413) -> parse and check
(400) -> model allowed (404) -> user and opt-out -> ``pipeline.prepare`` -> inject -> router
-> answer -> ``pipeline.finish``. Only the wire differs, and a ``Wire`` says how: which
events end a stream (held back until the exchange is recorded, as chat holds ``[DONE]``),
how to read the answer's text, and how a failure mid-stream is told to the client.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

# The chat route's own helpers, reused as they are so every surface decides these alike.
from selfmodel.api.bodies import check_type, parse_object, read_body
from selfmodel.api.openai_routes import (
    Exchange,
    allowed_model,
    answer_headers,
    new_request_id,
    pipeline_of,
    recent_user_text,
)
from selfmodel.api.sse import HeldEvents, Pump, SSEResponse
from selfmodel.config import Tenant
from selfmodel.errors import GatewayError
from selfmodel.personalize.threads import opening
from selfmodel.pipeline import Pipeline
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.sse_events import SSEDecoder
from selfmodel.services import Services

__all__ = ["Accepted", "EventReader", "HoldBack", "Wire", "accept", "answer", "check_type",
           "open_exchange", "relay"]

log = logging.getLogger("selfmodel.api")

_JSON = "application/json"
_TEXT_LIMIT = 1 << 20  # characters of answer text kept for the observation


class EventReader(ABC):
    """Reads the answer's text and token count from a surface's events as they are sent."""

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._parts: list[str] = []
        self._room = _TEXT_LIMIT
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


@dataclass(frozen=True)
class Wire:
    """One surface's stream format, as the relay needs it."""

    terminal: tuple[bytes, ...]  # event lines held back until the exchange is recorded
    reader: Callable[[], EventReader]
    error_event: Callable[[GatewayError], bytes]
    answer: Callable[[bytes], tuple[str, int]]  # (text, tokens) of a non-stream answer


@dataclass(slots=True)
class Accepted:
    """A request past the checks every surface makes before personalization."""

    services: Services
    tenant: Tenant
    body: dict[str, Any]
    alias: str
    pipeline: Pipeline


async def accept(request: Request, check: Callable[[dict[str, Any], int], None]) -> Accepted:
    """401, 413, 400 (``check``), 404 in chat's order; every error carries the request id."""
    services: Services = request.app.state.services
    request.state.request_id = new_request_id()
    tenant = services.directory.authenticate(request.headers)
    server = services.config.server
    body = parse_object(await read_body(request, server.max_body_bytes))
    check(body, server.max_messages)
    alias = allowed_model(services, tenant, body["model"])
    return Accepted(services, tenant, body, alias, pipeline_of(services))


async def open_exchange(request: Request, accepted: Accepted, surface: str,
                        user_id: str | None, messages: list[dict[str, Any]],
                        system: Any = None) -> Exchange:
    """``pipeline.prepare`` for the request; ``messages`` is its conversation in chat's shape
    (role and content), from which the new user turns are observed; ``system`` the app's
    system prompt when the surface keeps it apart (``instructions``, ``system``)."""
    prepared = await accepted.pipeline.prepare(
        tenant=accepted.tenant, surface=surface, model=accepted.alias, user_id=user_id,
        opt_out=request.headers.get("x-selfmodel-personalize", "").lower() == "off",
        conversation=recent_user_text(messages), request_id=request.state.request_id,
        thread=opening(messages, system),
    )
    request.state.request_id = prepared.request_id
    return Exchange(accepted.pipeline, prepared, messages)


async def answer(exchange: Exchange, reply: Reply, wire: Wire) -> Response:
    """A non-stream answer: recorded first, then returned as the provider's bytes."""
    text, tokens = wire.answer(reply.body) if exchange.wants_text else ("", 0)
    await exchange.finish(text, truncated=False, tokens=tokens)
    return Response(reply.body, media_type=_JSON,
                    headers=answer_headers(exchange.prepared.request_id, reply.target.label,
                                           exchange.prepared.arm))


def relay(exchange: Exchange, stream: Stream, wire: Wire) -> SSEResponse:
    headers = answer_headers(exchange.prepared.request_id, stream.target.label,
                             exchange.prepared.arm)
    return SSEResponse(SurfaceRelay(exchange, wire).pump(stream), headers)


class SurfaceRelay:
    """Events to the client as they come, then ``finish``, then the terminal event (or the
    surface's error event when the provider fails mid-way)."""

    __slots__ = ("_exchange", "_wire")

    def __init__(self, exchange: Exchange, wire: Wire) -> None:
        self._exchange = exchange
        self._wire = wire

    def pump(self, stream: Stream) -> Pump:
        async def run(send: Send) -> None:
            await self._relay(stream, send)

        return run

    async def _relay(self, stream: Stream, send: Send) -> None:
        held = HoldBack(self._wire.terminal)
        reader = self._wire.reader() if self._exchange.wants_text else None
        completed = False
        try:
            await _send(send, held.feed(stream.first), reader)
            async for chunk in stream.rest:
                await _send(send, held.feed(chunk), reader)
            ending, completed = held.end(), True
            if reader is not None:
                reader.feed(ending)
        except GatewayError as exc:
            self._exchange.broke_off(exc)
            ending = self._wire.error_event(exc)
        finally:
            stream.close()
            await stream.rest.aclose()
            cut = not completed or (reader is not None and reader.failed)
            await self._finish_shielded(reader, truncated=cut)
        await send({"type": "http.response.body", "body": ending, "more_body": False})

    async def _finish_shielded(self, reader: EventReader | None, *, truncated: bool) -> None:
        """``finish``, run to its end even if this task is cancelled (client gone)."""
        text, tokens = reader.answer() if reader is not None else ("", 0)
        task = asyncio.ensure_future(self._exchange.finish(text, truncated=truncated,
                                                           tokens=tokens))
        try:
            await asyncio.shield(task)
        except Exception:
            log.exception("recording the exchange %s failed", self._exchange.prepared.request_id)


async def _send(send: Send, data: bytes, reader: EventReader | None) -> None:
    if data:
        if reader is not None:
            reader.feed(data)
        await send({"type": "http.response.body", "body": data, "more_body": True})


class HoldBack(HeldEvents):
    """Holds back a surface's terminal event (``response.completed``, ``message_stop``): it
    tells the client the answer is whole, so it is sent only after the exchange is recorded."""

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
