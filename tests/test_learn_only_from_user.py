"""Only the user's own words become beliefs, end to end through the gateway.

The gateway is served by uvicorn in front of a fake provider that answers with scripted text;
the official openai SDK is the client; the in-process worker learns with the default
(grammar) extractor; ``GET /v1/self-models/{user}`` shows what was learned. Each turn carries
one real fact of the user's, so the test waits for that belief (a condition, not a sleep)
and then checks that nothing else was learned from the same exchange: not the app's system
prompt (even when it states facts about the user), not the assistant's answer (even in the
first person), not the injected profile block pasted back, not an answer quoted back.
"""

from __future__ import annotations

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
from tests.support.upstream import FakeUpstream, ok

SYSTEM = ("You are the assistant of a travel app. The user is a vegan nurse from Oslo who "
          "loves jazz. I am a friendly assistant and I love cats.")
ANSWER = ("I'm vegetarian too, and I live in Rome, so I'd suggest the market tour. "
          "I prefer trains over planes.")
FOREIGN = ("vegan", "nurse", "oslo", "jazz", "cats", "vegetarian", "rome", "trains", "market")


@dataclass
class Setup:
    gateway: ServedApp
    provider: FakeUpstream

    @property
    def url(self) -> str:
        return self.gateway.url + "/v1"


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[Setup]:
    fake = FakeUpstream()
    with serve(fake) as upstream:
        config = Config.model_validate({
            "model_list": [{"model_name": "gpt", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_key": "sk-up",
                "api_base": upstream.url + "/v1"}}],
            "store": {"url": sqlite_url},
            "server": {"num_retries": 0},
        })
        with serve(create_app(config)) as gateway:
            yield Setup(gateway, fake)


def chat(setup: Setup, user: str, messages: list[dict[str, Any]]) -> str:
    with openai.OpenAI(base_url=setup.url, api_key="x", max_retries=0) as sdk:
        reply = sdk.chat.completions.create(model="gpt", user=user, messages=messages)
    return reply.choices[0].message.content or ""


def beliefs_once(setup: Setup, user: str, wanted: str) -> list[dict[str, Any]]:
    """The user's beliefs, as soon as one mentions ``wanted`` (the turn was applied)."""
    deadline = time.monotonic() + 15
    beliefs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        reply = httpx.get(f"{setup.gateway.url}/v1/self-models/{user}")
        beliefs = reply.json().get("beliefs", []) if reply.status_code == 200 else []
        if any(wanted in (b["statement"] + " " + b["value"]).lower() for b in beliefs):
            return beliefs
        time.sleep(0.05)
    raise AssertionError(f"{wanted!r} was never learned: {beliefs}")


def foreign(beliefs: list[dict[str, Any]]) -> list[str]:
    texts = [(b["statement"] + " " + b["value"]).lower() for b in beliefs]
    return [t for t in texts if any(word in t for word in FOREIGN)]


def test_system_prompt_and_answers_never_become_beliefs(setup: Setup) -> None:
    setup.provider.then(ok(ANSWER), ok("Noted!"), ok("Sure!"))
    first = [{"role": "system", "content": SYSTEM},
             {"role": "user", "content": "I'm a beekeeper."}]
    answer = chat(setup, "ana", first)
    assert answer == ANSWER
    beliefs = beliefs_once(setup, "ana", "beekeeper")
    assert foreign(beliefs) == []

    # Second turn: the gateway now injects what it learned; that is the block to paste.
    history = [*first, {"role": "assistant", "content": answer}]
    chat(setup, "ana", [*history, {"role": "user", "content": "Thanks."}])
    injected = setup.provider.last.body["messages"][0]["content"]
    block = injected[injected.index("<user_profile>"):injected.index("</user_profile>") + 15]
    assert "beekeeper" in block.lower()  # the block the gateway really injected
    pasted = (f"You said: {ANSWER}\n\nAnd my profile says:\n{block}\n\n"
              "For the record, I also keep chickens.")
    # Third turn: the user quotes the answer back and pastes the block, with one new fact.
    chat(setup, "ana", [*history, {"role": "user", "content": "Thanks."},
                        {"role": "assistant", "content": "Noted!"},
                        {"role": "user", "content": pasted}])
    beliefs = beliefs_once(setup, "ana", "chickens")
    assert foreign(beliefs) == [], foreign(beliefs)
    statements = [b["statement"] for b in beliefs]
    assert len(statements) == len(set(statements)), statements  # nothing restated twice


def test_a_system_prompt_with_first_person_facts_is_not_the_user(setup: Setup) -> None:
    setup.provider.then(ok("Sure."))
    chat(setup, "ben", [
        {"role": "system", "content": "I'm a vegan nurse from Oslo and I love jazz. "
                                      "Use a formal tone."},
        {"role": "user", "content": "I'm a night owl."},
    ])
    beliefs = beliefs_once(setup, "ben", "night owl")
    assert foreign(beliefs) == []
    assert not [b for b in beliefs if b["domain"] == "communication"]
