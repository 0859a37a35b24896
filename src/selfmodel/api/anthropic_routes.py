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
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.api.bodies import json_object, message_list, require_string
from selfmodel.api.openai_routes import recent_user_text
from selfmodel.api.surfaces import (
    EventReader,
    Wire,
    accept,
    answer,
    check_type,
    open_exchange,
    relay,
)
from selfmodel.api.user_ids import chat_user_id, header_user_id
from selfmodel.errors import GatewayError, InvalidRequest
from selfmodel.personalize.inject import inject_messages
from selfmodel.personalize.threads import opening
from selfmodel.providers import messages_path
from selfmodel.providers.sse_events import frame

_ROLES = ("user", "assistant")
_TERMINAL = (b"event: message_stop", b"event:message_stop")

router = APIRouter()


async def create_message(request: Request) -> Response:
    accepted = await accept(request, check_messages)
    body = accepted.body
    exchange = await open_exchange(request, accepted, "messages", user_id_of(body, request),
                                   body["messages"], body.get("system"))
    if exchange.prepared.system_text:
        inject_messages(body, exchange.prepared.system_text, accepted.tenant.policy.placement)
    services, headers = accepted.services, request.headers
    if body.get("stream"):
        stream = await messages_path.stream(services.router, accepted.alias, body, headers)
        return relay(exchange, stream, WIRE)
    reply = await messages_path.complete(services.router, accepted.alias, body, headers)
    return await answer(exchange, reply, WIRE)


async def count_tokens(request: Request) -> Response:
    """``POST /v1/messages/count_tokens``: what the request would cost as the provider would
    receive it, the user's personalization block included (the user from the
    ``x-selfmodel-user`` header: Anthropic's count body has no metadata). Nothing is
    recorded or observed: no answer is given."""
    accepted = await accept(request, check_count)
    body = accepted.body
    user = header_user_id(request)
    prepared = await accepted.pipeline.prepare(
        tenant=accepted.tenant, surface="messages", model=accepted.alias, user_id=user,
        opt_out=request.headers.get("x-selfmodel-personalize", "").lower() == "off",
        conversation=recent_user_text(body["messages"]), request_id=request.state.request_id,
        thread=opening(body["messages"], body.get("system")))
    if prepared.system_text:
        inject_messages(body, prepared.system_text, accepted.tenant.policy.placement)
    reply = await messages_path.count_tokens(accepted.services.router, accepted.alias, body,
                                             request.headers)
    return Response(reply.body, media_type="application/json",
                    headers={"x-selfmodel-request-id": prepared.request_id})


router.add_route("/v1/messages", create_message, methods=["POST"])
router.add_route("/v1/messages/count_tokens", count_tokens, methods=["POST"])


def user_id_of(body: dict[str, Any], request: Request) -> str | None:
    """``metadata.user_id``, else the ``x-selfmodel-user`` header (api/user_ids.py)."""
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return chat_user_id(request, (("metadata.user_id", user),))


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


def error_event(error: GatewayError) -> bytes:
    return frame("error", error.to_anthropic())


WIRE = Wire(terminal=_TERMINAL, reader=MessagesReader, error_event=error_event,
            answer=answer_text)
