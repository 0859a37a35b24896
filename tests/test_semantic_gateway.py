"""Belief vectors end to end: kept by both stores, hidden from the API, used by the gateway.

The gateway is served on loopback with the built-in echo model (its answer is the prompt the
provider would have received), in-process workers and a real SQLite file; the official
openai SDK is the client. Stores are real SQLite files and a real Redis server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from selfmodel.app import create_app
from selfmodel.config import Config
from selfmodel.domain.meaning import cosine, decode
from selfmodel.domain.models import Claim, Extraction, SelfModel
from selfmodel.domain.update import apply_claims
from selfmodel.personalize.semantic import BUILTIN, builtin, with_claim_vectors
from selfmodel.store import open_store
from tests.support.selfmodels import echo_prompt, observe, stored_model
from tests.support.servers import ServedApp, serve

KEY = "sk-acme-semantic"


async def _write_then_read(url: str) -> tuple[SelfModel, SelfModel]:
    """Write a model with one belief through one store object, read it through another (so
    no in-process cache answers)."""
    extraction = with_claim_vectors(Extraction(claims=[Claim(
        domain="hobby", key="craft", value="knitting", statement="Knits scarves")]))

    def mutate(model: SelfModel) -> SelfModel:
        return apply_claims(model, extraction.claims, observation_id="o1", at=1e9)[0]

    writer = open_store(url)
    await writer.start()
    try:
        written = await writer.mutate_model("acme", "u1", mutate)
    finally:
        await writer.close()
    reader = open_store(url)
    await reader.start()
    try:
        read = await reader.get_model("acme", "u1")
    finally:
        await reader.close()
    assert written is not None and read is not None
    return written, read


@pytest.mark.parametrize("backend", ["sqlite_url", "redis_url"])
def test_a_beliefs_vector_survives_the_store(backend: str,
                                             request: pytest.FixtureRequest) -> None:
    written, read = asyncio.run(_write_then_read(str(request.getfixturevalue(backend))))
    stored = read.beliefs[0]
    assert stored.vector == written.beliefs[0].vector
    assert stored.vector_model == BUILTIN
    assert cosine(decode(stored.vector or ""), builtin().one("Knits scarves")) > 0.999


def _config(store_url: str) -> Config:
    return Config.model_validate({
        "model_list": [{"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}}],
        "store": {"url": store_url},
        # One belief per request: which one is injected is what relevance decided.
        "tenants": [{"name": "acme", "api_keys": [KEY], "policy": {"max_beliefs": 1}}],
    })


@pytest.fixture
def gateway(sqlite_url: str) -> Iterator[ServedApp]:
    with serve(create_app(_config(sqlite_url))) as served:
        yield served


def _api(served: ServedApp) -> httpx.Client:
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {KEY}"},
                        timeout=10)








def test_a_related_belief_is_injected_for_a_request_that_shares_no_word_with_it(
        gateway: ServedApp, sqlite_url: str) -> None:
    with _api(gateway) as api:
        assert api.post("/v1/self-models", json={"user_id": "dana"}).status_code in (200, 201)
        # The unrelated belief is written last: newer and as confident, it would win a tie.
        observe(api, "dana", "work", "job", "nurse")
        observe(api, "dana", "health", "allergy", "peanuts")
        prompt = echo_prompt(gateway.url, KEY, "dana", "How do I handle long hospital shifts?")
        assert "nurse" in prompt.lower()
        assert "peanut" not in prompt.lower()
        prompt = echo_prompt(gateway.url, KEY, "dana", "Which snacks are safe for me to pack?")
        assert "peanut" in prompt.lower()


def test_vectors_are_stored_but_never_shown(gateway: ServedApp, sqlite_url: str) -> None:
    with _api(gateway) as api:
        assert api.post("/v1/self-models", json={"user_id": "eli"}).status_code in (200, 201)
        observe(api, "eli", "hobby", "craft", "knitting")
        reply = api.get("/v1/self-models/eli")
        assert reply.status_code == 200
        beliefs: list[dict[str, Any]] = reply.json()["beliefs"]
        assert [b["value"] for b in beliefs] == ["knitting"]
        assert "vector" not in reply.text
        stored = asyncio.run(stored_model(sqlite_url, "eli")).beliefs[0]
        assert stored.vector_model == BUILTIN
        assert cosine(decode(stored.vector or ""), builtin().one(stored.statement)) > 0.999

        edited = api.patch(f"/v1/self-models/eli/beliefs/{beliefs[0]['id']}",
                           json={"action": "edit", "statement": "Crochets warm blankets"})
        assert edited.status_code == 200, edited.text
        assert "vector" not in edited.text
        stored = asyncio.run(stored_model(sqlite_url, "eli")).beliefs[0]
        assert stored.statement == "Crochets warm blankets"
        assert cosine(decode(stored.vector or ""), builtin().one("Crochets warm blankets")) > 0.999
