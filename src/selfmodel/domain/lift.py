"""Holdout analysis: per-arm outcomes, the lift with its 95% interval, and a plain verdict.

How the experiment is analysed, and why:
- Intention to treat: a user counts in the arm recorded in ``SelfModel.experiments``, whether
  or not they ever had a confident belief to inject. Dropping personalized users with thin
  models would compare the most engaged users against everyone and flatter the result.
- The user is the unit of randomization, so it is the unit of analysis: each metric is a
  per-user rate (corrections / exchanges, ...) averaged over the arm's users, and the lift's
  95% interval is Welch's (``domain.stats``). A few chatty users cannot manufacture a lift.
- The primary metric is the correction rate (lower is better), because the gateway sees it
  for every tenant. The feedback up-share is "higher is better". Follow-ups, tokens,
  conversation length and app outcomes have no agreed good direction, so they are reported as
  higher / lower, never as better / worse.
- App outcomes: each user's mean value of that outcome name, over users who have one. Post 0
  as well as 1 (e.g. ``converted``) when a rate is meant: absent users are not zeros.

Verdict thresholds: fewer than ``MIN_USERS_PER_ARM`` users with exchanges in either arm is
"not enough data" whatever the interval says; an interval that includes zero is "no
measurable lift" once the experiment has the users needed to detect a ``TARGET_LIFT``
(5-point) change at 80% power, and "not enough data yet" before that.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from selfmodel.domain import readiness, stats
from selfmodel.domain.experiments import ARMS, CONTROL, PERSONALIZED
from selfmodel.domain.models import DecisionRecord, SelfModel
from selfmodel.domain.readiness import TARGET_LIFT

if TYPE_CHECKING:  # the domain imports nothing of ours at run time but domain/
    from selfmodel.config import ExperimentSettings

Outcome = tuple[str, str, float, float]  # (user_id, name, value, at), as the store lists them
Direction = Literal["lower", "higher"] | None
Result = Literal["better", "worse", "higher", "lower", "no measurable difference"]
PerUser = Callable[[SelfModel], float | None]

MIN_USERS_PER_ARM = 20  # below this a verdict is "not enough data", whatever the interval says


class ArmEstimate(BaseModel):
    users: int  # users contributing a value
    mean: float | None = None


class Lift(BaseModel):
    """Personalized minus control, with its 95% interval over users."""

    difference: float
    low: float
    high: float
    relative: float | None  # difference / control mean
    result: Result


class Metric(BaseModel):
    name: str
    better_when: Direction = None
    arms: dict[str, ArmEstimate]
    lift: Lift | None = None


class ArmTotals(BaseModel):
    users: int = 0
    exchanges: float = 0.0
    requests: int = 0  # decision records of the arm (configured experiment only)
    personalized_requests: int = 0


class Experiment(BaseModel):
    name: str
    configured: bool  # False: users still carry this name's arm, but it is no longer set
    control_share: float | None = None
    arms: dict[str, ArmTotals]
    metrics: list[Metric]
    users_needed: int  # to detect a TARGET_LIFT change in correction rate at this split
    verdict: str


def analyse(
    models: list[SelfModel],
    decisions: list[DecisionRecord],
    outcomes: list[Outcome],
    configured: ExperimentSettings | None,
) -> list[Experiment]:
    """The configured experiment first (once it has a share or users), then ended ones.

    A configured experiment whose share is now 0 still holds its recorded users in their arms
    (``assign_arm``), so it is reported as running while anyone is recorded in it.
    """
    names = sorted({name for m in models for name in m.experiments})
    share: dict[str, float] = {}
    if configured is not None and (configured.control_share > 0 or configured.name in names):
        share[configured.name] = configured.control_share
        names = [configured.name, *(n for n in names if n != configured.name)]
    per_user = _per_user_outcomes(outcomes)
    return [_experiment(n, models, decisions, per_user, share.get(n)) for n in names]


def _experiment(
    name: str,
    models: list[SelfModel],
    decisions: list[DecisionRecord],
    per_user: dict[str, dict[str, float]],
    share: float | None,
) -> Experiment:
    """One experiment's report. Decision records carry the arm but not the experiment's name,
    so they are counted for the configured experiment (``share`` given) only."""
    arms = {arm: [m for m in models if m.experiments.get(name) == arm] for arm in ARMS}
    mine = decisions if share is not None else []
    metrics = _metrics(arms, per_user)
    return Experiment(
        name=name,
        configured=share is not None,
        control_share=share,
        arms={arm: _totals(users, mine, arm) for arm, users in arms.items()},
        metrics=metrics,
        users_needed=(needed := _users_needed(arms, share)),
        verdict=experiment_verdict(metrics[0], needed),
    )


def _users_needed(arms: dict[str, list[SelfModel]], share: float | None) -> int:
    """Users to detect a TARGET_LIFT change at this split, and at least MIN_USERS_PER_ARM a side."""
    rates = readiness.correction_rates([m for users in arms.values() for m in users])
    split = min(max(share or _observed_share(arms), 0.01), 0.99)
    by_power = stats.users_needed(readiness.spread(rates), TARGET_LIFT, split)
    return max(by_power, math.ceil(MIN_USERS_PER_ARM / min(split, 1 - split)))


def _observed_share(arms: dict[str, list[SelfModel]]) -> float:
    """The control share users were actually assigned at (for an ended or zeroed experiment)."""
    users = sum(len(v) for v in arms.values())
    return len(arms[CONTROL]) / users if users else readiness.DEFAULT_SHARE


def _totals(users: list[SelfModel], decisions: list[DecisionRecord], arm: str) -> ArmTotals:
    mine = [d for d in decisions if d.arm == arm]
    return ArmTotals(
        users=len(users),
        exchanges=sum(m.stats.get("exchanges", 0.0) for m in users),
        requests=len(mine),
        personalized_requests=sum(d.personalized for d in mine),
    )



def _ratio(numerator: str, denominator: str | tuple[str, ...]) -> PerUser:
    """A per-user rate of two counters; None for a user with nothing in the denominator."""
    keys = (denominator,) if isinstance(denominator, str) else denominator

    def rate(model: SelfModel) -> float | None:
        base = sum(model.stats.get(k, 0.0) for k in keys)
        return model.stats.get(numerator, 0.0) / base if base > 0 else None

    return rate


def _exchanges(model: SelfModel) -> float | None:
    return model.stats.get("exchanges", 0.0) or None


BUILT_IN: tuple[tuple[str, Direction, PerUser], ...] = (
    ("correction_rate", "lower", _ratio("corrections", "exchanges")),
    ("feedback_up_share", "higher", _ratio("feedback_up", ("feedback_up", "feedback_down"))),
    ("follow_up_rate", None, _ratio("follow_ups", "exchanges")),
    ("tokens_per_exchange", None, _ratio("tokens", "exchanges")),
    ("exchanges_per_user", None, _exchanges),
)


def _metrics(
    arms: dict[str, list[SelfModel]], per_user: dict[str, dict[str, float]]
) -> list[Metric]:
    metrics = [_metric(name, better, arms, fn) for name, better, fn in BUILT_IN]
    names = sorted({n for values in per_user.values() for n in values})
    for outcome in names:
        def value(model: SelfModel, outcome: str = outcome) -> float | None:
            return per_user.get(model.user_id, {}).get(outcome)

        metrics.append(_metric(f"outcome:{outcome}", None, arms, value))
    return metrics


def _metric(
    name: str, better: Direction, arms: dict[str, list[SelfModel]], fn: PerUser
) -> Metric:
    values = {arm: [v for v in map(fn, users) if v is not None] for arm, users in arms.items()}
    estimates = {arm: ArmEstimate(users=len(v), mean=stats.mean(v)) for arm, v in values.items()}
    return Metric(name=name, better_when=better, arms=estimates,
                  lift=_lift(values[CONTROL], values[PERSONALIZED], better))


def _lift(control: list[float], personalized: list[float], better: Direction) -> Lift | None:
    diff = stats.welch(control, personalized)
    if diff is None:
        return None
    base = statistics.fmean(control)
    return Lift(
        difference=diff.diff,
        low=diff.low,
        high=diff.high,
        relative=diff.diff / base if base else None,
        result=_result(diff, better),
    )


def _result(diff: stats.Difference, better: Direction) -> Result:
    if not diff.excludes_zero:
        return "no measurable difference"
    if better is None:
        return "higher" if diff.diff > 0 else "lower"
    return "better" if (diff.diff < 0) == (better == "lower") else "worse"


def _per_user_outcomes(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """user -> outcome name -> that user's mean value (each user one observation)."""
    sums: dict[tuple[str, str], list[float]] = {}
    for user_id, name, value, _at in outcomes:
        sums.setdefault((user_id, name), []).append(value)
    result: dict[str, dict[str, float]] = {}
    for (user_id, name), values in sums.items():
        result.setdefault(user_id, {})[name] = statistics.fmean(values)
    return result


