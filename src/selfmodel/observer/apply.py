"""Apply one observation to a user's self-model: extract, then mutate under the store's lock.

The one path every observation takes, whether a worker claimed it from the queue or the API
applies it inline (``?wait=true``). The extractor runs *before* the store transaction (it may
call an LLM; no transaction is ever held across it); the mutation itself is the pure
``domain.update.apply_extraction``, so the store may run it again after a write conflict, and
the observation id makes the whole step idempotent: a redelivered observation is skipped.

Vectors are computed here, outside the pure update: each claim's statement vector before
the mutation (so the update can merge a claim into the belief that means the same), and,
inside the mutation, a vector for each belief that still lacks one (old data, an edited
statement): CPU only, deterministic, so the store may run it again after a conflict. A
tenant whose vectors come from a provider (personalize/provider_embedding.py) has them
fetched before the mutation (``write_embedder``), which then only looks them up: a text the
provider did not answer for in time gets no vector, and ranks by words until its next write.

Structured observations from the API (``key`` and ``value`` set) need no extractor: they are
turned into a claim directly. So is a bare thumbs up / down sent as a feedback observation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

from selfmodel.config import Policy
from selfmodel.domain.evidence import default_statement
from selfmodel.domain.models import (
    Claim,
    Extraction,
    Kind,
    Observation,
    ObservationType,
    SelfModel,
    Source,
)
from selfmodel.domain.update import apply_extraction
from selfmodel.metrics import Metrics
from selfmodel.personalize.provider_embedding import ProviderEmbedder, ProviderEmbedders
from selfmodel.personalize.semantic import (
    Embedder,
    needs_vector,
    with_claim_vectors,
    with_vectors,
)
from selfmodel.store.base import Mutation, Store

_SOURCES = {
    ObservationType.CORRECTION: Source.CORRECTION,
    ObservationType.FEEDBACK: Source.FEEDBACK,
}
Thumb = Literal[1, -1]
_THUMBS: dict[Thumb, frozenset[str]] = {
    1: frozenset({"+1", "1", "up", "thumbs up", "thumbs_up", "good", "positive", "like", "yes",
                  "\N{THUMBS UP SIGN}"}),
    -1: frozenset({"-1", "down", "thumbs down", "thumbs_down", "bad", "negative", "dislike", "no",
                   "\N{THUMBS DOWN SIGN}"}),
}


class Extractor(Protocol):
    """What apply needs of an extractor (observer/extractors implement it)."""

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction: ...


@dataclass
class Applied:
    """The outcome of applying one observation."""

    model: SelfModel | None  # None: the user was erased after the observation was made
    applied: bool  # False: already applied before (a redelivery), or erased
    refused: list[str] = field(default_factory=list)


def is_structured(observation: Observation) -> bool:
    """The app said exactly what it observed (key and value): no extractor is needed."""
    return bool(observation.key and observation.value)


def thumb(observation: Observation) -> Thumb | None:
    """+1 / -1 for a feedback observation whose content is just a thumbs up or down."""
    if observation.type != ObservationType.FEEDBACK:
        return None
    text = " ".join(observation.content.split()).casefold()
    return next((sign for sign, words in _THUMBS.items() if text in words), None)


def needs_extractor(observation: Observation) -> bool:
    return not is_structured(observation) and thumb(observation) is None


def structured_extraction(observation: Observation) -> Extraction:
    """The extraction an observation implies without reading its text."""
    sign = thumb(observation)
    if not is_structured(observation):
        return Extraction(feedback=sign)
    key, value = (observation.key or "").strip(), (observation.value or "").strip()
    domain = (observation.domain or "general").strip()
    claim = Claim(kind=observation.kind or Kind.PREFERENCE, domain=domain, key=key, value=value,
                  statement=default_statement(key, value),
                  source=_SOURCES.get(observation.type, Source.API),
                  quote=observation.evidence or observation.content, context=observation.context)
    correction = observation.type == ObservationType.CORRECTION
    return Extraction(claims=[claim], correction=correction,
                      corrected_slots=[f"{domain}/{key}"] if correction else [])


async def extract(store: Store, extractor: Extractor | None,
                  observation: Observation) -> Extraction:
    """Read the observation, giving the extractor the user's current beliefs as context."""
    model = (await store.get_model(observation.tenant, observation.user_id)
             if needs_extractor(observation) else None)
    return await extract_with(extractor, observation, model)


