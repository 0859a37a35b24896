"""A tenant's own embedding model from model_list, in place of the built-in WordLlama table.

The gateway is served on loopback (uvicorn) with a real SQLite file; the provider is a fake
OpenAI-compatible server on loopback whose /embeddings answers with a toy model of its own:
it puts "zebra" and "chess" on one axis and "knight" and "blue" on another, pairings no
word list and no general-purpose embedding would make. So when the block follows them, the
ranking used the provider's vectors; the official openai SDK is the client.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from selfmodel.config import Config, parse_config
from selfmodel.domain.meaning import decode
from selfmodel.domain.models import Claim, Extraction, SelfModel
from selfmodel.domain.update import apply_claims
from selfmodel.errors import ConfigError
from selfmodel.personalize.provider_embedding import ProviderEmbedder, vectors_of
from selfmodel.personalize.relevance import LexicalRelevance
from selfmodel.personalize.semantic import BUILTIN, HybridRelevance, with_vectors
from tests.support.gateway import gateway_config
from tests.support.selfmodels import echo_prompt, observe, stored_model
from tests.support.servers import ServedApp, serve
from tests.support.upstream import FakeUpstream, error, hang

KEY = "sk-acme-embeddings"
MODEL_NAME = "provider:emb:openai/toy-embed"
AXES = {"zebra": 0, "chess": 0, "knight": 1, "blue": 1, "tea": 2}


def toy_embedding(text: str) -> list[float]:
    """The fake provider's model: one axis per group of words, plus a small constant one."""
    vector = [0.0, 0.0, 0.0, 0.05]
    for word in re.findall(r"[a-z]+", text.lower()):
        axis = AXES.get(word.removesuffix("s"))
        if axis is not None:
            vector[axis] += 1.0
    return vector


def _config(store_url: str, provider_url: str, **settings: Any) -> Config:
    config = gateway_config(
        store_url, [("emb", "openai/toy-embed", provider_url + "/v1")],
        tenants=[{"name": "acme", "api_keys": [KEY], "embedding_model": "emb",
                  # One belief per request: which one is injected is what ranking decided.
                  "policy": {"max_beliefs": 1}}],
        num_retries=0)
    return config.model_copy(update=settings)


@pytest.fixture
def provider() -> Iterator[tuple[FakeUpstream, str]]:
    upstream = FakeUpstream(embed=toy_embedding)
    with serve(upstream) as served:
        yield upstream, served.url


def _gateway(config: Config) -> Any:
    from selfmodel.app import create_app

    return serve(create_app(config, run_workers=False))


def _api(served: ServedApp) -> httpx.Client:
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {KEY}"},
                        timeout=10)








def _embedding_calls(upstream: FakeUpstream) -> int:
    return sum(1 for r in upstream.requests if r.path.endswith("/embeddings"))


def _two_beliefs(api: httpx.Client, user: str) -> None:
    assert api.post("/v1/self-models", json={"user_id": user}).status_code in (200, 201)
    observe(api, user, "games", "game", "chess")
    observe(api, user, "taste", "colour", "blue")


def test_beliefs_and_requests_are_embedded_by_the_tenants_model(
        provider: tuple[FakeUpstream, str], sqlite_url: str) -> None:
    upstream, url = provider
    with _gateway(_config(sqlite_url, url)) as gateway, _api(gateway) as api:
        _two_beliefs(api, "ana")
        stored = asyncio.run(stored_model(sqlite_url, "ana"))
        assert {b.vector_model for b in stored.beliefs} == {MODEL_NAME}
        for belief in stored.beliefs:  # the provider's vector, as it answered it
            expected = np.asarray(toy_embedding(belief.statement), dtype=np.float32)
            expected /= np.linalg.norm(expected)
            assert float(decode(belief.vector or "") @ expected) > 0.99
        bodies = [r.body for r in upstream.requests if r.path.endswith("/embeddings")]
        assert bodies and all(b["model"] == "toy-embed" for b in bodies)
        # The provider's pairings decide, both ways (lexically both beliefs score 0).
        prompt = echo_prompt(gateway.url, KEY, "ana", "Tell me something about zebras")
        assert "chess" in prompt and "blue" not in prompt
        prompt = echo_prompt(gateway.url, KEY, "ana", "Tell me something about a knight")
        assert "blue" in prompt and "chess" not in prompt
        assert _embedding_calls(upstream) >= 4  # two beliefs, two requests


