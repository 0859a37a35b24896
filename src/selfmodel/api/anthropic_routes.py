"""Anthropic's Messages API: POST /v1/messages, personalized and observed like chat.

The personalization block goes into ``system``: appended to the app's string (kept
verbatim) or as another text block after the app's blocks, or set when the app sent none;
or, under ``policy.placement: last_user``, at the start of the last user message.
The tenant key may come as ``x-api-key`` (as Anthropic clients send it) or a Bearer token;
the user is ``metadata.user_id``, else the ``x-selfmodel-user`` header. Errors on this path
are in Anthropic's format (api/errors.py renders them so, before the body is even read),
and a stream that fails mid-way ends with Anthropic's ``error`` event.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.api.bodies import check_type, json_object, message_list, require_string
from selfmodel.api.sse import EventReader, HeldEvents, HoldBack
from selfmodel.api.surfaces import REQUEST_ID, Body, Surface, Turns, begin, handle
from selfmodel.api.user_ids import chat_user_id, header_user_id
from selfmodel.errors import GatewayError, InvalidRequest
from selfmodel.personalize.inject import Placement, inject_messages
from selfmodel.providers import messages_path
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.router import Router
from selfmodel.providers.sse_events import frame

_ROLES = ("user", "assistant")
_TERMINAL = (b"event: message_stop", b"event:message_stop")

router = APIRouter()


class Messages(Surface):
    name = "messages"

    def check(self, body: Body, max_items: int) -> None:
        check_messages(body, max_items)

    def user_id(self, body: Body, request: Request) -> str | None:
        """``metadata.user_id``, else the ``x-selfmodel-user`` header (api/user_ids.py)."""
        metadata = body.get("metadata")
        user = metadata.get("user_id") if isinstance(metadata, dict) else None
        return chat_user_id(request, (("metadata.user_id", user),))

    def conversation(self, body: Body) -> tuple[Turns, object]:
        return body["messages"], body.get("system")

    def inject(self, body: Body, block: str, placement: Placement) -> Body:
        inject_messages(body, block, placement)
        return body

    async def complete(self, router: Router, alias: str, body: Body, headers: Headers) -> Reply:
        return await messages_path.complete(router, alias, body, headers)

    async def stream(self, router: Router, alias: str, body: Body, headers: Headers) -> Stream:
        return await messages_path.stream(router, alias, body, headers)

    def answer(self, body: bytes) -> tuple[str, int]:
        return answer_text(body)

    def reader(self) -> EventReader:
        return MessagesReader()

    def held(self) -> HeldEvents:
        return HoldBack(_TERMINAL)

    def error_body(self, error: GatewayError) -> dict[str, Any]:
        return error.to_anthropic()

    def error_event(self, error: GatewayError) -> bytes:
        return frame("error", error.to_anthropic())


class CountTokens(Messages):
    """A count_tokens body: a message request without max_tokens, stream or metadata (the
    user comes from the ``x-selfmodel-user`` header)."""

    def check(self, body: Body, max_items: int) -> None:
        check_count(body, max_items)

    def user_id(self, body: Body, request: Request) -> str | None:
        return header_user_id(request)


MESSAGES, COUNT_TOKENS = Messages(), CountTokens()


async def create_message(request: Request) -> Response:
    return await handle(request, MESSAGES)


async def count_tokens(request: Request) -> Response:
    """``POST /v1/messages/count_tokens``: what the request would cost as the provider would
    receive it, the user's personalization block included. Nothing is recorded or
    observed: no answer is given."""
    exchange = await begin(request, COUNT_TOKENS)
    reply = await messages_path.count_tokens(exchange.services.router, exchange.alias,
                                             exchange.body, request.headers)
    return Response(reply.body, media_type="application/json",
                    headers={REQUEST_ID: exchange.prepared.request_id})


router.add_route("/v1/messages", create_message, methods=["POST"])
router.add_route("/v1/messages/count_tokens", count_tokens, methods=["POST"])


def check_messages(body: dict[str, Any], max_messages: int) -> None:
    """What the gateway relies on: model, max_tokens, messages and their roles, system."""
    _check_max_tokens(body.get("max_tokens"))
    check_count(body, max_messages)
    check_type(body, "stream", bool, "a boolean")
    check_type(body, "metadata", dict, "an object")


def check_count(body: dict[str, Any], max_messages: int) -> None:
    """A count_tokens body: a message request without max_tokens, stream or metadata."""
    require_string(body, "model")
    for index, message in enumerate(message_list(body, max_messages)):
        _check_message(message, index)
    _check_system(body.get("system"))
    check_type(body, "tools", list, "an array")


def _check_max_tokens(value: Any) -> None:
    if value is None:
        raise InvalidRequest("Missing required parameter: 'max_tokens'.", param="max_tokens")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest("Invalid value for 'max_tokens': expected an integer of at least 1.",
                             param="max_tokens")


def _check_message(message: Any, index: int) -> None:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param)
    role = message.get("role")
    if role not in _ROLES:
        raise InvalidRequest(f"Invalid value for '{param}.role': {role!r}. Supported values "
                             "are: 'user' and 'assistant'.", param=f"{param}.role")
    if not isinstance(message.get("content"), str | list):
        raise InvalidRequest(f"Invalid type for '{param}.content': expected a string or an "
                             "array of content blocks.", param=f"{param}.content")


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            for b in system):
        raise InvalidRequest("Invalid type for 'system': expected a string or an array of "
                             "text blocks.", param="system")


class MessagesReader(EventReader):
    """Text deltas, and the usage of message_start and message_delta."""

    def __init__(self) -> None:
        super().__init__()
        self._input = self._output = 0

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                self.text(delta.get("text"))
        elif kind == "message_start":
            message = event.get("message")
            self._count(message.get("usage") if isinstance(message, dict) else None)
        elif kind == "message_delta":
            self._count(event.get("usage"))
        elif kind == "error":
            self.failed = True

    def _count(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._input = _int(usage.get("input_tokens")) or self._input
            self._output = _int(usage.get("output_tokens")) or self._output
        self.tokens = self._input + self._output


def answer_text(body: bytes) -> tuple[str, int]:
    """The text blocks and total tokens of a non-stream message."""
    data = json_object(body)
    texts = [str(block.get("text", "")) for block in data.get("content") or ()
             if isinstance(block, dict) and block.get("type") == "text"]
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return "".join(texts), 0
    return "".join(texts), _int(usage.get("input_tokens")) + _int(usage.get("output_tokens"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
