"""Operations endpoints: liveness, readiness, Prometheus metrics. No tenant key, no provider.

``/metrics`` may be given its own bearer token (``server.metrics_token``): its labels name
tenants and models, which a deployment may not want to show to anyone who can reach it.

``/readyz`` answers fast (each check bounded by a short timeout) and never calls a provider:
a gateway whose provider is down is still ready to answer with a clear 502.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from selfmodel.errors import AuthenticationFailed
from selfmodel.services import Services

router = APIRouter()

CHECK_TIMEOUT = 1.0


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Store reachable, templates loaded, models configured."""
    services = _services(request)
    checks: dict[str, Any] = {}
    try:
        checks["store"] = await asyncio.wait_for(services.store.ping(), CHECK_TIMEOUT)
    except Exception:  # a timeout or a store error: not ready
        checks["store"] = False
    problems = services.personalizer.problems() if services.personalizer is not None else []
    checks["templates"] = not problems
    checks["models"] = bool(services.config.model_list)
    ready = all(bool(v) for v in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format; queue gauges are read from the store at scrape time."""
    services = _services(request)
    _check_metrics_token(services, request)
    try:
        stats = await asyncio.wait_for(services.store.queue_stats(), CHECK_TIMEOUT)
    except Exception:  # a timeout or a store error: not ready
        services.metrics.store_errors.labels("queue_stats").inc()
    else:
        services.metrics.queue_depth.set(stats.depth)
        services.metrics.queue_lag.set(stats.oldest_age)
        services.metrics.dead_letters.set(stats.dead)
    return Response(services.metrics.render(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")


def _check_metrics_token(services: Services, request: Request) -> None:
    """401 unless the scrape carries ``server.metrics_token`` (when one is configured)."""
    token = services.config.server.metrics_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise AuthenticationFailed("GET /metrics needs the metrics token: "
                                   "Authorization: Bearer <server.metrics_token>.",
                                   headers={"www-authenticate": "Bearer"})
