"""Tests' shortcuts to a served gateway's self-model API, its echo model and its store."""

from __future__ import annotations

import httpx
import openai

from selfmodel.domain.models import SelfModel
from selfmodel.store import open_store


def observe(api: httpx.Client, user: str, domain: str, key: str, value: str) -> None:
    """A structured preference observed and applied before the call returns."""
    reply = api.post(f"/v1/self-models/{user}/observations?wait=true",
                     json={"type": "preference", "content": f"{key} {value}", "key": key,
                           "value": value, "domain": domain})
    assert reply.status_code == 200, reply.text


def echo_prompt(url: str, key: str, user: str, text: str) -> str:
    """What the echo model was sent for one chat turn of ``user`` (its system prompt)."""
    with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0,
                       timeout=10) as client:
        answer = client.chat.completions.create(
            model="echo", user=user, messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content or ""


async def stored_model(url: str, user: str, tenant: str = "acme") -> SelfModel:
    """The user's model as the store holds it."""
    store = open_store(url)
    await store.start()
    try:
        model = await store.get_model(tenant, user)
    finally:
        await store.close()
    assert model is not None
    return model
