"""Streams that go wrong (RELIABILITY.md 11, 14, 15, 16) and what ``pipeline.finish`` is told."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import openai
import pytest

from selfmodel.pipeline import Prepared
from tests.support.clients import keep
from tests.support.gateway import Running, running
from tests.support.upstream import die, forever, hang, ok, stream_texts, trickle

MESSAGES = [{"role": "user", "content": "Hi"}]


@dataclass
class Finished:
    prepared: Prepared
    kwargs: dict[str, Any]


class RecordingPipeline:
    """Wraps the app's pipeline and records every ``finish`` call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.finished: list[Finished] = []

    async def prepare(self, **kwargs: Any) -> Prepared:
        prepared: Prepared = await self.inner.prepare(**kwargs)
        return prepared

    async def finish(self, prepared: Prepared, **kwargs: Any) -> None:
        await asyncio.sleep(0.05)  # a store write takes a moment; cancellation must not cut it
        self.finished.append(Finished(prepared, kwargs))

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[Finished]:
        deadline = time.monotonic() + timeout
        while len(self.finished) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.finished


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with running(sqlite_url, idle_timeout=0.5, first_byte_timeout=0.5, num_retries=0) as r:
        yield r


def recording(gw: Running) -> RecordingPipeline:
    services = gw.app.state.services
    pipeline = RecordingPipeline(services.pipeline)
    gw.app.state.services = replace(services, pipeline=pipeline)
    return pipeline


def client(gw: Running) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url, api_key="sk", max_retries=0))


def test_finish_gets_the_exchange_before_done(gw: Running) -> None:
    pipeline = recording(gw)
    messages = [{"role": "user", "content": "first question"},
                {"role": "assistant", "content": "first answer"},
                {"role": "user", "content": "I meant shorter"},
                {"role": "user", "content": [{"type": "text", "text": "much shorter"}]}]
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, user="u1",
        stream_options={"include_usage": True})
    list(stream)
    # finish ran before [DONE] was sent: it is recorded by the time the client has the end.
    assert len(pipeline.finished) == 1
    done = pipeline.finished[0].kwargs
    assert done == {"user_turns": "I meant shorter\n\nmuch shorter",
                    "previous_assistant": "first answer",
                    "assistant": "".join(stream_texts(ok())),
                    "truncated": False, "tokens": 15}
    assert pipeline.finished[0].prepared.user_id == "u1"


def test_finish_on_a_non_stream_answer(gw: Running) -> None:
    pipeline = recording(gw)
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                       extra_headers={"x-selfmodel-user": "u2"})
    done = pipeline.finished[0]
    assert done.prepared.user_id == "u2"
    assert done.kwargs["assistant"] == "Hello from upstream"
    assert done.kwargs["tokens"] == 15 and done.kwargs["truncated"] is False


def test_provider_dies_mid_stream(gw: Running) -> None:
    pipeline = recording(gw)
    gw.upstream.then(die(after=2))
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, user="u1")
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "".join(stream_texts(die(after=2)))
    assert "failed in the middle of the stream" in caught.value.message
    assert "127.0.0.1" not in caught.value.message and "Traceback" not in caught.value.message
    finished = pipeline.wait()
    assert finished[0].kwargs["truncated"] is True
    assert finished[0].kwargs["assistant"] == "".join(stream_texts(die(after=2)))


def test_no_done_after_an_error_event(gw: Running) -> None:
    gw.upstream.then(die(after=1))
    with httpx.stream("POST", gw.url + "/chat/completions", json={
            "model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}) as response:
        body = response.read()
    assert body.rstrip().endswith(b"}}")
    assert b'data: {"error":' in body and b"[DONE]" not in body


def test_idle_provider_mid_stream_gets_an_error_event(gw: Running) -> None:
    gw.upstream.then(forever(delay=2.0))
    started = time.monotonic()
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "timed out" in caught.value.message
    assert time.monotonic() - started < 3
    assert gw.upstream.wait_closed(5)


def test_silent_provider_before_the_first_byte_is_504(gw: Running) -> None:
    gw.upstream.then(hang())
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                           stream=True)
    assert caught.value.status_code == 504
    assert gw.upstream.wait_closed(5)


def test_a_trickle_is_cut_at_the_request_deadline(sqlite_url: str) -> None:
    with running(sqlite_url, request_timeout=1.0, idle_timeout=0.5, num_retries=0) as gw:
        gw.upstream.then(trickle(delay=0.1))
        started = time.monotonic()
        stream = client(gw).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIError):
            list(stream)
        assert time.monotonic() - started < 3
        assert gw.upstream.wait_closed(5)


def test_client_disconnect_closes_the_provider_stream(gw: Running) -> None:
    pipeline = recording(gw)
    gw.upstream.then(forever(delay=0.02))
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, user="u1")
    for index, _ in enumerate(stream):
        if index == 3:
            break
    stream.close()
    assert gw.upstream.wait_closed(2)
    finished = pipeline.wait()
    assert finished[0].kwargs["truncated"] is True
    assert finished[0].kwargs["assistant"].startswith("tick0 tick1 tick2")


def test_repeated_disconnects_leak_no_provider_streams(gw: Running) -> None:
    for _ in range(100):
        gw.upstream.then(forever(delay=0.01))
        with socket.create_connection(("127.0.0.1", gw.gateway.port)) as sock:
            body = b'{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", ' \
                   b'"content": "x"}]}'
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                         b"content-type: application/json\r\ncontent-length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 5
    while gw.upstream.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gw.upstream.open_streams == 0
    assert len(gw.upstream.requests) == 100
    state = gw.gateway.server.server_state
    while (state.connections or state.tasks) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not state.connections and not state.tasks
