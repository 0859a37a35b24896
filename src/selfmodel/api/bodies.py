"""Request bodies: read within a size limit, parse JSON once, validate minimally but strictly.

The body stays a plain dict (no pydantic model): unknown fields must reach the provider
untouched, and building a model per request would cost more than the rest of the hot path.
Every problem is an ``InvalidRequest`` naming the field in ``param`` (never FastAPI's 422).
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json
from starlette.requests import Request

from selfmodel.errors import ContextTooLarge, InvalidRequest, PayloadTooLarge

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ROLE_LIST = "'system', 'developer', 'user', 'assistant', 'tool' and 'function'"
_DRAIN_FACTOR = 16  # read (and drop) this many limits of an oversized body before answering


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to pass ``limit`` bytes.

    An oversized body is drained (dropped as it comes, memory stays bounded) so the client
    gets to read the 413 instead of a reset connection.
    """
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        await _drain(request, limit * _DRAIN_FACTOR)
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            if message.get("more_body", False):
                await _drain(request, limit * _DRAIN_FACTOR)
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _drain(request: Request, budget: int) -> None:
    seen = 0
    while seen <= budget:
        message = await request.receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _disconnected() -> InvalidRequest:
    """The client left mid-body. Nobody will read the answer; what matters is that this is a
    client's doing, not an unhandled error with a traceback in the log."""
    error = InvalidRequest("The client closed the connection before sending the whole body.")
    error.status = 499  # nginx's "client closed request"
    return error


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not JSON or not an object."""
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        body = from_json(raw)
    except ValueError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def check_chat(body: dict[str, Any], max_messages: int) -> None:
    """What the gateway itself relies on: model, messages and their roles, n, stream."""
    require_string(body, "model")
    for index, message in enumerate(message_list(body, max_messages)):
        _check_message(message, index)
    check_type(body, "stream", bool, "a boolean")
    check_type(body, "stream_options", dict, "an object")
    check_type(body, "user", str, "a string")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidRequest("Invalid value for 'n': expected an integer of at least 1.",
                             param="n")


def json_object(body: bytes) -> dict[str, Any]:
    """A provider's JSON answer as a dict; empty when it is not a JSON object. For reading an
    answer back (observation), where a malformed answer means "nothing to learn", not an error."""
    try:
        data = from_json(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def message_list(body: dict[str, Any], max_messages: int) -> list[Any]:
    """``messages``: present, a non-empty array, no longer than the configured limit (a
    far too long conversation is refused before any provider is called)."""
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects.",
                             param="messages")
    if len(messages) > max_messages:
        raise ContextTooLarge(f"Too many messages: {len(messages)} (the limit is "
                              f"{max_messages}).", param="messages")
    return messages


def check_embeddings(body: dict[str, Any]) -> None:
    require_string(body, "model")
    value = body.get("input")
    if value is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if not isinstance(value, str | list) or value == []:
        raise InvalidRequest("'input' must be a string or a non-empty array.", param="input")


def require_string(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{field}'.", param=field)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"Invalid type for '{field}': expected a non-empty string.",
                             param=field)
    return value


def _check_message(message: Any, index: int) -> None:
    if not isinstance(message, dict):
        raise InvalidRequest(f"Invalid type for 'messages[{index}]': expected an object.",
                             param=f"messages[{index}]")
    role = message.get("role")
    if role is None:
        raise InvalidRequest(f"Missing required parameter: 'messages[{index}].role'.",
                             param=f"messages[{index}].role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidRequest(f"Invalid value for 'messages[{index}].role': {role!r}. Supported "
                             f"values are: {_ROLE_LIST}.", param=f"messages[{index}].role")


def check_type(body: dict[str, Any], field: str, kind: type, name: str) -> None:
    value = body.get(field)
    if value is not None and not isinstance(value, kind):
        raise InvalidRequest(f"Invalid type for '{field}': expected {name}.", param=field)
