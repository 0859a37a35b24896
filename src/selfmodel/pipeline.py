"""The per-request personalization pipeline, shared by every surface (chat, responses, messages).

``prepare`` runs before the provider call: may we personalize this request (a user, no
opt-out, consent, experiment arm), which beliefs apply, and what text goes into the system
prompt. ``finish`` runs once the answer was delivered: it writes the decision record and
enqueues the observation in one durable step, shielded from cancellation, so nothing
accepted is lost (STYLE.md: never a bare background task as the only copy of work).

A store failure never fails the chat: ``prepare`` degrades to an unpersonalized request, and
``finish`` logs and counts a failed write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from selfmodel.config import Tenant
from selfmodel.domain.experiments import CONTROL, assign_arm
from selfmodel.domain.models import DecisionRecord, SelfModel
from selfmodel.observer.capture import build_observation

if TYPE_CHECKING:
    from selfmodel.config import Config
    from selfmodel.metrics import Metrics
    from selfmodel.personalize.engine import Personalization, Personalizer
    from selfmodel.store.base import Store

log = logging.getLogger("selfmodel.pipeline")


@dataclass
class Prepared:
    """What ``prepare`` decided for one request."""

    request_id: str
    tenant: Tenant
    user_id: str | None
    surface: str
    model: str
    system_text: str | None = None  # the personalization block to add; None: add nothing
    observe: bool = False  # whether ``finish`` enqueues an observation
    consent_unchecked: bool = False  # the store could not be read: the worker checks consent
    decision: DecisionRecord | None = None
    arm: str | None = None
    started: float = field(default_factory=time.perf_counter)
    at: float = field(default_factory=time.time)


class Pipeline:
    """Personalization before the call, durable capture after it."""

    def __init__(self, config: Config, store: Store, metrics: Metrics,
                 personalizer: Personalizer) -> None:
        self._retention = config.server.decision_retention_days * 86400
        self._store = store
        self._metrics = metrics
        self._personalizer = personalizer
        self._writes: set[asyncio.Future[None]] = set()  # record_exchange calls in flight

    async def prepare(
        self,
        *,
        tenant: Tenant,
        surface: str,
        model: str,
        user_id: str | None,
        opt_out: bool,
        conversation: str,
        request_id: str,
        thread: str | None = None,
    ) -> Prepared:
        """Decide personalization for one request. ``conversation`` is the request's recent
        user text, used to rank beliefs by relevance; ``thread`` the key of the conversation
        it belongs to (personalize/threads.py), which keeps its block the same across turns;
        ``request_id`` the API layer's (api/surfaces.py ``new_request_id``)."""
        prepared = Prepared(request_id=request_id, tenant=tenant,
                            user_id=user_id, surface=surface, model=model)
        if user_id is None or opt_out:
            self._count(tenant, "no_user" if user_id is None else "opt_out")
            return prepared
        try:
            self_model, consent = await self._store.get_profile(tenant.name, user_id)
        except Exception as exc:  # the store is down: unpersonalized, never fail the chat
            log.warning("store unavailable; forwarding unpersonalized: %s", exc)
            self._metrics.store_errors.labels("get_model").inc()
            # Still observed (the record is spooled if need be) where consent is implied;
            # a withdrawal we could not read is honoured by the worker before it applies.
            prepared.observe = prepared.consent_unchecked = tenant.policy.consent == "implied"
            return self._decided(prepared, "store_error", "store unavailable")
        if not tenant.policy.consent_allows(consent):
            return self._decided(prepared, "no_consent",
                                 "no consent: withdrawn, or required and not given")
        prepared.observe = True
        prepared.arm = self._arm(tenant, user_id, self_model)
        if prepared.arm == CONTROL:
            return self._decided(prepared, "control", "control arm of the holdout experiment")
        await self._personalizer.prepare(  # a provider's request vector, if the tenant names one
            tenant=tenant, user_id=user_id, model=self_model, conversation=conversation,
            now=prepared.at, thread=thread)
        result = self._personalizer.personalize(
            tenant=tenant, user_id=user_id, model=self_model, conversation=conversation,
            now=prepared.at, thread=thread)
        if result.error or not result.text:
            outcome = "template_error" if result.error else "empty"
            return self._decided(prepared, outcome, result.error or "nothing to apply", result)
        prepared.system_text = result.text
        self._metrics.beliefs_applied.observe(len(result.applied))
        return self._decided(prepared, "cold_start" if result.cold_start else "personalized",
                             "", result)

    def _arm(self, tenant: Tenant, user_id: str, model: SelfModel | None) -> str | None:
        if tenant.experiment is None:
            return None
        recorded = model.experiments if model is not None else {}
        return assign_arm(tenant.name, user_id, tenant.experiment, recorded)

    def _decided(self, prepared: Prepared, outcome: str, reason: str,
                 result: Personalization | None = None) -> Prepared:
        """``prepared`` with its decision record, built in one call from the personalizer's
        result (when it ran), and the outcome counted."""
        fields = result.record_fields() if result is not None else {}
        prepared.decision = DecisionRecord(
            request_id=prepared.request_id, tenant=prepared.tenant.name,
            user_id=prepared.user_id, at=prepared.at, model=prepared.model,
            surface=prepared.surface, arm=prepared.arm, reason=reason,
            personalized=prepared.system_text is not None, **fields)
        self._count(prepared.tenant, outcome)
        return prepared

    def _count(self, tenant: Tenant, outcome: str) -> None:
        self._metrics.personalized.labels(tenant.name, outcome).inc()

    async def finish(
        self,
        prepared: Prepared,
        *,
        user_turns: str,
        previous_assistant: str,
        assistant: str,
        truncated: bool = False,
        tokens: int = 0,
    ) -> None:
        """Record the decision and enqueue the observation of a delivered exchange.

        Shielded: a client that disconnects (cancelling the request task) does not cancel
        the write, so an answered exchange is never lost.
        """
        if prepared.decision is None:
            return
        observation = None
        if prepared.observe and prepared.user_id is not None:
            applied = [b.id for b in prepared.decision.beliefs]
            observation = build_observation(
                tenant=prepared.tenant.name, user_id=prepared.user_id,
                request_id=prepared.request_id, model=prepared.model,
                surface=prepared.surface, user_turns=user_turns,
                previous_assistant=previous_assistant, assistant=assistant,
                applied_belief_ids=applied, truncated=truncated, arm=prepared.arm,
                tokens=tokens, at=time.time())
            if prepared.arm is not None and prepared.tenant.experiment is not None:
                observation.experiment = prepared.tenant.experiment.name
            # An erasure after the request began drops this exchange (store/_codec.py).
            observation.began_at = prepared.at
            observation.consent_unchecked = prepared.consent_unchecked
        write = self._track(
            self._store.record_exchange(prepared.decision, observation, self._retention))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.error("could not record exchange %s", prepared.request_id, exc_info=True)
            self._metrics.store_errors.labels("record_exchange").inc()

    def _track(self, write: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """The write as a task the shutdown can wait for: a stream cut off past the grace
        period is still being recorded when uvicorn moves on to close the store."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for the exchanges still being recorded."""
        if self._writes:
            log.info("waiting for %d exchange(s) to be recorded", len(self._writes))
            await asyncio.wait(set(self._writes), timeout=max(timeout, 1.0))
