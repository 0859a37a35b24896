"""Tenant insights: what the self-models learned, and whether personalization pays off.

``compute_insights`` is pure: it takes a tenant's self-models, decision records and app
outcomes (read by the caller) and returns one ``Insights`` value that ``GET /v1/insights``
serializes and ``selfmodel insights`` prints. The holdout analysis is ``domain.lift``;
whether per-user personalization is worth it yet is ``domain.readiness``.

The per-user counters are cumulative, so ``since`` narrows decisions and outcomes only.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from selfmodel.domain import lift, readiness, stats
from selfmodel.domain.confidence import alignment_score
from selfmodel.domain.experiments import CONTROL
from selfmodel.domain.lift import Experiment, Outcome
from selfmodel.domain.models import BeliefStatus, DecisionRecord, SelfModel

if TYPE_CHECKING:  # the domain imports nothing of ours at run time but domain/
    from selfmodel.config import ExperimentSettings

ALIGNMENT_BUCKETS = (0.2, 0.4, 0.6, 0.8)


class Summary(BaseModel):
    """A distribution in five numbers (None when there is nothing to summarize)."""

    count: int = 0
    mean: float | None = None
    median: float | None = None
    p10: float | None = None
    p90: float | None = None


class Requests(BaseModel):
    total: int = 0
    personalized: int = 0
    share_personalized: float | None = None
    not_personalized: dict[str, int] = Field(default_factory=dict)  # reason -> requests


class OutcomeTotals(BaseModel):
    events: int
    users: int
    mean: float


class Insights(BaseModel):
    tenant: str
    generated_at: float
    since: float = 0.0
    users: int
    truncated: bool = False  # the store returned its listing limit: figures cover a subset
    beliefs_per_user: Summary
    confident_beliefs_per_user: Summary
    requests: Requests
    kinds: dict[str, int]
    domains: dict[str, int]
    alignment: Summary
    alignment_histogram: dict[str, int]
    freshness_seconds: Summary  # time since each model last changed
    outcomes: dict[str, OutcomeTotals]
    experiments: list[Experiment]
    readiness: readiness.Readiness
    verdict: str


def summarize(values: list[float]) -> Summary:
    return Summary(
        count=len(values),
        mean=stats.mean(values),
        median=stats.median(values),
        p10=stats.quantile(values, 0.1),
        p90=stats.quantile(values, 0.9),
    )


def compute_insights(
    tenant: str,
    models: list[SelfModel],
    decisions: list[DecisionRecord],
    outcomes: list[Outcome],
    *,
    now: float,
    experiment: ExperimentSettings | None = None,
    min_confidence: float = 0.6,
    since: float = 0.0,
) -> Insights:
    """Everything ``GET /v1/insights`` reports. ``experiment``: the tenant's configured one."""
    decisions = [d for d in decisions if d.tenant == tenant and d.at >= since]
    outcomes = [o for o in outcomes if o[3] >= since]
    models = [m for m in models if m.tenant == tenant]
    active = [[b for b in m.beliefs if b.status == BeliefStatus.ACTIVE] for m in models]
    confident = readiness.confident_slots(models, now, min_confidence)
    scores = [alignment_score(m, now) for m in models]
    experiments = lift.analyse(models, decisions, outcomes, experiment)
    ready = readiness.assess(models, confident, now=now, control_share=_share(experiments),
                             control_rates=_control_rates(models, experiments))
    return Insights(
        tenant=tenant,
        generated_at=now,
        since=since,
        users=len(models),
        beliefs_per_user=summarize([float(len(a)) for a in active]),
        confident_beliefs_per_user=summarize([float(len(c)) for c in confident.values()]),
        requests=_requests(decisions),
        kinds=_by_frequency(b.kind.value for beliefs in active for b in beliefs),
        domains=_by_frequency(b.domain for beliefs in active for b in beliefs),
        alignment=summarize(scores),
        alignment_histogram=_histogram(scores),
        freshness_seconds=summarize([now - m.updated_at for m in models if m.updated_at > 0]),
        outcomes=_outcome_totals(outcomes),
        experiments=experiments,
        readiness=ready,
        verdict=experiments[0].verdict if experiments and experiments[0].configured
        else ready.verdict,
    )


def _share(experiments: list[Experiment]) -> float | None:
    running = experiments[0] if experiments and experiments[0].configured else None
    return running.control_share or None if running else None


def _control_rates(models: list[SelfModel], experiments: list[Experiment]) -> list[float] | None:
    """Per-user correction rates of the configured experiment's control arm, if there is one."""
    if not experiments or not experiments[0].configured:
        return None
    name = experiments[0].name
    return readiness.correction_rates([m for m in models if m.experiments.get(name) == CONTROL])


def _by_frequency(items: Iterable[str]) -> dict[str, int]:
    return dict(Counter(items).most_common())


def _histogram(scores: list[float]) -> dict[str, int]:
    edges = (0.0, *ALIGNMENT_BUCKETS, 1.0)
    labels = [f"{lo:.1f}-{hi:.1f}" for lo, hi in itertools.pairwise(edges)]
    counts = dict.fromkeys(labels, 0)
    for score in scores:
        index = sum(score >= edge for edge in ALIGNMENT_BUCKETS)
        counts[labels[index]] += 1
    return counts


def _requests(decisions: list[DecisionRecord]) -> Requests:
    personalized = sum(d.personalized for d in decisions)
    reasons = _by_frequency(d.reason or "unspecified" for d in decisions if not d.personalized)
    return Requests(
        total=len(decisions),
        personalized=personalized,
        share_personalized=personalized / len(decisions) if decisions else None,
        not_personalized=reasons,
    )


def _outcome_totals(outcomes: list[Outcome]) -> dict[str, OutcomeTotals]:
    grouped: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome[1], []).append(outcome)
    return {
        name: OutcomeTotals(events=len(rows), users=len({r[0] for r in rows}),
                            mean=statistics.fmean(r[2] for r in rows))
        for name, rows in sorted(grouped.items())
    }


# -- experiments ---------------------------------------------------------------------------
