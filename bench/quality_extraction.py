"""Extraction quality: does the extractor store the gold preference, and nothing on small talk?

Every message goes through the production path: ``observer.apply.apply_observation`` on a
real SQLite store, so the injection guard, the tenant policy and the update rules apply
exactly as they do behind the gateway. Each PrefEval record gets its own user.

- explicit: the ``preference`` sentence is one user turn; hit when the beliefs it stored
  match the gold (bench/quality_match.py: the beliefs one message stored are read together,
  since "I avoid X and prefer Y" is rightly two beliefs).
- implicit: the conversation's user turns in order (each with the answer it follows as
  ``previous_assistant``, as the gateway records them); hit when the beliefs stored from one
  of its turns match the gold and are still active at the end.
- small talk: the implicit conversations' turns other than the revealing one, kept only when
  they share less than ``SMALL_TALK_MAX`` of the gold's content words (so a paraphrase of the
  preference is never counted as small talk); a false belief is any belief whose evidence
  comes from such a turn. PrefEval's small talk is rich in real self-disclosure ("I've been a
  nurse for 15 years"), so the row also reports preference-kind beliefs alone; the
  hand-written fixture (tests/data/quality_smalltalk.txt) has no self-disclosure at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.quality_data import Conversation, Preference
from bench.quality_match import coverage, matches_gold
from selfmodel.config import Policy
from selfmodel.domain.models import Belief, BeliefStatus, Kind, Observation, SelfModel
from selfmodel.observer.apply import Extractor, apply_observation
from selfmodel.store import open_store
from selfmodel.store.base import Store

TENANT = "quality"
SMALL_TALK_MAX = 0.25


@dataclass
class Outcome:
    """Hits per topic (for the split columns) and the misses, for reading."""

    hits: dict[str, list[bool]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, topic: str, hit: bool, example: str = "") -> None:
        self.hits.setdefault(topic, []).append(hit)
        if example and len(self.examples) < 400:
            self.examples.append(example)

    def share(self, topics: Sequence[str] | None = None) -> tuple[float, int]:
        values = [v for t, vs in self.hits.items() if topics is None or t in topics for v in vs]
        return (sum(values) / len(values) if values else float("nan")), len(values)


@dataclass
class SmallTalk:
    any_belief: Outcome = field(default_factory=Outcome)
    preference: Outcome = field(default_factory=Outcome)


def belief_text(belief: Belief) -> str:
    return f"{belief.statement} {belief.value}"


def together(beliefs: Sequence[Belief]) -> str:
    """The text of the beliefs one message stored, read as one."""
    return " ".join(belief_text(b) for b in beliefs)


def active(model: SelfModel | None) -> list[Belief]:
    if model is None:
        return []
    return [b for b in model.beliefs if b.status is BeliefStatus.ACTIVE and b.support > 0]


def from_observation(model: SelfModel | None, observation_id: str) -> list[Belief]:
    """Beliefs that this observation supported (evidence for, not against)."""
    return [b for b in active(model)
            if any(e.observation_id == observation_id and e.polarity > 0 for e in b.evidence)]


class Runner:
    """Applies observations for fresh users on one SQLite store, a few users at a time."""

    def __init__(self, store: Store, extractor: Extractor, concurrency: int = 4) -> None:
        self.store = store
        self.extractor = extractor
        self.policy = Policy()
        self._gate = asyncio.Semaphore(concurrency)
        self._count = 0

    def observation(self, user: str, content: str, previous: str = "",
                    assistant: str = "") -> Observation:
        self._count += 1
        return Observation(id=f"obs_q{self._count}", tenant=TENANT, user_id=user,
                           content=content, previous_assistant=previous, assistant=assistant,
                           at=time.time(), source="gateway")

    async def apply(self, observation: Observation) -> SelfModel | None:
        return await apply_observation(self.store, self.extractor, observation,
                                       policy=self.policy)

    async def bounded(self, job: Awaitable[None]) -> None:
        async with self._gate:
            await job


async def run_explicit(runner: Runner, records: Sequence[Preference]) -> Outcome:
    outcome = Outcome()

    async def one(n: int, record: Preference) -> None:
        observation = runner.observation(f"x{n}", record.preference)
        beliefs = from_observation(await runner.apply(observation), observation.id)
        hit = matches_gold(record.preference, together(beliefs))
        stored = "; ".join(b.statement for b in beliefs) or "(nothing)"
        outcome.add(record.topic, hit, "" if hit else f"{record.preference} -> {stored}")

    await asyncio.gather(*(runner.bounded(one(n, r)) for n, r in enumerate(records)))
    return outcome


async def run_implicit(runner: Runner,
                       conversations: Sequence[Conversation]) -> tuple[Outcome, SmallTalk]:
    outcome, talk = Outcome(), SmallTalk()

    async def one(n: int, conv: Conversation) -> None:
        user = f"i{n}"
        recalls = [coverage(conv.preference, u)[0] for u, _ in conv.turns]
        revealing = max(range(len(recalls)), key=recalls.__getitem__) if recalls else -1
        previous, model, turn_ids = "", None, []
        for k, (user_text, answer) in enumerate(conv.turns):
            observation = runner.observation(user, user_text, previous, answer)
            model = await runner.apply(observation)
            turn_ids.append(observation.id)
            previous = answer
            if k != revealing and recalls[k] < SMALL_TALK_MAX:
                made = from_observation(model, observation.id)
                note = f"{user_text[:160]} -> {'; '.join(b.statement for b in made)}"
                talk.any_belief.add(conv.topic, bool(made), note if made else "")
                prefs = [b for b in made if b.kind is Kind.PREFERENCE]
                talk.preference.add(conv.topic, bool(prefs), note if prefs else "")
        beliefs = active(model)
        hit = any(matches_gold(conv.preference, together(from_observation(model, oid)))
                  for oid in turn_ids)
        stored = "; ".join(b.statement for b in beliefs) or "(nothing)"
        outcome.add(conv.topic, hit, "" if hit else f"{conv.preference} -> {stored}")

    await asyncio.gather(*(runner.bounded(one(n, c)) for n, c in enumerate(conversations)))
    return outcome, talk


async def run_fixture_small_talk(runner: Runner, messages: Sequence[str]) -> Outcome:
    """Each fixture message as the second turn of a chat (it follows an answer)."""
    outcome = Outcome()

    async def one(n: int, text: str) -> None:
        observation = runner.observation(f"s{n}", text, previous="Here is an answer.")
        made = from_observation(await runner.apply(observation), observation.id)
        outcome.add("fixture", bool(made),
                    f"{text} -> {'; '.join(b.statement for b in made)}" if made else "")

    await asyncio.gather(*(runner.bounded(one(n, t)) for n, t in enumerate(messages)))
    return outcome


@dataclass
class ExtractionResult:
    explicit: Outcome
    implicit: Outcome
    small_talk: SmallTalk
    fixture: Outcome


async def evaluate(extractor: Extractor, workdir: Path, explicit: Sequence[Preference],
                   conversations: Sequence[Conversation], fixture: Sequence[str], *,
                   concurrency: int = 4) -> ExtractionResult:
    """All extraction measures for one extractor, on a fresh SQLite file in ``workdir``."""
    store = open_store(f"sqlite:///{workdir / f'extract-{time.monotonic_ns()}.db'}")
    await store.start()
    try:
        runner = Runner(store, extractor, concurrency)
        exp = await run_explicit(runner, explicit)
        imp, talk = await run_implicit(runner, conversations)
        fix = await run_fixture_small_talk(runner, fixture)
    finally:
        await store.close()
    return ExtractionResult(exp, imp, talk, fix)


Job = Callable[..., Awaitable[Any]]
