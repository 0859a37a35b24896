"""How sure selfmodel is of a belief: source weights, decay, confidence, alignment.

A belief keeps two decayed sums, ``support`` (S) and ``against`` (A), expressed at its
``ref_at``. Each piece of evidence adds ``weight(source) * 2 ** (-(ref_at - at) / half_life)``;
evidence newer than ``ref_at`` first moves the sums forward to its own time. A sum of
exponentials does not depend on the order of its terms, so two workers applying observations
out of order reach the same numbers.

``confidence = S / (S + A + K)`` with S and A decayed to the moment asked about. K is the
prior's weight: the evidence a belief needs before it is believed. Calibration (K = 1):

- one explicit statement (weight 2): 2 / 3 = 0.67, past the default ``min_confidence`` 0.6;
- one inference (weight 0.6): 0.6 / 1.6 = 0.38, not applied until repeated;
- explicit "keep it short", then the correction "too short, give me details": the new value
  gets 3.5 / (3.5 + 0.5 * 2 + 1) = 0.64, the old one 2 / (2 + 0.5 * 3.5 + 1) = 0.42 (0.24
  when the old value was the one applied and corrected);
- that correction still flips the slot after many accepted answers used the old value:
  acceptance supports a belief without counting against its rivals;
- confirmations make S grow, so confidence tends to 1 without reaching it.
"""

from __future__ import annotations

import math

from selfmodel.domain.models import Belief, Kind, SelfModel, Source

PRIOR = 1.0  # K: the weight of "we do not know yet"
MAX_CONFIDENCE = 0.9999  # floats would round S / (S + K) to 1.0 for huge S
DAY = 86_400.0

WEIGHTS: dict[Source, float] = {
    Source.USER_CONFIRMED: 4.0,
    Source.USER_REJECTED: 4.0,
    Source.CORRECTION: 3.5,
    Source.EXPLICIT: 2.0,
    Source.API: 1.8,
    Source.FEEDBACK: 1.0,
    Source.INFERRED: 0.6,
    Source.APPLIED: 0.3,
}

# Evidence for one value of a slot counts against its other values at this share of its
# weight: a full share would leave the newer of two equal statements below 0.6 for ever.
CONTRADICTION_DISCOUNT = 0.5
# Signals about an answer as a whole (carried on from it, thumbs up) support the beliefs it
# applied but say nothing against values it did not use: otherwise a long run of accepted
# answers would keep one correction from ever flipping the slot.
CONTRADICTION_SHARES: dict[Source, float] = {Source.APPLIED: 0.0, Source.FEEDBACK: 0.0}

HALF_LIVES: dict[Kind, float] = {
    Kind.GOAL: 14 * DAY,  # "preparing for an interview": over in weeks
    Kind.CONTEXT: 30 * DAY,  # "travelling this month"
    Kind.PREFERENCE: 180 * DAY,  # "keep answers short"
    Kind.EXPERTISE: 365 * DAY,
    Kind.TRAIT: 365 * DAY,
}
# Domains whose facts change rarely whatever the kind (a diet is a choice kept for years).
STABLE_DOMAINS = frozenset({"diet", "language", "identity", "accessibility"})
STABLE_HALF_LIFE = 365 * DAY

ALIGNMENT_HALF_LIFE = 90 * DAY  # old outcomes fade back towards the 0.5 prior


def weight(source: Source) -> float:
    """The weight of one piece of evidence from ``source``."""
    return WEIGHTS[source]


def contradiction_share(source: Source) -> float:
    """The share of a supporting piece's weight that counts against the slot's other values."""
    return CONTRADICTION_SHARES.get(source, CONTRADICTION_DISCOUNT)


def half_life(kind: Kind, domain: str = "") -> float:
    """Seconds after which a piece of evidence about ``kind``/``domain`` counts half."""
    if domain in STABLE_DOMAINS:
        return max(HALF_LIVES[kind], STABLE_HALF_LIFE)
    return HALF_LIVES[kind]


