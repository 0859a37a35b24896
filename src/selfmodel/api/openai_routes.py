"""OpenAI's routes: POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings.

Chat takes the one request path (api/surfaces.py) as ``CHAT``: the block goes into the
system message (or the last user message under ``policy.placement: last_user``), the user is
``user``, else ``safety_identifier``, else the ``x-selfmodel-user`` header, and a stream that
fails mid-way ends with ``data: {"error": ...}`` and no ``[DONE]``, which the openai SDK
raises as ``APIError``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic_core import from_json, to_json
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.api.bodies import check_chat, check_embeddings, json_object, parse_object, read_body
from selfmodel.api.sse import EventReader, EventSplitter, HeldEvents, error_event
from selfmodel.api.surfaces import (
    Body,
    Surface,
    Turns,
    allowed_model,
    answer_headers,
    handle,
    message_text,
    new_request_id,
)
from selfmodel.api.user_ids import openai_user_id
from selfmodel.errors import GatewayError
from selfmodel.personalize.inject import Placement, inject_chat
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.router import Router
from selfmodel.services import Services

_JSON = "application/json"

router = APIRouter()


class ChatReader(EventReader):
    """The first choice's content deltas, and the usage total (the last chunk, when the
    request asked for ``stream_options.include_usage``)."""

    def feed(self, data: bytes) -> None:
        """Chat's events are single ``data:`` lines and the relay feeds whole events, so
        each line is read as it stands: the hot path skips the general decoder."""
        for line in data.split(b"\n"):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload and payload != b"[DONE]":
                    try:
                        event = from_json(payload)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        self.event(event)

    def event(self, event: dict[str, Any]) -> None:
        choices = event.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    if isinstance(delta, dict):
                        self.text(delta.get("content"))
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
            self.tokens = usage["total_tokens"]


class Chat(Surface):
    name = "chat"

    def check(self, body: Body, max_items: int) -> None:
        check_chat(body, max_items)

    def user_id(self, body: Body, request: Request) -> str | None:
        return openai_user_id(body, request)

    def conversation(self, body: Body) -> tuple[Turns, object]:
        return body["messages"], None

    def inject(self, body: Body, block: str, placement: Placement) -> Body:
        body["messages"] = inject_chat(body["messages"], block, placement)
        return body

    async def complete(self, router: Router, alias: str, body: Body, headers: Headers) -> Reply:
        return await router.complete(alias, body)

    async def stream(self, router: Router, alias: str, body: Body, headers: Headers) -> Stream:
        return await router.stream(alias, body)

    def answer(self, body: bytes) -> tuple[str, int]:
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

    def reader(self) -> EventReader:
        return ChatReader()

    def held(self) -> HeldEvents:
        return EventSplitter()

    def error_body(self, error: GatewayError) -> dict[str, Any]:
        return error.to_openai()

    def error_event(self, error: GatewayError) -> bytes:
        return error_event(error)


CHAT = Chat()


async def chat_completions(request: Request) -> Response:
    return await handle(request, CHAT)


async def list_models(request: Request) -> Response:
    services: Services = request.app.state.services
    tenant = services.directory.authenticate(request.headers)
    data = [{"id": alias, "object": "model", "created": services.started,
             "owned_by": "selfmodel"}
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
