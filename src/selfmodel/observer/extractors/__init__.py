"""Extractors: turn one observation into claims about the user (plus correction and feedback).

Two implementations behind one interface, chosen by ``observer.extractor`` in config.yaml:
``grammar`` (offline, the default: the user's words read by their dependency parse; ``rules``
is accepted as its old name) and ``llm`` (a configured model through the gateway's own provider
router, falling back to the grammar extractor on any failure). Both read only the user's own
words; the assistant's text is context, never a source of beliefs.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from selfmodel.config import Config
from selfmodel.domain.models import Extraction, Observation, SelfModel
from selfmodel.metrics import Metrics
from selfmodel.observer.extractors.grammar import GrammarExtractor
from selfmodel.observer.extractors.llm import Completer, LLMExtractor, RouterCompleter


@runtime_checkable
class Extractor(Protocol):
    """Reads an observation; ``model`` is the user's current self-model (None if new)."""

    name: str

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction: ...


def build_extractor(config: Config, router: Any = None, *,
                    metrics: Metrics | None = None) -> Extractor:
    """The extractor ``config.observer`` asks for.

    ``router`` is the provider router (``selfmodel.providers.router.Router``) or anything with
    ``complete(alias, messages, timeout) -> str`` (tests pass a scripted fake model). The llm
    extractor without a router or model cannot work, so that is a configuration error.
    """
    grammar = GrammarExtractor(metrics=metrics)
    settings = config.observer
    if settings.extractor in ("grammar", "rules"):
        return grammar
    if router is None or not settings.model:
        raise ValueError("the llm extractor needs observer.model and a provider router")
    completer = RouterCompleter(router) if _is_router(router) else router
    return LLMExtractor(completer, settings.model, timeout=settings.llm_timeout,
                        fallback=grammar, metrics=metrics)


def _is_router(router: Any) -> bool:
    """The provider router (wrapped) or already a ``Completer`` (a test's scripted model)."""
    from selfmodel.providers.router import Router

    return isinstance(router, Router)


__all__ = [
    "Completer",
    "Extractor",
    "GrammarExtractor",
    "LLMExtractor",
    "RouterCompleter",
    "build_extractor",
]
