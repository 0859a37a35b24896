"""End to end: the openai SDK -> the gateway on loopback -> a fake OpenAI-compatible provider."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import openai
import pytest

from selfmodel.pipeline import Prepared
from tests.support.clients import keep
from tests.support.gateway import Running, running
from tests.support.upstream import error, ok, stream_texts

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi there"},
]


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with running(sqlite_url) as r:
        yield r


def client(gw: Running) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url, api_key="sk-local", max_retries=0))


def without_model(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != "model"}


def test_non_stream_answer_and_what_the_provider_received(gw: Running) -> None:
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, user="u1",
        extra_body={"custom_field": {"kept": [1, 2]}},
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hello from upstream"
    assert raw.headers["x-selfmodel-request-id"].startswith("req_")
    assert raw.headers["x-selfmodel-deployment"] == "openai/gpt-4o-mini"
    received = gw.upstream.last
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == "Bearer sk-upstream"
    assert received.body["model"] == "gpt-4o-mini"
    assert without_model(received.body) == {
        "messages": MESSAGES, "temperature": 0.2, "user": "u1",
        "custom_field": {"kept": [1, 2]},
    }


def test_the_clients_key_never_reaches_the_provider(gw: Running) -> None:
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "sk-local" not in str(gw.upstream.last.headers)


def test_stream_with_usage_passes_every_chunk(gw: Running) -> None:
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(stream_texts(ok()))
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15
    assert gw.upstream.last.body["stream_options"] == {"include_usage": True}


def test_stream_response_headers(gw: Running) -> None:
    with httpx.stream("POST", gw.url + "/chat/completions", json={
        "model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
    }) as response:
        body = response.read()
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-selfmodel-request-id"].startswith("req_")
    assert response.headers["x-selfmodel-deployment"] == "openai/gpt-4o-mini"
    assert body.endswith(b"data: [DONE]\n\n")
    assert body.count(b"[DONE]") == 1


def test_tools_and_tool_choice_reach_the_provider_as_sent(gw: Running) -> None:
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]
    gw.upstream.then(ok(tool_call=("get_weather", '{"city": "Paris"}')))
    answer = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=tools,
        tool_choice="auto", response_format={"type": "text"},
    )
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris"}'
    received = gw.upstream.last.body
    assert received["tools"] == tools
    assert received["tool_choice"] == "auto"
    assert received["response_format"] == {"type": "text"}


def test_n_choices(gw: Running) -> None:
    answer = client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=3)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert gw.upstream.last.body["n"] == 3


def test_multimodal_content_part_passes_untouched(gw: Running) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=",
                                                   "detail": "low"}}]
    messages = [{"role": "user", "content": content}]
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert gw.upstream.last.body["messages"] == messages


async def test_async_client_stream_and_non_stream(gw: Running) -> None:
    async with openai.AsyncOpenAI(base_url=gw.url, api_key="sk", max_retries=0) as aclient:
        answer = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert answer.choices[0].message.content == "Hello from upstream"
        stream = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True)
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == "".join(stream_texts(ok()))
    assert len(gw.upstream.requests) == 2


def test_models_lists_the_aliases(gw: Running) -> None:
    ids = [m.id for m in client(gw).models.list()]
    assert ids == ["gpt-4o-mini", "echo"]


def test_embeddings_pass_through(gw: Running) -> None:
    result = client(gw).embeddings.create(model="gpt-4o-mini", input=["a", "b"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == [0.1, 0.2, 0.3]
    received = gw.upstream.last
    assert received.path == "/v1/embeddings"
    assert received.body["model"] == "gpt-4o-mini"
    assert received.body["input"] == ["a", "b"]


def test_stream_split_across_many_small_writes(gw: Running) -> None:
    gw.upstream.then(ok(chunks=20, delay=0.005))
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "".join(stream_texts(ok(chunks=20)))


class PersonalizingPipeline:
    """Stands in for the real pipeline: adds a fixed block and records what prepare was told."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.prepared: list[dict[str, Any]] = []

    async def prepare(self, **kwargs: Any) -> Prepared:
        self.prepared.append(kwargs)
        prepared: Prepared = await self.inner.prepare(**kwargs)
        prepared.system_text = "About this user: prefers concise answers."
        return prepared

    async def finish(self, prepared: Prepared, **kwargs: Any) -> None:
        return None


def personalizing(gw: Running) -> PersonalizingPipeline:
    services = gw.app.state.services
    pipeline = PersonalizingPipeline(services.pipeline)
    gw.app.state.services = replace(services, pipeline=pipeline)
    return pipeline


def test_the_block_is_appended_to_the_apps_system_prompt(gw: Running) -> None:
    pipeline = personalizing(gw)
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                       safety_identifier="sid-1",
                                       extra_headers={"x-selfmodel-personalize": "off"})
    sent = gw.upstream.last.body["messages"]
    assert sent[0] == {"role": "system", "content": "You are terse.\n\n"
                                                    "About this user: prefers concise answers."}
    assert sent[1:] == MESSAGES[1:]
    call = pipeline.prepared[0]
    assert call["user_id"] == "sid-1" and call["opt_out"] is True
    assert call["surface"] == "chat" and call["model"] == "gpt-4o-mini"
    assert call["conversation"] == "Hi there"
    assert call["tenant"].name == "default"


def test_the_user_field_wins_over_the_header(gw: Running) -> None:
    pipeline = personalizing(gw)
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="u-body",
                                       extra_headers={"x-selfmodel-user": "u-header"})
    assert pipeline.prepared[0]["user_id"] == "u-body"
    assert pipeline.prepared[0]["opt_out"] is False


def test_the_fallback_gets_the_same_personalized_prompt(sqlite_url: str) -> None:
    with running(sqlite_url, upstreams=2, num_retries=0) as r:
        personalizing(r)
        r.upstreams[0].then(error(503))
        client(r).chat.completions.create(model="gpt-4o-mini", messages=[MESSAGES[1]])
        first, second = r.upstreams[0].last.body, r.upstreams[1].last.body
    assert first == second
    assert first["messages"][0] == {"role": "system",
                                    "content": "About this user: prefers concise answers."}


def test_echo_shows_the_personalized_prompt(gw: Running) -> None:
    personalizing(gw)
    answer = client(gw).chat.completions.create(model="echo", messages=MESSAGES)
    text = answer.choices[0].message.content or ""
    assert "You are terse.\n\nAbout this user: prefers concise answers." in text


def test_requests_are_counted_with_bounded_labels(gw: Running) -> None:
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.NotFoundError):
        client(gw).chat.completions.create(model="made-up-model", messages=MESSAGES)
    counted = ('selfmodel_requests_total{model="gpt-4o-mini",route="chat",status="2xx",'
               'tenant="default"} 1.0')
    refused = 'selfmodel_requests_total{model="-",route="chat",status="4xx",tenant="default"} 1.0'
    deadline = time.monotonic() + 3  # a request is recorded just after its last byte
    text = ""
    while time.monotonic() < deadline and not (counted in text and refused in text):
        text = httpx.get(gw.gateway.url + "/metrics").text
        time.sleep(0.02)
    assert counted in text and refused in text
    assert "made-up-model" not in text


def test_keep_alive_comments_are_harmless(gw: Running) -> None:
    gw.upstream.then(ok(keepalive=True, delay=0.002))
    stream = client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "".join(stream_texts(ok()))
