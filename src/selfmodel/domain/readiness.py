"""Readiness: is per-user personalization worth it for this tenant yet? An honest answer.

Three signals, each with a documented threshold:
- Active users (a model changed or an exchange happened in the last 7 / 30 days) against the
  users a holdout needs to detect a ``TARGET_LIFT`` (5-point) change in correction rate at the
  configured control share (10% when none is configured). Fewer: nothing can be measured yet.
- Profile diversity: the mean pairwise Jaccard distance between users' confident
  ``domain/key=value`` sets (0: everyone alike, 1: nothing in common), on a seeded sample of at
  most ``DIVERSITY_SAMPLE`` users. Below ``LOW_DIVERSITY`` the tenant's defaults (one prompt
  for everyone) may do as well as per-user models.
- Generic-answer correction rate: the control arm's per-user correction rate when a holdout
  runs; otherwise every user's (which includes personalized answers, and says so). Below
  ``LOW_CORRECTION`` generic answers rarely miss, so there is little to fix.
"""

from __future__ import annotations

import itertools
import random
import statistics

from pydantic import BaseModel

from selfmodel.domain import stats
from selfmodel.domain.confidence import confidence
from selfmodel.domain.models import BeliefStatus, SelfModel

DAY = 86_400.0
TARGET_LIFT = 0.05  # the change in correction rate (5 points) a test is sized to detect
DEFAULT_SHARE = 0.1  # the holdout we suggest, and size for, when none is configured
DEFAULT_SPREAD = 0.25  # per-user correction-rate SD assumed before two users have exchanges
MIN_SPREAD = 0.05  # floor, so a handful of identical users does not claim "need ~0"
DIVERSITY_SAMPLE = 300  # users compared pairwise (44,850 pairs at most)
LOW_DIVERSITY = 0.3
LOW_CORRECTION = 0.05


class Readiness(BaseModel):
    active_users_7d: int
    active_users_30d: int
    users_with_profile: int  # users with at least one confident belief
    profile_diversity: float | None
    generic_correction_rate: float | None
    generic_correction_source: str
    users_needed: int  # for a TARGET_LIFT change at the configured (or suggested) share
    notes: list[str]
    verdict: str


def confident_slots(
    models: list[SelfModel], now: float, min_confidence: float
) -> dict[str, frozenset[str]]:
    """user id -> the ``domain/key=value`` of the active beliefs the gateway would inject."""
    return {
        m.user_id: frozenset(
            f"{b.domain}/{b.key}={b.value}" for b in m.beliefs
            if b.status == BeliefStatus.ACTIVE and confidence(b, now) >= min_confidence
        )
        for m in models
    }


def spread(rates: list[float]) -> float:
    """The SD of per-user rates for sizing a test, with a prior when there is too little data."""
    if len(rates) < 2:
        return DEFAULT_SPREAD
    return max(statistics.stdev(rates), MIN_SPREAD)


def diversity(profiles: list[frozenset[str]]) -> float | None:
    """Mean pairwise Jaccard distance of non-empty profiles; None with fewer than two."""
    profiles = [p for p in profiles if p]
    if len(profiles) > DIVERSITY_SAMPLE:
        profiles = random.Random(0).sample(profiles, DIVERSITY_SAMPLE)
    if len(profiles) < 2:
        return None
    distances = [1 - len(a & b) / len(a | b) for a, b in itertools.combinations(profiles, 2)]
    return statistics.fmean(distances)


def active_users(models: list[SelfModel], now: float, days: float) -> int:
    cutoff = now - days * DAY
    return sum(max(m.last_exchange_at, m.updated_at) >= cutoff for m in models)


def correction_rates(models: list[SelfModel]) -> list[float]:
    """Per-user corrections / exchanges, for users with at least one exchange."""
    return [
        m.stats.get("corrections", 0.0) / m.stats["exchanges"]
        for m in models if m.stats.get("exchanges", 0.0) > 0
    ]


def assess(
    models: list[SelfModel],
    profiles: dict[str, frozenset[str]],
    *,
    now: float,
    control_share: float | None,
    control_rates: list[float] | None,
) -> Readiness:
    """The three signals and a verdict. ``control_rates``: the running holdout's control arm."""
    everyone = correction_rates(models)
    generic, source = _generic(everyone, control_rates)
    share = control_share or DEFAULT_SHARE
    needed = stats.users_needed(spread(everyone), TARGET_LIFT, share)
    ordered = [profiles[k] for k in sorted(profiles)]
    signals = Readiness(
        active_users_7d=active_users(models, now, 7),
        active_users_30d=active_users(models, now, 30),
        users_with_profile=sum(bool(p) for p in ordered),
        profile_diversity=diversity(ordered),
        generic_correction_rate=generic,
        generic_correction_source=source,
        users_needed=needed,
        notes=[],
        verdict="",
    )
    signals.notes = _notes(signals, share)
    signals.verdict = _verdict(signals, len(models), control_share is not None)
    return signals


def _generic(everyone: list[float], control: list[float] | None) -> tuple[float | None, str]:
    if control:
        return statistics.fmean(control), "control arm"
    if everyone:
        return statistics.fmean(everyone), "all users: no holdout, includes personalized answers"
    return None, "no exchanges yet"


def _notes(r: Readiness, share: float) -> list[str]:
    notes = []
    if r.active_users_30d < r.users_needed:
        notes.append(f"{r.active_users_30d} users active in the last 30 days; a {share:.0%} "
                     f"holdout needs ~{r.users_needed} to detect a "
                     f"{TARGET_LIFT * 100:g}-point change in correction rate.")
    if r.profile_diversity is None:
        notes.append("Fewer than two users have confident beliefs, so profiles cannot be "
                     "compared yet.")
    elif r.profile_diversity < LOW_DIVERSITY:
        notes.append(f"Users' profiles are much alike (diversity {r.profile_diversity:.2f} of "
                     "1): the tenant's defaults may serve them as well as per-user models.")
    if r.generic_correction_rate is not None and r.generic_correction_rate < LOW_CORRECTION:
        notes.append(f"Answers are rarely corrected ({r.generic_correction_rate:.1%}): there is "
                     "little for personalization to fix.")
    return notes


def _verdict(r: Readiness, users: int, holdout: bool) -> str:
    if users == 0:
        return ("No users yet: send requests with a user id (the 'user' field) and the "
                "models will start learning.")
    if r.active_users_30d < r.users_needed:
        return "Too early to measure a lift: " + r.notes[0]
    if r.notes:
        return "Per-user personalization may add little here: " + " ".join(r.notes)
    next_step = ("The running holdout will measure the lift." if holdout else
                 "Measure it: set experiment: {control_share: 0.1} for this tenant.")
    return (f"Worth measuring: {r.active_users_30d} active users with distinct profiles "
            f"(diversity {r.profile_diversity:.2f}) who correct "
            f"{r.generic_correction_rate or 0:.0%} of answers. {next_step}")
