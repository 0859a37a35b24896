"""Holdout experiments and consent through the real gateway: control users get no injection
but are observed; a withdrawn consent stops both.

The gateway is served on loopback with the built-in echo model (which answers with the
messages the provider would have received), in-process observation workers and a real SQLite
file; the official openai SDK is the client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from selfmodel.app import create_app
from selfmodel.config import Config, ExperimentSettings
from selfmodel.domain.experiments import assign_arm
from tests.support.servers import ServedApp, serve

KEY = "sk-acme-test"
EXPERIMENT = ExperimentSettings(name="holdout-2026", control_share=0.5)


def _config(store_url: str) -> Config:
    return Config.model_validate({
        "model_list": [{"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}}],
        "store": {"url": store_url},
        "tenants": [{"name": "acme", "api_keys": [KEY],
                     "experiment": EXPERIMENT.model_dump()}],
    })


def _user_in(arm: str) -> str:
    """A user id the stable hash puts in ``arm`` (the assignment is deterministic)."""
    for i in range(1000):
        user = f"user-{i}"
        if assign_arm("acme", user, EXPERIMENT, {}) == arm:
            return user
    raise AssertionError(f"no user lands in {arm}")


@pytest.fixture
def gateway(sqlite_url: str) -> Iterator[ServedApp]:
    with serve(create_app(_config(sqlite_url))) as served:
        yield served


def _api(served: ServedApp) -> httpx.Client:
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {KEY}"},
                        timeout=10)


def _teach(api: httpx.Client, user: str) -> None:
    assert api.post("/v1/self-models", json={"user_id": user}).status_code in (200, 201)
    reply = api.post(f"/v1/self-models/{user}/observations?wait=true",
                     json={"type": "preference", "content": "I'm vegetarian",
                           "key": "diet", "value": "vegetarian", "domain": "diet"})
    assert reply.status_code == 200, reply.text


def _chat(served: ServedApp, user: str, text: str) -> Any:
    with openai.OpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="echo", user=user, messages=[{"role": "user", "content": text}])
        raw.parse()  # read while the client is open
        return raw


def _wait_for_belief(api: httpx.Client, user: str, value: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        model = api.get(f"/v1/self-models/{user}").json()
        if any(value in b["value"] for b in model.get("beliefs", [])):
            return dict(model)
        time.sleep(0.05)
    raise AssertionError(f"{user} never learned {value}")


def test_control_users_get_no_injection_but_are_observed(gateway: ServedApp) -> None:
    treated, control = _user_in("personalized"), _user_in("control")
    with _api(gateway) as api:
        for user in (treated, control):
            _teach(api, user)
        answers = {user: _chat(gateway, user, "What should I cook tonight?")
                   for user in (treated, control)}
        assert answers[treated].headers["x-selfmodel-arm"] == "personalized"
        assert answers[control].headers["x-selfmodel-arm"] == "control"
        echoed = {u: r.parse().choices[0].message.content for u, r in answers.items()}
        assert "vegetarian" in echoed[treated].lower()  # only the profile mentions it
        assert "<user_profile>" in echoed[treated]
        assert "<user_profile>" not in echoed[control]
        for user, raw in answers.items():
            record = api.get(f"/v1/decisions/{raw.headers['x-selfmodel-request-id']}").json()
            assert record["arm"] == ("control" if user == control else "personalized")
            assert record["personalized"] is (user == treated)
        _chat(gateway, control, "Also, keep answers short please.")
        _wait_for_belief(api, control, "concise")  # observed all the same


def test_arm_is_recorded_under_the_experiment_name(gateway: ServedApp, sqlite_url: str) -> None:
    import asyncio

    from selfmodel.store import open_store

    control = _user_in("control")
    _chat(gateway, control, "I'm a senior Go engineer.")
    with _api(gateway) as api:
        _wait_for_belief(api, control, "senior")

    async def arms() -> dict[str, str]:
        store = open_store(sqlite_url)
        await store.start()
        try:
            model = await store.get_model("acme", control)
            assert model is not None
            return model.experiments
        finally:
            await store.close()

    assert asyncio.run(arms()) == {"holdout-2026": "control"}


def _consent_config(store_url: str, policy: str) -> Config:
    return Config.model_validate({
        "model_list": [{"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}}],
        "store": {"url": store_url},
        "tenants": [{"name": "acme", "api_keys": [KEY], "policy": {"consent": policy}}],
    })


def _profile_sent(served: ServedApp, user: str) -> bool:
    answer = _chat(served, user, "What should I cook tonight?").parse()
    return "<user_profile>" in (answer.choices[0].message.content or "")


@pytest.mark.parametrize("policy", ["implied", "required"])
def test_consent_gates_personalization_through_the_gateway(sqlite_url: str, policy: str) -> None:
    with serve(create_app(_consent_config(sqlite_url, policy))) as served, \
            _api(served) as api:
        assert api.put("/v1/self-models/ann/consent", json={"granted": True}).status_code == 200
        _teach(api, "ann")
        assert _profile_sent(served, "ann")
        assert api.put("/v1/self-models/ann/consent", json={"granted": False}).status_code == 200
        assert not _profile_sent(served, "ann")  # withdrawal stops it at once, any policy
        raw = _chat(served, "ann", "I'm a senior Go engineer.")
        record = api.get(f"/v1/decisions/{raw.headers['x-selfmodel-request-id']}").json()
        assert record["personalized"] is False and "consent" in record["reason"]
        time.sleep(0.5)  # the in-process worker would have applied an observation by now
        beliefs = api.get("/v1/self-models/ann").json()["beliefs"]
        assert not any("senior" in b["value"] for b in beliefs)  # and nothing was observed
