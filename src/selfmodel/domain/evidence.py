"""Belief identity and evidence bookkeeping shared by the update rules (domain/update.py).

``give`` is the one way evidence reaches a belief: it updates the decayed sums, the evidence
chain and the counts, and makes supporting evidence count against the belief's rivals (the
other values of its slot), which is what keeps the sums independent of arrival order.

Only *active* beliefs contradict their rivals: when the user rejects a value (or edits it
away) its support is withdrawn from the rivals' ``against`` sums (``exert``), and it is added
back if the user revives it. Observations never change a status, so between user actions
the sums stay order-independent.

An answer the user accepted (source ``applied``) moves the sums and ``times_accepted`` but
adds no item to the chain: it has no quote to show, and one per exchange would push the
user's own words out of the newest MAX_EVIDENCE items, so a decision could no longer show
why the belief is held. It also kept every user's document growing with traffic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from selfmodel.domain.confidence import add_evidence, added_sums, contradiction_share, weight
from selfmodel.domain.models import Belief, BeliefStatus, Evidence, SelfModel, Source

MAX_EVIDENCE = 20  # evidence items kept per belief (the newest); ``observations`` counts all
MAX_QUOTE = 500


@dataclass(frozen=True)
class Piece:
    """One piece of evidence about to be added to a belief (weight 0: the source's weight)."""

    observation_id: str
    source: Source
    polarity: int
    at: float
    quote: str = ""
    weight: float = 0.0

    def weighed(self) -> float:
        return self.weight or weight(self.source)


# -- identity -----------------------------------------------------------------------------

@lru_cache(maxsize=8192)
def norm(text: str) -> str:
    """Case- and space-insensitive form used for identity and slot comparison (cached: the
    same domains and keys are compared with every belief of a model on every update)."""
    return " ".join(text.split()).casefold()


def belief_id(model: SelfModel, domain: str, key: str, value: str, context: str | None) -> str:
    """Deterministic id: the same fact about the same user always has the same id."""
    parts = [model.tenant, model.user_id, norm(domain), norm(key), norm(value), context or ""]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return "b_" + digest[:24]


def slot_name(domain: str, key: str) -> str:
    """The ``domain/key`` form extractors use in ``Extraction.corrected_slots``."""
    return f"{norm(domain)}/{norm(key)}"


def rivals(belief: Belief, other: Belief) -> bool:
    """Two different values of one slot in one context: evidence for one is against the other."""
    return (other.id != belief.id and norm(other.domain) == norm(belief.domain)
            and norm(other.key) == norm(belief.key) and other.context == belief.context)


def default_statement(key: str, value: str) -> str:
    return f"{key.replace('_', ' ').strip().capitalize()}: {value}"


# -- evidence -----------------------------------------------------------------------------

def _evidence_order(item: Evidence) -> tuple[float, str, str, int, float, str]:
    return (item.at, item.observation_id, item.source.value, item.polarity, item.weight,
            item.quote)


def newest(evidence: Iterable[Evidence]) -> list[Evidence]:
    """The newest MAX_EVIDENCE items, oldest first, in an order that ignores arrival order."""
    return sorted(evidence, key=_evidence_order)[-MAX_EVIDENCE:]


def with_evidence(belief: Belief, piece: Piece, *, direct: bool = True) -> Belief:
    """``belief`` with one more piece of evidence: sums, evidence chain, count, seen times.

    ``direct`` is False for contradiction evidence, which does not move first/last seen
    (those say when the value itself was mentioned).
    """
    amount = piece.weighed()
    exerts = amount * contradiction_share(piece.source) if piece.polarity > 0 else 0.0
    changes: dict[str, object] = {
        **added_sums(belief, amount, piece.polarity, piece.at, exerts=exerts),
        "observations": belief.observations + 1,
    }
    if piece.source is Source.APPLIED:
        changes["times_accepted"] = belief.times_accepted + 1
    else:
        item = Evidence(observation_id=piece.observation_id, quote=piece.quote[:MAX_QUOTE],
                        polarity=1 if piece.polarity > 0 else -1, weight=amount,
                        source=piece.source, at=piece.at)
        changes["evidence"] = newest([*belief.evidence, item])
    if direct:
        changes["first_seen"] = min(belief.first_seen or piece.at, piece.at)
        changes["last_seen"] = max(belief.last_seen, piece.at)
    return belief.model_copy(update=changes)


def _revive(belief: Belief, piece: Piece) -> Belief:
    """Reactivate a rejected or superseded belief only for evidence at least as heavy."""
    if belief.status == BeliefStatus.ACTIVE or piece.polarity < 0:
        return belief
    if piece.weighed() < belief.rejected_weight:
        return belief
    return belief.model_copy(update={"status": BeliefStatus.ACTIVE, "rejected_weight": 0.0})


def _against(piece: Piece) -> Piece:
    return replace(piece, polarity=-1,
                   weight=piece.weighed() * contradiction_share(piece.source))


def give(model: SelfModel, target_id: str, piece: Piece) -> SelfModel:
    """Add ``piece`` to one belief; supporting evidence for an active belief also counts
    against its rivals. A belief revived by this piece exerts its weight on them again."""
    target = model.belief(target_id)
    if target is None:
        return model
    updated = _revive(with_evidence(target, piece), piece)
    if updated.status == BeliefStatus.ACTIVE and target.status != BeliefStatus.ACTIVE:
        model = exert(model, target, 1)
    contradicts = (piece.polarity > 0 and updated.status == BeliefStatus.ACTIVE
                   and contradiction_share(piece.source) > 0)
    beliefs = []
    for belief in model.beliefs:
        if belief.id == target_id:
            belief = updated
        elif contradicts and rivals(updated, belief):
            belief = with_evidence(belief, _against(piece), direct=False)
        beliefs.append(belief)
    return model.model_copy(update={"beliefs": beliefs})


def exert(model: SelfModel, source: Belief, sign: int) -> SelfModel:
    """Add (``sign`` +1) or withdraw (-1) the contradiction ``source`` exerts on its rivals:
    a value the user rejected no longer holds the other values down."""
    amount = sign * source.exerted
    if amount == 0.0:
        return model
    beliefs = []
    for belief in model.beliefs:
        if rivals(source, belief):
            shifted = add_evidence(belief, amount, -1, source.ref_at)
            belief = shifted.model_copy(update={"against": max(0.0, shifted.against)})
        beliefs.append(belief)
    return model.model_copy(update={"beliefs": beliefs})


def give_all(model: SelfModel, ids: Iterable[str], piece: Piece) -> SelfModel:
    """``give`` for each id in turn. A piece that counts against no rival (acceptance,
    feedback, anything against) given to active beliefs changes only those beliefs, so they
    are updated in one pass over the model: the case of every answered exchange."""
    ids = list(ids)
    if piece.polarity > 0 and contradiction_share(piece.source) > 0:
        return _give_each(model, ids, piece)
    where = {belief.id: i for i, belief in enumerate(model.beliefs)}
    beliefs = list(model.beliefs)
    for belief_ref in ids:
        i = where.get(belief_ref)
        if i is None:
            continue
        if beliefs[i].status is not BeliefStatus.ACTIVE:  # may revive: the general path
            return _give_each(model, ids, piece)
        beliefs[i] = with_evidence(beliefs[i], piece)
    return model.model_copy(update={"beliefs": beliefs})


def _give_each(model: SelfModel, ids: Iterable[str], piece: Piece) -> SelfModel:
    for belief_ref in ids:
        model = give(model, belief_ref, piece)
    return model


def seeded(model: SelfModel, fresh: Belief) -> Belief:
    """A new value of a slot, carrying the contradiction its active rivals already imply."""
    rival_list = [b for b in model.beliefs
                  if rivals(fresh, b) and b.status == BeliefStatus.ACTIVE]
    if not rival_list:
        return fresh
    ref = max([fresh.ref_at, *(b.ref_at for b in rival_list)])
    belief = fresh.model_copy(update={"ref_at": ref})
    for rival in rival_list:
        belief = add_evidence(belief, rival.exerted, -1, rival.ref_at)
    items = [item.model_copy(update={"polarity": -1,
                                     "weight": item.weight * contradiction_share(item.source)})
             for rival in rival_list for item in rival.evidence
             if item.polarity > 0 and contradiction_share(item.source) > 0]
    return belief.model_copy(update={"evidence": newest(items), "observations": len(items)})
