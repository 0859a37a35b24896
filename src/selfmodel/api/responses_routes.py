"""OpenAI's Responses API: POST /v1/responses, personalized and observed like chat.

The personalization block goes into ``instructions``: appended to the app's own (kept
verbatim), or set when the app sent none; or, under ``policy.placement: last_user``, in
front of the last user input. The user is ``user``, else ``safety_identifier``,
else the ``x-selfmodel-user`` header; the observed user turns are the text of the new user
input items (or the input string) and the assistant turn is the output text. Errors are in
OpenAI's format, and a stream that fails mid-way ends with an ``error`` event that the
openai SDK raises as ``APIError``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.api.bodies import check_type, json_object, require_string
from selfmodel.api.sse import EventReader, HeldEvents, HoldBack
from selfmodel.api.surfaces import Body, Surface, Turns, handle
from selfmodel.api.user_ids import openai_user_id
from selfmodel.errors import ContextTooLarge, GatewayError, InvalidRequest
from selfmodel.personalize.inject import Placement, inject_responses
from selfmodel.providers import responses_path
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.responses_request import parts_text
from selfmodel.providers.router import Router
from selfmodel.providers.sse_events import frame

_ROLES = ("user", "assistant", "system", "developer")
_TERMINAL = tuple(f"event:{s}response.{k}".encode() for k in ("completed", "incomplete", "failed")
                  for s in (" ", ""))
_WITHOUT_INPUT = ("previous_response_id", "prompt", "conversation")

router = APIRouter()


class Responses(Surface):
    name = "responses"

    def check(self, body: Body, max_items: int) -> None:
        check_responses(body, max_items)

    def user_id(self, body: Body, request: Request) -> str | None:
        return openai_user_id(body, request)

    def conversation(self, body: Body) -> tuple[Turns, object]:
        return input_view(body.get("input")), body.get("instructions")

    def inject(self, body: Body, block: str, placement: Placement) -> Body:
        inject_responses(body, block, placement)
        return body

    async def complete(self, router: Router, alias: str, body: Body, headers: Headers) -> Reply:
        return await responses_path.complete(router, alias, body)

    async def stream(self, router: Router, alias: str, body: Body, headers: Headers) -> Stream:
        return await responses_path.stream(router, alias, body)

    def answer(self, body: bytes) -> tuple[str, int]:
        return answer_text(body)

    def reader(self) -> EventReader:
        return ResponsesReader()

    def held(self) -> HeldEvents:
        return HoldBack(_TERMINAL)

    def error_body(self, error: GatewayError) -> dict[str, Any]:
        return error.to_openai()

    def error_event(self, error: GatewayError) -> bytes:
        """The Responses API's ``error`` event; its ``error`` object makes the openai SDK
        raise."""
        details = error.to_openai()["error"]
        return frame("error", {"type": "error", "sequence_number": 0, "code": error.code,
                               "message": error.message, "param": error.param,
                               "error": details})


RESPONSES = Responses()


async def create_response(request: Request) -> Response:
    return await handle(request, RESPONSES)


router.add_route("/v1/responses", create_response, methods=["POST"])


def check_responses(body: dict[str, Any], max_items: int) -> None:
    """What the gateway relies on: model, input (string or items), instructions, stream."""
    require_string(body, "model")
    value = body.get("input")
    if value is None and not any(body.get(key) for key in _WITHOUT_INPUT):
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if value is not None:
        _check_input(value, max_items)
    check_type(body, "instructions", str, "a string")
    check_type(body, "stream", bool, "a boolean")
    check_type(body, "user", str, "a string")
    check_type(body, "tools", list, "an array")


def _check_input(value: Any, max_items: int) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list):
        raise InvalidRequest("Invalid type for 'input': expected a string or an array of "
                             "input items.", param="input")
    if len(value) > max_items:
        raise ContextTooLarge(f"Too many input items: {len(value)} (the limit is "
                              f"{max_items}).", param="input")
    for index, item in enumerate(value):
        _check_item(item, index)


def _check_item(item: Any, index: int) -> None:
    param = f"input[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param)
    if (item.get("type") or "message") != "message":
        return
    role = item.get("role")
    if role not in _ROLES:
        raise InvalidRequest(f"Invalid value for '{param}.role': {role!r}. Supported values "
                             "are: 'user', 'assistant', 'system' and 'developer'.",
                             param=f"{param}.role")
    if not isinstance(item.get("content"), str | list):
        raise InvalidRequest(f"Invalid type for '{param}.content': expected a string or an "
                             "array of content parts.", param=f"{param}.content")


def input_view(value: Any) -> list[dict[str, Any]]:
    """``input`` as chat-shaped turns (role, text) for observation; a function call is the
    assistant's turn, so only user text after it is new."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    view: list[dict[str, Any]] = []
    for item in value or ():
        kind = item.get("type") or "message"
        if kind == "message":
            content = item.get("content")
            text = content if isinstance(content, str) else parts_text(content)
            view.append({"role": item.get("role"), "content": text})
        elif kind == "function_call":
            view.append({"role": "assistant", "content": ""})
    return view


class ResponsesReader(EventReader):
    """Output text deltas, and the usage of the terminal event."""

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            self.text(event.get("delta"))
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.tokens = _total_tokens(event.get("response"))
        if kind in ("error", "response.failed"):
            self.failed = True


def answer_text(body: bytes) -> tuple[str, int]:
    """The output text and total tokens of a non-stream response object."""
    data = json_object(body)
    texts = [str(part.get("text", "")) for item in data.get("output") or ()
             if isinstance(item, dict) and item.get("type") == "message"
             for part in item.get("content") or ()
             if isinstance(part, dict) and part.get("type") == "output_text"]
    return "".join(texts), _total_tokens(data)


def _total_tokens(response: Any) -> int:
    usage = response.get("usage") if isinstance(response, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) else 0