def experiment_verdict(correction: Metric, needed: int) -> str:
    """A plain sentence on the correction-rate result; thresholds are the module constants."""
    control, personalized = correction.arms[CONTROL], correction.arms[PERSONALIZED]
    users = control.users + personalized.users
    lift = correction.lift
    if min(control.users, personalized.users) < MIN_USERS_PER_ARM or lift is None:
        return (f"Not enough data yet: {users} users with exchanges ({control.users} control, "
                f"{personalized.users} personalized); need ~{needed} to detect a "
                f"{_points(TARGET_LIFT)}-point change in correction rate, and at least "
                f"{MIN_USERS_PER_ARM} in each arm.")
    rates = (f"correction rate {_pct(control.mean)} in control vs {_pct(personalized.mean)} "
             f"personalized ({_signed_points(lift.difference)} points, 95% CI "
             f"{_signed_points(lift.low)}..{_signed_points(lift.high)}, {users} users)")
    if lift.result == "better":
        return f"Personalization shows a lift: {rates}."
    if lift.result == "worse":
        return (f"Personalized answers are corrected more often than generic ones: {rates}. "
                "Review the beliefs being applied (GET /v1/decisions/{id}) before widening it.")
    if users >= needed:
        return f"No measurable lift: {rates}."
    return (f"Not enough data yet to tell: {rates}; need ~{needed} users to detect a "
            f"{_points(TARGET_LIFT)}-point change.")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _points(value: float) -> str:
    return f"{value * 100:g}"


def _signed_points(value: float) -> str:
    return f"{value * 100:+.1f}"
