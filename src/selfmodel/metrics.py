"""Prometheus metrics, one registry per app (so tests and replicas never share globals).

Label sets are small and bounded: route, model alias (configured aliases only), tenant
(configured tenants only), status class. Never a user id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                    10, 30, 60, 120)


class Metrics:
    """Every series selfmodel exports. Methods are cheap: called on the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("selfmodel_requests", "Requests by route, model, tenant and status",
                                ["route", "model", "tenant", "status"], registry=r)
        self.latency = Histogram("selfmodel_request_seconds", "Whole request latency",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.own_latency = Histogram("selfmodel_gateway_seconds",
                                     "The gateway's own share of a request (provider excluded)",
                                     ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("selfmodel_time_to_first_token_seconds",
                              "Time to the first streamed chunk", ["model"],
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.provider_errors = Counter("selfmodel_provider_errors",
                                       "Provider errors by type", ["model", "type"], registry=r)
        self.beliefs_applied = Histogram("selfmodel_beliefs_applied",
                                         "Beliefs injected per personalized request",
                                         buckets=(0, 1, 2, 4, 8, 16, 32), registry=r)
        self.personalized = Counter("selfmodel_personalization", "Requests by personalization "
                                    "outcome", ["tenant", "outcome"], registry=r)
        self.queue_depth = Gauge("selfmodel_observation_queue_depth",
                                 "Observations not yet applied", registry=r)
        self.queue_lag = Gauge("selfmodel_observation_queue_lag_seconds",
                               "Age of the oldest unapplied observation", registry=r)
        self.dead_letters = Gauge("selfmodel_observation_dead_letters",
                                  "Observations that failed too often", registry=r)
        self.observations = Counter("selfmodel_observations_applied",
                                    "Observations applied by outcome", ["outcome"], registry=r)
        self.freshness = Histogram("selfmodel_observation_freshness_seconds",
                                   "Exchange end to belief applied",
                                   buckets=_LATENCY_BUCKETS, registry=r)
        self.extractor_calls = Counter("selfmodel_extractor_calls", "Extractor calls by result",
                                       ["extractor", "result"], registry=r)
        self.embedding_fetches = Counter(
            "selfmodel_embedding_fetches", "Calls for a provider's embeddings (a tenant's "
            "embedding_model) by alias, path (request, write) and result (ok, failed: slow "
            "or down, cooling: not asked after a failure); not ok means ranked by words",
            ["alias", "path", "result"], registry=r)
        self.store_errors = Counter("selfmodel_store_errors", "Store failures by operation",
                                    ["operation"], registry=r)
        self.store_timeouts = Counter("selfmodel_store_timeouts", "Store calls past their "
                                      "latency budget, by operation", ["operation"], registry=r)
        self.spooled = Counter("selfmodel_store_spooled", "Exchange records spooled while "
                               "the store was unavailable", registry=r)
        self.spool_replayed = Counter("selfmodel_store_spool_replayed", "Spooled exchange "
                                      "records written to the store", registry=r)
        self.spool_dropped = Counter("selfmodel_store_spool_dropped", "Exchange records lost: "
                                     "the spool was full, or the store refused one", registry=r)
        self.spool_depth = Gauge("selfmodel_store_spool_depth", "Exchange records waiting in "
                                 "the spool", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
