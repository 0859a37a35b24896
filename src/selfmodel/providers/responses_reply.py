"""A chat completions answer as a Responses API answer: the response object and its events.

Shapes follow OpenAI's Responses API, so the openai SDK (and the Agents SDK) parse them
like OpenAI's own: output items (``message`` with ``output_text``, ``function_call``),
usage in input/output tokens, and for streams the typed events from ``response.created``
through ``response.output_text.delta`` to ``response.completed`` (``response.incomplete``
when the answer was cut by the token limit), each with its ``sequence_number``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_json

from selfmodel.providers.chat_answer import ChatAnswer, token_counts, token_detail
from selfmodel.providers.chat_stream import ChatStreamTranslator
from selfmodel.providers.sse_events import frame

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_json(request: dict[str, Any], answer: ChatAnswer) -> bytes:
    """The whole response object for a non-stream request."""
    output: list[dict[str, Any]] = []
    if answer.text or answer.refusal:
        output.append(message_item(_new_id("msg"), _content(answer.text, answer.refusal)))
    output += [function_call_item(_new_id("fc"), c.call_id, c.name, c.arguments)
               for c in answer.tool_calls]
    shell = response_shell(request, _new_id("resp"), answer.model)
    return to_json(finished(shell, output, answer.finish_reason, answer.usage))


def response_shell(request: dict[str, Any], response_id: str,
                   model: str | None) -> dict[str, Any]:
    """The response object as it stands before any output (status ``in_progress``)."""
    return {
        "id": response_id, "object": "response", "created_at": int(time.time()),
        "status": "in_progress", "error": None, "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model or request.get("model"), "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "store": False, "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools") or [],
        "top_p": request.get("top_p"), "truncation": "disabled", "usage": None,
        "user": request.get("user"), "metadata": request.get("metadata") or {},
    }


def finished(shell: dict[str, Any], output: list[dict[str, Any]], finish_reason: str | None,
             usage: dict[str, Any]) -> dict[str, Any]:
    """The shell completed with its output and usage (or incomplete, with the reason)."""
    reason = _INCOMPLETE.get(finish_reason or "")
    return {**shell, "status": "incomplete" if reason else "completed",
            "incomplete_details": {"reason": reason} if reason else None,
            "output": output, "usage": responses_usage(usage)}


def responses_usage(usage: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = token_counts(usage)
    cached = token_detail(usage, "prompt_tokens_details", "cached_tokens")
    written = token_detail(usage, "prompt_tokens_details", "cache_write_tokens")
    reasoning = token_detail(usage, "completion_tokens_details", "reasoning_tokens")
    return {"input_tokens": prompt, "output_tokens": completion,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + completion}


def message_item(item_id: str, content: list[dict[str, Any]], *,
                 status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": content}


def _content(text: str, refusal: str | None) -> list[dict[str, Any]]:
    content = [_text_part(text)] if text or not refusal else []
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return content


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, *,
                       status: str = "completed") -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class _OpenItem:
    """The output item being streamed: a message (text) or a function call (arguments)."""

    kind: str
    item_id: str
    index: int
    call_id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)


class ResponsesEvents(ChatStreamTranslator):
    """A chat stream as Responses API events; items are opened and closed in order."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__()
        self._request = request
        self._shell = response_shell(request, _new_id("resp"), None)
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._open: _OpenItem | None = None

    def start(self) -> bytes:
        return (self._event("response.created", response=self._shell)
                + self._event("response.in_progress", response=self._shell))

    def text(self, piece: str) -> list[bytes]:
        events: list[bytes] = []
        item = self._open
        if item is None or item.kind != "message":
            events = self._close()
            item = self._open = _OpenItem("message", _new_id("msg"), len(self._output))
            events += self._message_added(item)
        item.pieces.append(piece)
        events.append(self._event("response.output_text.delta", item_id=item.item_id,
                                  output_index=item.index, content_index=0, delta=piece,
                                  logprobs=[]))
        return events

    def tool_start(self, call_id: str, name: str) -> list[bytes]:
        events = self._close()
        self._open = _OpenItem("function_call", _new_id("fc"), len(self._output), call_id, name)
        item = function_call_item(self._open.item_id, call_id, name, "", status="in_progress")
        events.append(self._event("response.output_item.added",
                                  output_index=self._open.index, item=item))
        return events

    def tool_arguments(self, piece: str) -> list[bytes]:
        if self._open is None or self._open.kind != "function_call":
            return []
        self._open.pieces.append(piece)
        return [self._event("response.function_call_arguments.delta",
                            item_id=self._open.item_id, output_index=self._open.index,
                            delta=piece)]

    def end(self) -> bytes:
        events = self._close()
        if self.model:
            self._shell["model"] = self.model
        final = finished(self._shell, self._output, self.finish_reason, self.usage)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        events.append(self._event(kind, response=final))
        return b"".join(events)

    def _message_added(self, item: _OpenItem) -> list[bytes]:
        added = message_item(item.item_id, [], status="in_progress")
        return [self._event("response.output_item.added", output_index=item.index, item=added),
                self._event("response.content_part.added", item_id=item.item_id,
                            output_index=item.index, content_index=0, part=_text_part(""))]

    def _close(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        text = "".join(item.pieces)
        ids = {"item_id": item.item_id, "output_index": item.index}
        if item.kind == "message":
            done = message_item(item.item_id, [_text_part(text)])
            events = [self._event("response.output_text.done", **ids, content_index=0,
                                  text=text, logprobs=[]),
                      self._event("response.content_part.done", **ids, content_index=0,
                                  part=_text_part(text))]
        else:
            done = function_call_item(item.item_id, item.call_id, item.name, text)
            events = [self._event("response.function_call_arguments.done", **ids,
                                  arguments=text, name=item.name)]
        self._output.append(done)
        events.append(self._event("response.output_item.done", output_index=item.index,
                                  item=done))
        return events

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return frame(kind, data)
