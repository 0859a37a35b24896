"""Responses and Messages against a provider that serves only /chat/completions.

vLLM, Ollama, Groq and most self-hosted OpenAI-compatible servers answer 404 on
/responses and /messages. The gateway bridges: it tries the deployment's /responses once,
learns from the 404 that there is none, and from then on sends chat completions and
translates answers and streams back (tools included), personalized like any request.
``model_info.responses`` forces either way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import agents
import anthropic
import openai
import pytest
from anthropic.types import Message
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.support.clients import keep
from tests.support.servers import serve
from tests.support.surfaces import BLOCK, SurfaceGateway, surface_gateway
from tests.support.upstream import FakeUpstream, ok, stream_texts

TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": False}, "strict": True}
EVENT = TypeAdapter(ResponseStreamEvent)
CHAT = "/v1/chat/completions"


@pytest.fixture
def local() -> Iterator[tuple[FakeUpstream, str]]:
    """A provider like vLLM: chat completions only."""
    upstream = FakeUpstream(chat_only=True)
    with serve(upstream) as served:
        yield upstream, served.url


@pytest.fixture
def gw(sqlite_url: str, local: tuple[FakeUpstream, str]) -> Iterator[SurfaceGateway]:
    deployments = [("llama", "openai/llama-3.1-8b", local[1] + "/v1"),
                   ("vllm", "hosted_vllm/qwen", local[1] + "/v1")]
    with surface_gateway(sqlite_url, deployments, num_retries=0) as served:
        yield served


def openai_client(gw: SurfaceGateway) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0))


def claude_client(gw: SurfaceGateway) -> anthropic.Anthropic:
    return keep(anthropic.Anthropic(base_url=gw.url, api_key="sk-local", max_retries=0))


def test_responses_with_a_tool_are_bridged_after_one_404_and_personalized(
        gw: SurfaceGateway, local: tuple[FakeUpstream, str]) -> None:
    upstream = local[0]
    upstream.then(ok(tool_call=("get_weather", '{"city": "Paris"}')))
    answer = openai_client(gw).responses.create(
        model="llama", instructions="You are terse.", input="Weather in Paris?",
        tools=[TOOL], user="u1")  # type: ignore[list-item]
    Response.model_validate(answer.model_dump())
    (call,) = answer.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert [r.path for r in upstream.requests] == ["/v1/responses", CHAT]
    sent = upstream.last.body
    assert sent["model"] == "llama-3.1-8b"
    assert sent["messages"][0] == {"role": "system", "content": f"You are terse.\n\n{BLOCK}"}
    assert sent["messages"][-1]["content"] in ("Weather in Paris?",
                                               [{"type": "text", "text": "Weather in Paris?"}])
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"] == TOOL["parameters"]
    assert gw.recorded.prepared[0]["user_id"] == "u1"

    follow_up = [{"role": "user", "content": "Weather in Paris?"},
                 {"type": "function_call", "call_id": call.call_id, "name": "get_weather",
                  "arguments": call.arguments},
                 {"type": "function_call_output", "call_id": call.call_id,
                  "output": "18C, sunny"}]
    again = openai_client(gw).responses.create(model="llama", input=follow_up,  # type: ignore[arg-type]
                                               tools=[TOOL], user="u1")  # type: ignore[list-item]
    assert again.output_text == "Hello from upstream"
    assert [r.path for r in upstream.requests][2:] == [CHAT]  # no second try of /responses
    replayed = json.dumps(upstream.last.body["messages"])
    assert call.call_id in replayed and "18C, sunny" in replayed


def test_a_bridged_stream_reassembles_with_typed_events(
        gw: SurfaceGateway, local: tuple[FakeUpstream, str]) -> None:
    upstream = local[0]
    events = list(openai_client(gw).responses.create(model="vllm", input="Hi", stream=True,
                                                     user="u2"))
    for event in events:
        EVENT.validate_python(event.model_dump())
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "".join(stream_texts(ok()))
    assert events[-1].type == "response.completed"
    assert [r.path for r in upstream.requests] == ["/v1/responses", CHAT]
    assert upstream.last.body["stream"] is True
    assert upstream.last.body["messages"][0] == {"role": "system", "content": BLOCK}
    assert gw.recorded.finished[0].kwargs["assistant"] == text


def test_a_bridged_stream_carries_a_tool_call(
        gw: SurfaceGateway, local: tuple[FakeUpstream, str]) -> None:
    local[0].then(ok(tool_call=("get_weather", '{"city": "Oslo"}')))
    with openai_client(gw).responses.stream(model="llama", input="Weather in Oslo?",
                                            tools=[TOOL]) as stream:  # type: ignore[list-item]
        final = stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Oslo"}


def test_a_forced_bridge_never_asks_for_responses(
        sqlite_url: str, local: tuple[FakeUpstream, str]) -> None:
    from selfmodel.providers.targets import build_targets
    from tests.support.surfaces import gateway_config

    config = gateway_config(sqlite_url, [("llama", "openai/llama-3.1-8b", local[1] + "/v1")])
    config.model_list[0].model_info["responses"] = "bridged"
    assert build_targets(config)["llama"][0].responses == "bridged"
    config.model_list[0].model_info["responses"] = "native"
    assert build_targets(config)["llama"][0].responses == "native"
    del config.model_list[0].model_info["responses"]
    assert build_targets(config)["llama"][0].responses == "auto"


def test_openai_itself_is_native_by_default(sqlite_url: str) -> None:
    from selfmodel.providers.targets import build_targets
    from tests.support.surfaces import gateway_config

    config = gateway_config(sqlite_url, [("gpt", "openai/gpt-4.1-mini", None)])
    assert build_targets(config)["gpt"][0].responses == "native"


def test_anthropic_clients_work_against_a_chat_only_provider(
        gw: SurfaceGateway, local: tuple[FakeUpstream, str]) -> None:
    upstream = local[0]
    client = claude_client(gw)
    message = client.messages.create(model="llama", max_tokens=50, system="Be brief.",
                                     messages=[{"role": "user", "content": "Hi"}],
                                     metadata={"user_id": "u3"})
    Message.model_validate(message.model_dump())
    assert message.content[0].type == "text" and message.content[0].text == "Hello from upstream"
    assert upstream.last.path == CHAT
    assert upstream.last.body["messages"][0] == {"role": "system",
                                                 "content": f"Be brief.\n\n{BLOCK}"}
    with client.messages.stream(model="llama", max_tokens=50,
                                messages=[{"role": "user", "content": "Hi"}]) as stream:
        streamed = "".join(stream.text_stream)
    assert streamed == "".join(stream_texts(ok()))
    calls = len(upstream.requests)
    counted = client.messages.count_tokens(model="llama",
                                           messages=[{"role": "user", "content": "Hi"}])
    assert counted.input_tokens > 0 and len(upstream.requests) == calls
    assert all(r.path == CHAT for r in upstream.requests)


def test_the_openai_agents_sdk_default_model_runs_a_tool_loop_through_the_bridge(
        gw: SurfaceGateway, local: tuple[FakeUpstream, str]) -> None:
    """The Agents SDK speaks the Responses API by default; against a chat-only provider its
    whole loop (a tool call, the tool's output sent back, the final answer) goes through."""
    upstream = local[0]
    upstream.then(ok(tool_call=("get_weather", '{"city": "Lima"}')), ok("It is warm in Lima."))
    seen: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return "24C and sunny"

    async def run() -> object:
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-local",
                                      max_retries=0) as client:
            model = agents.OpenAIResponsesModel(model="llama", openai_client=client)
            agent = agents.Agent(name="helper", instructions="You help with weather.",
                                 model=model, tools=[get_weather],
                                 model_settings=agents.ModelSettings(
                                     extra_headers={"x-selfmodel-user": "u5"}))
            result = await agents.Runner.run(agent, "What's the weather in Lima?")
            return result.final_output

    agents.set_tracing_disabled(True)
    assert asyncio.run(run()) == "It is warm in Lima."
    assert seen == ["Lima"]
    chats = [r for r in upstream.requests if r.path == CHAT]
    assert len(chats) == 2
    assert chats[0].body["messages"][0] == {"role": "system",
                                            "content": f"You help with weather.\n\n{BLOCK}"}
    replayed = json.dumps(chats[1].body["messages"])
    assert "24C and sunny" in replayed
    assert all(p["user_id"] == "u5" for p in gw.recorded.prepared)
