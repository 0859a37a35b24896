"""The parts one running process is made of, built once, bottom-up, and never changed.

``Observing`` is what observation workers need (the gateway's in-process workers and
``selfmodel worker`` alike); ``Services`` is the gateway's whole set, handed to routes as
``request.app.state.services``. Both are frozen: every part is built before the set is, so
no route ever meets a half-built one. Nothing here is a module global, so two apps (two
tenants' tests, two replicas in one test) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from selfmodel.config import Config
from selfmodel.metrics import Metrics
from selfmodel.store.base import Store
from selfmodel.tenants import TenantDirectory

if TYPE_CHECKING:
    from selfmodel.observer.extractors import Extractor
    from selfmodel.personalize.engine import Personalizer
    from selfmodel.pipeline import Pipeline
    from selfmodel.providers.router import Router


@dataclass(frozen=True, slots=True)
class Observing:
    """What observation workers run on. ``router``: only when the llm extractor calls a
    model; ``extractor``: one shared by the workers (None: they build the configured one)."""

    config: Config
    store: Store
    metrics: Metrics
    router: Router | None = None
    extractor: Extractor | None = None


@dataclass(frozen=True, slots=True)
class Services:
    """The gateway's parts. ``extractor``: the one the in-process workers and
    ``POST /v1/self-models/{id}/observations?wait=true`` share (None: free text waits for a
    worker); ``started``: the process's start (Unix seconds), the models' ``created``."""

    config: Config
    store: Store
    metrics: Metrics
    directory: TenantDirectory
    router: Router
    personalizer: Personalizer
    pipeline: Pipeline
    extractor: Extractor | None
    started: int

    def observing(self) -> Observing:
        return Observing(self.config, self.store, self.metrics, self.router, self.extractor)
