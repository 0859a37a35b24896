"""Request counts and latencies of the OpenAI routes, recorded cheaply on the hot path.

prometheus_client's ``labels(...)`` lookup costs more than the increment itself, so the
labelled children are cached per label set (bounded: routes, configured aliases, configured
tenants, status classes). A failed request is counted with the model and tenant it named only
once they were known to be configured, so a caller cannot grow the label set.
"""

from __future__ import annotations

import time
from typing import Any

from selfmodel.metrics import Metrics
from selfmodel.services import Services

UNKNOWN = "-"


class RequestMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._counts: dict[tuple[str, str, str, str], Any] = {}
        self._latency: dict[str, Any] = {}
        self._ttft: dict[str, Any] = {}

    def done(self, route: str, model: str, tenant: str, status: int, started: float) -> None:
        key = (route, model, tenant, f"{status // 100}xx")
        counter = self._counts.get(key)
        if counter is None:
            counter = self._counts[key] = self._metrics.requests.labels(*key)
        counter.inc()
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = self._metrics.latency.labels(route)
        latency.observe(time.perf_counter() - started)

    def first_chunk(self, model: str, started: float) -> None:
        child = self._ttft.get(model)
        if child is None:
            child = self._ttft[model] = self._metrics.ttft.labels(model)
        child.observe(time.perf_counter() - started)


def request_metrics(services: Services) -> RequestMetrics:
    """The app's RequestMetrics, made on first use."""
    found = services.extras.get("request_metrics")
    if found is None:
        found = services.extras["request_metrics"] = RequestMetrics(services.metrics)
    assert isinstance(found, RequestMetrics)
    return found
