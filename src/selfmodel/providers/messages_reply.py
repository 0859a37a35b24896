"""A chat completions answer as an Anthropic Messages answer: the message and its events.

Shapes follow Anthropic's Messages API so the anthropic SDK parses them like Anthropic's own:
``text`` and ``tool_use`` content blocks, ``stop_reason`` (end_turn, max_tokens, tool_use),
input/output token usage; and for streams message_start, content_block_start/delta/stop
(``text_delta``, ``input_json_delta``), message_delta with the stop reason and usage, and
message_stop last.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_core import from_json, to_json

from selfmodel.providers.chat_answer import ChatAnswer, token_counts
from selfmodel.providers.chat_stream import ChatStreamTranslator
from selfmodel.providers.sse_events import frame

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "function_call": "tool_use", "content_filter": "refusal"}


def message_json(request: dict[str, Any], answer: ChatAnswer) -> bytes:
    """The whole message for a non-stream request."""
    content: list[dict[str, Any]] = []
    if answer.text or answer.refusal:
        content.append({"type": "text", "text": answer.text or answer.refusal})
    content += [{"type": "tool_use", "id": c.call_id, "name": c.name,
                 "input": _arguments(c.arguments)} for c in answer.tool_calls]
    message = message_shell(request, answer.model)
    prompt, completion = token_counts(answer.usage)
    message.update(content=content, stop_reason=stop_reason(answer.finish_reason),
                   usage={"input_tokens": prompt, "output_tokens": completion})
    return to_json(message)


def message_shell(request: dict[str, Any], model: str | None) -> dict[str, Any]:
    """The message before any content, as ``message_start`` carries it."""
    return {"id": "msg_" + uuid.uuid4().hex, "type": "message", "role": "assistant",
            "model": model or request.get("model"), "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}


def stop_reason(finish_reason: str | None) -> str:
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def _arguments(arguments: str) -> Any:
    """A tool call's JSON arguments as the ``input`` object (empty when they are not JSON)."""
    try:
        value = from_json(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class MessagesEvents(ChatStreamTranslator):
    """A chat stream as Messages API events; one content block open at a time."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__()
        self._request = request
        self._index = -1
        self._open: str | None = None  # "text" or "tool_use"

    def start(self) -> bytes:
        return frame("message_start", {"type": "message_start",
                                       "message": message_shell(self._request, None)})

    def text(self, piece: str) -> list[bytes]:
        events = [] if self._open == "text" else self._start_block({"type": "text", "text": ""})
        events.append(self._delta({"type": "text_delta", "text": piece}))
        return events

    def tool_start(self, call_id: str, name: str) -> list[bytes]:
        return self._start_block({"type": "tool_use", "id": call_id, "name": name, "input": {}})

    def tool_arguments(self, piece: str) -> list[bytes]:
        if self._open != "tool_use":
            return []
        return [self._delta({"type": "input_json_delta", "partial_json": piece})]

    def end(self) -> bytes:
        prompt, completion = token_counts(self.usage)
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": stop_reason(self.finish_reason), "stop_sequence": None},
                 "usage": {"input_tokens": prompt, "output_tokens": completion}}
        events = [*self._stop_block(), frame("message_delta", delta),
                  frame("message_stop", {"type": "message_stop"})]
        return b"".join(events)

    def _start_block(self, block: dict[str, Any]) -> list[bytes]:
        events = self._stop_block()
        self._index += 1
        self._open = block["type"]
        events.append(frame("content_block_start", {"type": "content_block_start",
                                                    "index": self._index, "content_block": block}))
        return events

    def _stop_block(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [frame("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return frame("content_block_delta", {"type": "content_block_delta", "index": self._index,
                                             "delta": delta})
