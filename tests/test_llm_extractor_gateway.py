"""The llm extractor end to end: the gateway learns through a model served over real HTTP.

The chat itself goes to the built-in echo model; the extractor's alias points at a fake
OpenAI-compatible upstream on loopback (the direct aiohttp path, as in production), scripted
to answer with claims, with malformed JSON, or not at all. The gateway's in-process worker
applies what it extracts; the self-model API shows the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from selfmodel.app import create_app
from selfmodel.config import Config
from tests.support.servers import ServedApp, serve
from tests.support.upstream import FakeUpstream, error, hang, ok


@dataclass
class Setup:
    gateway: ServedApp
    model: FakeUpstream


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[Setup]:
    fake = FakeUpstream()
    with serve(fake) as upstream:
        config = Config.model_validate({
            "model_list": [
                {"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}},
                {"model_name": "extractor",
                 "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-extract",
                                    "api_base": upstream.url + "/v1"}},
            ],
            "store": {"url": sqlite_url},
            "observer": {"extractor": "llm", "model": "extractor", "llm_timeout": 1.5},
            "server": {"num_retries": 0, "first_byte_timeout": 1.0, "request_timeout": 1.0},
        })
        with serve(create_app(config)) as gateway:
            yield Setup(gateway, fake)


def _claims(*claims: dict[str, Any]) -> str:
    return json.dumps({"claims": list(claims)})


def _say(setup: Setup, user: str, text: str) -> None:
    with openai.OpenAI(base_url=setup.gateway.url + "/v1", api_key="x", max_retries=0) as sdk:
        sdk.chat.completions.create(model="echo", user=user,
                                    messages=[{"role": "user", "content": text}])


def _values(setup: Setup, user: str, wanted: str) -> list[str]:
    deadline = time.monotonic() + 8
    values: list[str] = []
    while time.monotonic() < deadline:
        reply = httpx.get(f"{setup.gateway.url}/v1/self-models/{user}")
        values = [b["value"] for b in reply.json().get("beliefs", [])]
        if wanted in values:
            break
        time.sleep(0.05)
    return values


def test_claims_from_the_model_become_beliefs(setup: Setup) -> None:
    setup.model.then(ok(_claims({
        "kind": "preference", "domain": "food", "key": "likes_green_tea", "value": "green tea",
        "statement": "Likes green tea", "quote": "I could drink green tea all day"})))
    _say(setup, "u1", "Honestly, I could drink green tea all day.")
    assert "green tea" in _values(setup, "u1", "green tea")
    sent = setup.model.last.body
    assert sent["model"] == "gpt-4o-mini"
    assert setup.model.last.headers["authorization"] == "Bearer sk-extract"
    user_turn = json.loads(sent["messages"][-1]["content"])
    assert "green tea" in json.dumps(user_turn)  # the user's words go as data
    assert "green tea" not in sent["messages"][0]["content"]  # never into the instructions


@pytest.mark.parametrize("failure", ["malformed", "error", "timeout"])
def test_a_failing_model_falls_back_to_the_rules(setup: Setup, failure: str) -> None:
    behaviours = {"malformed": [ok("this is not JSON {"), ok("still not JSON")],
                  "error": [error(500), error(500)],
                  "timeout": [hang(), hang()]}[failure]
    setup.model.then(*behaviours)
    _say(setup, "u2", "I'm vegetarian.")
    assert "vegetarian" in _values(setup, "u2", "vegetarian")  # the rules extractor's answer
    assert setup.model.requests  # the model was asked first
