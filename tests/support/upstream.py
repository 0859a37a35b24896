"""A fake OpenAI-compatible provider, served over a real socket with ``serve()``.

It records every request it receives (path, headers, JSON body) and answers each one with
the next scripted behaviour (then the default: a plain 200): an answer, an error status
(optionally with Retry-After), a hang, a trickle, a stream that dies mid-way, or a stream
that goes on until the client closes the connection. Tests assert on both ends: what the
client parsed and what this provider saw, including whether its connection was closed.

It runs in uvicorn's thread; the test thread reads ``requests`` and waits on ``closed``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.surface_upstream import SURFACE_PATHS, surface_answer, surface_events

Scope = dict[str, Any]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Behaviour:
    kind: str = "ok"  # ok | error | hang | trickle | die | forever | raw | garbage
    status: int = 200
    message: str = "scripted failure"
    retry_after: str | None = None
    text: str = "Hello from upstream"
    chunks: int = 3  # content chunks in a stream
    delay: float = 0.0  # between stream chunks (and trickled bytes)
    tool_call: tuple[str, str] | None = None
    keepalive: bool = False  # an SSE comment before every stream event
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # raw: the body sent as is (``repeat`` times), with ``content_type``
    content_type: str = "application/json"
    repeat: int = 1


def ok(text: str = "Hello from upstream", *, chunks: int = 3, delay: float = 0.0,
       tool_call: tuple[str, str] | None = None, keepalive: bool = False) -> Behaviour:
    return Behaviour(text=text, chunks=chunks, delay=delay, tool_call=tool_call,
                     keepalive=keepalive)


def error(status: int, message: str = "scripted failure", *,
          retry_after: str | None = None) -> Behaviour:
    return Behaviour(kind="error", status=status, message=message, retry_after=retry_after)


def hang() -> Behaviour:
    """Accept the request and say nothing until the client gives up."""
    return Behaviour(kind="hang")


def trickle(delay: float = 0.2) -> Behaviour:
    """Send headers, then one byte every ``delay`` seconds, forever."""
    return Behaviour(kind="trickle", delay=delay)


def die(after: int = 2) -> Behaviour:
    """Stream ``after`` content chunks, then drop the connection without ending the body."""
    return Behaviour(kind="die", chunks=after)


def forever(delay: float = 0.05) -> Behaviour:
    """Stream chunks until the client closes the connection."""
    return Behaviour(kind="forever", delay=delay)


def raw(body: bytes, content_type: str = "application/json", *, repeat: int = 1) -> Behaviour:
    """A 200 whatever the request: ``body`` sent ``repeat`` times, in chunks, with
    ``content_type`` (truncated JSON, an HTML page, a huge answer)."""
    return Behaviour(kind="raw", body=body, content_type=content_type, repeat=repeat)


def garbage(after: int = 2, delay: float = 0.05) -> Behaviour:
    """A stream that starts well (``after`` content chunks, ``delay`` apart, so they reach
    the client before the rest), then sends a line of HTML."""
    return Behaviour(kind="garbage", chunks=after, delay=delay)


class ScriptedDeath(RuntimeError):
    """Raised inside the ASGI app so uvicorn cuts the connection without ending the body."""


class FakeUpstream:
    """An ASGI app; script it with ``then(...)`` before the request it should answer."""

    def __init__(self, *, chat_only: bool = False,
                 embed: Callable[[str], list[float]] | None = None) -> None:
        # chat_only: like vLLM, Ollama or Groq, no /responses or /messages (404 there)
        self.chat_only = chat_only
        # embed: the vector /embeddings answers for a text (default: one fixed vector)
        self.embed = embed
        self.requests: list[Recorded] = []
        self.script: deque[Behaviour] = deque()
        self.closed = threading.Event()  # a client closed a connection we were answering
        self.open_streams = 0

    def then(self, *behaviours: Behaviour) -> FakeUpstream:
        self.script.extend(behaviours)
        return self

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self.closed.wait(timeout)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        raw = await _read(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(scope["path"], headers, body, raw))
        if self.chat_only and scope["path"].endswith(SURFACE_PATHS):
            await Answer(self, Behaviour(), scope["path"], {}, receive, send)._json(
                404, {"detail": "Not Found"})
            return
        behaviour = self.script.popleft() if self.script else Behaviour()
        await Answer(self, behaviour, scope["path"], body or {}, receive, send).run()


class Answer:
    def __init__(self, upstream: FakeUpstream, behaviour: Behaviour, path: str,
                 body: dict[str, Any], receive: Any, send: Any) -> None:
        self.upstream, self.b, self.path, self.body = upstream, behaviour, path, body
        self.receive, self.send = receive, send

    async def run(self) -> None:
        kind = self.b.kind
        if kind == "error":
            await self._error()
        elif kind == "raw":
            await self._raw()
        elif kind in ("hang", "trickle", "forever"):
            await self._until_closed()
        elif self.path.endswith("/embeddings"):
            await self._json(200, _embeddings(self.body, self.upstream.embed))
        elif self.path.endswith("/count_tokens"):
            await self._json(200, {"input_tokens": 42})
        elif self.path.endswith(SURFACE_PATHS) and not self.body.get("stream"):
            await self._json(200, surface_answer(self.path, self.body, self.b))
        elif self.body.get("stream"):
            await self._stream()
        else:
            await self._json(200, _completion(self.body, self.b))

    async def _error(self) -> None:
        headers = {"retry-after": self.b.retry_after} if self.b.retry_after else {}
        body = {"error": {"message": self.b.message, "type": "scripted", "param": None,
                          "code": f"http_{self.b.status}"}}
        await self._json(self.b.status, body, headers)

    async def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(data).encode()
        pairs = [(b"content-type", b"application/json"),
                 *((k.encode(), v.encode()) for k, v in (headers or {}).items())]
        await self.send({"type": "http.response.start", "status": status, "headers": pairs})
        await self.send({"type": "http.response.body", "body": raw})

    async def _raw(self) -> None:
        await self.send({"type": "http.response.start", "status": 200,
                         "headers": [(b"content-type", self.b.content_type.encode())]})
        for _ in range(self.b.repeat):
            await self._chunk(self.b.body)
        await self.send({"type": "http.response.body", "body": b""})

    async def _start_stream(self) -> None:
        await self.send({"type": "http.response.start", "status": 200,
                         "headers": [(b"content-type", b"text/event-stream")]})

    async def _chunk(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def _stream(self) -> None:
        await self._start_stream()
        events = (surface_events(self.path, self.body, self.b, stream_texts(self.b))
                  if self.path.endswith(SURFACE_PATHS) else _stream_events(self.body, self.b))
        for event in events:
            if self.b.keepalive:
                await self._chunk(b": keep-alive\n\n")
            await self._chunk(event)
            if self.b.delay:
                await asyncio.sleep(self.b.delay)
        if self.b.kind == "die":
            raise ScriptedDeath("the fake provider drops the connection mid-stream")
        if self.b.kind == "garbage":
            await self._chunk(b"<html><body>502 Bad Gateway</body></html>\n\n")
        await self.send({"type": "http.response.body", "body": b""})

    async def _until_closed(self) -> None:
        """hang / trickle / forever / die: run until the client closes the connection."""
        watcher = asyncio.ensure_future(_until_disconnect(self.receive))
        self.upstream.open_streams += 1
        try:
            if self.b.kind != "hang":
                await self._start_stream()
            index = 0
            while not watcher.done():
                if self.b.kind == "trickle":
                    await self._chunk(b":")
                elif self.b.kind == "forever":
                    await self._chunk(_event(_chunk_data(self.body, {"content": f"tick{index} "})))
                index += 1
                await asyncio.wait([watcher], timeout=self.b.delay or 30)
        finally:
            self.upstream.open_streams -= 1
            watcher.cancel()
        self.upstream.closed.set()


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _n(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and n > 0 else 1


def _completion(body: dict[str, Any], b: Behaviour) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": b.text}
    finish = "stop"
    if b.tool_call:
        name, arguments = b.tool_call
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": name, "arguments": arguments}}]}
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": i, "message": message, "finish_reason": finish, "logprobs": None}
                    for i in range(_n(body))],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _chunk_data(body: dict[str, Any], delta: dict[str, Any], finish: str | None = None,
                **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
            "model": body.get("model"),
            "choices": [{"index": i, "delta": delta, "finish_reason": finish}
                        for i in range(_n(body))], **extra}


def _event(data: Any) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def stream_texts(b: Behaviour) -> list[str]:
    """The content pieces a stream of ``b`` carries (what the client should reassemble)."""
    return [f"{b.text} part{i}. " for i in range(b.chunks)]


def _stream_events(body: dict[str, Any], b: Behaviour) -> list[bytes]:
    events = [_event(_chunk_data(body, {"role": "assistant", "content": ""}))]
    if b.tool_call:  # the call's name first, then its arguments in two pieces
        name, arguments = b.tool_call
        half = len(arguments) // 2
        events.append(_event(_chunk_data(body, {"tool_calls": [{
            "index": 0, "id": "call_1", "type": "function",
            "function": {"name": name, "arguments": ""}}]})))
        events += [_event(_chunk_data(body, {"tool_calls": [{
            "index": 0, "function": {"arguments": piece}}]}))
            for piece in (arguments[:half], arguments[half:])]
        events.append(_event(_chunk_data(body, {}, "tool_calls")))
        events.append(b"data: [DONE]\n\n")
        return events
    events += [_event(_chunk_data(body, {"content": text})) for text in stream_texts(b)]
    if b.kind in ("die", "garbage"):
        return events
    events.append(_event(_chunk_data(body, {}, "stop")))
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        events.append(_event({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                              "created": 1, "model": body.get("model"), "choices": [],
                              "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                        "total_tokens": 15}}))
    events.append(b"data: [DONE]\n\n")
    return events


def _embeddings(body: dict[str, Any],
                embed: Callable[[str], list[float]] | None) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    rows = [{"object": "embedding", "index": i,
             "embedding": embed(str(item)) if embed else [0.1, 0.2, 0.3]}
            for i, item in enumerate(items)]
    if embed is not None:
        rows.reverse()  # listed last first, as a provider may: clients order by ``index``
    return {"object": "list", "model": body.get("model"), "data": rows,
            "usage": {"prompt_tokens": 2, "total_tokens": 2}}
