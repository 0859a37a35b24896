"""The Personalizer: one call per request, from a user's self-model to the text to inject.

``personalize`` never raises for anything a tenant or a user can cause: a broken template,
a render error or a refused statement all end in a ``Personalization`` whose ``text`` is
None (with ``error`` saying why, for the decision record), and the request goes out
unpersonalized. Templates are compiled once, at construction and on ``reload``.

One block per conversation: providers cache prompt prefixes, so a block that changes from
turn to turn makes everything after it a cache miss. A request that names its conversation
(``thread``, personalize/threads.py) gets the block its conversation got last time, byte for
byte, while the user's eligible beliefs (those that pass the gate: ids, statements, values)
are the same: a belief that only grew more certain, or a turn about something else, does
not change it. A new, changed or dropped belief selects and renders afresh, once. Ties in
the ranking are broken by belief id, so a fresh selection does not depend on the order the
store returned the beliefs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from selfmodel.config import Config, Policy, Tenant
from selfmodel.domain.confidence import alignment_score
from selfmodel.domain.models import AppliedBelief, Belief, SelfModel
from selfmodel.personalize import tokens
from selfmodel.personalize.left_out import left_out
from selfmodel.personalize.provider_embedding import ProviderEmbedders
from selfmodel.personalize.relevance import Relevance
from selfmodel.personalize.selection import CachedConfidence, Scored, Selection, gate, select
from selfmodel.personalize.semantic import HybridRelevance, query_text
from selfmodel.personalize.templates import (
    DEFAULT_TEMPLATE,
    Compiled,
    Templates,
    belief_variables,
    context,
    quote,
)
from selfmodel.recent import Recent, same_objects


@dataclass(frozen=True)
class Personalization:
    """One request's personalization decision, whole: the decision record is built from it
    in one call (``record_fields``)."""

    text: str | None  # the block to add to the system prompt; None: add nothing
    applied: list[AppliedBelief]  # beliefs injected, with confidence at the time and evidence ids
    defaults: list[str]  # tenant default beliefs used (cold start)
    cold_start: bool
    template: str | None  # template file name used
    template_version: str | None  # sha256 of its source
    error: str | None = None  # a render failure: the request goes out unpersonalized
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (belief id, why not)
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> beliefs not applied
    left_out_ids: dict[str, str] = field(default_factory=dict)  # a few of them: id -> reason

    def record_fields(self) -> dict[str, Any]:
        """The DecisionRecord fields this decision fills (``DecisionRecord(**...)``)."""
        return {
            "cold_start": self.cold_start,
            "template": self.template,
            "template_version": self.template_version,
            "beliefs": list(self.applied),
            "defaults": list(self.defaults),
            "system_prompt": self.text,
            "left_out": dict(self.left_out),
            "left_out_ids": dict(self.left_out_ids),
        }


@dataclass(frozen=True)
class _Gated:
    """One user's last gate: the belief objects it read, the minute and threshold, the result
    (in belief id order) and what identifies it for delivery (``_eligible``)."""

    beliefs: tuple[Belief, ...]
    moment: tuple[float, float]
    passed: list[tuple[Belief, float]]
    eligible: int


@dataclass(frozen=True)
class _Delivered:
    """What one conversation was given last, and what it was chosen from: only the text and
    the ids (the applied beliefs are rebuilt from the current model), so a kept
    conversation costs little more than its block."""

    template_version: str | None
    policy: Policy
    eligible: int
    text: str | None
    applied: tuple[str, ...]
    defaults: tuple[str, ...]
    cold_start: bool
    template: str | None
    skipped: tuple[tuple[str, str], ...]
    left_out: tuple[tuple[str, int], ...]  # without the gate's count (the model's size moves)
    left_out_ids: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, result: Personalization, policy: Policy, eligible: int) -> _Delivered:
        return cls(result.template_version, policy, eligible, result.text,
                   tuple(a.id for a in result.applied), tuple(result.defaults),
                   result.cold_start, result.template, tuple(result.skipped),
                   tuple((k, n) for k, n in result.left_out.items() if k != "gate"),
                   tuple(result.left_out_ids.items()))

    def still(self, template_version: str | None, policy: Policy, eligible: int) -> bool:
        return (self.template_version == template_version and self.eligible == eligible
                and (self.policy is policy or self.policy == policy))

    def again(self, passed: list[tuple[Belief, float]], total: int) -> Personalization:
        """The same block; the applied beliefs' confidence and evidence as they are now, and
        the gate's count of left-out beliefs for the model's current size (the same gated
        set leaves the rest of the account as it was)."""
        current = {belief.id: (belief, value) for belief, value in passed}
        applied = (_APPLIED.validate_python([
            _applied_fields(Scored(*current[i], 0.0, 0.0, 0.0, False)) for i in self.applied])
            if self.applied else [])
        left = dict(self.left_out)
        if total > len(passed):
            left = {"gate": total - len(passed), **left}
        return Personalization(self.text, applied, list(self.defaults), self.cold_start,
                               self.template, self.template_version,
                               skipped=list(self.skipped), left_out=left,
                               left_out_ids=dict(self.left_out_ids))


TEXTS_KEPT = 1024  # rendered blocks (about 1 KB each) kept for the users seen most recently
THREADS_KEPT = 4096  # conversations whose last block is kept (about 1.5 KB each)


@lru_cache(maxsize=16384)
def rendered_tokens(statement: str) -> int:
    """Tokens of a statement as the template prints it (quoted, neutralized)."""
    return tokens.count(quote(statement))


class Personalizer:
    """Selects and renders the personalization of each request; holds the compiled templates."""

    def __init__(self, config: Config, *, relevance: Relevance | None = None,
                 embedders: ProviderEmbedders | None = None) -> None:
        self._config = config
        self._fixed = relevance is not None  # one ranking for every tenant (benches, tests)
        self._relevance = relevance or HybridRelevance()
        self._embedders = embedders
        # Tenants that name a provider's embedding model: one ranking per model.
        self._by_model: dict[str, Relevance] = {}
        self._confidence = CachedConfidence()
        self._templates = Templates.load(config)
        self._gates: Recent[tuple[str, str], _Gated] = Recent(256)
        self._texts: Recent[tuple[object, ...], str] = Recent(TEXTS_KEPT)
        self._threads: Recent[tuple[str, str, str], _Delivered] = Recent(THREADS_KEPT)

    def relevance_for(self, tenant: Tenant) -> Relevance:
        """The ranking of ``tenant``: the hybrid one over its provider's embeddings when it
        names one (personalize/provider_embedding.py), else the built-in hybrid."""
        embedder = (self._embedders.for_tenant(tenant)
                    if self._embedders and not self._fixed else None)
        if embedder is None:
            return self._relevance
        relevance = self._by_model.get(embedder.name)
        if relevance is None:
            relevance = self._by_model[embedder.name] = HybridRelevance(embedder)
        return relevance

    async def prepare(self, *, tenant: Tenant, user_id: str, model: SelfModel | None,
                      conversation: str, now: float, thread: str | None = None) -> None:
        """Before ``personalize``, for a tenant whose embeddings come from a provider: fetch
        the request's vector, waiting at most ``embedding_timeout_ms`` (never raises; without
        it the request ranks by words). Nothing to do for the built-in model, a user with no
        beliefs, or a conversation that will be given its last block again (no ranking)."""
        embedder = (self._embedders.for_tenant(tenant)
                    if self._embedders and not self._fixed else None)
        if embedder is None or model is None or not model.beliefs:
            return
        if self._reuses(tenant, user_id, model, now, thread):
            return
        assert self._embedders is not None
        await embedder.fetch([query_text(conversation)], self._embedders.request_timeout)

    def _reuses(self, tenant: Tenant, user_id: str, model: SelfModel, now: float,
                thread: str | None) -> bool:
        """Whether ``personalize`` will give this conversation its kept block (the same test
        it makes; the gate it computes here is kept for it)."""
        if thread is None:
            return False
        kept = self._threads.get((tenant.name, user_id, thread))
        if kept is None:
            return False
        compiled, _ = self._templates.get(tenant.template or DEFAULT_TEMPLATE)
        if compiled is None:
            return False
        gated = self._gated(model, tenant.policy.min_confidence, now)
        return kept.still(compiled.version, tenant.policy, gated.eligible)

    def problems(self) -> list[str]:
        """Templates that failed to load, compile or render a sample, in plain words."""
        return self._templates.problems()

    def reload(self) -> list[str]:
        """Load every template again (hot reload); the old set serves until this returns."""
        self._templates = Templates.load(self._config)
        self._texts = Recent(TEXTS_KEPT)
        self._threads = Recent(THREADS_KEPT)
        return self.problems()

    def personalize(
        self,
        *,
        tenant: Tenant,
        user_id: str,
        model: SelfModel | None,
        conversation: str,
        now: float,
        alignment: float | None = None,
        thread: str | None = None,
    ) -> Personalization:
        """The block for one request, or why there is none. Never raises: an unexpected
        failure (a bug, odd data) also means an unpersonalized request, with the reason.
        ``thread``: the request's conversation key (personalize/threads.py), to give the
        conversation the same block as last time while the eligible beliefs are the same."""
        name = tenant.template or DEFAULT_TEMPLATE
        try:
            return self._personalize(name, tenant, user_id, model, conversation, now, alignment,
                                     thread)
        except Exception as exc:  # the chat must go out whatever happens here
            return Personalization(None, [], [], False, name, None,
                                   error=f"personalization failed: {type(exc).__name__}: {exc}")

    def _personalize(
        self,
        name: str,
        tenant: Tenant,
        user_id: str,
        model: SelfModel | None,
        conversation: str,
        now: float,
        alignment: float | None,
        thread: str | None,
    ) -> Personalization:
        compiled, problem = self._templates.get(name)
        if compiled is None:
            return Personalization(None, [], [], False, name, None, error=problem)
        beliefs = model.beliefs if model else []
        gated = self._gated(model, tenant.policy.min_confidence, now)
        key = (tenant.name, user_id, thread) if thread is not None else None
        kept = self._threads.get(key) if key is not None else None
        if kept is not None and kept.still(compiled.version, tenant.policy, gated.eligible):
            return kept.again(gated.passed, len(beliefs))
        selection = select(
            beliefs,
            policy=tenant.policy,
            conversation=conversation,
            now=now,
            measure=rendered_tokens,
            relevance=self.relevance_for(tenant),
            confidence=self._confidence,
            passed=gated.passed,
        )
        if alignment is None and model is not None:
            alignment = alignment_score(model, now)
        counts, ids = left_out(len(beliefs), gated.passed, selection, tenant.policy.max_beliefs)
        result = replace(self._render(compiled, selection, tenant, user_id, alignment),
                         left_out=counts, left_out_ids=ids)
        if key is not None and result.error is None:
            self._threads.put(key, _Delivered.of(result, tenant.policy, gated.eligible))
        return result

    def _render(
        self,
        compiled: Compiled,
        selection: Selection,
        tenant: Tenant,
        user_id: str,
        alignment: float | None,
    ) -> Personalization:
        if not selection.chosen and not selection.defaults:
            return Personalization(None, [], [], selection.cold_start, compiled.name,
                                   compiled.version, skipped=selection.skipped)
        score = None if alignment is None else round(alignment, 2)
        try:
            text = self._rendered(compiled, selection, tenant.name, user_id, score)
        except Exception as exc:  # a template error must never fail the request
            return Personalization(None, [], [], selection.cold_start, compiled.name,
                                   compiled.version, skipped=selection.skipped,
                                   error=f"template {compiled.name} failed to render: {exc}")
        if not text:
            return Personalization(None, [], [], selection.cold_start, compiled.name,
                                   compiled.version, skipped=selection.skipped)
        return Personalization(text, _applied(selection.chosen), list(selection.defaults),
                               selection.cold_start, compiled.name, compiled.version,
                               skipped=selection.skipped)


    def _gated(self, model: SelfModel | None, min_confidence: float, now: float) -> _Gated:
        """``gate`` of the model's beliefs, kept per user while the same belief objects come
        back within the same minute: the stores share one parsed model per version, so under
        load one version serves many requests (the worker writes a user's model once per
        batch), and confidence is memoized per minute anyway (``CachedConfidence``). A
        changed belief is a new object (models are immutable by contract), so it never
        meets an old entry; one entry per user bounds the memory to the users kept.

        The result is in belief id order, so the ranking's stable sort breaks ties by id."""
        if model is None:
            return _NOTHING
        beliefs = model.beliefs
        moment = (now // 60, min_confidence)
        user = (model.tenant, model.user_id)
        kept = self._gates.get(user)
        if kept is not None and kept.moment == moment and same_objects(kept.beliefs, beliefs):
            return kept
        passed = sorted(gate(beliefs, min_confidence, now, self._confidence),
                        key=lambda item: item[0].id)
        gated = _Gated(tuple(beliefs), moment, passed, _eligible(passed))
        self._gates.put(user, gated)
        return gated

    def _rendered(self, compiled: Compiled, selection: Selection, tenant: str, user_id: str,
                  alignment: float | None) -> str:
        """The template's output, kept by everything it is given: a user's requests often
        select the same beliefs (the communication ones always), and rendering is a pure
        function of its variables in the sandbox. Templates that draw random values
        (``| random``) are rendered every time."""
        variables = [_variables(s) for s in selection.chosen]
        key = (compiled.version, tenant, user_id, alignment, selection.cold_start,
               tuple(selection.defaults), tuple(tuple(v.values()) for v in variables))
        text = self._texts.get(key) if compiled.pure else None
        if text is None:
            text = compiled.render(context(
                beliefs=variables, defaults=selection.defaults, cold_start=selection.cold_start,
                user_id=user_id, tenant=tenant, alignment_score=alignment))
            if compiled.pure:
                self._texts.put(key, text)
        return text


def _eligible(passed: list[tuple[Belief, float]]) -> int:
    """What a delivered block depends on among the gated beliefs, as one number: which ones,
    and what they say (not their confidence, which moves with every exchange). A hash, not
    the tuple, so a kept conversation does not keep every statement alive; within one
    process two different sets give the same hash about once in 2**64."""
    return hash(tuple((b.id, b.statement, b.value) for b, _ in passed))


_NOTHING = _Gated((), (0.0, 0.0), [], _eligible([]))


def _variables(scored: Scored) -> dict[str, Any]:
    belief = scored.belief
    return belief_variables(statement=belief.statement, kind=str(belief.kind),
                            domain=belief.domain, key=belief.key, value=belief.value,
                            confidence=scored.confidence)


_APPLIED = TypeAdapter(list[AppliedBelief])


def _applied(chosen: list[Scored]) -> list[AppliedBelief]:
    """The beliefs as injected, validated as one list (one pydantic call for the request
    instead of one model construction per belief)."""
    return _APPLIED.validate_python([_applied_fields(s) for s in chosen])


def _applied_fields(scored: Scored) -> dict[str, Any]:
    """The belief as injected: confidence at this moment, the evidence that supports it."""
    belief = scored.belief
    evidence = [e.observation_id for e in belief.evidence if e.polarity > 0]
    return {
        "id": belief.id,
        "statement": belief.statement,
        "kind": belief.kind,
        "domain": belief.domain,
        "key": belief.key,
        "value": belief.value,
        "confidence": scored.confidence,
        "evidence_ids": list(dict.fromkeys(evidence)),
    }
