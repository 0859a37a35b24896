"""Per-request metrics and the one JSON log line per request, as a pure ASGI middleware.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs the endpoint in a
task group and copies every streamed chunk through a memory stream, which costs CPU on each
request and changes how a stream's cancellation reaches the relay. Here the only per-request
work is one ``Trace``, a wrapped ``send`` that notes the status and the chunk times, one
``perf_counter`` pair, cached label children, and (when INFO is on) one ``json.dumps``.

Series (``selfmodel.metrics``): requests by route, model, tenant and status class; the whole
request's latency and the gateway's own share (whole minus the provider's span, see
``Trace.provider_span``) by route; time to the first streamed chunk by model. The log line
carries the request id, route (the template, never the raw path: paths hold user ids),
tenant, model, status and timings; the user only as a short hash. Message contents and keys
are never read here; ``server.debug_log_content`` adds the raw user id and the
personalization block that was injected.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfmodel import observability
from selfmodel.metrics import Metrics
from selfmodel.observability import Trace
from selfmodel.pipeline import Prepared

access_log = logging.getLogger("selfmodel.access")
log = logging.getLogger("selfmodel.api")

UNKNOWN = "-"
CLIENT_CLOSED = 499  # nginx's convention: the client went away before an answer started
_ROUTE_NAMES = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
    "/v1/embeddings": "embeddings",
    "/v1/models": "models",
}
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: counted, not logged
_MAX_SERIES = 20_000  # a bound on cached children, in case configs name very many tenants


class InFlight:
    """The request tasks still running, so shutdown can wait for them.

    Past the grace period uvicorn cancels the requests still in flight and at once moves on
    to the app's shutdown; a cancelled stream is then still in its ``finally`` (closing the
    provider stream, recording the exchange as truncated). The lifespan waits for these
    tasks before it closes the store, or that last write would fail.
    """

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def wait(self, timeout: float) -> None:
        pending = {t for t in self.tasks if t is not asyncio.current_task()}
        if pending:
            log.info("waiting for %d request(s) to wind up", len(pending))
            await asyncio.wait(pending, timeout=timeout)


@dataclass(slots=True)
class _Series:
    """The label children of one (route, model, tenant, status class)."""

    requests: Any
    latency: Any
    own: Any
    ttft: Any | None


class RequestObserver:
    """Wraps the app; ``debug_content`` is ``server.debug_log_content``."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: dict[object, str],
                 inflight: InFlight | None = None, debug_content: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.inflight = inflight or InFlight()
        self.debug_content = debug_content
        self._series: dict[tuple[str, str, str, str], _Series] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trace, token = observability.begin()
        task = asyncio.current_task()
        if task is not None:
            self.inflight.tasks.add(task)

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace.status = message["status"]
            elif message.get("more_body"):
                trace.last_chunk = time.perf_counter()
                if not trace.first_chunk:
                    trace.first_chunk = trace.last_chunk
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except asyncio.CancelledError:
            trace.status = trace.status or CLIENT_CLOSED
            raise
        except BaseException:
            trace.status = trace.status or 500
            raise
        finally:
            observability.end(token)
            self.inflight.tasks.discard(task)
            self._record(scope, trace, started, time.perf_counter())

    def _record(self, scope: Scope, trace: Trace, started: float, ended: float) -> None:
        """Metrics and the log line; a fault here is logged, never the request's problem."""
        try:
            route = self.routes.get(scope.get("endpoint"), "unmatched")
            whole = ended - started
            own = max(0.0, whole - trace.provider_span())
            prepared = prepared_of(scope)
            model, tenant = labels_of(trace, prepared)
            series = self._children(route, model, tenant, trace.status)
            series.requests.inc()
            series.latency.observe(whole)
            series.own.observe(own)
            if trace.first_chunk and series.ttft is not None:
                series.ttft.observe(trace.first_chunk - started)
            if trace.stream_error is not None:
                self.metrics.provider_errors.labels(model, trace.stream_error).inc()
            if route not in _QUIET and access_log.isEnabledFor(logging.INFO):
                fields = request_fields(scope, trace, prepared, route, model, tenant, whole,
                                        own, started)
                if self.debug_content and prepared is not None:
                    add_debug_content(fields, prepared)
                access_log.info("request", extra={"fields": fields})
        except Exception:
            log.exception("recording request metrics failed")

    def _children(self, route: str, model: str, tenant: str, status: int) -> _Series:
        key = (route, model, tenant, f"{status // 100}xx")
        series = self._series.get(key)
        if series is None:
            m = self.metrics
            series = _Series(m.requests.labels(*key), m.latency.labels(route),
                             m.own_latency.labels(route),
                             m.ttft.labels(model) if model != UNKNOWN else None)
            if len(self._series) < _MAX_SERIES:
                self._series[key] = series
        return series


