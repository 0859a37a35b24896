"""Update rules: how an observation or a user action changes a self-model.

Every function here is pure (SelfModel in, SelfModel out, no I/O, no clock, no randomness):
the store may call it again after a write conflict, and a redelivered observation must give
the same result. Belief ids are derived from tenant, user, slot, value and context, so a
value seen twice is one belief, whoever applies it.

Rules (DESIGN.md section 6):
- A claim adds evidence to the belief for its (domain, key, value, context), created if new.
- Contradiction: evidence *for* one value of a slot (domain, key, context) counts against
  every other value of that slot, at ``contradiction_share`` of its weight (half; nothing
  for signals about a whole answer: acceptance, feedback). A value first seen after its
  rivals is seeded with what the rivals exert (``Belief.exerted``), so the sums do not
  depend on which came first.
- Status: observations never mark a value superseded; the rivals stay ``active`` and their
  confidences decide (the loser falls below ``min_confidence``). That keeps the result
  independent of order. ``superseded`` is set only by a user's edit.
- A belief the user rejected (or edited away) is revived only by one piece of supporting
  evidence weighing at least its ``rejected_weight`` (the user-rejected weight, so only the
  user's own confirm or edit); weaker evidence is still recorded but leaves it rejected.
  While retired it does not count against its rivals (see domain/evidence.py).
- One meaning, one belief: a claim whose value is new but whose statement means what an
  existing belief's says (``domain.meaning.same_meaning``: the claim's vector, computed before
  the update, close to the belief's, and the same polarity) adds its evidence to that belief
  instead of creating another, whatever slot the extractor filed it under. Only beliefs of
  the same context, active or rejected, are candidates (a rejected meaning stays rejected
  when reworded), and the closest one wins.
- Stored prompt injection and excluded sensitive categories: such claims are refused, never
  stored, and the refusal says why without repeating the text.
- One choke point: every belief is created by ``_ensure_belief`` and every statement
  rewritten by ``_restate``, and both refuse text the injection guard refuses, whatever
  path brought it (extractor, structured observation, PATCH edit, a future import). The
  callers check first to say why (and to apply the tenant's never_store); the choke point
  makes sure no path can skip the guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from selfmodel.domain.confidence import add_outcome, weight
from selfmodel.domain.evidence import (
    Piece,
    belief_id,
    default_statement,
    exert,
    give,
    give_all,
    norm,
    seeded,
    slot_name,
)
from selfmodel.domain.meaning import cosine, decode, same_meaning
from selfmodel.domain.models import (
    Belief,
    BeliefStatus,
    Claim,
    Extraction,
    Observation,
    SelfModel,
    Source,
)
from selfmodel.domain.privacy import sensitive_category
from selfmodel.domain.safety import instruction_reason

__all__ = [
    "BeliefNotFound",
    "Piece",
    "RefusedText",
    "apply_claim",
    "apply_claims",
    "apply_extraction",
    "belief_id",
    "check_text",
    "confirm_belief",
    "delete_belief",
    "edit_belief",
    "refusal",
    "reject_belief",
    "slot_name",
]

FOLLOW_UP_WINDOW = 30 * 60.0  # an exchange this soon after the previous one is a follow-up
HOLDOUT = "holdout"


class BeliefNotFound(LookupError):
    """The belief id is not in the user's model."""


class RefusedText(ValueError):
    """Text a user action wanted to store reads as instructions or is an excluded category."""


# -- claims -------------------------------------------------------------------------------

@lru_cache(maxsize=8192)
def _field_reason(text: str) -> str | None:
    """The injection guard on one claim field, cached: an extractor states the same keys,
    values, domains and statements over and over, and the guard is a dozen patterns."""
    return instruction_reason(text)


def refusal(claim: Claim, never_store: Sequence[str] = ()) -> str | None:
    """Why ``claim`` may not be stored, or None. The reason never repeats the claim's text."""
    reason = _injection_refusal(claim)
    if reason:
        return reason
    text = " ".join([claim.domain, claim.key, claim.value, claim.statement, claim.quote])
    category = sensitive_category(text, list(never_store))
    if category:
        return f"claim refused: the tenant never stores the category {category!r}"
    return None


