"""The parts one running gateway is made of, built once by ``create_app`` and shared by routes.

Routes reach them through ``request.app.state.services``; nothing here is a module global, so
two apps (two tenants' tests, two replicas in one test) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from selfmodel.api.auth import TenantDirectory
from selfmodel.config import Config
from selfmodel.metrics import Metrics
from selfmodel.store.base import Store

if TYPE_CHECKING:
    from selfmodel.pipeline import Pipeline


@dataclass
class Services:
    config: Config
    store: Store
    directory: TenantDirectory
    metrics: Metrics
    router: Any = None  # selfmodel.providers.router.Router
    personalizer: Any = None  # selfmodel.personalize.engine.Personalizer
    pipeline: Pipeline | None = None
    extras: dict[str, Any] = field(default_factory=dict)
