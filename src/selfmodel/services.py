"""The parts one running gateway is made of, built once, bottom-up, and never changed.

``Services`` is handed to routes as ``request.app.state.services``. It is frozen: every part
is built before the set is (app.py ``build_services``), so no route ever meets a half-built
one; its workers get the part of it they need (``observing``, observer/worker.py). Nothing
here is a module global, so two apps (two tenants' tests, two replicas in one test) never
share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from selfmodel.config import Config
from selfmodel.metrics import Metrics
from selfmodel.observer.worker import Observing
from selfmodel.store.base import Store
from selfmodel.tenants import TenantDirectory

if TYPE_CHECKING:
    from selfmodel.observer.extractors import Extractor
    from selfmodel.personalize.engine import Personalizer
    from selfmodel.personalize.provider_embedding import ProviderEmbedders
    from selfmodel.pipeline import Pipeline
    from selfmodel.providers.router import Router


@dataclass(frozen=True, slots=True)
class Services:
    """The gateway's parts. ``extractor``: the one the in-process workers and
    ``POST /v1/self-models/{id}/observations?wait=true`` share (None: free text waits for a
    worker); ``embedders``: the provider embedding models tenants name
    (personalize/provider_embedding.py); ``started``: the process's start (Unix seconds),
    the models' ``created``."""

    config: Config
    store: Store
    metrics: Metrics
    directory: TenantDirectory
    router: Router
    personalizer: Personalizer
    embedders: ProviderEmbedders
    pipeline: Pipeline
    extractor: Extractor | None
    started: int

    def observing(self) -> Observing:
        return Observing(self.config, self.store, self.metrics, self.router, self.extractor,
                         self.embedders)