def _injection_refusal(claim: Claim) -> str | None:
    """Why a field of ``claim`` reads as an instruction (or carries a link), or None."""
    for field in ("statement", "key", "value", "quote", "domain", "context"):
        text = getattr(claim, field)
        reason = _field_reason(text) if text else None
        if reason:
            return f"claim refused: its {field} reads as an instruction ({reason})"
    return None


def _ensure_belief(model: SelfModel, claim: Claim, bid: str, at: float) -> SelfModel:
    """The belief of ``claim``, created if new: the one place a claim becomes a belief, so
    the injection guard is applied here whatever the caller checked before."""
    if model.belief(bid) is not None:
        return model
    reason = _injection_refusal(claim)
    if reason:
        raise RefusedText(reason)
    fresh = Belief(id=bid, kind=claim.kind, domain=claim.domain, key=claim.key,
                   value=claim.value, statement=claim.statement, context=claim.context,
                   ref_at=at, vector=claim.vector, vector_model=claim.vector_model)
    return model.model_copy(update={"beliefs": [*model.beliefs, seeded(model, fresh)]})


def target(model: SelfModel, claim: Claim) -> str:
    """The id of the belief ``claim`` is evidence about: the one for its slot and value, or
    else an existing belief that means the same (see the module docstring), or a new one."""
    bid = belief_id(model, claim.domain, claim.key, claim.value, claim.context)
    if model.belief(bid) is not None:
        return bid
    twin = twin_of(model, claim)
    return bid if twin is None else twin.id


_CANDIDATES = (BeliefStatus.ACTIVE, BeliefStatus.REJECTED)


def twin_of(model: SelfModel, claim: Claim) -> Belief | None:
    """The existing belief closest in meaning to ``claim`` among those that mean the same."""
    vector = decode(claim.vector) if claim.vector else None
    best: tuple[float, Belief] | None = None
    for belief in model.beliefs:
        if belief.status not in _CANDIDATES or belief.context != claim.context:
            continue
        other = (decode(belief.vector)
                 if belief.vector and belief.vector_model == claim.vector_model else None)
        if not same_meaning(claim.statement, vector, belief.statement, other):
            continue
        closeness = 2.0 if vector is None or other is None else cosine(vector, other)
        if best is None or closeness > best[0]:
            best = (closeness, belief)
    return None if best is None else best[1]


def apply_claim(model: SelfModel, claim: Claim, *, observation_id: str, at: float,
                bid: str | None = None) -> SelfModel:
    """One (already vetted) claim: evidence for or against its belief, against its rivals.
    ``bid``: the claim's ``target``, when the caller has it already."""
    bid = bid or target(model, claim)
    model = _ensure_belief(model, claim, bid, at)
    piece = Piece(observation_id=observation_id, source=claim.source, polarity=claim.polarity,
                  at=at, quote=claim.quote)
    return give(model, bid, piece)


def apply_claims(
    model: SelfModel,
    claims: Sequence[Claim],
    *,
    observation_id: str,
    at: float,
    never_store: Sequence[str] = (),
) -> tuple[SelfModel, list[str]]:
    """Apply an observation's claims; return the model and why any claim was refused.

    A claim repeated within one observation counts once, and so do two claims of it that
    mean the same (they land on one belief: "I prefer bullet points" read as a format and
    as a like is one piece of evidence).
    """
    refused: list[str] = []
    seen: set[tuple[str, int]] = set()
    for claim in claims:
        reason = refusal(claim, never_store)
        if reason:
            refused.append(reason)
            continue
        identity = (target(model, claim), claim.polarity)
        if identity not in seen:
            seen.add(identity)
            model = apply_claim(model, claim, observation_id=observation_id, at=at,
                                bid=identity[0])
    return model, refused


# -- one observation ------------------------------------------------------------------------

def _live(model: SelfModel, ids: Iterable[str]) -> list[str]:
    known = {belief.id for belief in model.beliefs}
    return [bid for bid in ids if bid in known]


def _correct(model: SelfModel, observation: Observation, extraction: Extraction,
             at: float) -> SelfModel:
    """A correction counts against the applied beliefs on the slots it concerns."""
    slots = extraction.corrected_slots
    applied = _live(model, model.last_applied)
    targets = [bid for bid in applied if not slots or _concerns(model, bid, slots)]
    piece = Piece(observation_id=observation.id, source=Source.CORRECTION, polarity=-1, at=at,
                  quote=observation.content)
    model = give_all(model, targets, piece)
    return add_outcome(model, 0.0, 1.0, at) if applied else model


