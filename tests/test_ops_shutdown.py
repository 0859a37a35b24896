"""Graceful shutdown with real processes and signals (RELIABILITY.md items 8 and 9).

``selfmodel serve`` on SIGTERM with streams in flight: new connections are refused, the
streams finish for their clients, their observations land (a ``selfmodel worker`` applies
them), the exit status is 0 and nothing warns of a task destroyed while pending. Past the
grace period a stream is cut and its exchange is still recorded, marked truncated.
``selfmodel worker`` on SIGTERM with an extraction in flight: it finishes and acknowledges
that entry, leaves the queued one for the next worker, and exits 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest

from selfmodel.observer.capture import build_observation
from selfmodel.store import open_store
from selfmodel.store.base import Store
from tests.support.processes import Process, poll, start_serve, start_worker, write_config
from tests.support.servers import serve
from tests.support.upstream import FakeUpstream, forever, ok, stream_texts

pytestmark = [pytest.mark.redis, pytest.mark.slow]

T = TypeVar("T")
KEY = "sk-acme-shutdown"
PREFERENCE = "I prefer detailed explanations, with examples."
STREAMS = 20  # RELIABILITY.md item 8
TRICKLE = ok("Slow answer", chunks=8, delay=0.25)  # two seconds per stream


def with_store(url: str, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_store(url)
        await store.start()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


def config_data(redis_url: str, base: str, **observer: Any) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": base, "api_key": "sk-upstream"}}],
        "store": {"url": redis_url},
        "observer": {"workers": 0, **observer},
        "tenants": [{"name": "acme",
                     "api_keys": ["sha256:" + hashlib.sha256(KEY.encode()).hexdigest()]}],
        "server": {"graceful_timeout": 10},
    }


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


CUT = "CancelledError: Task cancelled, timeout graceful shutdown exceeded"


def assert_clean_exit(process: Process, status: int, *, cut: int = 0) -> None:
    """Exit 0, no task destroyed while pending, no traceback but uvicorn's own report of
    each request it cut at the end of the grace period (``cut`` of them)."""
    log = process.stderr()
    assert status == 0, log
    assert "Task was destroyed but it is pending" not in log
    errors = [line["exc"] for line in process.json_lines() if "exc" in line]
    assert len(errors) == cut and all(e.rstrip().endswith(CUT) for e in errors), log


class StreamingClient(threading.Thread):
    """One user's streamed chat, read to the end in its own thread."""

    def __init__(self, url: str, user: str) -> None:
        super().__init__(daemon=True)
        self.url, self.user = url, user
        self.first = threading.Event()
        self.text = ""
        self.ended_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with openai.OpenAI(base_url=self.url + "/v1", api_key=KEY, max_retries=0) as client:
                stream = client.chat.completions.create(
                    model="gpt-4o-mini", stream=True, user=self.user,
                    messages=[{"role": "user", "content": PREFERENCE}])
                for chunk in stream:
                    self.first.set()
                    self.text += "".join(c.delta.content or "" for c in chunk.choices)
        except BaseException as exc:  # reported by the test thread
            self.error = exc
        finally:
            self.ended_at = time.monotonic()
            self.first.set()


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with serve(fake) as served:
        yield fake, served.url + "/v1"


def test_sigterm_lets_streams_finish_and_their_observations_land(
        redis_url: str, tmp_path: Path, upstream: tuple[FakeUpstream, str]) -> None:
    fake, base = upstream
    config = write_config(tmp_path, config_data(redis_url, base))
    fake.then(*[TRICKLE] * STREAMS)
    gateway = start_serve("gateway", config, tmp_path)
    worker = start_worker("worker", config, tmp_path)
    try:
        assert gateway.port is not None
        clients = [StreamingClient(gateway.url, f"user-{i}-{uuid.uuid4().hex[:6]}")
                   for i in range(STREAMS)]
        for client in clients:
            client.start()
        for client in clients:
            assert client.first.wait(15)
        gateway.signal()
        refused_at = poll(lambda: refused(gateway.port) and time.monotonic(), timeout=5)
        for client in clients:
            client.join(30)
        assert_clean_exit(gateway, gateway.popen.wait(30))

        async def beliefs(store: Store) -> list[int]:
            models = [await store.get_model("acme", c.user) for c in clients]
            return [len(m.beliefs) if m else 0 for m in models]

        # The worker keeps running until then: it may be pausing between batches
        # (observer.batch_pause_ms) when the gateway exits, and what it has not applied yet
        # is queued, not lost.
        poll(lambda: all(with_store(redis_url, beliefs)), timeout=15, every=0.2)
    finally:
        gateway.kill()
        worker.kill()
    expected = "".join(stream_texts(TRICKLE))
    for client in clients:
        assert client.error is None and client.text == expected
        assert refused_at < client.ended_at  # refused while the stream was still running