@pytest.mark.parametrize("failure", ["hang", "error"])
def test_a_slow_or_failing_provider_leaves_the_request_ranked_by_words(
        provider: tuple[FakeUpstream, str], sqlite_url: str, failure: str) -> None:
    upstream, url = provider
    config = _config(sqlite_url, url, embedding_timeout_ms=300, embedding_cooldown_ms=60_000)
    with _gateway(config) as gateway, _api(gateway) as api:
        _two_beliefs(api, "bo")
        upstream.then(hang() if failure == "hang" else error(503))
        before = _embedding_calls(upstream)
        started = time.monotonic()
        prompt = echo_prompt(gateway.url, KEY, "bo", "Tell me something about a knight")
        # A hanging provider would hold the request until the client gave up (10 s).
        assert time.monotonic() - started < 8
        assert "chess" in prompt or "blue" in prompt  # still personalized, by words
        assert _embedding_calls(upstream) == before + 1
        # Cooling down: the next request does not ask the provider at all.
        echo_prompt(gateway.url, KEY, "bo", "Tell me something about zebras")
        assert _embedding_calls(upstream) == before + 1
        metrics = api.get("/metrics").text
        for result, count in (("ok", 2.0), ("failed", 1.0), ("cooling", 1.0)):
            path = "write" if result == "ok" else "request"
            assert (f'selfmodel_embedding_fetches_total{{alias="emb",path="{path}",'
                    f'result="{result}"}} {count}') in metrics


def test_a_belief_written_while_the_provider_is_down_gets_its_vector_at_the_next_write(
        provider: tuple[FakeUpstream, str], sqlite_url: str) -> None:
    upstream, url = provider
    config = _config(sqlite_url, url, embedding_cooldown_ms=0)
    with _gateway(config) as gateway, _api(gateway) as api:
        assert api.post("/v1/self-models", json={"user_id": "cy"}).status_code in (200, 201)
        upstream.then(error(503))
        observe(api, "cy", "games", "game", "chess")
        stored = asyncio.run(stored_model(sqlite_url, "cy")).beliefs
        assert [b.vector for b in stored] == [None]  # no vector: ranked by words for now
        observe(api, "cy", "drinks", "drink", "tea")
        stored = asyncio.run(stored_model(sqlite_url, "cy")).beliefs
        assert len(stored) == 2
        assert all(b.vector and b.vector_model == MODEL_NAME for b in stored)


def test_an_edited_statement_is_embedded_by_the_tenants_model(
        provider: tuple[FakeUpstream, str], sqlite_url: str) -> None:
    upstream, url = provider
    with _gateway(_config(sqlite_url, url)) as gateway, _api(gateway) as api:
        assert api.post("/v1/self-models", json={"user_id": "di"}).status_code in (200, 201)
        observe(api, "di", "games", "game", "chess")
        belief = api.get("/v1/self-models/di").json()["beliefs"][0]
        edited = api.patch(f"/v1/self-models/di/beliefs/{belief['id']}",
                           json={"action": "edit", "statement": "Draws zebras"})
        assert edited.status_code == 200, edited.text
        stored = asyncio.run(stored_model(sqlite_url, "di")).beliefs[0]
        assert stored.statement == "Draws zebras" and stored.vector_model == MODEL_NAME
        assert any(r.body and r.body.get("input") == ["Draws zebras"]
                   for r in upstream.requests if r.path.endswith("/embeddings"))