def route_table(routers: Iterable[APIRouter]) -> dict[object, str]:
    """Endpoint -> route label: the template (``/v1/self-models/{user_id}``), a short name for
    the proxied surfaces. The router sets ``scope["endpoint"]`` on a match; a request that
    matched nothing is ``unmatched`` (its raw path, which may hold a user id, is never a
    label)."""
    table: dict[object, str] = {}
    for router in routers:
        for route in router.routes:
            endpoint, path = getattr(route, "endpoint", None), getattr(route, "path", None)
            if endpoint is not None and isinstance(path, str):
                table[endpoint] = _ROUTE_NAMES.get(path, path)
    return table


def prepared_of(scope: Scope) -> Prepared | None:
    """The pipeline's decision for the request, as ``api.surfaces.begin`` left it in the
    request's state; read when the request ends, so later changes are seen."""
    state = scope.get("state")
    prepared = state.get("prepared") if isinstance(state, dict) else None
    return prepared if isinstance(prepared, Prepared) else None


def labels_of(trace: Trace, prepared: Prepared | None) -> tuple[str, str]:
    """(model, tenant) as noted, or from the pipeline's decision; ``-`` when unknown."""
    model = trace.model or (prepared.model if prepared is not None else None)
    tenant = trace.tenant or (prepared.tenant.name if prepared is not None else None)
    return model or UNKNOWN, tenant or UNKNOWN


def user_hash(tenant: str, user_id: str) -> str:
    """A short stable hash to follow one user's requests in logs without their id."""
    return hashlib.sha256(f"{tenant}\x00{user_id}".encode()).hexdigest()[:12]


def request_fields(scope: Scope, trace: Trace, prepared: Prepared | None, route: str,
                   model: str, tenant: str, whole: float, own: float,
                   started: float) -> dict[str, Any]:
    """The log line's fields: identifiers, outcome, timings; no content, no keys."""
    state = scope.get("state")
    fields: dict[str, Any] = {
        "request_id": state.get("request_id") if isinstance(state, dict) else None,
        "method": scope.get("method"), "route": route, "status": trace.status,
        "tenant": tenant, "model": model,
        "duration_ms": round(whole * 1000, 2), "gateway_ms": round(own * 1000, 2),
    }
    if trace.provider_started:
        fields["provider_ms"] = round(trace.provider_span() * 1000, 2)
    if trace.first_chunk:
        fields["ttft_ms"] = round((trace.first_chunk - started) * 1000, 2)
    if trace.stream_error is not None:
        fields["stream_error"] = trace.stream_error
    if prepared is not None:
        user = prepared.user_id
        fields["user"] = user_hash(prepared.tenant.name, user) if user else None
        decision = prepared.decision
        fields["personalized"] = bool(decision is not None and decision.personalized)
        fields["beliefs"] = len(decision.beliefs) if decision is not None else 0
    return fields


def add_debug_content(fields: dict[str, Any], prepared: Prepared) -> None:
    """``server.debug_log_content: true`` only: the raw user id and the injected block."""
    fields["user_id"] = prepared.user_id
    fields["system_text"] = prepared.system_text
