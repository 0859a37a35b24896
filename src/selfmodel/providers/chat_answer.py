"""A whole chat completions answer, read once for the surfaces that are translated from it.

The Responses and Messages surfaces both rebuild their answer from a chat answer's first
choice: its text, refusal, tool calls, finish reason, usage and model name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_core import from_json

from selfmodel.errors import UpstreamError
from selfmodel.providers.chat_stream import as_dict, new_call_id


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text, as the provider wrote it


@dataclass
class ChatAnswer:
    text: str = ""
    refusal: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    model: str | None = None


def read_chat(body: bytes, alias: str) -> ChatAnswer:
    """The first choice of a non-stream chat answer; 502 when it is not one."""
    try:
        data = from_json(body)
    except ValueError:
        data = None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(choices, list) or not choices:
        raise UpstreamError(f"The provider for model '{alias}' sent an answer without choices.")
    choice = as_dict(choices[0])
    message = as_dict(choice.get("message"))
    content, refusal = message.get("content"), message.get("refusal")
    usage, model = data.get("usage"), data.get("model")
    return ChatAnswer(
        text=content if isinstance(content, str) else "",
        refusal=refusal if isinstance(refusal, str) and refusal else None,
        tool_calls=[_tool_call(c) for c in message.get("tool_calls") or () if isinstance(c, dict)],
        finish_reason=choice.get("finish_reason"),
        usage=usage if isinstance(usage, dict) else {},
        model=model if isinstance(model, str) else None,
    )


def _tool_call(call: dict[str, Any]) -> ToolCall:
    function = as_dict(call.get("function"))
    return ToolCall(str(call.get("id") or new_call_id()), str(function.get("name") or ""),
                    str(function.get("arguments") or "{}"))


def token_counts(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) tokens; missing counts are 0."""
    return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))


def token_detail(usage: dict[str, Any], details: str, key: str) -> int:
    """One count of ``prompt_tokens_details`` or ``completion_tokens_details``, else 0."""
    return _int(as_dict(usage.get(details)).get(key))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
