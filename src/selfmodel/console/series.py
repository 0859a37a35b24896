"""Rates over time for the insights page: per day, from decision records and evidence.

The per-user counters behind ``GET /v1/insights`` are cumulative, so the days come from what
carries a time: decision records (a request with a user, personalized or not) and evidence
of source ``correction`` in the models (the user corrected an answer; one per observation).

- correction rate of a day = corrections / requests with a user that day;
- alignment of a day = (personalized answers not corrected + 1) / (personalized + 2), the
  alignment score's formula applied to that day's answers alone (0.5 with no answers).

Decision records are kept ``server.decision_retention_days`` and evidence chains hold each
belief's newest pieces only, so older days may show fewer corrections than there were; the
page says so. Pure: the caller reads the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from selfmodel.domain.models import DecisionRecord, SelfModel, Source

DAY = 86_400.0
UNOBSERVED = ("no consent", "store unavailable")


@dataclass(frozen=True)
class Day:
    day: str  # YYYY-MM-DD (UTC)
    requests: int
    personalized: int
    corrections: int

    @property
    def correction_rate(self) -> float | None:
        return self.corrections / self.requests if self.requests else None

    @property
    def alignment(self) -> float | None:
        if not self.personalized:
            return None
        corrected = min(self.corrections, self.personalized)
        return (self.personalized - corrected + 1) / (self.personalized + 2)


def label(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def daily(decisions: Sequence[DecisionRecord], models: Sequence[SelfModel], *, now: float,
          days: int = 14) -> list[Day]:
    """The last ``days`` days (UTC), oldest first, today included."""
    start = (now // DAY - days + 1) * DAY
    labels = [label(start + i * DAY) for i in range(days)]
    requests = dict.fromkeys(labels, 0)
    personalized = dict.fromkeys(labels, 0)
    corrections = dict.fromkeys(labels, 0)
    for record in decisions:
        if record.at < start or record.user_id is None or record.reason.startswith(UNOBSERVED):
            continue
        day = label(record.at)
        if day in requests:
            requests[day] += 1
            personalized[day] += record.personalized
    for at in _corrections(models, start):
        day = label(at)
        if day in corrections:
            corrections[day] += 1
    return [Day(d, requests[d], personalized[d], corrections[d]) for d in labels]


def _corrections(models: Sequence[SelfModel], start: float) -> list[float]:
    """The time of each correction since ``start``, one per (user, observation)."""
    seen: dict[tuple[str, str], float] = {}
    for model in models:
        for belief in model.beliefs:
            if belief.last_seen and belief.last_seen < start:
                continue
            for item in belief.evidence:
                if item.source == Source.CORRECTION and item.at >= start:
                    seen[(model.user_id, item.observation_id)] = item.at
    return list(seen.values())