def decay(value: float, from_at: float, to_at: float, half: float) -> float:
    """``value`` expressed at ``from_at``, re-expressed at ``to_at`` (later: smaller)."""
    if value == 0.0 or from_at == to_at:
        return value
    return value * math.pow(2.0, -(to_at - from_at) / half)


def belief_half_life(belief: Belief) -> float:
    return half_life(belief.kind, belief.domain)


def add_evidence(belief: Belief, amount: float, polarity: int, at: float, *,
                 exerts: float = 0.0) -> Belief:
    """A copy of ``belief`` with ``amount`` added to its support (polarity +1) or against sum,
    and ``exerts`` to what it counts against its rivals (``exerted``).

    The sums are re-expressed at ``max(ref_at, at)``; the result does not depend on the order
    in which pieces are added. Only the sums change: the evidence list is update.py's.
    """
    return belief.model_copy(update=added_sums(belief, amount, polarity, at, exerts=exerts))


def added_sums(belief: Belief, amount: float, polarity: int, at: float, *,
               exerts: float = 0.0) -> dict[str, float]:
    """The fields ``add_evidence`` changes, for callers that change others in the same copy."""
    half = belief_half_life(belief)
    ref = max(belief.ref_at, at)
    support, against, exerted = (decay(value, belief.ref_at, ref, half)
                                 for value in (belief.support, belief.against, belief.exerted))
    added = decay(amount, at, ref, half)
    if polarity > 0:
        support += added
    else:
        against += added
    exerted += decay(exerts, at, ref, half)
    return {"support": support, "against": against, "exerted": exerted, "ref_at": ref}


def sums_at(belief: Belief, now: float) -> tuple[float, float]:
    """(S, A) decayed to ``now``; never grown when ``now`` precedes the last evidence."""
    half = belief_half_life(belief)
    at = max(now, belief.ref_at)
    return (decay(belief.support, belief.ref_at, at, half),
            decay(belief.against, belief.ref_at, at, half))


def confidence(belief: Belief, now: float) -> float:
    """S / (S + A + K) at ``now``, in [0, MAX_CONFIDENCE].

    Pure arithmetic on the sums: the belief's status is not looked at, so callers that
    inject beliefs must also require ``status == active`` (a rejected belief can keep old
    support).
    """
    support, against = sums_at(belief, now)
    value = support / (support + against + PRIOR)
    return min(max(value, 0.0), MAX_CONFIDENCE)


def alignment_score(model: SelfModel, now: float) -> float:
    """How often personalized answers were accepted rather than corrected, in (0, 1).

    ``(accepted + 1) / (accepted + corrected + 2)``: Laplace's rule of succession over the
    model's ``accepted`` and ``corrected`` counts (an exchange that carried on from a
    personalized answer or gave it a thumbs up; a correction of it or a thumbs down), both
    decayed with ALIGNMENT_HALF_LIFE from ``outcomes_at`` to ``now``. With no signal it is 0.5,
    and without new signal it drifts back towards 0.5.
    """
    accepted = decay(model.accepted, model.outcomes_at, max(now, model.outcomes_at),
                     ALIGNMENT_HALF_LIFE)
    corrected = decay(model.corrected, model.outcomes_at, max(now, model.outcomes_at),
                      ALIGNMENT_HALF_LIFE)
    return (accepted + 1.0) / (accepted + corrected + 2.0)


def add_outcome(model: SelfModel, accepted: float, corrected: float, at: float) -> SelfModel:
    """A copy of ``model`` with outcome counts added at ``at`` (order-independent sums)."""
    ref = max(model.outcomes_at, at)
    acc = decay(model.accepted, model.outcomes_at, ref, ALIGNMENT_HALF_LIFE)
    cor = decay(model.corrected, model.outcomes_at, ref, ALIGNMENT_HALF_LIFE)
    acc += decay(accepted, at, ref, ALIGNMENT_HALF_LIFE)
    cor += decay(corrected, at, ref, ALIGNMENT_HALF_LIFE)
    return model.model_copy(update={"accepted": acc, "corrected": cor, "outcomes_at": ref})
