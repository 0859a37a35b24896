"""An erasure is final for the requests already in flight (issue 20, item 4; RELIABILITY 24).

10 chats are in flight (their answers stream slowly) when 40 observations and one DELETE are
sent at once. After the 204 and once the queue is drained, the user must not exist again:
the chats' exchanges and the observations that passed their existence check before the
erasure were stamped after it, but their requests began before it, and that is what the
writer and the worker compare with the erasure. A new request afterwards creates the user
anew. On SQLite, the erased user's words are in neither the database file nor its WAL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from selfmodel.app import create_app
from selfmodel.config import Config
from selfmodel.store import open_store
from tests.support.clients import keep
from tests.support.servers import serve
from tests.support.upstream import FakeUpstream, ok

pytestmark = pytest.mark.slow

T = "default"
USER = "erin"
CHATS, OBSERVATIONS = 10, 40


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def gateway(store_url: str) -> Iterator[tuple[str, FakeUpstream]]:
    upstream = FakeUpstream()
    with serve(upstream) as served:
        config = Config.model_validate({
            "model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": served.url + "/v1",
                "api_key": "sk-upstream"}}],
            "store": {"url": store_url},
            "observer": {"batch_pause_ms": 0},
            "server": {"retry_backoff": 0.01, "request_timeout": 20.0},
        })
        with serve(create_app(config, run_workers=True)) as app:
            yield app.url, upstream


def drained(store_url: str) -> None:
    async def depth() -> int:
        store = open_store(store_url)
        await store.start()
        try:
            return (await store.queue_stats()).depth
        finally:
            await store.close()

    deadline = time.monotonic() + 30
    while asyncio.run(depth()):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


def scan(store_url: str) -> list[str]:
    async def run() -> list[str]:
        store = open_store(store_url)
        await store.start()
        try:
            return await store.scan_user(T, USER)
        finally:
            await store.close()

    return asyncio.run(run())


def test_requests_in_flight_do_not_bring_an_erased_user_back(
    gateway: tuple[str, FakeUpstream], store_url: str,
) -> None:
    url, upstream = gateway
    marker = "quokka" + uuid.uuid4().hex[:12]  # the user's words, to find in the file
    api = keep(httpx.Client(base_url=url, timeout=30))
    sdk = keep(openai.OpenAI(base_url=url + "/v1", api_key="sk-local", max_retries=0,
                             timeout=30))
    assert api.post("/v1/self-models", json={"user_id": USER}).status_code == 201
    said = {"type": "preference", "content": f"I love {marker}"}
    assert api.post(f"/v1/self-models/{USER}/observations?wait=true",
                    json=said).status_code == 200

    def chat() -> str:
        stream = sdk.chat.completions.create(
            model="gpt-4o-mini", user=USER, stream=True,
            messages=[{"role": "user", "content": f"I love {marker}, tell me more"}])
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    def observe() -> int:
        return api.post(f"/v1/self-models/{USER}/observations", json=said).status_code

    upstream.then(*[ok(chunks=4, delay=0.4) for _ in range(CHATS)])  # ~1.6 s in flight
    with ThreadPoolExecutor(CHATS + OBSERVATIONS + 1) as pool:
        chats = [pool.submit(chat) for _ in range(CHATS)]
        deadline = time.monotonic() + 20
        while len(upstream.requests) < CHATS:  # every chat has been prepared
            assert time.monotonic() < deadline, "the chats never reached the provider"
            time.sleep(0.01)
        posts = [pool.submit(observe) for _ in range(OBSERVATIONS)]
        erased = pool.submit(api.delete, f"/v1/self-models/{USER}")
        assert erased.result().status_code == 204
        assert {p.result() for p in posts} <= {202, 404}  # queued before, or user gone
        assert all(c.result().startswith("Hello from upstream") for c in chats)

    drained(store_url)
    assert api.get(f"/v1/self-models/{USER}").status_code == 404
    assert api.get(f"/v1/self-models/{USER}/export").status_code == 404
    assert scan(store_url) == []
    if store_url.startswith("sqlite:///"):
        path = Path(store_url[len("sqlite:///"):])
        for part in (path, Path(str(path) + "-wal")):
            if part.exists():
                assert marker.encode() not in part.read_bytes(), f"{marker} left in {part}"

    # A new request after the erasure may create the user again.
    upstream.then(ok())
    assert chat().startswith("Hello from upstream")
    drained(store_url)
    assert api.get(f"/v1/self-models/{USER}").status_code == 200