def test_past_the_grace_period_a_stream_is_cut_and_recorded_truncated(
        redis_url: str, tmp_path: Path, upstream: tuple[FakeUpstream, str]) -> None:
    fake, base = upstream
    data = config_data(redis_url, base)
    data["server"]["graceful_timeout"] = 1
    config = write_config(tmp_path, data)
    fake.then(forever(delay=0.05))
    gateway = start_serve("gateway", config, tmp_path)
    user = f"cut-{uuid.uuid4().hex[:6]}"
    try:
        with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": "gpt-4o-mini", "stream": True, "user": user,
                                "messages": [{"role": "user", "content": PREFERENCE}]}) as r:
            request_id = r.headers["x-selfmodel-request-id"]
            lines = r.iter_lines()
            next(lines)
            gateway.signal()
            with pytest.raises(httpx.HTTPError):  # cut without an end: the body is incomplete
                for _ in lines:
                    pass
        assert_clean_exit(gateway, gateway.popen.wait(30), cut=1)
    finally:
        gateway.kill()

    async def recorded(store: Store) -> tuple[Any, list[Any]]:
        claimed = await store.claim("check", 10, lease_seconds=60)
        return await store.get_decision("acme", request_id), [e.observation for e in claimed]

    decision, observations = with_store(redis_url, recorded)
    assert decision is not None
    assert [(o.request_id, o.truncated) for o in observations] == [(request_id, True)]


class SlowModel:
    """An OpenAI-compatible model for the llm extractor that takes its time to answer."""

    ANSWER = ('{"claims": [{"kind": "preference", "domain": "travel", "key": '
              '"likes:window_seats", "value": "window seats", "statement": '
              '"Prefers window seats", "quote": "I prefer window seats"}], '
              '"correction": false, "corrected_slots": [], "feedback": null}')

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.asked = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        self.asked.set()
        await asyncio.sleep(self.delay)
        body = ('{"id": "x", "object": "chat.completion", "created": 1, "model": "m", '
                '"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": '
                '"assistant", "content": ' + json.dumps(self.ANSWER) + '}}]}').encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def test_sigterm_to_a_worker_finishes_and_acks_what_it_holds(
        redis_url: str, tmp_path: Path) -> None:
    model = SlowModel(delay=1.5)
    users = [f"w-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]

    async def enqueue(store: Store) -> None:
        for user in users:
            await store.enqueue(build_observation(
                tenant="acme", user_id=user, request_id=f"req_{user}", model="gpt-4o-mini",
                surface="chat", user_turns="I prefer window seats", previous_assistant="",
                assistant="Noted.", applied_belief_ids=[], truncated=False, arm=None,
                tokens=0, at=time.time()))

    with serve(model) as served:
        config = write_config(tmp_path, config_data(
            redis_url, served.url + "/v1", extractor="llm", model="gpt-4o-mini",
            batch_size=1))
        with_store(redis_url, enqueue)
        worker = start_worker("worker", config, tmp_path)
        try:
            assert model.asked.wait(15)  # one extraction in flight, the other entry queued
            worker.signal()
            assert_clean_exit(worker, worker.popen.wait(30))
        finally:
            worker.kill()

    async def state(store: Store) -> tuple[list[int], int, int]:
        models = [await store.get_model("acme", user) for user in users]
        stats = await store.queue_stats()
        return [len(m.beliefs) if m else 0 for m in models], stats.depth, stats.pending

    counts, depth, pending = with_store(redis_url, state)
    assert sorted(counts) == [0, 1]  # the one in flight was applied ...
    assert (depth, pending) == (1, 0)  # ... and acked; the other waits, claimed by no one
