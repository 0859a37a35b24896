"""Malformed provider answers are a 502, never a success, and are not learned from.

The fake provider answers 200 with a body cut mid-JSON, an HTML page, a stream request with
HTML, a stream that turns to HTML half-way, and an answer larger than the cap. The client is
the real openai SDK: it must raise ``APIStatusError`` / ``APIError`` (not ``JSONDecodeError``,
not an empty iteration), and the store must hold no observation of those exchanges.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from selfmodel.store import open_store
from tests.support.clients import keep
from tests.support.gateway import Running, running
from tests.support.upstream import Behaviour, garbage, ok, raw

CHAT: Any = [{"role": "user", "content": "I prefer short answers"}]
CUT_JSON = b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "mes'
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
CAP = 64 * 1024


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with running(sqlite_url, num_retries=0, max_upstream_bytes=CAP) as gateway:
        yield gateway


def client(gw: Running) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0))


def queued(url: str) -> list[Any]:
    """What the gateway enqueued for the workers (taken by a second store on the file)."""

    async def take() -> list[Any]:
        store = open_store(url)
        await store.start()
        try:
            return [e.observation for e in await store.claim("check", 50, lease_seconds=60)]
        finally:
            await store.close()

    return asyncio.run(take())


def assert_502(error: openai.APIStatusError) -> None:
    assert error.status_code == 502
    body = error.body
    assert isinstance(body, dict) and body["code"] == "upstream_error"
    assert "malformed" in body["message"]


@pytest.mark.parametrize("answer", [
    raw(CUT_JSON),
    raw(HTML, "text/html"),
    raw(b"[1, 2, 3]"),
    raw(b'{"pad": "' + b"x" * 1024, repeat=200),  # over the cap, without Content-Length
])
def test_a_malformed_non_stream_answer_is_a_502(gw: Running, sqlite_url: str,
                                                answer: Behaviour) -> None:
    gw.upstream.then(answer)
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=CHAT, user="u1")
    assert_502(caught.value)
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert queued(sqlite_url) == []  # nothing to learn from a failed exchange


def test_a_well_formed_answer_under_the_cap_still_passes(gw: Running) -> None:
    gw.upstream.then(ok("x" * (CAP // 2)))
    answer = client(gw).chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert answer.choices[0].message.content == "x" * (CAP // 2)


def test_a_stream_request_answered_with_html_is_a_502(gw: Running, sqlite_url: str) -> None:
    gw.upstream.then(raw(HTML, "text/html"))
    with pytest.raises(openai.APIStatusError) as caught:
        for _ in client(gw).chat.completions.create(model="gpt-4o-mini", messages=CHAT,
                                                    user="u1", stream=True):
            pass
    assert_502(caught.value)
    assert queued(sqlite_url) == []


def test_responses_stream_answered_with_json_is_a_502(gw: Running) -> None:
    gw.upstream.then(raw(json.dumps({"id": "resp_1"}).encode()))
    with pytest.raises(openai.APIStatusError) as caught:
        for _ in client(gw).responses.create(model="gpt-4o-mini", input="hi", stream=True):
            pass
    assert_502(caught.value)


def test_a_stream_that_turns_to_html_ends_with_an_error_event(gw: Running,
                                                              sqlite_url: str) -> None:
    gw.upstream.then(garbage(after=2))
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client(gw).chat.completions.create(model="gpt-4o-mini", messages=CHAT,
                                                        user="u1", stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert "malformed" in caught.value.message
    assert "html" not in caught.value.message.lower()  # the provider's page is not relayed
    assert pieces == ["Hello from upstream part0. ", "Hello from upstream part1. "]
    assert queued(sqlite_url) == []  # recorded as failed: no observation to learn from


def test_a_stream_cut_off_is_still_observed_as_truncated(gw: Running, sqlite_url: str) -> None:
    """The line between "failed" and "cut": a provider that dies mid-stream sent a real
    (partial) answer; the user's turn is still observed, marked truncated."""
    from tests.support.upstream import die

    gw.upstream.then(die(after=2))
    with pytest.raises(openai.APIError):
        for _ in client(gw).chat.completions.create(model="gpt-4o-mini", messages=CHAT,
                                                    user="u1", stream=True):
            pass
    assert [o.truncated for o in queued(sqlite_url)] == [True]


def test_keepalive_comments_are_valid_sse(gw: Running) -> None:
    gw.upstream.then(ok(keepalive=True))
    text = "".join(c.choices[0].delta.content or "" for c in client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, stream=True) if c.choices)
    assert text.startswith("Hello from upstream part0.")
