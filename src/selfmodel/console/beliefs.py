"""A user's beliefs as the console and the user's page show them: pure functions.

Grouped by domain, most confident first, each with its confidence now, whether it passes the
tenant's gate today (and if not, why), and its evidence newest first; plus one timeline of
the user's most recent evidence across all beliefs.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from selfmodel.domain.confidence import confidence
from selfmodel.domain.models import Belief, BeliefStatus, Evidence, SelfModel, Source

TIMELINE = 40  # pieces of evidence in the user's timeline
SOURCES = {
    Source.USER_CONFIRMED: "confirmed by the user",
    Source.USER_REJECTED: "rejected by the user",
    Source.CORRECTION: "a correction of an answer",
    Source.EXPLICIT: "said in chat",
    Source.API: "sent by the app",
    Source.INFERRED: "inferred",
    Source.FEEDBACK: "feedback on an answer",
    Source.APPLIED: "applied without correction",
}


@dataclass(frozen=True)
class Shown:
    """One belief as shown: the belief, its confidence now, and why it is not applied."""

    belief: Belief
    confidence: float
    held_back: str | None  # None: passes the gate now

    @property
    def evidence(self) -> list[Evidence]:
        return list(reversed(self.belief.evidence))

    def quotes(self, most: int = 3) -> list[Evidence]:
        """The newest pieces of evidence that quote the user, at most ``most``."""
        found: list[Evidence] = []
        for item in reversed(self.belief.evidence):
            if item.quote:
                found.append(item)
                if len(found) == most:
                    break
        return found


@dataclass(frozen=True)
class Moment:
    """One piece of evidence in the user's timeline, with the belief it is about."""

    evidence: Evidence
    statement: str


@dataclass
class Overview:
    groups: dict[str, list[Shown]] = field(default_factory=dict)
    timeline: list[Moment] = field(default_factory=list)
    active: int = 0
    applied_now: int = 0  # beliefs that pass the gate now


def source_text(source: Source) -> str:
    return SOURCES.get(source, str(source))


def gate_reasons(beliefs: Sequence[Belief], values: Sequence[float],
                 min_confidence: float) -> list[str | None]:
    """Why each belief would not pass the gate now (None: it would), as in
    personalize.selection.gate: active, at or above ``min_confidence``, best of its slot."""
    best: dict[tuple[str, str], tuple[float, Belief]] = {}
    for belief, value in zip(beliefs, values, strict=True):
        if belief.status == BeliefStatus.ACTIVE and value >= min_confidence:
            held = best.get(belief.slot)
            if held is None or value > held[0]:
                best[belief.slot] = (value, belief)
    reasons: list[str | None] = []
    for belief, value in zip(beliefs, values, strict=True):
        if belief.status != BeliefStatus.ACTIVE:
            reasons.append(f"{belief.status.value}")
        elif value < min_confidence:
            reasons.append(f"confidence {value:.2f} is below the gate ({min_confidence:.2f})")
        elif best[belief.slot][1] is not belief:
            reasons.append(f"outranked by \u201c{best[belief.slot][1].statement}\u201d")
        else:
            reasons.append(None)
    return reasons


def overview(model: SelfModel, min_confidence: float, now: float,
             include_retired: bool = True) -> Overview:
    beliefs = [b for b in model.beliefs
               if include_retired or b.status == BeliefStatus.ACTIVE]
    values = [confidence(b, now) for b in beliefs]
    reasons = gate_reasons(beliefs, values, min_confidence)
    shown = sorted((Shown(b, v, r) for b, v, r in zip(beliefs, values, reasons, strict=True)),
                   key=lambda s: (s.belief.domain, -s.confidence, s.belief.statement))
    result = Overview()
    for item in shown:
        result.groups.setdefault(item.belief.domain, []).append(item)
    result.active = sum(b.status == BeliefStatus.ACTIVE for b in beliefs)
    result.applied_now = sum(r is None for r in reasons)
    newest = heapq.nlargest(TIMELINE, ((e.at, e, b) for b in beliefs for e in b.evidence),
                            key=itemgetter(0))
    result.timeline = [Moment(e, b.statement) for _, e, b in newest]
    return result
