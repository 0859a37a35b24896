"""``/metrics``: the series an operator watches move as requests go through.

The gateway is served on loopback with its in-process observation worker, in front of the
fake provider; the test scrapes the exposition text before and after a handful of requests
and compares: requests by route, model, tenant and status; whole and own latency; time to
first token; provider errors by type; beliefs applied; extractor calls; the queue gauges.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import openai
import pytest

from selfmodel.app import create_app
from tests.support.gateway import gateway_config
from tests.support.processes import poll
from tests.support.prometheus import moved, scrape, series
from tests.support.servers import ServedApp, serve
from tests.support.upstream import FakeUpstream, die, error, ok

KEY = "sk-acme-metrics"
MODEL = "gpt-4o-mini"
PREFERENCE = "I prefer detailed explanations, with examples."


@dataclass
class Gateway:
    served: ServedApp
    upstream: FakeUpstream
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)  # closed by the fixture

    @property
    def url(self) -> str:
        return self.served.url

    def client(self, key: str = KEY) -> openai.OpenAI:
        if key not in self.clients:
            self.clients[key] = openai.OpenAI(base_url=self.url + "/v1", api_key=key,
                                              max_retries=0)
        return self.clients[key]

    def chat(self, user: str | None, text: str, model: str = MODEL, **extra: object) -> None:
        kwargs = {"user": user} if user else {}
        answer = self.client().chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}], **kwargs, **extra)
        if extra.get("stream"):
            assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices)

    def beliefs(self, user: str) -> list[dict[str, object]]:
        response = httpx.get(f"{self.url}/v1/self-models/{user}",
                             headers={"Authorization": f"Bearer {KEY}"})
        return response.json()["beliefs"] if response.status_code == 200 else []


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Gateway]:
    upstream = FakeUpstream()
    with serve(upstream) as provider:
        tenants = [{"name": "acme",
                    "api_keys": ["sha256:" + hashlib.sha256(KEY.encode()).hexdigest()]}]
        config = gateway_config(sqlite_url, [(MODEL, f"openai/{MODEL}", provider.url + "/v1")],
                                tenants=tenants)
        config.observer.workers = 1
        with serve(create_app(config)) as served:
            gateway = Gateway(served, upstream)
            try:
                yield gateway
            finally:
                for client in gateway.clients.values():
                    client.close()


def test_series_move_as_requests_go_through(gw: Gateway) -> None:
    before = scrape(gw.url)
    gw.chat("u1", PREFERENCE)
    poll(lambda: gw.beliefs("u1"))  # applied by the in-process worker
    gw.upstream.then(ok(chunks=3))
    gw.chat("u1", "How do I read a CSV file?", stream=True)  # personalized, streamed
    gw.upstream.then(error(503), ok())
    gw.chat(None, "Hello")  # one provider failure, then an answer
    with pytest.raises(openai.NotFoundError):
        gw.chat(None, "Hello", model="made-up-model")
    with pytest.raises(openai.AuthenticationError):
        gw.client("sk-wrong").models.list()
    after = scrape(gw.url)

    def grew(name: str, **labels: str) -> float:
        return moved(before, after, series(name, **labels))

    assert grew("selfmodel_requests_total", route="chat", model=MODEL, tenant="acme",
                status="2xx") == 3
    assert grew("selfmodel_requests_total", route="chat", model="-", tenant="acme",
                status="4xx") == 1
    assert grew("selfmodel_requests_total", route="models", model="-", tenant="-",
                status="4xx") == 1
    assert grew("selfmodel_requests_total", route="/v1/self-models/{user_id}", model="-",
                tenant="acme", status="2xx") >= 1
    assert grew("selfmodel_request_seconds_count", route="chat") == 4
    assert grew("selfmodel_gateway_seconds_count", route="chat") == 4
    assert grew("selfmodel_time_to_first_token_seconds_count", model=MODEL) == 1
    assert grew("selfmodel_provider_errors_total", model=MODEL, type="api_error") == 1
    assert grew("selfmodel_beliefs_applied_count") == 1
    assert grew("selfmodel_beliefs_applied_sum") >= 1
    assert grew("selfmodel_extractor_calls_total", extractor="grammar", result="ok") >= 1
    assert sum(v for k, v in after.items()
               if k.startswith("selfmodel_observations_applied_total")) >= 1
    for gauge in ("selfmodel_observation_queue_depth", "selfmodel_observation_queue_lag_seconds",
                  "selfmodel_observation_dead_letters"):
        assert gauge in after
    text = httpx.get(gw.url + "/metrics").text
    assert "u1" not in text and "made-up-model" not in text  # never a label


def test_the_gateways_own_share_excludes_the_provider(gw: Gateway) -> None:
    before = scrape(gw.url)
    gw.upstream.then(ok(chunks=5, delay=0.1))  # the provider takes half a second
    gw.chat("u2", "Tell me a story", stream=True)
    after = scrape(gw.url)
    whole = moved(before, after, series("selfmodel_request_seconds_sum", route="chat"))
    own = moved(before, after, series("selfmodel_gateway_seconds_sum", route="chat"))
    ttft = moved(before, after, series("selfmodel_time_to_first_token_seconds_sum", model=MODEL))
    assert whole >= 0.5
    assert own < 0.25 and own < whole / 2
    assert 0 < ttft < whole - 0.3


def test_probes_answer_without_a_key_and_are_counted(gw: Gateway) -> None:
    before = scrape(gw.url)
    assert httpx.get(gw.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gw.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "store": True, "templates": True, "models": True}
    after = scrape(gw.url)
    for route in ("/healthz", "/readyz"):
        assert moved(before, after, series("selfmodel_requests_total", route=route, model="-",
                                           tenant="-", status="2xx")) == 1


def test_a_provider_failing_mid_stream_is_counted(gw: Gateway) -> None:
    before = scrape(gw.url)
    gw.upstream.then(die(after=2))
    with pytest.raises(openai.APIError):
        gw.chat("u3", "Tell me a story", stream=True)
    after = scrape(gw.url)
    assert moved(before, after, series("selfmodel_provider_errors_total", model=MODEL,
                                       type="api_error")) == 1
    assert moved(before, after, series("selfmodel_requests_total", route="chat", model=MODEL,
                                       tenant="acme", status="2xx")) == 1  # headers were 200