def _concerns(model: SelfModel, bid: str, slots: Sequence[str]) -> bool:
    """Whether a correction naming ``slots`` ("domain/key", or a bare "key") is about ``bid``."""
    belief = model.belief(bid)
    if belief is None:
        return False
    full = slot_name(belief.domain, belief.key)
    return any(norm(s) in (full, norm(belief.key)) for s in slots)


def _accept(model: SelfModel, observation: Observation, at: float) -> SelfModel:
    """The user carried on from a personalized answer without correcting it: mild support."""
    applied = _live(model, model.last_applied)
    if not applied:
        return model
    piece = Piece(observation_id=observation.id, source=Source.APPLIED, polarity=1, at=at)
    return add_outcome(give_all(model, applied, piece), 1.0, 0.0, at)


def _feedback(model: SelfModel, observation: Observation, polarity: int,
              at: float) -> SelfModel:
    """Thumbs up or down on the previous answer: evidence for or against what it applied."""
    applied = _live(model, model.last_applied)
    if not applied:
        return model
    piece = Piece(observation_id=observation.id, source=Source.FEEDBACK, polarity=polarity,
                  at=at, quote=observation.content)
    model = give_all(model, applied, piece)
    return add_outcome(model, 1.0 if polarity > 0 else 0.0, 1.0 if polarity < 0 else 0.0, at)


def _outcomes(model: SelfModel, observation: Observation, extraction: Extraction,
              at: float) -> SelfModel:
    """The effect of the user's reaction on the beliefs applied to the answer they saw."""
    if extraction.correction:
        model = _correct(model, observation, extraction, at)
    elif observation.source == "gateway" and extraction.feedback != -1:
        model = _accept(model, observation, at)
    if extraction.feedback is not None:
        model = _feedback(model, observation, extraction.feedback, at)
    return model


def _stats(model: SelfModel, observation: Observation, extraction: Extraction,
           at: float) -> dict[str, float]:
    stats = dict(model.stats)

    def bump(name: str, by: float = 1.0) -> None:
        stats[name] = stats.get(name, 0.0) + by

    if observation.source == "gateway":
        bump("exchanges")
        last = model.last_exchange_at
        if last and 0.0 <= at - last <= FOLLOW_UP_WINDOW:
            bump("follow_ups")
    if extraction.correction:
        bump("corrections")
    if extraction.feedback is not None:
        bump("feedback_up" if extraction.feedback > 0 else "feedback_down")
    if observation.tokens:
        bump("tokens", float(observation.tokens))
    return stats


def _exchange(model: SelfModel, observation: Observation, at: float) -> SelfModel:
    """Remember what this exchange applied (the next observation reacts to it) and its arm."""
    changes: dict[str, object] = {}
    if observation.arm:
        experiments = dict(model.experiments)
        experiments.setdefault(observation.experiment or HOLDOUT, observation.arm)
        changes["experiments"] = experiments
    if observation.source == "gateway":
        applied = set(observation.applied_belief_ids)
        changes["last_applied"] = list(observation.applied_belief_ids)
        changes["last_exchange_at"] = max(model.last_exchange_at, at)
        changes["beliefs"] = [
            b.model_copy(update={"times_applied": b.times_applied + 1}) if b.id in applied else b
            for b in model.beliefs
        ]
    return model.model_copy(update=changes)


def apply_extraction(
    model: SelfModel,
    observation: Observation,
    extraction: Extraction,
    *,
    at: float,
    never_store: Sequence[str] = (),
) -> tuple[SelfModel, list[str]]:
    """The whole effect of one observation; returns the model and what was refused.

    Order matters only between the claims and the reaction signals, which are about
    ``last_applied`` (the beliefs of the previous answer) before this exchange replaces it.
    """
    model, refused = apply_claims(model, extraction.claims, observation_id=observation.id,
                                  at=at, never_store=never_store)
    model = _outcomes(model, observation, extraction, at)
    stats = _stats(model, observation, extraction, at)
    model = _exchange(model, observation, at).model_copy(update={"stats": stats})
    return model, [*extraction.refused, *refused]


