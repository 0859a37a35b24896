"""OpenAI's routes: POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings.

The chat path, in order: authenticate (401) -> read the body within the limit (413) -> parse
and validate it (400 with ``param``) -> model alias allowed for the tenant (404) -> user and
opt-out -> ``pipeline.prepare`` -> inject the personalization block -> forward through the
router -> answer (bytes as the provider sent them) -> ``pipeline.finish``. Authentication comes
first so an unauthenticated caller learns nothing, not even whether its body was valid.

These are plain Starlette endpoints (no FastAPI dependency solving): this is the hot path.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any

from fastapi import APIRouter
from pydantic_core import to_json
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from selfmodel.api.bodies import check_chat, check_embeddings, json_object, parse_object, read_body
from selfmodel.api.sse import Delivered, EventSplitter, Pump, SSEResponse, error_event
from selfmodel.api.user_ids import chat_user_id
from selfmodel.config import Tenant
from selfmodel.errors import GatewayError, ModelNotFound, UpstreamMalformed
from selfmodel.observability import note_model, note_stream_error
from selfmodel.personalize.inject import inject_chat
from selfmodel.personalize.threads import opening
from selfmodel.pipeline import Pipeline, Prepared
from selfmodel.providers.answers import Stream
from selfmodel.services import Services

log = logging.getLogger("selfmodel.api")

REQUEST_ID = "x-selfmodel-request-id"
DEPLOYMENT = "x-selfmodel-deployment"
ARM = "x-selfmodel-arm"
_RECENT_USER_MESSAGES = 3
_JSON = "application/json"

router = APIRouter()

# Request ids: a random per-process prefix and a counter. As unique as uuid4 across replicas
# and restarts, without a urandom call and a UUID object per request.
_ID_PREFIX = "req_" + os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


async def chat_completions(request: Request) -> Response:
    """Counted, timed and logged by ``api.middleware.RequestObserver`` (labels from the
    tenant and model noted on the way)."""
    services: Services = request.app.state.services
    request.state.request_id = request_id = new_request_id()
    tenant = services.directory.authenticate(request.headers)
    server = services.config.server
    body = parse_object(await read_body(request, server.max_body_bytes))
    check_chat(body, server.max_messages)
    alias = allowed_model(services, tenant, body["model"])
    messages: list[dict[str, Any]] = body["messages"]
    pipeline = pipeline_of(services)
    prepared = await pipeline.prepare(
        tenant=tenant, surface="chat", model=alias, user_id=user_id_of(body, request),
        opt_out=request.headers.get("x-selfmodel-personalize", "").lower() == "off",
        conversation=recent_user_text(messages), request_id=request_id,
        thread=opening(messages),
    )
    request.state.request_id = prepared.request_id
    if prepared.system_text:
        body["messages"] = inject_chat(messages, prepared.system_text,
                                       tenant.policy.placement)
    exchange = Exchange(pipeline, prepared, messages)
    if body.get("stream"):
        stream = await services.router.stream(alias, body)
        headers = answer_headers(prepared.request_id, stream.target.label, prepared.arm)
        return SSEResponse(exchange.pump(stream), headers)
    reply = await services.router.complete(alias, body)
    text, tokens = reply_answer(reply.body) if exchange.wants_text else ("", 0)
    await exchange.finish(text, truncated=False, tokens=tokens)
    return Response(reply.body, media_type=_JSON,
                    headers=answer_headers(prepared.request_id, reply.target.label, prepared.arm))


async def list_models(request: Request) -> Response:
    services: Services = request.app.state.services
    tenant = services.directory.authenticate(request.headers)
    data = [{"id": alias, "object": "model", "created": services.started, "owned_by": "selfmodel"}
            for alias in services.router.aliases() if tenant.allows(alias)]
    return Response(to_json({"object": "list", "data": data}), media_type=_JSON)


async def embeddings(request: Request) -> Response:
    services: Services = request.app.state.services
    request.state.request_id = request_id = new_request_id()
    tenant = services.directory.authenticate(request.headers)
    body = parse_object(await read_body(request, services.config.server.max_body_bytes))
    check_embeddings(body)
    alias = allowed_model(services, tenant, body["model"])
    reply = await services.router.embed(alias, body)
    return Response(reply.body, media_type=_JSON,
                    headers=answer_headers(request_id, reply.target.label))


router.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
router.add_route("/v1/models", list_models, methods=["GET"])
router.add_route("/v1/embeddings", embeddings, methods=["POST"])


class Exchange:
    """One chat exchange after ``prepare``: relays the answer and calls ``finish`` exactly once.

    The answer text is only read back when the request names a user: without one nothing is
    observed (DESIGN.md section 4), so parsing it would be wasted work on the hot path.
    """

    __slots__ = ("_messages", "_pipeline", "prepared", "wants_text")

    def __init__(self, pipeline: Pipeline, prepared: Prepared,
                 messages: list[dict[str, Any]]) -> None:
        self._pipeline = pipeline
        self._messages = messages
        self.prepared = prepared
        self.wants_text = prepared.user_id is not None

    async def finish(self, assistant: str, *, truncated: bool, tokens: int) -> None:
        user_turns, previous = turns_of(self._messages)
        await self._pipeline.finish(self.prepared, user_turns=user_turns,
                                    previous_assistant=previous, assistant=assistant,
                                    truncated=truncated, tokens=tokens)

    def broke_off(self, error: GatewayError) -> None:
        """The provider failed mid-stream. A malformed answer is a failed exchange: recorded
        (its decision), not learned from; an answer cut off is still observed, as truncated."""
        log.warning("stream %s broke off: %s", self.prepared.request_id, error.message)
        note_stream_error(error.type)
        if isinstance(error, UpstreamMalformed):
            self.prepared.observe = False

    async def finish_shielded(self, delivered: Delivered | None, *, truncated: bool) -> None:
        """``finish``, run to its end even if this task is cancelled (client gone)."""
        text, tokens = delivered.answer() if delivered is not None else ("", 0)
        task = asyncio.ensure_future(self.finish(text, truncated=truncated, tokens=tokens))
        try:
            await asyncio.shield(task)
        except Exception:
            log.exception("recording the exchange %s failed", self.prepared.request_id)

    def pump(self, stream: Stream) -> Pump:
        async def run(send: Send) -> None:
            await self._relay(stream, send)

        return run

    async def _relay(self, stream: Stream, send: Send) -> None:
        """Chunks to the client, then ``finish``, then ``[DONE]`` (or the error event)."""
        splitter = EventSplitter()
        delivered = Delivered() if self.wants_text else None
        completed = False
        try:
            await _send(send, splitter.feed(stream.first), delivered)
            async for chunk in stream.rest:
                await _send(send, splitter.feed(chunk), delivered)
            ending, completed = splitter.end(), True
        except GatewayError as exc:
            self.broke_off(exc)
            ending = error_event(exc)
        finally:
            stream.close()
            await stream.rest.aclose()
            await self.finish_shielded(delivered, truncated=not completed)
        await send({"type": "http.response.body", "body": ending, "more_body": False})


async def _send(send: Send, data: bytes, delivered: Delivered | None) -> None:
    if data:
        if delivered is not None:
            delivered.add(data)
        await send({"type": "http.response.body", "body": data, "more_body": True})


def allowed_model(services: Services, tenant: Tenant, alias: str) -> str:
    if not services.router.knows(alias) or not tenant.allows(alias):
        raise ModelNotFound(f"The model '{alias}' does not exist or you do not have access "
                            "to it.", param="model")
    note_model(alias)  # configured and allowed: safe as a metric label
    return alias


def pipeline_of(services: Services) -> Pipeline:
    if services.pipeline is None:
        raise RuntimeError("the app was built without a pipeline")
    return services.pipeline


def answer_headers(request_id: str, deployment: str, arm: str | None = None) -> dict[str, str]:
    """The headers every proxied answer carries: request id, deployment, experiment arm."""
    headers = {REQUEST_ID: request_id, DEPLOYMENT: deployment}
    if arm is not None:
        headers[ARM] = arm
    return headers


def user_id_of(body: dict[str, Any], request: Request) -> str | None:
    """``user``, else ``safety_identifier``, else the ``x-selfmodel-user`` header; a 400
    when the one that names the user breaks the user id rule (api/user_ids.py)."""
    return chat_user_id(request, (("user", body.get("user")),
                                  ("safety_identifier", body.get("safety_identifier"))))


def message_text(message: dict[str, Any]) -> str:
    """A message's text parts joined; images and audio contribute nothing."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content
                         if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
    return ""


def recent_user_text(messages: list[dict[str, Any]]) -> str:
    """The last few user messages, for ranking which beliefs are relevant."""
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    return "\n".join(users[-_RECENT_USER_MESSAGES:])


def turns_of(messages: list[dict[str, Any]]) -> tuple[str, str]:
    """(the new user turns after the last assistant message, that assistant message's text)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    users = [message_text(m) for m in messages[last + 1:] if m.get("role") == "user"]
    previous = message_text(messages[last]) if last >= 0 else ""
    return "\n\n".join(u for u in users if u), previous


def reply_answer(body: bytes) -> tuple[str, int]:
    """The first choice's text and the usage total of a non-stream answer."""
    data = json_object(body)
    text, tokens = "", 0
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict):
            text = message_text(message)
    usage = data.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        tokens = usage["total_tokens"]
    return text, tokens
