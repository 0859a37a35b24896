"""Selection quality: with the gold preference among 10 beliefs, what does the request get?

For each PrefEval explicit record, a user holds the gold preference plus 9 distractors drawn
(seeded) either from the other topics or from the same topic, all stored the same way at the
same moment (so confidence and recency tie and relevance decides). The record's ``question``
is the request. Ranking is the production ``personalize.selection.select`` with the default
policy and the Personalizer's token measure; the relevance model is the default lexical one
unless another is passed (the embedding row).

Beliefs are built two ways:
- ``stated``: the preference sentence itself is the belief's statement (as an app storing
  explicit preferences through the API would, and as the TF-IDF reference ranked them);
- ``extracted``: whatever the extractor stores from each sentence (one sentence may give
  several beliefs); the gold wins when a belief extracted from the gold sentence ranks first.
  Each sentence is read once, as the first message of a new user (``extract_all``), and its
  claims applied to each question's model in turn.

Reported per question: the gold among those injected (``policy.max_beliefs``, default 8 of
10, and the token budget), ranked first ("strict": a tie for first place counts 1/k among
the k tied; "lenient": a tie counts as a win, as the reference appears to), and in the top 3.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.quality_data import Preference
from selfmodel.config import Policy
from selfmodel.domain.models import Belief, Claim, Kind, Observation, SelfModel
from selfmodel.domain.update import apply_claims
from selfmodel.observer.apply import Extractor
from selfmodel.personalize.engine import rendered_tokens
from selfmodel.personalize.relevance import Relevance
from selfmodel.personalize.selection import select
from selfmodel.personalize.semantic import Embedder, with_vectors

DISTRACTORS = 9
TIE = 1e-9


@dataclass
class Ranks:
    """Per topic: (injected, first strict, first lenient, top 3) per question."""

    rows: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)

    def add(self, topic: str, row: tuple[float, float, float, float]) -> None:
        self.rows.setdefault(topic, []).append(row)

    def means(self, topics: Sequence[str] | None = None) -> tuple[list[float], int]:
        rows = [r for t, rs in self.rows.items() if topics is None or t in topics for r in rs]
        if not rows:
            return [float("nan")] * 4, 0
        return [sum(col) / len(rows) for col in zip(*rows, strict=True)], len(rows)


def distractors(records: Sequence[Preference], gold: Preference, same_topic: bool,
                seed: int) -> list[Preference]:
    rng = random.Random(f"{seed}:{gold.topic}:{gold.index}:{same_topic}")
    pool = [r for r in records if (r.topic == gold.topic) == same_topic and r != gold
            and r.preference != gold.preference]
    return rng.sample(pool, DISTRACTORS)


def stated_beliefs(sentences: Sequence[str], at: float,
                   embedder: Embedder | None = None) -> list[list[Belief]]:
    """One belief per sentence, statement = the sentence (through the production update);
    vectors from ``embedder`` (default: the built-in model)."""
    model = SelfModel(tenant="quality", user_id="u")
    claims = [Claim(kind=Kind.PREFERENCE, key=f"p{i}", value="stated", statement=text,
                    quote=text) for i, text in enumerate(sentences)]
    model, _ = apply_claims(model, claims, observation_id="obs_stated", at=at)
    model = with_vectors(model, embedder)  # as the write path stores them (observer/apply.py)
    by_key = {b.key: b for b in model.beliefs}
    return [[by_key[f"p{i}"]] if f"p{i}" in by_key else [] for i in range(len(sentences))]


Claims = dict[str, list[Claim]]


async def extract_all(extractor: Extractor, sentences: Sequence[str]) -> Claims:
    """The claims the extractor reads in each distinct sentence (a new user's first turn)."""
    out: Claims = {}
    for i, text in enumerate(dict.fromkeys(sentences)):
        observation = Observation(id=f"obs_x{i}", tenant="quality", user_id="u", content=text,
                                  at=time.time(), source="gateway")
        out[text] = list((await extractor.extract(observation, None)).claims)
    return out


def extracted_beliefs(sentences: Sequence[str], at: float, claims: Claims,
                      embedder: Embedder | None = None) -> list[list[Belief]]:
    """What the extractor stores from each sentence, each sentence its own source."""
    model = SelfModel(tenant="quality", user_id="u")
    groups: list[list[str]] = []
    for i, text in enumerate(sentences):
        before = {b.id for b in model.beliefs}
        model, _ = apply_claims(model, claims.get(text, []), observation_id=f"obs_{i}", at=at)
        groups.append([b.id for b in model.beliefs if b.id not in before])
    model = with_vectors(model, embedder)
    by_id = {b.id: b for b in model.beliefs}
    return [[by_id[i] for i in group] for group in groups]


def score_question(gold: Preference, others: Sequence[Preference], policy: Policy,
                   relevance: Relevance | None, claims: Claims | None,
                   embedder: Embedder | None = None) -> tuple[float, float, float, float]:
    at = time.time()
    sentences = [gold.preference, *(o.preference for o in others)]
    groups = (stated_beliefs(sentences, at, embedder) if claims is None
              else extracted_beliefs(sentences, at, claims, embedder))
    gold_ids = {b.id for b in groups[0]}
    beliefs = [b for group in groups for b in group]
    if not gold_ids:
        return 0.0, 0.0, 0.0, 0.0
    selection = select(beliefs, policy=policy, conversation=gold.question, now=at,
                       measure=rendered_tokens, relevance=relevance)
    chosen = {s.belief.id for s in selection.chosen}
    scores = _all_scores(beliefs, gold.question, policy, relevance, at)
    return (float(bool(gold_ids & chosen)), *_first(scores, gold_ids))


def _all_scores(beliefs: Sequence[Belief], question: str, policy: Policy,
                relevance: Relevance | None, at: float) -> dict[str, float]:
    """Every belief's ranking score (select() keeps only the injected ones)."""
    wide = policy.model_copy(update={"max_beliefs": len(beliefs), "token_budget": 100_000})
    selection = select(beliefs, policy=wide, conversation=question, now=at,
                       measure=rendered_tokens, relevance=relevance)
    return {s.belief.id: s.score for s in selection.chosen}


def _first(scores: dict[str, float], gold_ids: set[str]) -> tuple[float, float, float]:
    """(first strict, first lenient, top 3) for the best-placed gold belief."""
    gold = max((scores[i] for i in gold_ids if i in scores), default=float("-inf"))
    others = [s for i, s in scores.items() if i not in gold_ids]
    above = sum(s > gold + TIE for s in others)
    tied = sum(abs(s - gold) <= TIE for s in others)
    if above:
        return 0.0, 0.0, float(above < 3)
    return 1.0 / (1 + tied), 1.0, 1.0


def evaluate(records: Sequence[Preference], *, same_topic: bool, seed: int = 7,
             relevance: Relevance | None = None, claims: Claims | None = None,
             policy: Policy | None = None, pool: Sequence[Preference] | None = None,
             topics: Sequence[str] | None = None, embedder: Embedder | None = None) -> Ranks:
    """Ranks of each record's gold; distractors come from ``pool`` (default: ``records``),
    so a sample of questions still draws its distractors from every record. ``claims``
    (``extract_all``): rank extracted beliefs instead of the stated sentences. ``topics``:
    score only the questions whose gold is on these (a question scores as in the full run).
    ``embedder``: the beliefs' vectors come from it (a provider's model; ``relevance`` then
    ranks with the same embedder), else from the built-in model."""
    policy = policy or Policy()
    ranks = Ranks()
    for gold in records:
        if topics is not None and gold.topic not in topics:
            continue
        others = distractors(pool or records, gold, same_topic, seed)
        ranks.add(gold.topic, score_question(gold, others, policy, relevance, claims,
                                             embedder))
    return ranks
