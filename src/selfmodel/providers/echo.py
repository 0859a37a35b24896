"""``selfmodel/echo``: the built-in offline model.

It answers without any provider or key, and its answer is the conversation it received,
system prompt first: a new user sees at once what selfmodel would send to a real provider
(their app's system prompt with the personalization block appended). Stream and non-stream
answers have OpenAI's exact shapes, so the openai SDK parses them like any other.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from pydantic_core import to_json

from selfmodel.config import ECHO_MODEL
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.targets import Target

_SYSTEM_ROLES = ("system", "developer")


class EchoModel:
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def complete(self, target: Target, body: dict[str, Any]) -> Reply:
        text = echo_text(body.get("messages") or [])
        prompt, completion = _tokens(body.get("messages") or []), _count(text)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
             "logprobs": None, "finish_reason": "stop"}
            for i in range(_n(body))
        ]
        answer = {
            "id": _id(), "object": "chat.completion", "created": int(time.time()),
            "model": ECHO_MODEL, "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }
        return Reply(to_json(answer), target)

    async def stream(self, target: Target, body: dict[str, Any]) -> Stream:
        events = _events(body)
        return Stream(target, events[0], _iterate(events[1:]), lambda: None)

    async def embed(self, target: Target, body: dict[str, Any]) -> Reply:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        data = [{"object": "embedding", "index": i, "embedding": _vector(str(item))}
                for i, item in enumerate(items)]
        tokens = sum(_count(str(item)) for item in items)
        answer = {"object": "list", "data": data, "model": ECHO_MODEL,
                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Reply(to_json(answer), target)


def echo_text(messages: list[Any]) -> str:
    """The conversation as a provider would receive it, system and developer messages first."""
    dicts = [m for m in messages if isinstance(m, dict)]
    ordered = [m for m in dicts if m.get("role") in _SYSTEM_ROLES]
    ordered += [m for m in dicts if m.get("role") not in _SYSTEM_ROLES]
    parts = [f"selfmodel/echo received {len(ordered)} message(s):"]
    parts += [f"[{m.get('role')}]\n{content_text(m.get('content'))}" for m in ordered]
    return "\n\n".join(parts)


def content_text(content: Any) -> str:
    """A message's text; non-text parts are named (``[image_url]``) rather than dropped."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                pieces.append(f"[{part.get('type', 'part')}]")
        return "\n".join(pieces)
    return "" if content is None else str(content)


def _events(body: dict[str, Any]) -> list[bytes]:
    """Role chunk, one chunk per line of text, finish chunk, and the usage chunk if asked."""
    messages = body.get("messages") or []
    text = echo_text(messages)
    n, ident, created = _n(body), _id(), int(time.time())
    options = body.get("stream_options")
    usage_wanted = isinstance(options, dict) and bool(options.get("include_usage"))

    def chunk(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        data: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk",
                                "created": created, "model": ECHO_MODEL, "choices": choices}
        if usage_wanted:
            data["usage"] = usage
        return b"data: " + to_json(data) + b"\n\n"

    def delta(i: int, value: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": i, "delta": value, "logprobs": None, "finish_reason": finish}

    events = [chunk([delta(i, {"role": "assistant", "content": ""}) for i in range(n)])]
    for line in text.splitlines(keepends=True):
        events.append(chunk([delta(i, {"content": line}) for i in range(n)]))
    events.append(chunk([delta(i, {}, "stop") for i in range(n)]))
    if usage_wanted:
        prompt, completion = _tokens(messages), _count(text) * n
        events.append(chunk([], {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}))
    return events


async def _iterate(events: list[bytes]) -> AsyncGenerator[bytes, None]:
    for event in events:
        yield event


def _n(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and n > 0 else 1


def _id() -> str:
    return "chatcmpl-echo" + uuid.uuid4().hex[:24]


def _count(text: str) -> int:
    """A rough token count (words); the echo model has no tokenizer to be exact with."""
    return len(text.split())


def _tokens(messages: list[Any]) -> int:
    return sum(_count(content_text(m.get("content"))) for m in messages if isinstance(m, dict))


def _vector(text: str, size: int = 8) -> list[float]:
    """A deterministic small vector, so embeddings against the echo model work offline."""
    digest = uuid.uuid5(uuid.NAMESPACE_OID, text).bytes
    return [round((b - 128) / 128, 4) for b in digest[:size]]
