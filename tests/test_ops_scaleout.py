"""Scale-out on one Redis, with real processes: two ``selfmodel serve`` replicas (no in-process
workers) and one ``selfmodel worker``, driven over HTTP with the openai SDK.

These are the steps the README's "Scaling out" section tells an operator to take; the test
runs them as written:
one config file whose ``store.url`` is the shared Redis and whose ``observer.workers`` is 0,
``selfmodel doctor`` on it, ``selfmodel serve`` twice (each ready when ``/readyz`` says so),
``selfmodel worker`` once. What a user says through replica 1 is applied by the worker and
is visible through replica 2, both in the self-model API and in the system prompt replica 2
forwards next.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.processes import (
    Process,
    poll,
    start,
    start_serve,
    start_worker,
    write_config,
)
from tests.support.prometheus import scrape, series
from tests.support.servers import ServedApp, free_port, serve
from tests.support.upstream import FakeUpstream

pytestmark = [pytest.mark.redis, pytest.mark.slow]

KEY = "sk-acme-scaleout-test-key"
PREFERENCE = "I prefer detailed explanations, with examples."


@dataclass
class Deployment:
    folder: Path
    config: Path
    upstream: FakeUpstream
    replicas: list[Process]
    worker: Process | None = None
    clients: dict[int, openai.OpenAI] = field(default_factory=dict)  # closed by the fixture

    def client(self, replica: int) -> openai.OpenAI:
        if replica not in self.clients:
            self.clients[replica] = openai.OpenAI(base_url=self.replicas[replica].url + "/v1",
                                                  api_key=KEY, max_retries=0)
        return self.clients[replica]

    def self_model(self, replica: int, user: str) -> dict[str, Any]:
        response = httpx.get(f"{self.replicas[replica].url}/v1/self-models/{user}",
                             headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
        return response.json() if response.status_code == 200 else {}

    def metric(self, replica: int, name: str) -> float:
        return scrape(self.replicas[replica].url).get(name, 0.0)


def scaleout_config(redis_url: str, upstream: ServedApp) -> dict[str, Any]:
    """DESIGN.md section 3's shape, as the README shows it."""
    return {
        "model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": upstream.url + "/v1",
            "api_key": "sk-upstream"}}],
        "store": {"url": redis_url},
        "observer": {"workers": 0, "extractor": "rules"},
        "tenants": [{"name": "acme",
                     "api_keys": ["sha256:" + hashlib.sha256(KEY.encode()).hexdigest()]}],
        "server": {"graceful_timeout": 10},
    }


@pytest.fixture
def deployment(redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    upstream = FakeUpstream()
    with serve(upstream) as served:
        config = write_config(tmp_path, scaleout_config(redis_url, served))
        replicas: list[Process] = []
        deployment = Deployment(tmp_path, config, upstream, replicas)
        doctor = start("doctor", ["doctor", "--config", str(config)], tmp_path)
        assert doctor.popen.wait(60) == 0, doctor.stderr()
        assert "Everything checked is fine." in doctor.stderr()
        try:
            replicas.append(start_serve("replica1", config, tmp_path))
            replicas.append(start_serve("replica2", config, tmp_path))
            yield deployment
        finally:
            for client in deployment.clients.values():
                client.close()
            for process in [*replicas, *([deployment.worker] if deployment.worker else [])]:
                process.kill()


def chat(deployment: Deployment, replica: int, user: str, text: str) -> str:
    answer = deployment.client(replica).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], user=user)
    return answer.choices[0].message.content or ""


def beliefs(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{b['domain']}/{b['key']}": b for b in model.get("beliefs", [])}


def test_an_observation_through_replica_1_is_applied_and_seen_through_replica_2(
        deployment: Deployment) -> None:
    # Before any worker exists, an exchange through replica 1 waits in the shared stream:
    # both replicas see it in the queue gauges (read from Redis at scrape time).
    early = f"early-{uuid.uuid4().hex[:8]}"
    chat(deployment, 0, early, PREFERENCE)
    poll(lambda: deployment.metric(1, "selfmodel_observation_queue_depth") >= 1)
    assert deployment.self_model(1, early) == {}

    # `selfmodel worker` delivers it (the consumer group reads from the stream's start).
    metrics_port = free_port()
    deployment.worker = start_worker("worker1", deployment.config, deployment.folder,
                                     "--metrics-port", str(metrics_port))
    first = poll(lambda: beliefs(deployment.self_model(1, early)).get(
        "communication/response_length"))
    assert first["value"] == "detailed" and first["evidence"]
    poll(lambda: deployment.metric(1, "selfmodel_observation_queue_depth") == 0)

    # Freshness with the worker running: from the answer through replica 1 to the belief
    # being visible through replica 2.
    user = f"user-{uuid.uuid4().hex[:8]}"
    said = time.monotonic()
    chat(deployment, 0, user, PREFERENCE)
    belief = poll(lambda: beliefs(deployment.self_model(1, user)).get(
        "communication/response_length"), timeout=10, every=0.01)
    freshness = time.monotonic() - said
    print(f"\nfreshness across replicas (answer via replica 1 -> belief via replica 2): "
          f"{freshness * 1000:.0f} ms")
    assert freshness < 5.0  # the design's target is about a second; CI machines are slow

    # Replica 2 personalizes the next request with it: the provider sees the statement.
    chat(deployment, 1, user, "How do I read a CSV file in Python?")
    system = deployment.upstream.last.body["messages"][0]
    assert system["role"] == "system" and belief["statement"] in system["content"]
    assert "<user_profile>" in system["content"]

    # The worker's own metrics: what it extracted and applied, and how fresh.
    worker = scrape(f"http://127.0.0.1:{metrics_port}")
    assert worker[series("selfmodel_extractor_calls_total", extractor="grammar", result="ok")] >= 2
    assert worker["selfmodel_observation_freshness_seconds_count"] >= 2


def test_each_replica_counts_what_it_served(deployment: Deployment) -> None:
    key = series("selfmodel_requests_total", route="chat", model="gpt-4o-mini", tenant="acme",
                 status="2xx")
    before = [scrape(r.url).get(key, 0.0) for r in deployment.replicas]
    chat(deployment, 0, "counter", "Hello")
    chat(deployment, 0, "counter", "Hello again")
    chat(deployment, 1, "counter", "Hello from the other side")
    after = [scrape(r.url).get(key, 0.0) for r in deployment.replicas]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2.0, 1.0]
