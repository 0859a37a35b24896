"""The one request path every surface (chat, Responses, Messages) takes, and what a surface is.

``handle(request, surface)``, in order: a request id -> authenticate (401) -> read the body
within the limit (413) -> the surface checks it (400 with ``param``) -> model alias allowed
for the tenant (404) -> the surface finds the user (400 for a bad id) and reads the
conversation -> ``pipeline.prepare`` -> the surface injects the block -> the surface forwards
through the router -> the answer: a non-stream one is read by the surface, recorded
(``pipeline.finish``) and returned as the provider's bytes; a stream is relayed by
``Relay``, which records the exchange before it sends the surface's terminal event.
Authentication comes first so an unauthenticated caller learns nothing, not even whether its
body was valid. Errors are shaped by the surface (``request.state.surface``, api/errors.py).

A ``Surface`` is everything that differs between wire formats; a fourth surface is one
module with a ``Surface`` and its route. These are plain Starlette endpoints (no FastAPI
dependency solving): this is the hot path.
"""

from __future__ import annotations

import itertools
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from selfmodel.api.bodies import parse_object, read_body
from selfmodel.api.sse import EventReader, HeldEvents, SSEResponse
from selfmodel.config import Tenant
from selfmodel.errors import GatewayError, ModelNotFound, UpstreamMalformed
from selfmodel.observability import note_model, note_stream_error
from selfmodel.personalize.inject import Placement
from selfmodel.personalize.threads import opening, text_of
from selfmodel.pipeline import Prepared
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.router import Router
from selfmodel.services import Services

log = logging.getLogger("selfmodel.api")

REQUEST_ID = "x-selfmodel-request-id"
DEPLOYMENT = "x-selfmodel-deployment"
ARM = "x-selfmodel-arm"
_RECENT_USER_MESSAGES = 3
_JSON = "application/json"

Body = dict[str, Any]
Turns = list[dict[str, Any]]  # a conversation in chat's shape: role and content

# Request ids: a random per-process prefix and a counter. As unique as uuid4 across replicas
# and restarts, without a urandom call and a UUID object per request.
_ID_PREFIX = "req_" + os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """The gateway's one request-id generator (answers, logs, decision records)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class Surface(ABC):
    """One wire format: how to check a body, find the user, read the conversation, inject
    the block, forward, read the answer, end a stream and shape an error."""

    name: ClassVar[str]  # the decision record's and the observation's ``surface``

    @abstractmethod
    def check(self, body: Body, max_items: int) -> None:
        """400 (``InvalidRequest`` naming ``param``) for what the gateway cannot rely on."""

    @abstractmethod
    def user_id(self, body: Body, request: Request) -> str | None:
        """The user the request names, or None; 400 for an invalid id (api/user_ids.py)."""

    @abstractmethod
    def conversation(self, body: Body) -> tuple[Turns, object]:
        """The conversation in chat's shape (before injection), and the app's own system
        prompt when the surface keeps it apart (``instructions``, ``system``)."""

    @abstractmethod
    def inject(self, body: Body, block: str, placement: Placement) -> Body:
        """The body to forward, with ``block`` placed."""

    @abstractmethod
    async def complete(self, router: Router, alias: str, body: Body, headers: Headers) -> Reply:
        """The provider's non-stream answer."""

    @abstractmethod
    async def stream(self, router: Router, alias: str, body: Body, headers: Headers) -> Stream:
        """The provider's stream, opened (its first chunk read)."""

    @abstractmethod
    def answer(self, body: bytes) -> tuple[str, int]:
        """The text and total tokens of a non-stream answer."""

    @abstractmethod
    def reader(self) -> EventReader:
        """Reads the text and tokens of a streamed answer from the events sent."""

    @abstractmethod
    def held(self) -> HeldEvents:
        """Cuts the stream into whole events and holds back its terminal one."""

    @abstractmethod
    def error_body(self, error: GatewayError) -> dict[str, Any]:
        """An error as this surface's clients expect it (the JSON body of an error answer)."""

    @abstractmethod
    def error_event(self, error: GatewayError) -> bytes:
        """The in-band event that ends a stream which failed after it started."""


@dataclass(slots=True)
class Exchange:
    """One request past ``pipeline.prepare``: what goes to the provider, and what ``finish``
    needs to record the exchange once the answer is delivered."""

    services: Services
    surface: Surface
    prepared: Prepared
    alias: str
    body: Body  # as forwarded (the block injected)
    turns: Turns  # the conversation as the app sent it, for the observation

    @property
    def wants_text(self) -> bool:
        """The answer is only read when the request names a user: without one nothing is
        observed (DESIGN.md section 4), so parsing it would be wasted work."""
        return self.prepared.user_id is not None

    def headers(self, deployment: str) -> dict[str, str]:
        return answer_headers(self.prepared.request_id, deployment, self.prepared.arm)

    async def finish(self, assistant: str, *, truncated: bool, tokens: int) -> None:
        """``pipeline.finish``, whose store write is shielded: a client gone (this task
        cancelled) does not cut the record of an answered exchange."""
        user_turns, previous = turns_of(self.turns)
        await self.services.pipeline.finish(self.prepared, user_turns=user_turns,
                                            previous_assistant=previous, assistant=assistant,
                                            truncated=truncated, tokens=tokens)

    def broke_off(self, error: GatewayError) -> None:
        """The provider failed mid-stream. A malformed answer is a failed exchange: recorded
        (its decision), not learned from; an answer cut off is still observed, as truncated."""
        log.warning("stream %s broke off: %s", self.prepared.request_id, error.message)
        note_stream_error(error.type)
        if isinstance(error, UpstreamMalformed):
            self.prepared.observe = False