def test_an_edit_made_in_the_console_is_embedded_by_the_tenants_model(
        provider: tuple[FakeUpstream, str], sqlite_url: str) -> None:
    """The console's edit goes through the same change as PATCH: the operator's statement
    gets the tenant's provider vector, not the built-in one."""
    from tests.support.console import ConsoleClient

    upstream, url = provider
    with _gateway(_config(sqlite_url, url)) as gateway, _api(gateway) as api:
        assert api.post("/v1/self-models", json={"user_id": "ed"}).status_code in (200, 201)
        observe(api, "ed", "games", "game", "chess")
        belief = api.get("/v1/self-models/ed").json()["beliefs"][0]
        console = ConsoleClient(gateway.url)
        try:
            assert console.sign_in(KEY).status_code == 303
            edit = console.post("/console/user/belief", u="ed", belief=belief["id"],
                                action="edit", statement="Paints herons")
            assert edit.status_code == 303, edit.text
        finally:
            console.close()
        stored = asyncio.run(stored_model(sqlite_url, "ed")).beliefs
        edited = next(b for b in stored if b.statement == "Paints herons")
        assert edited.vector_model == MODEL_NAME and edited.vector
        assert any(r.body and r.body.get("input") == ["Paints herons"]
                   for r in upstream.requests if r.path.endswith("/embeddings"))


# -- the parts on their own --------------------------------------------------------------------

def _model(statements: list[str]) -> SelfModel:
    claims = [Claim(domain="d", key=f"k{i}", value=f"v{i}", statement=text)
              for i, text in enumerate(statements)]
    model, _ = apply_claims(SelfModel(tenant="t", user_id="u"), claims, observation_id="o",
                            at=1e9)
    return model


def test_vectors_of_another_model_are_not_compared() -> None:
    """Beliefs that carry built-in vectors, ranked for a tenant on a provider's model: the
    ranking is the lexical one alone, even though the request's vector is known."""
    beliefs = with_vectors(_model(["Plays chess", "Likes blue things"])).beliefs
    assert {b.vector_model for b in beliefs} == {BUILTIN}

    async def fetch(texts: list[str]) -> list[list[float]]:
        return [toy_embedding(t) for t in texts]

    embedder = ProviderEmbedder("emb", "openai/toy-embed", fetch)
    question = "Tell me about a knight and zebras"
    assert asyncio.run(embedder.fetch([question], 1.0))
    assert HybridRelevance(embedder)(question, beliefs) == LexicalRelevance()(question, beliefs)


def test_fetch_gives_up_at_its_timeout_and_cools_down() -> None:
    calls: list[list[str]] = []

    async def slow(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        await asyncio.sleep(30)
        return []

    now = [100.0]
    embedder = ProviderEmbedder("emb", "m", slow, cooldown=5.0, clock=lambda: now[0])

    async def run() -> tuple[bool, bool, bool]:
        first = await embedder.fetch(["a"], 0.05)
        during = await embedder.fetch(["a"], 0.05)  # cooling down: not even asked
        now[0] += 6.0
        after = await embedder.fetch(["a"], 0.05)
        return first, during, after

    assert asyncio.run(run()) == (False, False, False)
    assert calls == [["a"], ["a"]]
    assert not embedder.one("a").any()


def test_a_write_missing_a_vector_asks_for_it_at_the_next_write() -> None:
    seen: list[list[str]] = []

    async def fetch(texts: list[str]) -> list[list[float]]:
        seen.append(texts)
        return [toy_embedding(t) for t in texts]

    embedder = ProviderEmbedder("emb", "m", fetch)
    assert not embedder(["Plays chess"]).any()  # a write that found no vector
    assert asyncio.run(embedder.fetch(["Drinks tea"], 1.0, backlog=True))
    assert seen == [["Drinks tea", "Plays chess"]]
    assert embedder(["Plays chess"]).any()


def test_answers_are_read_in_input_order_and_checked() -> None:
    data = {"data": [{"index": 1, "embedding": [0.0, 1.0]},
                     {"index": 0, "embedding": [1.0, 0.0]}]}
    assert vectors_of(data, 2) == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="expected 3"):
        vectors_of(data, 3)
    with pytest.raises(ValueError):
        vectors_of({"data": [{"index": 0, "embedding": "nope"}]}, 1)


def test_embedding_models_must_be_in_model_list() -> None:
    base = "model_list:\n  - model_name: emb\n    litellm_params: {model: openai/e}\n"
    assert parse_config(base + "embedding_model: emb\n").embedding_model == "emb"
    with pytest.raises(ConfigError, match="embedding_model: 'nope' is not a model_name"):
        parse_config(base + "embedding_model: nope\n")
    with pytest.raises(ConfigError, match=r"tenants\.acme\.embedding_model"):
        parse_config(base + "tenants:\n  - name: acme\n    embedding_model: nope\n")
    tenant = parse_config(base + "embedding_model: emb\ntenants:\n  - name: acme\n")
    assert tenant.embedding_alias(tenant.tenants[0]) == "emb"


