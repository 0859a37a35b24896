"""POST /v1/responses end to end: the openai SDK -> the gateway on loopback -> a provider.

OpenAI-compatible deployments get the Responses API natively (the fake upstream records what
it received); an Anthropic deployment is reached through litellm (respx) and the echo model
answers too, both translated from chat completions. Every answer is checked against the
SDK's own types, strictly, and the app's instructions must reach the provider verbatim with
the personalization block appended.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import respx
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from selfmodel.api.responses_routes import ResponsesReader
from selfmodel.api.sse import HoldBack
from selfmodel.providers.sse_events import SSEDecoder
from tests.support.anthropic_wire import anthropic_message, anthropic_sse
from tests.support.clients import keep
from tests.support.servers import serve
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

CLAUDE_BASE = "https://anthropic.test"
CLAUDE = "anthropic/claude-3-5-haiku-latest"
INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "Hi there"}]}]
TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}, "strict": True}
EVENT = TypeAdapter(ResponseStreamEvent)
@pytest.fixture
def gw(sqlite_url: str, fake: tuple[FakeUpstream, str]) -> Iterator[SurfaceGateway]:
    deployments = [("gpt", "openai/gpt-4.1-mini", fake[1] + "/v1"),
                   ("claude", CLAUDE, CLAUDE_BASE)]
    with surface_gateway(sqlite_url, deployments, num_retries=1) as served:
        yield served


def client(gw: SurfaceGateway, key: str = "sk-local") -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0))


# -- native: an OpenAI-compatible deployment serves /responses itself -------------------------


def test_non_stream_reaches_the_provider_with_the_block_after_the_apps_instructions(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    raw = client(gw).responses.with_raw_response.create(
        model="gpt", instructions="You are terse.", input=INPUT, tools=[TOOL],
        previous_response_id="resp_earlier", user="u1", temperature=0.2,
        extra_body={"custom_field": {"kept": [1, 2]}})
    answer = raw.parse()
    assert answer.output_text == "Hello from upstream"
    assert answer.usage is not None and answer.usage.total_tokens == 15
    assert raw.headers["x-selfmodel-request-id"].startswith("req_")
    assert raw.headers["x-selfmodel-deployment"] == "openai/gpt-4.1-mini"
    received = fake[0].last
    assert received.path == "/v1/responses"
    assert received.headers["authorization"] == "Bearer sk-upstream"
    assert received.body == {
        "model": "gpt-4.1-mini", "instructions": f"You are terse.\n\n{BLOCK}", "input": INPUT,
        "tools": [TOOL], "previous_response_id": "resp_earlier", "user": "u1",
        "temperature": 0.2, "custom_field": {"kept": [1, 2]}}


def test_prepare_and_finish_are_told_the_exchange(gw: SurfaceGateway) -> None:
    conversation = [{"role": "user", "content": "first question"},
                    {"type": "message", "role": "assistant", "content": [
                        {"type": "output_text", "text": "first answer"}]},
                    {"role": "user", "content": "I meant shorter"},
                    {"role": "user", "content": [{"type": "input_text", "text": "much shorter"}]}]
    client(gw).responses.create(model="gpt", input=conversation, user="u1")
    prepared = gw.recorded.prepared[0]
    assert prepared["surface"] == "responses" and prepared["model"] == "gpt"
    assert prepared["user_id"] == "u1" and prepared["opt_out"] is False
    assert prepared["conversation"] == "first question\nI meant shorter\nmuch shorter"
    finished = gw.recorded.finished[0]
    assert finished.prepared.user_id == "u1"
    assert finished.kwargs == {"user_turns": "I meant shorter\n\nmuch shorter",
                               "previous_assistant": "first answer",
                               "assistant": "Hello from upstream", "truncated": False,
                               "tokens": 15}


def test_instructions_are_set_when_the_app_sent_none(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    client(gw).responses.create(model="gpt", input="Hi", safety_identifier="sid-1",
                                extra_headers={"x-selfmodel-personalize": "off"})
    assert fake[0].last.body["instructions"] == BLOCK
    assert fake[0].last.body["input"] == "Hi"
    prepared = gw.recorded.prepared[0]
    assert prepared["user_id"] == "sid-1" and prepared["opt_out"] is True
    assert gw.recorded.finished[0].kwargs["user_turns"] == "Hi"


@pytest.mark.parametrize(("fields", "headers", "user"), [
    ({"user": "u-body", "safety_identifier": "sid"}, {"x-selfmodel-user": "u-h"}, "u-body"),
    ({"safety_identifier": "sid"}, {"x-selfmodel-user": "u-h"}, "sid"),
    ({}, {"x-selfmodel-user": "u-h"}, "u-h"),
    ({}, {}, None),
])
def test_the_user_is_user_then_safety_identifier_then_the_header(
        gw: SurfaceGateway, fields: dict[str, str], headers: dict[str, str],
        user: str | None) -> None:
    client(gw).responses.create(model="gpt", input="Hi", extra_headers=headers,
                                **fields)
    assert gw.recorded.prepared[0]["user_id"] == user


def test_native_stream_records_the_exchange_before_response_completed(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    stream = client(gw).responses.create(model="gpt", instructions="Be brief.", input=INPUT,
                                         stream=True, user="u1")
    kinds, deltas = [], []
    for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "".join(deltas) == "".join(stream_texts(ok()))
    assert fake[0].last.body["stream"] is True
    assert fake[0].last.body["instructions"] == f"Be brief.\n\n{BLOCK}"
    assert gw.recorded.finished[0].kwargs == {
        "user_turns": "Hi there", "previous_assistant": "",
        "assistant": "".join(stream_texts(ok())), "truncated": False, "tokens": 15}
    body = {"model": "gpt", "input": "Hi", "stream": True, "user": "u1"}
    assert finished_when_terminal_arrives(gw, "/v1/responses", body,
                                          b"event: response.completed") == 2


def test_stream_response_headers(gw: SurfaceGateway) -> None:
    with httpx.stream("POST", gw.url + "/v1/responses", json={
            "model": "gpt", "input": "Hi", "stream": True}) as response:
        body = response.read()
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-selfmodel-request-id"].startswith("req_")
    assert body.count(b"event: response.completed") == 1
    assert body.rstrip().endswith(b"}")  # the terminal event is the last one


def test_requests_are_counted_under_the_responses_route(gw: SurfaceGateway) -> None:
    client(gw).responses.create(model="gpt", input="Hi")
    with pytest.raises(openai.NotFoundError):
        client(gw).responses.create(model="nope", input="Hi")
    labels = {"route": "responses", "tenant": "default"}
    assert requests_counted(gw, **labels, model="gpt", status="2xx") == 1
    assert requests_counted(gw, **labels, model="-", status="4xx") == 1


def test_a_retryable_provider_error_is_retried_through_the_router(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(error(503))
    answer = client(gw).responses.create(model="gpt", input="Hi")
    assert answer.output_text == "Hello from upstream"
    assert [r.path for r in fake[0].requests] == ["/v1/responses"] * 2


def test_a_provider_4xx_is_one_call_with_its_message(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(error(400, "previous response not found"))
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).responses.create(model="gpt", input="Hi", previous_response_id="resp_x")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "previous response not found"
    assert len(fake[0].requests) == 1


def test_the_stream_falls_back_before_its_first_byte_with_the_same_instructions(
        sqlite_url: str) -> None:
    primary, secondary = FakeUpstream(), FakeUpstream()
    with serve(primary) as one, serve(secondary) as two:
        deployments = [("gpt", "openai/gpt-4.1-mini", one.url + "/v1"),
                       ("gpt", "openai/gpt-4.1-mini", two.url + "/v1")]
        with surface_gateway(sqlite_url, deployments, num_retries=0) as gw:
            primary.then(error(500))
            stream = client(gw).responses.create(model="gpt", input="Hi", stream=True,
                                                 instructions="Be brief.")
            text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "".join(stream_texts(ok()))
    assert primary.last.body == secondary.last.body
    assert secondary.last.body["instructions"] == f"Be brief.\n\n{BLOCK}"


def test_a_provider_dying_mid_stream_is_an_api_error_and_a_truncated_exchange(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(die(after=2))
    stream = client(gw).responses.create(model="gpt", input="Hi", stream=True, user="u1")
    deltas: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        deltas.extend(e.delta for e in stream if e.type == "response.output_text.delta")
    assert "127.0.0.1" not in caught.value.message
    assert deltas == stream_texts(ok())[:2]
    finished = poll(lambda: gw.recorded.finished or None)[0]
    assert finished.kwargs["truncated"] is True
    assert finished.kwargs["assistant"] == "".join(stream_texts(ok())[:2])


def test_a_client_leaving_the_stream_closes_the_provider_stream(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    fake[0].then(forever(delay=0.02))
    with httpx.stream("POST", gw.url + "/v1/responses", json={
            "model": "gpt", "input": "Hi", "stream": True, "user": "u1"}) as response:
        chunks = response.iter_raw()
        assert next(chunks) and next(chunks)
    assert fake[0].wait_closed(2)
    finished = poll(lambda: gw.recorded.finished or None)[0]
    assert finished.kwargs["truncated"] is True


# -- translated: echo and litellm providers answer through chat completions -------------------


def test_echo_answers_with_the_instructions_it_would_have_received(gw: SurfaceGateway) -> None:
    raw = client(gw).responses.with_raw_response.create(
        model="echo", instructions="You are terse.", input="Summarize my notes", user="u1")
    answer = Response.model_validate_json(raw.http_response.content)  # strictly OpenAI's shape
    text = answer.output_text
    assert text.index(f"[system]\nYou are terse.\n\n{BLOCK}") < text.index("Summarize my notes")
    assert answer.status == "completed" and answer.object == "response"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    assert gw.recorded.finished[0].kwargs["assistant"] == text


def test_echo_stream_events_are_typed_in_order_and_reassemble_the_answer(
        gw: SurfaceGateway) -> None:
    whole = client(gw).responses.create(model="echo", instructions="Be brief.", input="Hi")
    with httpx.stream("POST", gw.url + "/v1/responses", json={
            "model": "echo", "instructions": "Be brief.", "input": "Hi", "stream": True,
            "user": "u1"}) as response:
        events = [EVENT.validate_python(data) for _kind, data in sse_events(response.read())]
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == whole.output_text
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == text
    assert gw.recorded.finished[-1].kwargs["assistant"] == text


def test_the_sdks_stream_helper_accumulates_the_translated_stream(gw: SurfaceGateway) -> None:
    with client(gw).responses.stream(model="echo", input="Hi") as stream:
        final = stream.get_final_response()
    assert final.output_text.startswith("selfmodel/echo received 2 message(s)")
    assert f"[system]\n{BLOCK}" in final.output_text


def test_litellm_translation_non_stream(gw: SurfaceGateway, mock: respx.MockRouter) -> None:
    route = mock.post(f"{CLAUDE_BASE}/v1/messages").mock(return_value=httpx.Response(
        200, json=anthropic_message([{"type": "text", "text": "Hello from Claude"}])))
    raw = client(gw).responses.with_raw_response.create(
        model="claude", instructions="You are terse.", input="Say hello", max_output_tokens=50,
        user="u1")
    answer = Response.model_validate_json(raw.http_response.content)
    assert answer.output_text == "Hello from Claude"
    assert answer.usage is not None
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (10, 5)
    assert raw.headers["x-selfmodel-deployment"] == CLAUDE
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "claude-3-5-haiku-latest" and sent["max_tokens"] == 50
    assert "".join(b["text"] for b in sent["system"]) == f"You are terse.\n\n{BLOCK}"
    assert json.dumps(sent["messages"]).count("Say hello") == 1
    assert gw.recorded.finished[0].kwargs["assistant"] == "Hello from Claude"
    assert gw.recorded.finished[0].kwargs["tokens"] == 15


def test_litellm_translation_of_a_tool_call(gw: SurfaceGateway, mock: respx.MockRouter) -> None:
    route = mock.post(f"{CLAUDE_BASE}/v1/messages").mock(return_value=httpx.Response(
        200, json=anthropic_message([{"type": "tool_use", "id": "toolu_7", "name": "get_weather",
                                      "input": {"city": "Paris"}}], stop="tool_use")))
    answer = client(gw).responses.create(model="claude", input="Weather in Paris?",
                                         tools=[TOOL], tool_choice="auto")
    (call,) = answer.output
    assert call.type == "function_call"
    assert (call.call_id, call.name) == ("toolu_7", "get_weather")
    assert json.loads(call.arguments) == {"city": "Paris"}
    sent = json.loads(route.calls.last.request.content)
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["tools"][0]["input_schema"] == TOOL["parameters"]
    follow_up = [{"role": "user", "content": "Weather in Paris?"},
                 {"type": "function_call", "call_id": "toolu_7", "name": "get_weather",
                  "arguments": '{"city": "Paris"}'},
                 {"type": "function_call_output", "call_id": "toolu_7", "output": "18C, sunny"}]
    route.mock(return_value=httpx.Response(200, json=anthropic_message(
        [{"type": "text", "text": "It is sunny."}])))
    assert client(gw).responses.create(model="claude", input=follow_up,
                                       tools=[TOOL]).output_text == "It is sunny."
    replayed = json.loads(route.calls.last.request.content)["messages"]
    assert "toolu_7" in json.dumps(replayed) and "18C, sunny" in json.dumps(replayed)


def test_litellm_translation_stream(gw: SurfaceGateway, mock: respx.MockRouter) -> None:
    mock.post(f"{CLAUDE_BASE}/v1/messages").mock(return_value=httpx.Response(
        200, content=anthropic_sse("Hello", " world"),
        headers={"content-type": "text/event-stream"}))
    events = list(client(gw).responses.create(model="claude", input="Hi", stream=True,
                                              user="u1"))
    for event in events:
        EVENT.validate_python(event.model_dump())
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello world"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None and completed.response.usage.total_tokens == 15
    assert gw.recorded.finished[0].kwargs["tokens"] == 15


def test_litellm_translation_of_a_streamed_tool_call(
        gw: SurfaceGateway, mock: respx.MockRouter) -> None:
    tool_use = {"type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {}}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            **anthropic_message([]), "stop_reason": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": tool_use}),
        *(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": piece}})
          for piece in ('{"city": ', '"Paris"}')),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 5},
                           "delta": {"stop_reason": "tool_use", "stop_sequence": None}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    body = b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    for name, data in events)
    mock.post(f"{CLAUDE_BASE}/v1/messages").mock(return_value=httpx.Response(
        200, content=body, headers={"content-type": "text/event-stream"}))
    with client(gw).responses.stream(model="claude", input="Weather in Paris?",
                                     tools=[TOOL]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.call_id == "toolu_7" and json.loads(call.arguments) == {"city": "Paris"}
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]


@pytest.mark.parametrize(("fields", "param"), [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
])
def test_what_cannot_be_translated_is_a_400_naming_the_field(
        gw: SurfaceGateway, mock: respx.MockRouter, fields: dict[str, Any], param: str) -> None:
    route = mock.post(f"{CLAUDE_BASE}/v1/messages")
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).responses.create(model="claude", **{"input": "Hi", **fields})
    assert caught.value.param == param
    assert "translated to chat completions" in caught.value.message
    assert route.call_count == 0


# -- bad requests: OpenAI's error format, the provider never called ---------------------------


def post(gw: SurfaceGateway, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/responses", content=content,
                      headers={"content-type": "application/json", **headers})


def test_malformed_json_is_400(gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    response = post(gw, b'{"model": "gpt", "input": [')
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in response.json()["error"]["message"]
    assert response.headers["x-selfmodel-request-id"].startswith("req_")
    assert fake[0].requests == []


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"input": "Hi"}, "model", "Missing required parameter"),
    ({"model": "gpt"}, "input", "Missing required parameter"),
    ({"model": "gpt", "input": 3}, "input", "a string or an array"),
    ({"model": "gpt", "input": ["Hi"]}, "input[0]", "expected an object"),
    ({"model": "gpt", "input": [{"role": "wizard", "content": "x"}]}, "input[0].role",
     "Supported values"),
    ({"model": "gpt", "input": [{"role": "user"}]}, "input[0].content", "expected a string"),
    ({"model": "gpt", "input": "Hi", "instructions": ["x"]}, "instructions", "a string"),
    ({"model": "gpt", "input": "Hi", "stream": "yes"}, "stream", "a boolean"),
])
def test_schema_errors_are_400_naming_the_field(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str], body: dict[str, Any], param: str,
        words: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).post("/responses", body=body, cast_to=Response)
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"
    assert words in caught.value.message
    assert fake[0].requests == [] and gw.recorded.prepared == []


def test_unknown_model_is_404(gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(gw).responses.create(model="gpt-5-ultra", input="Hi")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert fake[0].requests == []


def test_oversized_body_is_413(sqlite_url: str) -> None:
    with surface_gateway(sqlite_url, [], max_body_bytes=2048) as gw, \
            pytest.raises(openai.APIStatusError) as caught:
        client(gw).responses.create(model="echo", input="x" * 5000)
    assert caught.value.status_code == 413
    assert caught.value.code == "payload_too_large"


def test_a_wrong_or_missing_key_is_401(sqlite_url: str) -> None:
    tenants = [{"name": "acme", "api_keys": ["sha256:" + hashlib.sha256(b"sk-acme").hexdigest()]}]
    with surface_gateway(sqlite_url, [], tenants=tenants) as gw:
        with pytest.raises(openai.AuthenticationError) as caught:
            client(gw, "sk-wrong").responses.create(model="echo", input="Hi")
        missing = post(gw, b"not even json")
        assert client(gw, "sk-acme").responses.create(model="echo", input="Hi").output_text
    assert caught.value.type == "authentication_error"
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"


# -- the real pipeline: a belief reaches the provider, an exchange updates the self-model -----


def beliefs(http: httpx.Client, user: str) -> dict[str, Any]:
    body = http.get(f"/v1/self-models/{user}").json()
    return {b["value"]: b for b in body.get("beliefs", [])}


def test_a_belief_reaches_the_provider_and_the_exchange_updates_the_self_model(
        sqlite_url: str, fake: tuple[FakeUpstream, str]) -> None:
    deployments = [("gpt", "openai/gpt-4.1-mini", fake[1] + "/v1")]
    with surface_gateway(sqlite_url, deployments, personalize=False, run_workers=True) as gw, \
            httpx.Client(base_url=gw.url) as http:
        http.post("/v1/self-models", json={"user_id": "alice"}).raise_for_status()
        said = http.post("/v1/self-models/alice/observations", params={"wait": "true"}, json={
            "type": "preference", "content": "Use metric units, please", "key": "units",
            "value": "metric", "domain": "measurement"})
        assert said.status_code == 200, said.text
        raw = client(gw).responses.with_raw_response.create(
            model="gpt", instructions="You are terse.", user="alice",
            input="I'm vegetarian. Any ideas for dinner?")
        sent = fake[0].last.body["instructions"]
        assert sent.startswith("You are terse.\n\n<user_profile>") and "metric" in sent
        decision = http.get(f"/v1/decisions/{raw.headers['x-selfmodel-request-id']}").json()
        assert decision["surface"] == "responses" and decision["personalized"] is True
        assert sent == "You are terse.\n\n" + decision["system_prompt"]
        learned = poll(lambda: beliefs(http, "alice").get("vegetarian"))
        assert learned["domain"] == "diet"


# -- the wire pieces: holding the terminal event back, reading events as they come ------------


def test_holdback_passes_whole_events_and_holds_the_terminal_one() -> None:
    held = HoldBack((b"event: response.completed",))
    assert held.feed(b"event: a\ndata: {}\n\nevent: b\nda") == b"event: a\ndata: {}\n\n"
    assert held.feed(b"ta: {}\n\nevent: response.comp") == b"event: b\ndata: {}\n\n"
    assert held.feed(b"leted\ndata: {\"x\": 1}\n\n") == b""
    assert held.feed(b"event: late\ndata: {}\n\n") == b""
    assert held.end() == (b"event: response.completed\ndata: {\"x\": 1}\n\n"
                          b"event: late\ndata: {}\n\n")


def test_holdback_ignores_the_marker_inside_data_and_closes_an_unterminated_event() -> None:
    held = HoldBack((b"event: message_stop",))
    chunk = b'data: {"text": "event: message_stop"}\n\n'
    assert held.feed(chunk) == chunk
    assert held.feed(b"event: message_stop\r\ndata: {}") == b""
    assert held.end() == b"event: message_stop\r\ndata: {}\n\n"


def test_the_decoder_reads_events_cut_anywhere() -> None:
    raw = (b'event: one\r\ndata: {"a": 1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n'
           b'event: two\ndata: {"b":\ndata: 2}\n\n')
    decoder = SSEDecoder()
    events = [e for i in range(len(raw)) for e in decoder.feed(raw[i:i + 1])]
    assert events == [("one", {"a": 1}), ("two", {"b": 2})]


def test_an_in_band_failure_marks_the_exchange_truncated() -> None:
    reader = ResponsesReader()
    reader.feed(b'event: response.output_text.delta\ndata: {"type": '
                b'"response.output_text.delta", "delta": "Hel"}\n\n')
    assert reader.answer() == ("Hel", 0) and not reader.failed
    reader.feed(b'event: response.failed\ndata: {"type": "response.failed", "response": '
                b'{"usage": {"total_tokens": 4}}}\n\n')
    assert reader.failed and reader.answer() == ("Hel", 4)
