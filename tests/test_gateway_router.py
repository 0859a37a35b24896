"""The router's loop, the circuit breaker and the SSE helpers, without sockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from selfmodel.api.openai_routes import ChatReader
from selfmodel.api.sse import DONE, EventSplitter
from selfmodel.config import Config
from selfmodel.errors import (
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.circuit import Circuit
from selfmodel.providers.router import Router
from selfmodel.providers.targets import Target
from selfmodel.providers.upstream_errors import error_for_status, parse_retry_after


class ScriptedBackend:
    """Answers each call with the next scripted outcome and records which target was called."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def complete(self, target: Target, body: dict[str, Any]) -> Reply:
        self.calls.append(target.label)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "hang":
            await asyncio.sleep(3600)
        if isinstance(outcome, GatewayError):
            raise outcome
        return Reply(b"{}", target)

    async def stream(self, target: Target, body: dict[str, Any]) -> Stream:
        raise NotImplementedError

    async def embed(self, target: Target, body: dict[str, Any]) -> Reply:
        return await self.complete(target, body)


def router(backend: ScriptedBackend, deployments: int = 2, **server: Any) -> Router:
    config = Config.model_validate({
        "model_list": [{"model_name": "m", "model_info": {"id": f"d{i}"},
                        "litellm_params": {"model": f"openai/m{i}"}} for i in range(deployments)],
        "server": {"retry_backoff": 0.0, "num_retries": 2, **server},
    })
    return Router(config, backends={"direct": backend})


async def test_retries_then_falls_back_in_config_order() -> None:
    backend = ScriptedBackend(UpstreamError("x"), UpstreamError("x"), UpstreamError("x"), "ok")
    reply = await router(backend).complete("m", {})
    assert backend.calls == ["d0", "d0", "d0", "d1"]
    assert reply.target.label == "d1"


async def test_a_timeout_moves_on_at_once() -> None:
    backend = ScriptedBackend(UpstreamTimeout("slow"), "ok")
    await router(backend).complete("m", {})
    assert backend.calls == ["d0", "d1"]


async def test_a_4xx_is_raised_after_one_call_and_not_counted_as_a_failure() -> None:
    backend = ScriptedBackend(InvalidRequest("bad"))
    r = router(backend, circuit_failures=1)
    with pytest.raises(InvalidRequest) as caught:
        await r.complete("m", {})
    assert backend.calls == ["d0"]
    assert "x-should-retry" not in caught.value.headers
    assert not r.targets("m")[0].circuit.is_open


async def test_exhausted_sets_x_should_retry_false() -> None:
    backend = ScriptedBackend(*[UpstreamError("x")] * 6)
    with pytest.raises(UpstreamError) as caught:
        await router(backend).complete("m", {})
    assert caught.value.headers["x-should-retry"] == "false"
    assert len(backend.calls) == 6


async def test_a_long_retry_after_is_passed_on_without_waiting() -> None:
    limited = error_for_status(429, "m", {"error": {"message": "later"}}, {"retry-after": "120"})
    backend = ScriptedBackend(limited)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        await router(backend, deployments=1, max_retry_after=5).complete("m", {})
    assert time.monotonic() - started < 1
    assert caught.value.headers == {"retry-after": "120"}
    assert backend.calls == ["d0"]


async def test_a_cancelled_probe_frees_the_half_open_slot() -> None:
    backend = ScriptedBackend(UpstreamError("x"), "hang", "ok")
    r = router(backend, deployments=1, num_retries=0, circuit_failures=1, circuit_cooldown=0.05)
    with pytest.raises(UpstreamError):
        await r.complete("m", {})
    await asyncio.sleep(0.06)
    task = asyncio.ensure_future(r.complete("m", {}))  # the probe, which hangs
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.06)
    await r.complete("m", {})  # a new probe is admitted
    assert backend.calls == ["d0", "d0", "d0"]


async def test_unknown_alias() -> None:
    with pytest.raises(GatewayError) as caught:
        await router(ScriptedBackend()).complete("nope", {})
    assert caught.value.status == 404


def test_circuit_opens_cools_down_and_admits_one_probe() -> None:
    circuit = Circuit(failures=2, cooldown=0.05)
    circuit.failed()
    assert circuit.admit()
    circuit.failed()
    assert not circuit.admit() and circuit.is_open
    time.sleep(0.06)
    assert circuit.admit()  # the probe
    assert not circuit.admit()  # only one
    circuit.succeeded()
    assert circuit.admit() and not circuit.is_open


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_splitter_holds_done_back_and_passes_whole_events() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a":1}\n\ndata: {"b"') == b'data: {"a":1}\n\n'
    assert splitter.feed(b':2}\n\ndata: [DO') == b'data: {"b":2}\n\n'
    assert splitter.feed(b"NE]\n\n") == b""
    assert splitter.end() == b"data: [DONE]\n\n"


def test_splitter_ignores_done_inside_content_and_adds_done_when_missing() -> None:
    splitter = EventSplitter()
    event = b'data: {"content":"data: [DONE]"}\n\n'
    assert splitter.feed(event) == event
    assert not splitter.holding
    assert splitter.end() == DONE


def test_splitter_handles_crlf_and_a_done_in_the_same_chunk() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a":1}\r\n\r\ndata: [DONE]\r\n\r\n') == b'data: {"a":1}\r\n\r\n'
    assert splitter.end() == b"data: [DONE]\r\n\r\n"


def test_the_chat_reader_reads_the_first_choice_and_usage() -> None:
    reader = ChatReader(limit=10_000)
    reader.feed(b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}},'
                b'{"index":1,"delta":{"content":"other"}}]}\n\n')
    reader.feed(b': keep-alive\n\ndata: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n')
    reader.feed(b'data: {"choices":[],"usage":{"total_tokens":7}}\n\ndata: [DONE]\n\n')
    assert reader.answer() == ("Hello", 7)


def test_the_chat_reader_is_bounded() -> None:
    reader = ChatReader(limit=2)
    for _ in range(100):
        reader.feed(b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n')
    text, _ = reader.answer()
    assert text == "xx"


def test_splitter_closes_an_unterminated_last_event() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a":1}\n\ndata: [DONE]\n') == b'data: {"a":1}\n\n'
    assert splitter.end() == b"data: [DONE]\n\n"
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a":1}\n\ndata: {"b":2}') == b'data: {"a":1}\n\n'
    assert splitter.end() == b'data: {"b":2}\n\ndata: [DONE]\n\n'