async def extract_with(extractor: Extractor | None, observation: Observation,
                       model: SelfModel | None) -> Extraction:
    """``extract`` with the model already read (a worker reads it once per user's batch)."""
    if not needs_extractor(observation):
        return structured_extraction(observation)
    if extractor is None:
        raise ValueError("an unstructured observation needs an extractor")
    return await extractor.extract(observation, model)


def mutation(observation: Observation, extraction: Extraction, policy: Policy,
             refused: list[str] | None = None, embedder: Embedder | None = None) -> Mutation:
    """The change one observation makes (the pure update, then vectors for the beliefs that
    lack one); the reasons for refused claims land in ``refused`` (replaced, not appended,
    since the store may run the function again)."""
    extraction = with_claim_vectors(extraction, embedder)

    def mutate(model: SelfModel) -> SelfModel:
        new, why = apply_extraction(model, observation, extraction, at=observation.at,
                                    never_store=policy.never_store)
        if refused is not None:
            refused[:] = why
        return with_vectors(new, embedder) if extraction.claims else new

    return mutate


async def write_embedder(embedders: ProviderEmbedders | None, tenant: str,
                         extraction: Extraction, model: SelfModel | None
                         ) -> ProviderEmbedder | None:
    """The tenant's provider embedder with the vectors this write needs already fetched (the
    claims' statements, and the statements of ``model``'s beliefs that lack a vector of its
    model), or None for a tenant on the built-in model. Waits at most the write timeout."""
    embedder = embedders.for_tenant(tenant) if embedders else None
    if embedder is None or embedders is None:
        return None
    texts = [c.statement for c in extraction.claims if c.statement.strip()]
    if model is not None and extraction.claims:
        texts += [b.statement for b in model.beliefs if needs_vector(b, embedder.name)]
    if texts:
        await embedder.fetch(texts, embedders.write_timeout, backlog=True)
    return embedder


async def apply_observation_detailed(
    store: Store,
    extractor: Extractor | None,
    observation: Observation,
    *,
    policy: Policy,
    metrics: Metrics | None = None,
    embedders: ProviderEmbedders | None = None,
) -> Applied:
    """Extract, mutate the model idempotently, log the observation; say what happened.
    ``embedders``: the tenants' provider embedding models, when some tenant names one."""
    extraction = await extract(store, extractor, observation)
    refused: list[str] = []
    calls: list[int] = []
    embedder = await write_embedder(embedders, observation.tenant, extraction, None)
    change = mutation(observation, extraction, policy, refused, embedder)

    def mutate(model: SelfModel) -> SelfModel:
        calls.append(1)
        return change(model)

    model = await store.mutate_model(observation.tenant, observation.user_id, mutate,
                                     observation_id=observation.id,
                                     observed_at=observation.began())
    if model is not None:
        await store.log_observation(observation)
    result = Applied(model=model, applied=model is not None and bool(calls), refused=refused)
    outcome = "erased" if result.model is None else "applied" if result.applied else "duplicate"
    count_outcome(metrics, observation, outcome)
    return result


async def apply_observation(
    store: Store,
    extractor: Extractor | None,
    observation: Observation,
    *,
    policy: Policy,
    metrics: Metrics | None = None,
    embedders: ProviderEmbedders | None = None,
) -> SelfModel | None:
    """Apply one observation; the new model, or None when the user was erased since."""
    result = await apply_observation_detailed(store, extractor, observation, policy=policy,
                                              metrics=metrics, embedders=embedders)
    return result.model


def count_outcome(metrics: Metrics | None, observation: Observation, outcome: str) -> None:
    """Count one observation's outcome (applied, duplicate, erased) and, when applied, how
    long after the exchange its effect became visible."""
    if metrics is None:
        return
    metrics.observations.labels(outcome=outcome).inc()
    if outcome == "applied":
        metrics.freshness.observe(max(0.0, time.time() - observation.at))
