"""Which beliefs go into one request: pure functions of the beliefs, the policy and the text.

1. Gate: only ACTIVE beliefs at or above ``policy.min_confidence`` (a wrong guess about a
   person is worse than none), and per slot (domain, key) only the most confident value, so
   two contradicting values are never injected together.
2. Rank: ``score = 0.6 * relevance + 0.3 * confidence + 0.1 * recency``. Relevance to the
   request's recent user text decides among beliefs of similar confidence; recency (half-life
   30 days since the belief was last seen) breaks the remaining ties towards what is current.
3. Communication beliefs (how to answer: length, format, tone, language, jargon...) apply to
   every request whatever it is about, so they are taken first.
4. Fill up to ``policy.max_beliefs`` beliefs and ``policy.token_budget`` tokens of rendered
   statements (counted with cl100k_base), skipping a belief that does not fit and trying the
   next. A statement the injection guard refuses (stored before the guard knew better) is
   skipped too: defence in depth, the guard runs at write time first.
5. One meaning, once: a belief that means what an already chosen one says (same wording,
   or vectors and polarity as ``domain.meaning.same_meaning`` decides) is skipped. Writes
   merge such beliefs already; this keeps data stored before that from saying it twice.
6. Cold start: when no belief passes the gate, the tenant's ``policy.defaults``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from selfmodel.config import Policy
from selfmodel.domain.confidence import confidence as belief_confidence
from selfmodel.domain.models import Belief, BeliefStatus
from selfmodel.domain.safety import instruction_reason
from selfmodel.personalize.relevance import Relevance
from selfmodel.personalize.semantic import HybridRelevance, twin_among

RELEVANCE_WEIGHT = 0.6
CONFIDENCE_WEIGHT = 0.3
RECENCY_WEIGHT = 0.1
RECENCY_HALF_LIFE = 30 * 86_400.0
COMMUNICATION_DOMAINS = frozenset({"communication", "style"})
COMMUNICATION_KEYS = frozenset(
    {
        "response_length", "length", "verbosity", "detail", "detail_level", "format",
        "formatting", "structure", "tone", "formality", "language", "jargon", "style",
        "emoji", "emojis", "units", "code_first", "examples",
    }
)

ConfidenceFn = Callable[[Belief, float], float]
Measure = Callable[[str], int]


class Scored(NamedTuple):
    """A belief that passed the gate, with the numbers that ranked it (a named tuple, not a
    frozen dataclass: one is made per belief looked at, and that init was the dearer part)."""

    belief: Belief
    confidence: float
    relevance: float
    recency: float
    score: float
    always: bool  # a communication belief: applies to every request


@dataclass
class Selection:
    chosen: list[Scored] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    cold_start: bool = False
    tokens: int = 0  # tokens of the chosen statements (or defaults), as rendered
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (belief id, why)


def is_communication(belief: Belief) -> bool:
    """Beliefs about how to answer (not what about): they apply to every request.

    The communication domain, or a style key on a belief filed under ``general`` (a
    ``language`` key in a ``tech`` domain is a programming language, not a reply language).
    """
    if belief.domain in COMMUNICATION_DOMAINS:
        return True
    return belief.domain == "general" and belief.key in COMMUNICATION_KEYS


def recency(belief: Belief, now: float) -> float:
    """1.0 when last seen now, 0.5 a half-life ago."""
    age = max(0.0, now - (belief.last_seen or belief.ref_at))
    return math.exp(age * _DECAY)


_DECAY = -math.log(2.0) / RECENCY_HALF_LIFE


def gate(
    beliefs: Sequence[Belief], min_confidence: float, now: float, confidence: ConfidenceFn
) -> list[tuple[Belief, float]]:
    """Active beliefs at or above ``min_confidence``, the most confident one per slot."""
    status = BeliefStatus.ACTIVE  # read once: an enum member lookup costs more than the test
    active = [belief for belief in beliefs if belief.status is status]
    best: dict[tuple[str, str], tuple[Belief, float]] = {}
    for belief, value in zip(active, _confidences(active, now, confidence), strict=True):
        if value < min_confidence:
            continue
        slot = (belief.domain, belief.key)  # ``belief.slot`` without a property call: hot loop
        current = best.get(slot)
        if current is None or value > current[1]:
            best[slot] = (belief, value)
    return list(best.values())


def _confidences(beliefs: Sequence[Belief], now: float, confidence: ConfidenceFn) -> list[float]:
    """``confidence(belief, now)`` of each belief; a ``CachedConfidence`` answers for all of
    them in one call (a method call per belief was a quarter of the gate's time)."""
    if isinstance(confidence, CachedConfidence):
        return confidence.many(beliefs, now)
    return [confidence(belief, now) for belief in beliefs]


def rank(
    passed: Sequence[tuple[Belief, float]],
    conversation: str,
    now: float,
    relevance: Relevance,
) -> list[Scored]:
    """Gated beliefs scored and sorted, best first (communication beliefs not moved up)."""
    factors = _factors(passed, conversation, now, relevance)
    order = sorted(range(len(passed)), key=factors.scores.__getitem__, reverse=True)
    return [factors.scored(passed, i) for i in order]


@dataclass(frozen=True)
class _Factors:
    """The ranking numbers of every gated belief, by position (plain floats: the hot loop)."""

    scores: list[float]
    relevance: list[float]
    recency: list[float]

    def scored(self, passed: Sequence[tuple[Belief, float]], i: int) -> Scored:
        belief, value = passed[i]
        return Scored(belief, value, self.relevance[i], self.recency[i], self.scores[i],
                      is_communication(belief))


def _factors(
    passed: Sequence[tuple[Belief, float]], conversation: str, now: float, relevance: Relevance
) -> _Factors:
    """Relevance, recency and the score of each gated belief, each computed once."""
    if not passed:
        return _Factors([], [], [])
    relevant = relevance(conversation, [belief for belief, _ in passed])
    recent = _recencies(passed, now)
    scores = [
        RELEVANCE_WEIGHT * rel + CONFIDENCE_WEIGHT * value + RECENCY_WEIGHT * rec
        for (_, value), rel, rec in zip(passed, relevant, recent, strict=True)
    ]
    return _Factors(scores, relevant, recent)


def _recencies(passed: Sequence[tuple[Belief, float]], now: float) -> list[float]:
    """``recency`` of each gated belief: the same formula inlined (a call to it, and to
    ``max``, per belief were a visible share of ranking a large model). An age of zero or
    less gives exactly 1.0, as ``exp(0.0)`` does."""
    exp = math.exp
    decay = _DECAY
    return [
        exp(age * decay) if (age := now - (b.last_seen or b.ref_at)) > 0.0 else 1.0
        for b, _ in passed
    ]


def select(
    beliefs: Sequence[Belief],
    *,
    policy: Policy,
    conversation: str,
    now: float,
    measure: Measure,
    relevance: Relevance | None = None,
    confidence: ConfidenceFn = belief_confidence,
    passed: Sequence[tuple[Belief, float]] | None = None,
) -> Selection:
    """The beliefs (or cold-start defaults) to inject into one request. ``passed``: the
    result of ``gate`` on these beliefs at this moment, when the caller has it already."""
    if passed is None:
        passed = gate(beliefs, policy.min_confidence, now, confidence)
    if not passed:
        defaults, used = _fit_defaults(policy, measure)
        return Selection(defaults=defaults, cold_start=True, tokens=used)
    factors = _factors(passed, conversation, now, relevance or default_relevance())
    ordered = (factors.scored(passed, i) for i in _priority(passed, factors.scores))
    selection = _fill(ordered, policy, measure)
    selection.chosen.sort(key=lambda s: s.score, reverse=True)
    return selection


def _priority(passed: Sequence[tuple[Belief, float]], scores: list[float]) -> list[int]:
    """Positions in fill order: communication beliefs first, each group best score first.

    Each group is sorted on its own: the same order as sorting everything and then
    partitioning (both sorts are stable), with one sort of each part instead of a filter
    pass over the whole ranking.
    """
    talk: list[int] = []
    rest: list[int] = []
    for i, (belief, _) in enumerate(passed):
        (talk if is_communication(belief) else rest).append(i)
    key = scores.__getitem__
    return [*sorted(talk, key=key, reverse=True), *sorted(rest, key=key, reverse=True)]


def _fill(ordered: Iterable[Scored], policy: Policy, measure: Measure) -> Selection:
    """Greedy fill in priority order within max_beliefs and the token budget, skipping a
    belief that means what a chosen one says.

    ``ordered`` is consumed lazily: only the beliefs looked at become ``Scored`` objects.
    """
    selection = Selection()
    chosen: list[Belief] = []
    for scored in ordered:
        if len(selection.chosen) >= policy.max_beliefs or selection.tokens >= policy.token_budget:
            break
        reason = statement_refusal(scored.belief.statement)
        if not scored.belief.statement.strip():
            reason = "empty statement"
        if reason:
            selection.skipped.append((scored.belief.id, reason))
            continue
        twin = twin_among(scored.belief, chosen) if chosen else None
        if twin is not None:
            selection.skipped.append((scored.belief.id, f"same meaning as {twin.id}"))
            continue
        cost = measure(scored.belief.statement)
        if selection.tokens + cost > policy.token_budget:
            selection.skipped.append((scored.belief.id, "over the token budget"))
            continue
        selection.chosen.append(scored)
        chosen.append(scored.belief)
        selection.tokens += cost
    return selection


def _fit_defaults(policy: Policy, measure: Measure) -> tuple[list[str], int]:
    used = 0
    out: list[str] = []
    for text in policy.defaults[: policy.max_beliefs]:
        cost = measure(text)
        if used + cost <= policy.token_budget:
            out.append(text)
            used += cost
    return out, used


@lru_cache(maxsize=16384)
def statement_refusal(statement: str) -> str | None:
    """The injection guard, cached: the same statements come back on every request."""
    return instruction_reason(statement)


@lru_cache(maxsize=1)
def default_relevance() -> Relevance:
    return HybridRelevance()


class CachedConfidence:
    """``confidence(belief, now)`` memoized per belief state and minute.

    Confidence moves with time at the pace of half-lives measured in days, so a value
    computed within the same minute is the same to three decimals; the hot path then pays
    one dictionary lookup instead of the exponentials for each of a user's beliefs. Every
    applied observation changes a belief's key, so the table is cleared when full: 4,096
    entries (about 1 MB) bound the memory a busy gateway spends on it. It is asked only when
    the Personalizer's per-user gate misses (a new model version or minute), so a small table
    serves; a large one mostly held keys of versions long gone, and a slow climb of memory.
    """

    def __init__(self, fn: ConfidenceFn = belief_confidence, max_entries: int = 4096) -> None:
        self._fn = fn
        self._max = max_entries
        self._values: dict[tuple[object, ...], float] = {}

    def __call__(self, belief: Belief, now: float) -> float:
        key = (belief.id, belief.support, belief.against, belief.ref_at, now // 60)
        value = self._values.get(key)
        return self._compute(key, belief, now) if value is None else value

    def many(self, beliefs: Sequence[Belief], now: float) -> list[float]:
        """``self(belief, now)`` for each belief, the lookups inlined in one loop."""
        minute = now // 60
        values = self._values
        out: list[float] = []
        for belief in beliefs:
            key = (belief.id, belief.support, belief.against, belief.ref_at, minute)
            value = values.get(key)
            out.append(self._compute(key, belief, now) if value is None else value)
        return out

    def _compute(self, key: tuple[object, ...], belief: Belief, now: float) -> float:
        if len(self._values) >= self._max:
            self._values.clear()
        value = self._values[key] = self._fn(belief, now)
        return value
