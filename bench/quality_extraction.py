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
- everyday disclosures (tests/data/everyday_disclosures.json): each message is the first turn
  of its own user; hit when the beliefs it stored match one of the item's gold statements.
  Its noise messages (other people, hypotheticals, passing moods, one-off tasks) are sent
  after an answer, like the small talk: any belief stored is a false belief.
- natural conversations (tests/data/natural_conversations.json, held out): the user turns in
  order; each fact is learned when one belief held at the end, or the beliefs one turn
  stored read together, match one of the fact's statements.

Every user's final model is kept (``Final``), for the block and well-formedness measures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.quality_data import Conversation, Disclosure, Natural, Noise, Preference
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


@dataclass(frozen=True)
class Final:
    """One user's model at the end of a run: ``group`` is a PrefEval topic or a fixture's
    name; ``question`` the request a block would be selected for."""

    group: str
    model: SelfModel
    question: str


class Runner:
    """Applies observations for fresh users on one SQLite store, a few users at a time."""

    def __init__(self, store: Store, extractor: Extractor, concurrency: int = 4) -> None:
        self.store = store
        self.extractor = extractor
        self.policy = Policy()
        self._gate = asyncio.Semaphore(concurrency)
        self._count = 0
        self.finals: list[Final] = []

    def keep(self, group: str, model: SelfModel | None, question: str) -> None:
        if model is not None:
            self.finals.append(Final(group, model, question))

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
        model = await runner.apply(observation)
        runner.keep(record.topic, model, record.question)
        beliefs = from_observation(model, observation.id)
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
        runner.keep(conv.topic, model, conv.turns[-1][0] if conv.turns else "")
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


async def run_everyday(runner: Runner, items: Sequence[Disclosure]) -> Outcome:
    """Each disclosure as the first message of its own user; outcome by area."""
    outcome = Outcome()

    async def one(n: int, item: Disclosure) -> None:
        observation = runner.observation(f"e{n}", item.message)
        model = await runner.apply(observation)
        runner.keep("everyday", model, "")
        beliefs = from_observation(model, observation.id)
        hit = any(matches_gold(gold, together(beliefs)) for gold in item.gold)
        stored = "; ".join(b.statement for b in beliefs) or "(nothing)"
        outcome.add(item.area, hit, "" if hit else f"[{item.area}] {item.message} -> {stored}")

    await asyncio.gather(*(runner.bounded(one(n, i)) for n, i in enumerate(items)))
    return outcome


async def run_noise(runner: Runner, noise: Sequence[Noise]) -> Outcome:
    """Each noise message after an answer; a hit is a false belief (outcome by kind)."""
    outcome = Outcome()

    async def one(n: int, item: Noise) -> None:
        observation = runner.observation(f"z{n}", item.message, previous="Here is an answer.")
        made = from_observation(await runner.apply(observation), observation.id)
        note = f"[{item.kind}] {item.message} -> {'; '.join(b.statement for b in made)}"
        outcome.add(item.kind, bool(made), note if made else "")

    await asyncio.gather(*(runner.bounded(one(n, i)) for n, i in enumerate(noise)))
    return outcome


async def run_natural(runner: Runner, conversations: Sequence[Natural]) -> Outcome:
    """The user turns of each conversation in order; one outcome per fact."""
    outcome = Outcome()

    async def one(n: int, conv: Natural) -> None:
        user, previous, model, groups = f"n{n}", "", None, []
        for role, text in conv.turns:
            if role != "user":
                previous = text
                continue
            observation = runner.observation(user, text, previous)
            model = await runner.apply(observation)
            groups.append(observation.id)
        last_user = next((t for r, t in reversed(conv.turns) if r == "user"), "")
        runner.keep("natural", model, last_user)
        beliefs = active(model)
        texts = [belief_text(b) for b in beliefs]
        texts += [together(from_observation(model, oid)) for oid in groups]
        stored = "; ".join(b.statement for b in beliefs) or "(nothing)"
        for fact in conv.facts:
            hit = any(matches_gold(gold, text) for gold in fact for text in texts if text)
            outcome.add("natural", hit, "" if hit else f"[{conv.name}] {fact[0]} -> {stored}")

    await asyncio.gather(*(runner.bounded(one(n, c)) for n, c in enumerate(conversations)))
    return outcome


@dataclass
class ExtractionResult:
    explicit: Outcome
    implicit: Outcome
    small_talk: SmallTalk
    fixture: Outcome
    everyday: Outcome = field(default_factory=Outcome)
    noise: Outcome = field(default_factory=Outcome)
    natural: Outcome = field(default_factory=Outcome)
    finals: list[Final] = field(default_factory=list)


async def evaluate(extractor: Extractor, workdir: Path, explicit: Sequence[Preference],
                   conversations: Sequence[Conversation], fixture: Sequence[str], *,
                   everyday: Sequence[Disclosure] = (), noise: Sequence[Noise] = (),
                   natural: Sequence[Natural] = (), concurrency: int = 4) -> ExtractionResult:
    """All extraction measures for one extractor, on a fresh SQLite file in ``workdir``."""
    store = open_store(f"sqlite:///{workdir / f'extract-{time.monotonic_ns()}.db'}")
    await store.start()
    try:
        runner = Runner(store, extractor, concurrency)
        exp = await run_explicit(runner, explicit)
        imp, talk = await run_implicit(runner, conversations)
        fix = await run_fixture_small_talk(runner, fixture)
        day = await run_everyday(runner, everyday)
        noisy = await run_noise(runner, noise)
        nat = await run_natural(runner, natural)
    finally:
        await store.close()
    return ExtractionResult(exp, imp, talk, fix, day, noisy, nat, runner.finals)


Job = Callable[..., Awaitable[Any]]
