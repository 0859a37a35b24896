"""Turning a chat completions stream into another surface's stream, one chunk at a time.

Providers that do not serve the Responses or Messages API natively are called through chat
completions (the direct path, litellm, the echo model). Their stream is read here once, as
text pieces, tool call starts, argument pieces, a finish reason and usage; a subclass writes
those as its surface's events. Only the first choice is read: neither surface has ``n``.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from typing import Any

from selfmodel.providers.answers import Stream
from selfmodel.providers.sse_events import SSEDecoder


class ChatStreamTranslator(ABC):
    """One translated stream: ``start`` first, ``feed`` each chunk, ``end`` after the last."""

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._tool_index: int | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.model: str | None = None

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for _kind, chunk in self._decoder.feed(data):
            if isinstance(chunk, dict):
                out.extend(self._chunk(chunk))
        return b"".join(out)

    def _chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        if isinstance(chunk.get("model"), str):
            self.model = self.model or chunk["model"]
        choice = _first_choice(chunk.get("choices"))
        if choice is None:
            return []
        delta = as_dict(choice.get("delta"))
        events: list[bytes] = []
        content = delta.get("content")
        if isinstance(content, str) and content:
            events += self.text(content)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                events += self._tool(call)
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        return events

    def _tool(self, call: dict[str, Any]) -> list[bytes]:
        function = as_dict(call.get("function"))
        index = call.get("index", 0)
        events: list[bytes] = []
        if index != self._tool_index:
            self._tool_index = index
            events += self.tool_start(str(call.get("id") or new_call_id()),
                                      str(function.get("name") or ""))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events += self.tool_arguments(arguments)
        return events

    @abstractmethod
    def start(self) -> bytes:
        """The events that open the surface's stream."""

    @abstractmethod
    def text(self, piece: str) -> list[bytes]:
        """Events for a piece of answer text."""

    @abstractmethod
    def tool_start(self, call_id: str, name: str) -> list[bytes]:
        """Events that open a new tool call."""

    @abstractmethod
    def tool_arguments(self, piece: str) -> list[bytes]:
        """Events for a piece of the open tool call's JSON arguments."""

    @abstractmethod
    def end(self) -> bytes:
        """The events that close the stream (the surface's terminal event last)."""


def translated(chat: Stream, translator: ChatStreamTranslator) -> Stream:
    """A surface stream read from an opened chat stream (whose first chunk has arrived)."""
    first = translator.start() + translator.feed(chat.first)
    return Stream(chat.target, first, _rest(chat, translator), chat.close)


async def _rest(chat: Stream, translator: ChatStreamTranslator) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in chat.rest:
            out = translator.feed(chunk)
            if out:
                yield out
        yield translator.end()
    finally:
        await chat.rest.aclose()


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (providers send odd shapes)."""
    return value if isinstance(value, dict) else {}


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def _first_choice(choices: Any) -> dict[str, Any] | None:
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None
