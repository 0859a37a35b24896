"""The litellm path: an Anthropic deployment mocked with respx, through the gateway and the SDK.

litellm talks aiohttp by default, which respx cannot see; DISABLE_AIOHTTP_TRANSPORT switches it
to httpx for these tests. The openai SDK (the client) uses its own transport, untouched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
import respx

from selfmodel.app import create_app
from tests.support.anthropic_wire import anthropic_message, anthropic_sse
from tests.support.clients import keep
from tests.support.gateway import gateway_config
from tests.support.servers import ServedApp, serve

PRIMARY = "https://anthropic-primary.test"
SECONDARY = "https://anthropic-secondary.test"
MODEL = "anthropic/claude-3-5-haiku-latest"
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello"}]


@pytest.fixture
def gateway(sqlite_url: str, mock: respx.MockRouter) -> Iterator[ServedApp]:
    config = gateway_config(sqlite_url, [("claude", MODEL, PRIMARY), ("claude", MODEL, SECONDARY)],
                            num_retries=0)
    with serve(create_app(config, run_workers=False)) as served:
        yield served


def client(gateway: ServedApp) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk", max_retries=0))


def message(text: str) -> dict[str, Any]:
    return anthropic_message([{"type": "text", "text": text}])


sse = anthropic_sse


def test_anthropic_non_stream(gateway: ServedApp, mock: respx.MockRouter) -> None:
    route = mock.post(f"{PRIMARY}/v1/messages").mock(
        return_value=httpx.Response(200, json=message("Hello from Claude")))
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="claude", messages=MESSAGES, max_tokens=50)
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hello from Claude"
    assert answer.usage is not None and answer.usage.total_tokens == 15
    assert raw.headers["x-selfmodel-deployment"] == MODEL
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "claude-3-5-haiku-latest"
    assert "You are terse." in json.dumps(sent["system"])
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text",
                                                             "text": "Say hello"}]}] or \
        sent["messages"] == [{"role": "user", "content": "Say hello"}]
    assert sent["max_tokens"] == 50
    assert route.calls.last.request.headers["x-api-key"] == "sk-upstream"


def test_anthropic_stream(gateway: ServedApp, mock: respx.MockRouter) -> None:
    mock.post(f"{PRIMARY}/v1/messages").mock(return_value=httpx.Response(
        200, content=sse("Hello", " world"), headers={"content-type": "text/event-stream"}))
    stream = client(gateway).chat.completions.create(
        model="claude", messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_anthropic_falls_back_to_the_second_deployment(
        gateway: ServedApp, mock: respx.MockRouter) -> None:
    primary = mock.post(f"{PRIMARY}/v1/messages").mock(return_value=httpx.Response(
        529, json={"type": "error", "error": {"type": "overloaded_error",
                                              "message": "Overloaded"}}))
    secondary = mock.post(f"{SECONDARY}/v1/messages").mock(
        return_value=httpx.Response(200, json=message("from the fallback")))
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="claude", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "from the fallback"
    assert raw.headers["x-selfmodel-deployment"] == f"{MODEL}#2"
    assert primary.call_count == 1 and secondary.call_count == 1


def test_anthropic_stream_falls_back_before_the_first_byte(
        gateway: ServedApp, mock: respx.MockRouter) -> None:
    mock.post(f"{PRIMARY}/v1/messages").mock(return_value=httpx.Response(
        500, json={"type": "error", "error": {"type": "api_error", "message": "boom"}}))
    mock.post(f"{SECONDARY}/v1/messages").mock(return_value=httpx.Response(
        200, content=sse("saved"), headers={"content-type": "text/event-stream"}))
    stream = client(gateway).chat.completions.create(
        model="claude", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "saved"


def test_anthropic_400_is_passed_on_after_one_call(
        gateway: ServedApp, mock: respx.MockRouter) -> None:
    route = mock.post(f"{PRIMARY}/v1/messages").mock(return_value=httpx.Response(
        400, json={"type": "error", "error": {"type": "invalid_request_error",
                                              "message": "max_tokens: too large"}}))
    secondary = mock.post(f"{SECONDARY}/v1/messages")
    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway).chat.completions.create(model="claude", messages=MESSAGES)
    assert "max_tokens: too large" in caught.value.message
    assert not caught.value.message.startswith("litellm.")
    assert route.call_count == 1 and secondary.call_count == 0


def test_anthropic_failing_everywhere_is_502_with_x_should_retry_false(
        gateway: ServedApp, mock: respx.MockRouter) -> None:
    for base in (PRIMARY, SECONDARY):
        mock.post(f"{base}/v1/messages").mock(return_value=httpx.Response(
            503, json={"type": "error", "error": {"type": "api_error",
                                                  "message": "down at 10.0.0.7"}}))
    with pytest.raises(openai.APIStatusError) as caught:
        client(gateway).chat.completions.create(model="claude", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "10.0.0.7" not in caught.value.message


class BreakingStream(httpx.AsyncByteStream):
    """An Anthropic stream that breaks off after its first text delta."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        whole = sse("Hello", " never")
        yield whole[: whole.index(b"event: content_block_delta", whole.index(b"Hello"))]
        raise httpx.ReadError("connection reset by 10.0.0.7")


def test_anthropic_dies_mid_stream(gateway: ServedApp, mock: respx.MockRouter) -> None:
    mock.post(f"{PRIMARY}/v1/messages").mock(return_value=httpx.Response(
        200, stream=BreakingStream(), headers={"content-type": "text/event-stream"}))
    secondary = mock.post(f"{SECONDARY}/v1/messages")
    stream = client(gateway).chat.completions.create(model="claude", messages=MESSAGES,
                                                     stream=True)
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(pieces) == "Hello"
    assert "10.0.0.7" not in caught.value.message
    assert secondary.call_count == 0  # no silent fallback after the first byte


def test_litellm_embeddings(sqlite_url: str, mock: respx.MockRouter) -> None:
    route = mock.post("https://mistral.test/v1/embeddings").mock(return_value=httpx.Response(
        200, json={"object": "list", "model": "mistral-embed",
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
                   "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
    config = gateway_config(sqlite_url, [("embed", "mistral/mistral-embed",
                                          "https://mistral.test/v1")])
    with serve(create_app(config, run_workers=False)) as served:
        result = client(served).embeddings.create(model="embed", input="hello")
    assert result.data[0].embedding == [0.5, 0.25]
    assert json.loads(route.calls.last.request.content)["input"] == "hello"