# -- user actions (PATCH / DELETE) ------------------------------------------------------------

def _require(model: SelfModel, bid: str) -> Belief:
    belief = model.belief(bid)
    if belief is None:
        raise BeliefNotFound(bid)
    return belief


def confirm_belief(model: SelfModel, bid: str, *, at: float, action_id: str) -> SelfModel:
    """The user says the belief is right: the strongest support, reviving it if rejected."""
    _require(model, bid)
    piece = Piece(observation_id=action_id, source=Source.USER_CONFIRMED, polarity=1, at=at,
                  quote="confirmed by the user")
    return give(model, bid, piece)


def reject_belief(model: SelfModel, bid: str, *, at: float, action_id: str) -> SelfModel:
    """The user says the belief is wrong: never applied again unless they confirm it."""
    _require(model, bid)
    piece = Piece(observation_id=action_id, source=Source.USER_REJECTED, polarity=-1, at=at,
                  quote="rejected by the user")
    model = give(model, bid, piece)
    return _retire(model, bid, BeliefStatus.REJECTED)


def _retire(model: SelfModel, bid: str, status: BeliefStatus) -> SelfModel:
    """Set a user-imposed status; a retired value stops holding its rivals down."""
    belief = _require(model, bid)
    if belief.status == BeliefStatus.ACTIVE:
        model = exert(model, belief, -1)
    changes = {"status": status, "rejected_weight": weight(Source.USER_REJECTED)}
    beliefs = [b.model_copy(update=changes) if b.id == bid else b for b in model.beliefs]
    return model.model_copy(update={"beliefs": beliefs})


def check_text(text: str, never_store: Sequence[str] = ()) -> None:
    """Raise RefusedText when user-supplied text may not be stored as a belief."""
    reason = instruction_reason(text)
    if reason:
        raise RefusedText(f"the text reads as an instruction to the model ({reason})")
    category = sensitive_category(text, list(never_store))
    if category:
        raise RefusedText(f"the tenant never stores the category {category!r}")


def edit_belief(
    model: SelfModel,
    bid: str,
    *,
    at: float,
    action_id: str,
    value: str | None = None,
    statement: str | None = None,
    never_store: Sequence[str] = (),
) -> tuple[SelfModel, str]:
    """The user rewrites a belief; returns the model and the id of the belief now holding.

    Same value (or none given): the statement is replaced and the belief confirmed. A new
    value: the old belief is superseded and the new value confirmed by the user.
    """
    old = _require(model, bid)
    for text in (value, statement):
        if text is not None:
            check_text(text, never_store)
    if value is None or norm(value) == norm(old.value):
        if statement:
            model = _restate(model, bid, statement)
        return confirm_belief(model, bid, at=at, action_id=action_id), bid
    claim = Claim(kind=old.kind, domain=old.domain, key=old.key, value=value.strip(),
                  statement=statement or default_statement(old.key, value.strip()),
                  source=Source.USER_CONFIRMED, quote="edited by the user", context=old.context)
    new_id = belief_id(model, claim.domain, claim.key, claim.value, claim.context)
    model = _retire(model, bid, BeliefStatus.SUPERSEDED)
    model = _ensure_belief(model, claim, new_id, at)
    return confirm_belief(model, new_id, at=at, action_id=action_id), new_id


def _restate(model: SelfModel, bid: str, statement: str) -> SelfModel:
    """The one place a belief's statement is rewritten: guarded like ``_ensure_belief``. Its
    old vector goes with the old wording (the caller computes the new one, observer/apply's
    ``with_vectors``; until then the belief ranks lexically)."""
    reason = _field_reason(statement)
    if reason:
        raise RefusedText(f"the text reads as an instruction to the model ({reason})")
    changes = {"statement": statement.strip(), "vector": None, "vector_model": None}
    beliefs = [b.model_copy(update=changes) if b.id == bid else b for b in model.beliefs]
    return model.model_copy(update={"beliefs": beliefs})


def delete_belief(model: SelfModel, bid: str) -> SelfModel:
    """Forget a belief and its evidence; later evidence may form it again."""
    _require(model, bid)
    return model.model_copy(update={
        "beliefs": [b for b in model.beliefs if b.id != bid],
        "last_applied": [x for x in model.last_applied if x != bid],
    })
