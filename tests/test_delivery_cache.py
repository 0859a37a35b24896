"""Cache-friendly delivery, end to end: the openai and anthropic SDKs -> the gateway on
loopback (the real pipeline and Personalizer, a SQLite file) -> a fake provider that records
every body it receives.

Within one conversation the personalization block must go out byte-identical while the
user's beliefs are unchanged (providers cache prompt prefixes), change once when a belief
is added, and sit where the tenant's ``policy.placement`` says on every surface, with the
app's own system prompt verbatim and never observed as the user's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from selfmodel.app import create_app
from selfmodel.config import parse_config
from selfmodel.errors import ConfigError
from selfmodel.personalize.inject import inject_chat, inject_messages, inject_responses
from selfmodel.personalize.threads import opening
from selfmodel.pipeline import Prepared
from tests.support.clients import keep
from tests.support.gateway import gateway_config
from tests.support.servers import serve
from tests.support.surfaces import SurfaceGateway, surface_gateway
from tests.support.upstream import FakeUpstream

SYSTEM = "You are a helpful travel and cooking assistant."
MARK = "<user_profile>"
TENANTS = [
    {"name": "narrow", "api_keys": ["sk-narrow"], "policy": {"max_beliefs": 2}},
    {"name": "wide", "api_keys": ["sk-wide"]},
    {"name": "turn", "api_keys": ["sk-turn"], "policy": {"placement": "last_user"}},
]
BELIEFS = [
    ("diet", "diet", "vegetarian"),
    ("location", "home_city", "Lisbon"),
    ("hobbies", "board_game", "chess"),
    ("pets", "pet", "a cat named Miso"),
]
# Each turn is about something else, so relevance alone would reorder the beliefs.
TURNS = [
    "Can you suggest a dinner recipe?",
    "What should I see in Lisbon this weekend?",
    "How do I get better at chess openings?",
    "My cat scratches the sofa, what can I do?",
    "Any dinner ideas with lentils?",
]


@dataclass
class RecordingPipeline:
    """The app's real pipeline, with what ``finish`` was told recorded."""

    inner: Any
    finished: list[dict[str, Any]] = field(default_factory=list)

    async def prepare(self, **kwargs: Any) -> Prepared:
        prepared: Prepared = await self.inner.prepare(**kwargs)
        return prepared

    async def finish(self, prepared: Prepared, **kwargs: Any) -> None:
        self.finished.append(kwargs)
        await self.inner.finish(prepared, **kwargs)


@pytest.fixture
def gw(sqlite_url: str, fake: tuple[FakeUpstream, str]) -> Iterator[SurfaceGateway]:
    deployments = [("gpt", "openai/gpt-4o-mini", fake[1] + "/v1"),
                   ("claude", "anthropic/claude-sonnet-4-5", fake[1])]
    with surface_gateway(sqlite_url, deployments, personalize=False, tenants=TENANTS,
                         num_retries=0) as served:
        services = served.app.state.services
        served.app.state.services = replace(services, pipeline=RecordingPipeline(services.pipeline))
        yield served


def believe(gw: SurfaceGateway, key: str, user: str, domain: str, slot: str,
            value: str) -> None:
    """A structured observation, applied before answering (no extractor involved)."""
    headers = {"authorization": f"Bearer {key}"}
    created = httpx.post(gw.url + "/v1/self-models", json={"user_id": user}, headers=headers)
    assert created.status_code in (200, 201), created.text
    applied = httpx.post(
        gw.url + f"/v1/self-models/{user}/observations", params={"wait": "true"},
        headers=headers, json={"type": "preference", "content": f"My {slot} is {value}.",
                               "key": slot, "value": value, "domain": domain})
    assert applied.status_code in (200, 202), applied.text


def seeded(gw: SurfaceGateway, key: str, user: str) -> None:
    for domain, slot, value in BELIEFS:
        believe(gw, key, user, domain, slot, value)


def chat(gw: SurfaceGateway, key: str, user: str, history: list[dict[str, Any]],
         text: str) -> list[dict[str, Any]]:
    """One turn: the whole history resent with the new user message, as chat apps do."""
    history.append({"role": "user", "content": text})
    client = keep(openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0))
    answer = client.chat.completions.create(model="gpt", messages=history,  # type: ignore[arg-type]
                                            user=user)
    history.append({"role": "assistant", "content": answer.choices[0].message.content})
    return history