async def begin(request: Request, surface: Surface) -> Exchange:
    """Every step before the provider call: 401, 413, 400, 404 in that order (every error
    carries the request id), then the user, ``pipeline.prepare`` and the injected block."""
    services: Services = request.app.state.services
    request.state.surface = surface
    request.state.request_id = request_id = new_request_id()
    tenant = services.directory.authenticate(request.headers)
    server = services.config.server
    body = parse_object(await read_body(request, server.max_body_bytes))
    surface.check(body, server.max_messages)
    alias = allowed_model(services, tenant, body["model"])
    turns, system = surface.conversation(body)
    prepared = await services.pipeline.prepare(
        tenant=tenant, surface=surface.name, model=alias, user_id=surface.user_id(body, request),
        opt_out=request.headers.get("x-selfmodel-personalize", "").lower() == "off",
        conversation=recent_user_text(turns), request_id=request_id,
        thread=opening(turns, system),
    )
    request.state.prepared = prepared  # the log line's user and decision (api/middleware.py)
    if prepared.system_text:
        body = surface.inject(body, prepared.system_text, tenant.policy.placement)
    return Exchange(services, surface, prepared, alias, body, turns)


async def handle(request: Request, surface: Surface) -> Response:
    """The one handler. Counted, timed and logged by ``api.middleware.RequestObserver``."""
    exchange = await begin(request, surface)
    router, headers = exchange.services.router, request.headers
    if exchange.body.get("stream"):
        stream = await surface.stream(router, exchange.alias, exchange.body, headers)
        return SSEResponse(Relay(exchange, stream), exchange.headers(stream.target.label))
    reply = await surface.complete(router, exchange.alias, exchange.body, headers)
    text, tokens = surface.answer(reply.body) if exchange.wants_text else ("", 0)
    await exchange.finish(text, truncated=False, tokens=tokens)
    return Response(reply.body, media_type=_JSON, headers=exchange.headers(reply.target.label))


class Relay:
    """The one stream relay (an ``SSEResponse`` pump): events to the client as they come,
    then ``finish``, then the terminal event, or the surface's error event when the provider
    fails mid-way. It starts no task of its own: the record's one shield is the pipeline's."""

    __slots__ = ("_exchange", "_stream")

    def __init__(self, exchange: Exchange, stream: Stream) -> None:
        self._exchange = exchange
        self._stream = stream

    async def __call__(self, send: Send) -> None:
        exchange, stream = self._exchange, self._stream
        held = exchange.surface.held()
        reader = exchange.surface.reader() if exchange.wants_text else None
        completed = False
        try:
            await _send(send, held.feed(stream.first), reader)
            async for chunk in stream.rest:
                await _send(send, held.feed(chunk), reader)
            ending, completed = held.end(), True
            if reader is not None:
                reader.feed(ending)
        except GatewayError as exc:
            exchange.broke_off(exc)
            ending = exchange.surface.error_event(exc)
        finally:
            stream.close()
            await stream.rest.aclose()
            await self._finish(reader, truncated=not completed or (
                reader is not None and reader.failed))
        await send({"type": "http.response.body", "body": ending, "more_body": False})

    async def _finish(self, reader: EventReader | None, *, truncated: bool) -> None:
        text, tokens = reader.answer() if reader is not None else ("", 0)
        try:
            await self._exchange.finish(text, truncated=truncated, tokens=tokens)
        except Exception:
            log.exception("recording the exchange %s failed", self._exchange.prepared.request_id)


async def _send(send: Send, data: bytes, reader: EventReader | None) -> None:
    if data:
        if reader is not None:
            reader.feed(data)
        await send({"type": "http.response.body", "body": data, "more_body": True})


def allowed_model(services: Services, tenant: Tenant, alias: str) -> str:
    if not services.router.knows(alias) or not tenant.allows(alias):
        raise ModelNotFound(f"The model '{alias}' does not exist or you do not have access "
                            "to it.", param="model")
    note_model(alias)  # configured and allowed: safe as a metric label
    return alias


def answer_headers(request_id: str, deployment: str, arm: str | None = None) -> dict[str, str]:
    """The headers every proxied answer carries: request id, deployment, experiment arm."""
    headers = {REQUEST_ID: request_id, DEPLOYMENT: deployment}
    if arm is not None:
        headers[ARM] = arm
    return headers


def message_text(message: dict[str, Any]) -> str:
    """A message's text parts joined; images and audio contribute nothing."""
    return text_of(message.get("content"))


def recent_user_text(turns: Turns) -> str:
    """The last few user messages, for ranking which beliefs are relevant."""
    users = [message_text(m) for m in turns if m.get("role") == "user"]
    return "\n".join(users[-_RECENT_USER_MESSAGES:])


def turns_of(turns: Turns) -> tuple[str, str]:
    """(the new user turns after the last assistant message, that assistant message's text)."""
    last = max((i for i, m in enumerate(turns) if m.get("role") == "assistant"), default=-1)
    users = [message_text(m) for m in turns[last + 1:] if m.get("role") == "user"]
    previous = message_text(turns[last]) if last >= 0 else ""
    return "\n\n".join(u for u in users if u), previous
