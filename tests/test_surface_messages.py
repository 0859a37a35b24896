"""POST /v1/messages end to end: the anthropic SDK -> the gateway on loopback -> a provider.

``anthropic/`` deployments get Anthropic's Messages API natively (the fake upstream records
what it received); an OpenAI-compatible deployment, a litellm provider (Mistral, respx) and
the echo model are reached through chat completions and their answers rebuilt as Anthropic
messages. Answers are checked against the SDK's own types, strictly, and the app's system
prompt must reach the provider verbatim with the personalization block appended.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
import respx
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from tests.support.clients import keep
from tests.support.surfaces import (
    BLOCK,
    SurfaceGateway,
    finished_when_terminal_arrives,
    poll,
    requests_counted,
    sse_events,
    surface_gateway,
)
from tests.support.upstream import FakeUpstream, die, error, forever, ok, stream_texts

MISTRAL_BASE = "https://mistral.test/v1"
MESSAGES = [{"role": "user", "content": "Hi there"}]
TOOL = {"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}
EVENT = TypeAdapter(RawMessageStreamEvent)
@pytest.fixture
def gw(sqlite_url: str, fake: tuple[FakeUpstream, str]) -> Iterator[SurfaceGateway]:
    deployments = [("claude", "anthropic/claude-sonnet-4-5", fake[1]),
                   ("gpt", "openai/gpt-4o-mini", fake[1] + "/v1"),
                   ("mistral", "mistral/mistral-small-latest", MISTRAL_BASE)]
    with surface_gateway(sqlite_url, deployments, num_retries=1) as served:
        yield served


def client(gw: SurfaceGateway, key: str = "sk-local") -> anthropic.Anthropic:
    return keep(anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0))


# -- native: anthropic/ deployments get the Messages API as sent ------------------------------


def test_non_stream_reaches_anthropic_with_the_block_after_the_apps_system(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    raw = client(gw).messages.with_raw_response.create(
        model="claude", max_tokens=100, system="You are terse.", messages=MESSAGES,
        tools=[TOOL], metadata={"user_id": "u1"},
        extra_headers={"anthropic-beta": "tools-2024-05-16"},
        extra_body={"temperature": 0.2, "custom_field": {"kept": [1, 2]}})
    answer = raw.parse()
    assert answer.content[0].type == "text" and answer.content[0].text == "Hello from upstream"
    assert raw.headers["x-selfmodel-request-id"].startswith("req_")
    assert raw.headers["x-selfmodel-deployment"] == "anthropic/claude-sonnet-4-5"
    received = fake[0].last
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == "sk-upstream"
    assert received.headers["anthropic-version"] == \
        raw.http_response.request.headers["anthropic-version"]  # the client's, passed on
    assert received.headers["anthropic-beta"] == "tools-2024-05-16"
    assert "sk-local" not in str(received.headers)
    assert received.body == {
        "model": "claude-sonnet-4-5", "max_tokens": 100, "system": f"You are terse.\n\n{BLOCK}",
        "messages": MESSAGES, "tools": [TOOL], "metadata": {"user_id": "u1"},
        "temperature": 0.2, "custom_field": {"kept": [1, 2]}}
    assert gw.recorded.finished[0].kwargs == {
        "user_turns": "Hi there", "previous_assistant": "", "assistant": "Hello from upstream",
        "truncated": False, "tokens": 15}


def test_without_a_version_from_the_client_anthropic_gets_the_default(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    response = httpx.post(gw.url + "/v1/messages", json={
        "model": "claude", "max_tokens": 10, "messages": MESSAGES})
    assert response.status_code == 200
    assert fake[0].last.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in fake[0].last.headers


def test_system_blocks_stay_verbatim_and_the_block_is_another_text_block(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    client(gw).messages.create(model="claude", max_tokens=10, system=system,
                               messages=MESSAGES)
    assert fake[0].last.body["system"] == [*system, {"type": "text", "text": BLOCK}]


def test_system_is_set_when_the_app_sent_none(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    client(gw).messages.create(model="claude", max_tokens=10, messages=MESSAGES,
                               extra_headers={"x-selfmodel-personalize": "off",
                                              "x-selfmodel-user": "u-h"})
    assert fake[0].last.body["system"] == BLOCK
    prepared = gw.recorded.prepared[0]
    assert prepared["surface"] == "messages" and prepared["model"] == "claude"
    assert prepared["opt_out"] is True and prepared["user_id"] == "u-h"
    assert prepared["conversation"] == "Hi there"


@pytest.mark.parametrize(("metadata", "headers", "user"), [
    ({"user_id": "u-body"}, {"x-selfmodel-user": "u-h"}, "u-body"),
    ({}, {"x-selfmodel-user": "u-h"}, "u-h"),
    ({}, {}, None),
])
def test_the_user_is_metadata_user_id_then_the_header(
        gw: SurfaceGateway, metadata: dict[str, str], headers: dict[str, str],
        user: str | None) -> None:
    client(gw).messages.create(model="claude", max_tokens=10, messages=MESSAGES,
                               metadata=metadata, extra_headers=headers)
    assert gw.recorded.prepared[0]["user_id"] == user


def test_native_stream_records_the_exchange_before_message_stop(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    conversation = [{"role": "user", "content": "first question"},
                    {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
                    {"role": "user", "content": [{"type": "text", "text": "much shorter"}]}]
    with client(gw).messages.stream(model="claude", max_tokens=10, system="Be brief.",
                                    messages=conversation,
                                    metadata={"user_id": "u1"}) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert final.content[0].type == "text"
    assert final.content[0].text == "".join(stream_texts(ok()))
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 5)
    assert fake[0].last.body["stream"] is True
    assert fake[0].last.body["system"] == f"Be brief.\n\n{BLOCK}"
    assert gw.recorded.finished[0].kwargs == {
        "user_turns": "much shorter", "previous_assistant": "first answer",
        "assistant": "".join(stream_texts(ok())), "truncated": False, "tokens": 15}
    body = {"model": "claude", "max_tokens": 10, "messages": MESSAGES, "stream": True}
    assert finished_when_terminal_arrives(gw, "/v1/messages", body,
                                          b"event: message_stop") == 2


def test_requests_are_counted_under_the_messages_route(gw: SurfaceGateway) -> None:
    client(gw).messages.create(model="claude", max_tokens=10, messages=MESSAGES)
    assert requests_counted(gw, route="messages", model="claude", tenant="default",
                            status="2xx") == 1


def test_a_retryable_anthropic_error_is_retried_and_a_400_is_passed_on_once(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(error(529, "Overloaded"))
    answer = client(gw).messages.create(model="claude", max_tokens=10, messages=MESSAGES)
    assert answer.content[0].type == "text" and len(fake[0].requests) == 2
    fake[0].then(error(400, "max_tokens: too large"))
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(model="claude", max_tokens=10, messages=MESSAGES)
    assert caught.value.body == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "max_tokens: too large"}}
    assert len(fake[0].requests) == 3


def test_a_provider_dying_mid_stream_is_an_error_event_and_a_truncated_exchange(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(die(after=2))
    pieces: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught, client(gw).messages.stream(
            model="claude", max_tokens=10, messages=MESSAGES,
            metadata={"user_id": "u1"}) as stream:
        pieces.extend(stream.text_stream)
    assert caught.value.body == {"type": "error", "error": {
        "type": "api_error",
        "message": "The connection to the provider for model 'claude' failed in the middle of "
                   "the stream."}}
    assert pieces == stream_texts(ok())[:2]
    finished = poll(lambda: gw.recorded.finished or None)[0]
    assert finished.kwargs["truncated"] is True
    assert finished.kwargs["assistant"] == "".join(stream_texts(ok())[:2])


def test_a_client_leaving_a_translated_stream_closes_the_provider_stream(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(forever(delay=0.02))
    with client(gw).messages.stream(model="gpt", max_tokens=10, messages=MESSAGES,
                                    metadata={"user_id": "u1"}) as stream:
        for index, _text in enumerate(stream.text_stream):
            if index == 2:
                break
    assert fake[0].wait_closed(2)
    finished = poll(lambda: gw.recorded.finished or None)[0]
    assert finished.kwargs["truncated"] is True
    assert finished.kwargs["assistant"].startswith("tick0 tick1 tick2")


# -- translated: other providers answer through chat completions ------------------------------


def test_an_openai_deployment_gets_chat_completions_with_the_system_message(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    system = [{"type": "text", "text": "You are terse."}]
    raw = client(gw).messages.with_raw_response.create(
        model="gpt", max_tokens=64, system=system, messages=MESSAGES,
        stop_sequences=["END"], metadata={"user_id": "u1"})
    answer = Message.model_validate_json(raw.http_response.content)  # strictly Anthropic's shape
    assert answer.content[0].type == "text" and answer.content[0].text == "Hello from upstream"
    assert answer.stop_reason == "end_turn"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (10, 5)
    received = fake[0].last
    assert received.path == "/v1/chat/completions"
    assert received.body == {
        "model": "gpt-4o-mini", "max_tokens": 64, "stop": ["END"], "user": "u1",
        "messages": [{"role": "system", "content": f"You are terse.\n\n{BLOCK}"},
                     {"role": "user", "content": "Hi there"}]}


def test_tools_round_trip_through_chat_completions(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(ok(tool_call=("get_weather", '{"city": "Paris"}')))
    answer = client(gw).messages.create(
        model="gpt", max_tokens=64, messages=[{"role": "user", "content": "Paris weather?"}],
        tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"})
    (call,) = answer.content
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "Paris"} and answer.stop_reason == "tool_use"
    sent = fake[0].last.body
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": TOOL["input_schema"]}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    follow_up = [{"role": "user", "content": "Paris weather?"},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": call.id,
                                                    "name": "get_weather",
                                                    "input": {"city": "Paris"}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": "18C, sunny"}]}]
    client(gw).messages.create(model="gpt", max_tokens=64, messages=follow_up,
                               tools=[TOOL])
    replayed = fake[0].last.body["messages"]
    assert replayed[-2]["tool_calls"][0]["id"] == call.id
    assert json.loads(replayed[-2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert replayed[-1] == {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"}


def test_a_translated_stream_is_typed_and_accumulates_in_the_sdk(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    with client(gw).messages.stream(model="gpt", max_tokens=10, messages=MESSAGES,
                                    metadata={"user_id": "u1"}) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "".join(stream_texts(ok()))
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 5)
    assert fake[0].last.body["stream_options"] == {"include_usage": True}
    assert gw.recorded.finished[0].kwargs["assistant"] == text
    with httpx.stream("POST", gw.url + "/v1/messages", json={
            "model": "gpt", "max_tokens": 10, "messages": MESSAGES, "stream": True}) as response:
        events = [(kind, EVENT.validate_python(data))
                  for kind, data in sse_events(response.read())]
    assert all(kind == event.type for kind, event in events)
    assert [kind for kind, _ in events][:2] == ["message_start", "content_block_start"]
    assert [kind for kind, _ in events][-3:] == ["content_block_stop", "message_delta",
                                                 "message_stop"]


def test_echo_shows_the_system_prompt_it_would_have_received(gw: SurfaceGateway) -> None:
    raw = client(gw).messages.with_raw_response.create(
        model="echo", max_tokens=10, system="You are terse.",
        messages=[{"role": "user", "content": "Summarize my notes"}])
    answer = Message.model_validate_json(raw.http_response.content)
    assert answer.content[0].type == "text"
    text = answer.content[0].text
    assert text.index(f"[system]\nYou are terse.\n\n{BLOCK}") < text.index("Summarize my notes")


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 1,
            "model": "mistral-small-latest", **extra,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n".encode()


def mistral_chunks(*deltas: dict[str, Any], finish: str = "stop") -> bytes:
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    return b"".join([chunk({"role": "assistant", "content": ""}),
                     *(chunk(delta) for delta in deltas),
                     chunk({}, finish, usage=usage), b"data: [DONE]\n\n"])


def sse_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_a_litellm_provider_non_stream_and_stream(
        gw: SurfaceGateway, mock: respx.MockRouter) -> None:
    route = mock.post(f"{MISTRAL_BASE}/chat/completions").mock(return_value=httpx.Response(
        200, json={"id": "c1", "object": "chat.completion", "created": 1,
                   "model": "mistral-small-latest",
                   "choices": [{"index": 0, "finish_reason": "stop", "message": {
                       "role": "assistant", "content": "Bonjour"}}],
                   "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}))
    answer = client(gw).messages.create(model="mistral", max_tokens=10, system="Be brief.",
                                        messages=MESSAGES)
    assert answer.content[0].type == "text" and answer.content[0].text == "Bonjour"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (7, 2)
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"][0] == {"role": "system", "content": f"Be brief.\n\n{BLOCK}"}
    route.mock(return_value=sse_response(mistral_chunks({"content": "Bon"}, {"content": "jour"})))
    with client(gw).messages.stream(model="mistral", max_tokens=10,
                                    messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == "Bonjour"
        assert stream.get_final_message().usage.output_tokens == 2


def test_a_streamed_tool_call_arrives_as_input_json_deltas(
        gw: SurfaceGateway, mock: respx.MockRouter) -> None:
    start = {"index": 0, "id": "call_9", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}
    pieces = [{"index": 0, "function": {"arguments": p}} for p in ('{"city": ', '"Paris"}')]
    mock.post(f"{MISTRAL_BASE}/chat/completions").mock(return_value=sse_response(mistral_chunks(
        {"content": "Let me check."}, {"tool_calls": [start]},
        *({"tool_calls": [p]} for p in pieces), finish="tool_calls")))
    with client(gw).messages.stream(model="mistral", max_tokens=10, messages=MESSAGES,
                                    tools=[TOOL]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    text, call = final.content
    assert text.type == "text" and text.text == "Let me check."
    assert call.type == "tool_use" and (call.id, call.name) == ("call_9", "get_weather")
    assert call.input == {"city": "Paris"} and final.stop_reason == "tool_use"
    assert kinds.count("content_block_start") == 2 == kinds.count("content_block_stop")


@pytest.mark.parametrize(("fields", "param"), [
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]},
     "messages[0].content"),
])
def test_what_cannot_be_translated_is_a_400_naming_the_field(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str], fields: dict[str, Any],
        param: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(**{"model": "gpt", "max_tokens": 10, "messages": MESSAGES,
                                      **fields})
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "translated to chat completions" in caught.value.body["error"]["message"]
    assert fake[0].requests == []


# -- bad requests: Anthropic's error format, the provider never called -------------------------


def post(gw: SurfaceGateway, content: bytes, path: str = "/v1/messages",
         **headers: str) -> httpx.Response:
    return httpx.post(gw.url + path, content=content,
                      headers={"content-type": "application/json", **headers})


def test_malformed_json_is_400_in_anthropics_format(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    response = post(gw, b'{"model": "claude", "messages": [')
    assert response.status_code == 400
    assert response.json() == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "The request body is not valid JSON."}}
    assert response.headers["x-selfmodel-request-id"].startswith("req_")
    assert fake[0].requests == []


@pytest.mark.parametrize(("body", "words"), [
    ({"max_tokens": 10, "messages": MESSAGES}, "'model'"),
    ({"model": "claude", "messages": MESSAGES}, "'max_tokens'"),
    ({"model": "claude", "max_tokens": 0, "messages": MESSAGES}, "'max_tokens'"),
    ({"model": "claude", "max_tokens": 10}, "'messages'"),
    ({"model": "claude", "max_tokens": 10, "messages": []}, "'messages'"),
    ({"model": "claude", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]},
     "'messages[0].role'"),
    ({"model": "claude", "max_tokens": 10, "messages": [{"role": "user"}]},
     "'messages[0].content'"),
    ({"model": "claude", "max_tokens": 10, "messages": MESSAGES, "system": [{"text": 1}]},
     "'system'"),
    ({"model": "claude", "max_tokens": 10, "messages": MESSAGES, "metadata": "u1"},
     "'metadata'"),
])
def test_schema_errors_are_400_naming_the_field(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str], body: dict[str, Any],
        words: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).post("/v1/messages", body=body, cast_to=Message)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert words in caught.value.body["error"]["message"]
    assert fake[0].requests == [] and gw.recorded.prepared == []


def test_unknown_model_and_unknown_path_are_404_in_anthropics_format(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(gw).messages.create(model="claude-9", max_tokens=10, messages=MESSAGES)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "claude-9" in caught.value.body["error"]["message"]
    unknown = post(gw, b"{}", "/v1/messages/batches")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    assert fake[0].requests == []


def test_oversized_body_is_413_in_anthropics_format(sqlite_url: str) -> None:
    with surface_gateway(sqlite_url, [], max_body_bytes=2048) as gw:
        big = [{"role": "user", "content": "x" * 5000}]
        with pytest.raises(anthropic.APIStatusError) as caught:
            client(gw).messages.create(model="echo", max_tokens=10, messages=big)
    assert caught.value.status_code == 413
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "request_too_large"


def test_the_tenant_key_is_accepted_as_x_api_key_or_bearer(sqlite_url: str) -> None:
    tenants = [{"name": "acme", "api_keys": ["sha256:" + hashlib.sha256(b"sk-acme").hexdigest()]}]
    with surface_gateway(sqlite_url, [], tenants=tenants) as gw:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            client(gw, "sk-wrong").messages.create(model="echo", max_tokens=10,
                                                   messages=MESSAGES)
        missing = post(gw, b"not even json")
        by_key = client(gw, "sk-acme").messages.create(model="echo", max_tokens=10,
                                                       messages=MESSAGES)
        bearer = keep(anthropic.Anthropic(base_url=gw.url, auth_token="sk-acme",
                                                  max_retries=0))
        by_token = bearer.messages.create(model="echo", max_tokens=10, messages=MESSAGES)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "authentication_error"
    assert missing.status_code == 401 and missing.json()["type"] == "error"
    assert by_key.content and by_token.content


# -- the real pipeline: a belief reaches the provider, an exchange updates the self-model -----


def beliefs(http: httpx.Client, user: str) -> dict[str, Any]:
    body = http.get(f"/v1/self-models/{user}").json()
    return {b["value"]: b for b in body.get("beliefs", [])}


def test_a_belief_reaches_anthropic_and_the_exchange_updates_the_self_model(
        sqlite_url: str, fake: tuple[FakeUpstream, str]) -> None:
    deployments = [("claude", "anthropic/claude-sonnet-4-5", fake[1])]
    with surface_gateway(sqlite_url, deployments, personalize=False, run_workers=True) as gw, \
            httpx.Client(base_url=gw.url) as http:
        http.post("/v1/self-models", json={"user_id": "carol"}).raise_for_status()
        said = http.post("/v1/self-models/carol/observations", params={"wait": "true"}, json={
            "type": "preference", "content": "Use metric units, please", "key": "units",
            "value": "metric", "domain": "measurement"})
        assert said.status_code == 200, said.text
        with client(gw).messages.stream(
                model="claude", max_tokens=100, system="You are terse.",
                metadata={"user_id": "carol"},
                messages=[{"role": "user", "content": "I'm vegetarian. Dinner ideas?"}],
        ) as stream:
            stream.until_done()
            request_id = stream.response.headers["x-selfmodel-request-id"]
        sent = fake[0].last.body["system"]
        assert sent.startswith("You are terse.\n\n<user_profile>") and "metric" in sent
        decision = http.get(f"/v1/decisions/{request_id}").json()
        assert decision["surface"] == "messages" and decision["personalized"] is True
        assert sent == "You are terse.\n\n" + decision["system_prompt"]
        learned = poll(lambda: beliefs(http, "carol").get("vegetarian"))
        assert learned["domain"] == "diet"


# -- count_tokens -------------------------------------------------------------------------------


def test_count_tokens_asks_anthropic_with_the_personalized_system(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    counted = client(gw).messages.count_tokens(
        model="claude", system="You are terse.", messages=MESSAGES, tools=[TOOL],
        extra_headers={"x-selfmodel-user": "u1"})
    assert counted.input_tokens == 42  # what the provider answered
    received = fake[0].last
    assert received.path == "/v1/messages/count_tokens"
    assert received.headers["x-api-key"] == "sk-upstream"
    assert received.body == {"model": "claude-sonnet-4-5", "system": f"You are terse.\n\n{BLOCK}",
                             "messages": MESSAGES, "tools": [TOOL]}
    assert gw.recorded.finished == []  # nothing answered, nothing observed


def test_count_tokens_elsewhere_counts_what_the_provider_would_receive(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    from selfmodel.personalize import tokens

    calls = len(fake[0].requests)
    counted = client(gw).messages.count_tokens(
        model="gpt", messages=MESSAGES, system="You are terse.",
        extra_headers={"x-selfmodel-user": "u1"})
    assert len(fake[0].requests) == calls  # counted here: chat providers have no such call
    system = f"You are terse.\n\n{BLOCK}"  # as the provider would receive it
    assert counted.input_tokens == tokens.count(system) + tokens.count("Hi there") + 3 + 3
    assert gw.recorded.prepared[-1]["user_id"] == "u1"


def test_count_tokens_refuses_a_body_without_messages(gw: SurfaceGateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.count_tokens(model="gpt", messages="nope")  # type: ignore[arg-type]
    assert "messages" in str(caught.value)