def system_sent(upstream: FakeUpstream) -> str:
    messages = upstream.last.body["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


def test_the_block_is_byte_identical_across_turns_while_beliefs_are_unchanged(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-narrow", "ana")
    history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    blocks = []
    for text in TURNS:
        chat(gw, "sk-narrow", "ana", history, text)
        blocks.append(system_sent(fake[0]))
    assert MARK in blocks[0] and blocks[0].startswith(SYSTEM + "\n\n")
    assert blocks == [blocks[0]] * len(TURNS)
    # The same beliefs, a conversation that opens on another subject: relevance picks
    # other beliefs (so the block above was held, not merely stable by chance).
    chat(gw, "sk-narrow", "ana", [{"role": "system", "content": SYSTEM}], TURNS[3])
    other = system_sent(fake[0])
    assert MARK in other and other != blocks[0]
    decisions = [r.body for r in fake[0].requests]
    assert len(decisions) == len(TURNS) + 1


def test_a_new_belief_changes_the_block_once_and_more_evidence_does_not(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-wide", "bo")
    history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    chat(gw, "sk-wide", "bo", history, TURNS[0])
    first = system_sent(fake[0])
    believe(gw, "sk-wide", "bo", "diet", "diet", "vegetarian")  # more evidence, same belief
    chat(gw, "sk-wide", "bo", history, TURNS[1])
    assert system_sent(fake[0]) == first
    believe(gw, "sk-wide", "bo", "communication", "response_length", "concise")
    chat(gw, "sk-wide", "bo", history, TURNS[2])
    changed = system_sent(fake[0])
    assert changed != first and "concise" in changed
    chat(gw, "sk-wide", "bo", history, TURNS[3])
    chat(gw, "sk-wide", "bo", history, TURNS[4])
    assert [system_sent_of(r.body) for r in fake[0].requests[-2:]] == [changed, changed]


def system_sent_of(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"])


def test_last_user_placement_keeps_every_earlier_byte_of_the_chat(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-turn", "cy")
    history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    sent = []
    for text in TURNS[:3]:
        chat(gw, "sk-turn", "cy", history, text)
        sent.append(fake[0].last.body["messages"])
    for forwarded in sent:
        assert forwarded[0] == {"role": "system", "content": SYSTEM}
        last = forwarded[-1]
        assert last["role"] == "user" and last["content"].startswith(MARK)
        assert all(MARK not in str(m["content"]) for m in forwarded[:-1])
    for previous, current in pairwise(sent):
        assert current[:len(previous) - 1] == previous[:-1]
    # The block is the gateway's, never the user's words.
    recorded = gw.app.state.services.pipeline.finished
    assert [f["user_turns"] for f in recorded] == TURNS[:3]


def test_last_user_placement_on_the_responses_surface(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-turn", "di")
    client = keep(openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-turn", max_retries=0))
    items = [{"role": "user", "content": TURNS[0]},
             {"role": "assistant", "content": "Try a lentil curry."},
             {"role": "user", "content": [{"type": "input_text", "text": TURNS[4]}]}]
    client.responses.create(model="gpt", instructions=SYSTEM, input=items,  # type: ignore[arg-type]
                            user="di")
    body = fake[0].last.body
    assert fake[0].last.path == "/v1/responses"
    assert body["instructions"] == SYSTEM
    assert body["input"][:2] == items[:2]
    parts = body["input"][2]["content"]
    assert parts[0]["type"] == "input_text" and parts[0]["text"].startswith(MARK)
    assert parts[1:] == items[2]["content"]
    client.responses.create(model="gpt", input="What about dessert?", user="di")
    assert fake[0].last.body["input"].startswith(MARK)
    assert fake[0].last.body["input"].endswith("\n\nWhat about dessert?")
    assert "instructions" not in fake[0].last.body


def test_last_user_placement_on_the_messages_surface(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-turn", "ed")
    client = keep(anthropic.Anthropic(base_url=gw.url, api_key="sk-turn", max_retries=0))
    messages = [{"role": "user", "content": TURNS[0]},
                {"role": "assistant", "content": "Try a lentil curry."},
                {"role": "user", "content": TURNS[4]}]
    client.messages.create(model="claude", max_tokens=50, system=SYSTEM,
                           messages=messages, metadata={"user_id": "ed"})  # type: ignore[arg-type]
    body = fake[0].last.body
    assert fake[0].last.path == "/v1/messages"
    assert body["system"] == SYSTEM
    assert body["messages"][:2] == messages[:2]
    last = body["messages"][2]
    assert last["role"] == "user" and last["content"].startswith(MARK)
    assert last["content"].endswith("\n\n" + TURNS[4])


def test_system_placement_on_the_messages_surface_is_unchanged(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-wide", "fa")
    client = keep(anthropic.Anthropic(base_url=gw.url, api_key="sk-wide", max_retries=0))
    client.messages.create(model="claude", max_tokens=50, system=SYSTEM,
                           messages=[{"role": "user", "content": TURNS[0]}],
                           metadata={"user_id": "fa"})
    body = fake[0].last.body
    assert body["system"].startswith(SYSTEM + "\n\n" + MARK)
    assert body["messages"] == [{"role": "user", "content": TURNS[0]}]


@pytest.mark.parametrize("value", ["middle", "", "System"])
def test_an_unknown_placement_is_refused_with_its_field_and_line(value: str) -> None:
    text = f"tenants:\n  - name: acme\n    policy:\n      placement: {value!r}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config.yaml")
    assert "tenants.0.policy.placement (line 4)" in str(caught.value)


def test_placement_defaults_to_the_system_prompt() -> None:
    config = parse_config("tenants:\n  - name: acme\n    policy: {placement: last_user}\n"
                          "  - name: other\n")
    assert [t.policy.placement for t in config.tenants] == ["last_user", "system"]


# -- the placement functions on their own ---------------------------------------------------


def test_tool_results_stay_first_in_an_anthropic_user_turn() -> None:
    body: dict[str, Any] = {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": "sunny"}]}]}
    original = [dict(m) for m in body["messages"]]
    inject_messages(body, "BLOCK", "last_user")
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
        {"type": "text", "text": "BLOCK"}]
    assert body["messages"][:2] == original[:2]
    assert "system" not in body


def test_without_a_user_turn_the_block_goes_to_the_system_prompt() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}]
    assert inject_chat(messages, "B", "last_user")[0] == {"role": "system", "content": "S\n\nB"}
    body: dict[str, Any] = {"input": [{"type": "function_call_output", "call_id": "c",
                                       "output": "x"}]}
    inject_responses(body, "B", "last_user")
    assert body["instructions"] == "B"


def test_the_apps_messages_are_never_modified_in_place() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    placed = inject_chat(messages, "B", "last_user")
    assert messages == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert placed[0]["content"] == [{"type": "text", "text": "B"},
                                    {"type": "text", "text": "hi"}]


def test_a_conversation_is_known_by_its_opening_not_its_later_turns() -> None:
    first = [{"role": "system", "content": "S"}, {"role": "user", "content": "hello"}]
    later = [*first, {"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]
    assert opening(first) == opening(later)
    assert opening(first) != opening([{"role": "user", "content": "hello"}])
    assert opening(first) != opening([first[0], {"role": "user", "content": "hello!"}])
    assert opening([{"role": "user", "content": "hello"}], "S") == opening(first)


LUCKY = """{%- if beliefs %}<user_profile> {{ ["Hello.", "Hi.", "Hey.", "Greetings.", "Howdy.",
"Welcome.", "Good day."] | random }}
{%- for b in beliefs %}
- {{ b.statement | quote }} ({{ b.confidence }})
{%- endfor %}
</user_profile>{%- endif %}"""


def test_a_template_that_draws_random_values_still_gives_one_block_per_conversation(
        sqlite_url: str, fake: tuple[FakeUpstream, str], tmp_path: Path) -> None:
    (tmp_path / "lucky.j2").write_text(LUCKY, encoding="utf-8")
    config = gateway_config(sqlite_url, [("gpt", "openai/gpt-4o-mini", fake[1] + "/v1")],
                            tenants=[{"name": "lucky", "api_keys": ["sk-lucky"],
                                      "template": "lucky.j2"}])
    config.templates_dir = str(tmp_path)
    with serve(create_app(config, run_workers=False)) as served:
        gw = SurfaceGateway(served, None, None)
        seeded(gw, "sk-lucky", "gi")
        history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        blocks = []
        for text in TURNS:
            chat(gw, "sk-lucky", "gi", history, text)
            blocks.append(system_sent(fake[0]))
            believe(gw, "sk-lucky", "gi", "diet", "diet", "vegetarian")  # confidence moves
        assert MARK in blocks[0] and blocks == [blocks[0]] * len(TURNS)


# -- the Personalizer's conversation memo on its own ----------------------------------------

NOW = 1_700_000_000.0


def _belief(bid: str, statement: str, domain: str, support: float = 3.0) -> Any:
    from selfmodel.domain.models import Belief, Evidence, Kind, Source

    return Belief(id=bid, kind=Kind.PREFERENCE, domain=domain, key=bid, value="v",
                  statement=statement, support=support, ref_at=NOW, last_seen=NOW,
                  evidence=[Evidence(observation_id=f"{bid}-said", at=NOW,
                                     source=Source.EXPLICIT)])


def _model(user: str, *beliefs: Any) -> Any:
    from selfmodel.domain.models import SelfModel

    return SelfModel(tenant="acme", user_id=user, beliefs=list(beliefs))


def _ask(personalizer: Any, model: Any, text: str, thread: str | None,
         tenant: Any = None) -> Any:
    from selfmodel.config import Tenant

    return personalizer.personalize(
        tenant=tenant or Tenant(name="acme", policy={"max_beliefs": 1}),
        user_id=model.user_id, model=model, conversation=text, now=NOW, thread=thread)


def test_the_memo_holds_a_block_per_user_and_conversation_and_refreshes_the_record() -> None:
    from selfmodel.config import Config
    from selfmodel.personalize.engine import Personalizer

    personalizer = Personalizer(Config())
    beliefs = (_belief("a", "Is vegetarian", "diet"), _belief("b", "Plays chess", "hobbies"))
    ana = _model("ana", *beliefs)
    first = _ask(personalizer, ana, "dinner recipe vegetarian", "t1")
    assert first.text is not None and "vegetarian" in first.text
    # Another turn about chess: same conversation, same block; unthreaded it would change.
    assert _ask(personalizer, ana, "chess openings", "t1").text == first.text
    assert "chess" in (_ask(personalizer, ana, "chess openings", None).text or "")
    assert "chess" in (_ask(personalizer, ana, "chess openings", "t2").text or "")
    # Another user, the same conversation key: their own block.
    bo = _model("bo", _belief("c", "Lives in Lisbon", "location"))
    assert "Lisbon" in (_ask(personalizer, bo, "dinner recipe vegetarian", "t1").text or "")
    # More evidence: same text, the decision record sees the new confidence.
    stronger = _model("ana", _belief("a", "Is vegetarian", "diet", support=9.0), beliefs[1])
    again = _ask(personalizer, stronger, "chess openings", "t1")
    assert again.text == first.text
    assert again.applied[0].confidence > first.applied[0].confidence
    # A changed statement is a changed belief: selected afresh.
    edited = _model("ana", _belief("a", "Is vegan", "diet"), beliefs[1])
    assert "vegan" in (_ask(personalizer, edited, "dinner recipe", "t1").text or "")


def test_ranking_ties_break_by_belief_id_whatever_order_the_store_returns() -> None:
    from selfmodel.config import Config
    from selfmodel.personalize.engine import Personalizer

    beliefs = [_belief(bid, f"Likes thing {bid}", "general") for bid in ("b3", "b1", "b2")]
    texts = set()
    for order in (beliefs, beliefs[::-1], [beliefs[1], beliefs[2], beliefs[0]]):
        result = _ask(Personalizer(Config()), _model("cy", *order), "", None)
        texts.add(result.text)
        assert [a.id for a in result.applied] == ["b1"]
    assert len(texts) == 1


def test_responses_and_messages_keep_one_block_per_conversation_too(
        gw: SurfaceGateway, fake: tuple[FakeUpstream, str]) -> None:
    seeded(gw, "sk-narrow", "hu")
    openai_client = keep(openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-narrow",
                                       max_retries=0))
    anthropic_client = keep(anthropic.Anthropic(base_url=gw.url, api_key="sk-narrow",
                                                max_retries=0))
    items: list[dict[str, Any]] = []
    instructions, systems = [], []
    for text in TURNS[:3]:
        items.append({"role": "user", "content": text})
        openai_client.responses.create(model="gpt", instructions=SYSTEM,
                                       input=items, user="hu")  # type: ignore[arg-type]
        instructions.append(fake[0].last.body["instructions"])
        anthropic_client.messages.create(model="claude", max_tokens=50, system=SYSTEM,
                                         messages=items,  # type: ignore[arg-type]
                                         metadata={"user_id": "hu"})
        systems.append(fake[0].last.body["system"])
        items.append({"role": "assistant", "content": "Noted."})
    assert MARK in instructions[0] and instructions == [instructions[0]] * 3
    assert MARK in systems[0] and systems == [systems[0]] * 3


def test_a_reused_block_keeps_the_decision_records_account_of_what_was_left_out() -> None:
    from selfmodel.config import Config
    from selfmodel.personalize.engine import Personalizer

    personalizer = Personalizer(Config())
    beliefs = (_belief("a", "Is vegetarian", "diet"), _belief("b", "Plays chess", "hobbies"),
               _belief("c", "Lives in Lisbon", "location"))
    first = _ask(personalizer, _model("dee", *beliefs), "vegetarian dinner", "t")
    assert first.left_out == {"relevance": 2}
    weak = _belief("d", "Might like opera", "music", support=0.2)
    again = _ask(personalizer, _model("dee", *beliefs, weak), "chess", "t")
    assert again.text == first.text
    assert again.left_out == {"gate": 1, "relevance": 2}
    assert again.left_out_ids == first.left_out_ids
