"""Why one request was personalized the way it was, from its decision record.

The record keeps what was decided at request time: the beliefs applied (with their
confidence then and the evidence ids behind them), the exact block added, the template and
its version, the experiment arm, and why the other beliefs were left out (counts by reason,
and the ids of up to a few that passed the gate). Statements and quotes are looked up in the
user's model as it is now; a belief changed or forgotten since is said to be so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selfmodel.config import Policy
from selfmodel.domain.models import AppliedBelief, DecisionRecord, Evidence, SelfModel

REASONS = {
    "gate": "not applied by the gate: not active, below the minimum confidence of {gate}, or "
            "outranked by a more confident value of the same slot",
    "relevance": "ranked below the cut: {max_beliefs} beliefs were already chosen (ranking: "
                 "relevance to the request 60%, confidence 30%, recency 10%)",
    "budget": "did not fit the token budget of {budget} tokens",
    "refused": "refused by the injection guard when the block was rendered",
}


@dataclass(frozen=True)
class Applied:
    belief: AppliedBelief
    evidence: list[Evidence]  # the supporting evidence still in the model, newest first
    gone: bool  # the belief is no longer in the model (forgotten, erased, edited away)


@dataclass(frozen=True)
class LeftOut:
    belief_id: str
    statement: str | None  # None: no longer in the model
    reason: str


@dataclass
class Explanation:
    record: DecisionRecord
    applied: list[Applied] = field(default_factory=list)
    reasons: list[tuple[str, int, str]] = field(default_factory=list)  # (code, count, words)
    left_out: list[LeftOut] = field(default_factory=list)


def reason_text(code: str, policy: Policy) -> str:
    template = REASONS.get(code, code)
    return template.format(gate=f"{policy.min_confidence:.2f}",
                           max_beliefs=policy.max_beliefs, budget=policy.token_budget)


def explain(record: DecisionRecord, model: SelfModel | None, policy: Policy) -> Explanation:
    beliefs = {b.id: b for b in model.beliefs} if model else {}
    result = Explanation(record)
    for applied in record.beliefs:
        held = beliefs.get(applied.id)
        wanted = set(applied.evidence_ids)
        evidence = [e for e in reversed(held.evidence) if e.observation_id in wanted] \
            if held else []
        result.applied.append(Applied(applied, evidence, held is None))
    for code, count in record.left_out.items():
        result.reasons.append((code, count, reason_text(code, policy)))
    for bid, code in record.left_out_ids.items():
        held = beliefs.get(bid)
        result.left_out.append(LeftOut(bid, held.statement if held else None,
                                       reason_text(code, policy)))
    return result