def test_claims_written_for_a_provider_tenant_carry_its_model_name() -> None:
    from selfmodel.personalize.semantic import with_claim_vectors

    async def fetch(texts: list[str]) -> list[list[float]]:
        return [toy_embedding(t) for t in texts]

    embedder = ProviderEmbedder("emb", "openai/toy-embed", fetch)
    extraction = Extraction(claims=[Claim(domain="d", key="k", value="v",
                                          statement="Plays chess")])
    assert asyncio.run(embedder.fetch(["Plays chess"], 1.0))
    claim = with_claim_vectors(extraction, embedder).claims[0]
    assert claim.vector_model == MODEL_NAME and claim.vector


def test_the_selection_bench_ranks_with_a_provider_embedder() -> None:
    """bench.quality --embedding-model: the beliefs' vectors and the ranking both come from
    the provider's model."""
    from bench.quality_selection import stated_beliefs

    async def fetch(texts: list[str]) -> list[list[float]]:
        return [toy_embedding(t) for t in texts]

    embedder = ProviderEmbedder("emb", "openai/toy-embed", fetch)
    sentences = ["I play chess", "I like blue things"]
    assert asyncio.run(embedder.fetch([*sentences, "Tell me about zebras"], 1.0))
    beliefs = [group[0] for group in stated_beliefs(sentences, 1e9, embedder)]
    assert {b.vector_model for b in beliefs} == {MODEL_NAME}
    scores = HybridRelevance(embedder)("Tell me about zebras", beliefs)
    assert scores[0] > scores[1]


def test_a_conversation_given_its_last_block_again_does_not_wait_for_the_provider(
        provider: tuple[FakeUpstream, str], sqlite_url: str) -> None:
    upstream, url = provider
    with _gateway(_config(sqlite_url, url)) as gateway, _api(gateway) as api:
        _two_beliefs(api, "ed")
        first = [{"role": "user", "content": "Tell me something about zebras"}]
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0,
                           timeout=10) as client:
            answer = client.chat.completions.create(model="echo", user="ed", messages=first)
            prompt = answer.choices[0].message.content or ""
            assert "chess" in prompt
            before = _embedding_calls(upstream)
            later = [*first, {"role": "assistant", "content": "Zebras are striped."},
                     {"role": "user", "content": "And a knight?"}]
            answer = client.chat.completions.create(model="echo", user="ed", messages=later)
        # The same block (the conversation's), and no embedding asked for: nothing to rank.
        assert "chess" in (answer.choices[0].message.content or "")
        assert _embedding_calls(upstream) == before


def test_a_provider_litellm_translates_serves_the_tenants_embeddings(
        sqlite_url: str, mock: Any) -> None:
    """A non-OpenAI deployment (Mistral's, mocked with respx) goes through litellm's
    ``aembedding``; its vectors rank the tenant's beliefs as the OpenAI-shaped ones do."""

    def answer(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        return httpx.Response(200, json={
            "object": "list", "model": "mistral-embed",
            "data": [{"object": "embedding", "index": i, "embedding": toy_embedding(text)}
                     for i, text in enumerate(inputs)],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    route = mock.post("https://mistral.test/v1/embeddings").mock(side_effect=answer)
    mock.route(host="127.0.0.1").pass_through()  # the gateway itself, on loopback
    config = gateway_config(
        sqlite_url, [("emb", "mistral/mistral-embed", "https://mistral.test/v1")],
        tenants=[{"name": "acme", "api_keys": [KEY], "embedding_model": "emb",
                  "policy": {"max_beliefs": 1}}],
        num_retries=0)
    with _gateway(config) as gateway, _api(gateway) as api:
        _two_beliefs(api, "fa")
        stored = asyncio.run(stored_model(sqlite_url, "fa"))
        assert {b.vector_model for b in stored.beliefs} == {"provider:emb:mistral/mistral-embed"}
        prompt = echo_prompt(gateway.url, KEY, "fa", "Tell me something about a knight")
        assert "blue" in prompt and "chess" not in prompt
        assert route.call_count >= 3
