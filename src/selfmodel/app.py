"""``create_app``: wiring only. Nothing is read at import time; the config is passed in."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from selfmodel.api import (
    anthropic_routes,
    insights_routes,
    openai_routes,
    ops_routes,
    responses_routes,
    selfmodel_routes,
)
from selfmodel.api.errors import install_error_handlers
from selfmodel.api.middleware import InFlight, RequestObserver, route_table
from selfmodel.api.user_ids import UserPathRouting
from selfmodel.config import Config
from selfmodel.console import install as install_console
from selfmodel.metrics import Metrics
from selfmodel.observer.extractors import build_extractor
from selfmodel.observer.worker import run_workers as run_observers
from selfmodel.personalize.engine import Personalizer
from selfmodel.personalize.provider_embedding import ProviderEmbedders
from selfmodel.pipeline import Pipeline
from selfmodel.providers.router import Router
from selfmodel.services import Services
from selfmodel.store import open_store
from selfmodel.store.base import Store
from selfmodel.store.guard import guarded
from selfmodel.tenants import OPEN_WARNING, TenantDirectory

log = logging.getLogger("selfmodel")


async def _drain(task: asyncio.Task[None], timeout: float) -> None:
    """Let in-process workers finish and ack what they hold; queued work stays queued."""
    try:
        await asyncio.wait_for(task, timeout=max(timeout, 1.0))
    except TimeoutError:
        log.warning("observation workers did not stop within %.0f s", timeout)
    except Exception:
        log.exception("observation workers failed")
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def build_services(config: Config, store: Store | None = None) -> Services:
    """Every part from the ones it needs, then the set: nothing is filled in later."""
    metrics = Metrics()
    # Budgets, breaker and spool around whichever backend (store/guard.py).
    guarded_store = guarded(config, store or open_store(config.store_url()), metrics)
    router = Router(config, metrics)
    embedders = ProviderEmbedders(config, router, metrics)
    personalizer = Personalizer(config, embedders=embedders)
    return Services(
        config=config, store=guarded_store, metrics=metrics, directory=TenantDirectory(config),
        router=router, personalizer=personalizer, embedders=embedders,
        pipeline=Pipeline(config, guarded_store, metrics, personalizer),
        extractor=build_extractor(config, router, metrics=metrics), started=int(time.time()))


def create_app(config: Config, *, store: Store | None = None,
               run_workers: bool = True) -> FastAPI:
    """The gateway as an ASGI app. ``run_workers``: start in-process observation workers."""
    services = build_services(config, store)
    inflight = InFlight()
    if config.open_mode:
        log.warning(OPEN_WARNING)
    for problem in services.personalizer.problems():
        log.error("template problem (requests of that tenant go out unpersonalized): %s",
                  problem)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.store.start()
        await services.router.start()
        stop = asyncio.Event()
        count = config.observer.workers if run_workers else 0
        workers = (asyncio.create_task(run_observers(services.observing(), stop, count))
                   if count else None)
        try:
            yield
        finally:
            # Streams cut at the end of the grace period are still recording their exchange.
            await inflight.wait(max(config.server.graceful_timeout, 1.0))
            await services.pipeline.drain(config.server.graceful_timeout)
            # Then the workers: what they hold is finished and acked, the rest stays queued.
            stop.set()
            if workers is not None:
                await _drain(workers, config.server.graceful_timeout)
            await services.router.close()
            await services.store.close()

    app = FastAPI(title="selfmodel", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,  # every route but /healthz, /readyz, /metrics needs a key
                  # selfmodel exports Prometheus metrics; FastAPI's own OpenTelemetry probe
                  # costs a few percent of the chat path's CPU on every request.
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.services = services
    install_error_handlers(app)
    routers = [ops_routes.router, openai_routes.router, responses_routes.router,
               anthropic_routes.router, selfmodel_routes.router, insights_routes.router]
    for router in routers:
        app.include_router(router)
    app.add_middleware(UserPathRouting)  # ids with '/' in API paths (api/user_ids.py)
    routers += install_console(app, services)  # /console; nothing when console.enabled is off
    app.add_middleware(RequestObserver, metrics=services.metrics, routes=route_table(routers),
                       inflight=inflight, debug_content=config.server.debug_log_content)
    return app
