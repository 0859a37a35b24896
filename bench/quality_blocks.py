"""What the stored beliefs look like once injected: same-meaning pairs and malformed statements.

- Same meaning: for each user of the extraction runs, the block the production ``select``
  picks for that user's question (default policy); a pair of beliefs in one block means the
  same when they share a slot (domain and key), when their statements' static embeddings
  (``selfmodel.language.embed``) have a cosine of at least ``SAME_COSINE`` (static embeddings
  put paraphrases and opposites alike near 0.7, so only near-copies pass that bar), or when
  their statements carry the same content words after the verb (bench/quality_match.py's
  stemmer and stop words: "Prefers bullet points" ~ "Likes bullet points").
- Well formed: a seeded sample of stored beliefs, each statement checked with the extractor's
  own check (``selfmodel.observer.extractors.wellformed.well_formed``) when it exists, else
  with ``malformed`` below, a check on spaCy's parse (``selfmodel.language.parse``): the
  statement starts with a third-person verb or copula ("Is vegan", "Works as a nurse",
  "Does not eat meat"), or is a clause whose subject is not the speaker ("Their native language
  is Portuguese"); it has no first- or second-person pronoun, no unresolved "it / them /
  ones", and does not end on a preposition, determiner or conjunction (a particle, "eats
  out", "sprucing up", is not a preposition). The sample is written
  to the details file for a person to read; the check is a yardstick, the reading decides.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from bench.quality_extraction import Final, active
from bench.quality_match import content_words
from selfmodel.config import Policy
from selfmodel.domain.models import Belief
from selfmodel.personalize.engine import rendered_tokens
from selfmodel.personalize.selection import select

SAME_COSINE = 0.92
SAMPLE = 200

_PERSONS = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our", "ours",
                      "ourselves", "you", "your", "yours", "yourself", "yourselves"})
_UNRESOLVED = frozenset({"it", "ones", "this", "these", "those"})
_MAIN = frozenset({"ROOT", "xcomp", "conj"})
_DANGLING = frozenset({"ADP", "DET", "CCONJ", "SCONJ"})
_FINITE = frozenset({"VBZ", "VBD", "MD"})


@dataclass
class Pairs:
    """Blocks selected per group, and the same-meaning pairs found in them."""

    blocks: dict[str, int] = field(default_factory=dict)
    with_pair: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, group: str, found: list[str]) -> None:
        self.blocks[group] = self.blocks.get(group, 0) + 1
        self.with_pair[group] = self.with_pair.get(group, 0) + bool(found)
        self.pairs[group] = self.pairs.get(group, 0) + len(found)
        if found and len(self.examples) < 200:
            self.examples += found[: 200 - len(self.examples)]

    def total(self, groups: Sequence[str]) -> tuple[int, int, int]:
        """(pairs, blocks holding a pair, blocks) over ``groups``."""
        return (sum(self.pairs.get(g, 0) for g in groups),
                sum(self.with_pair.get(g, 0) for g in groups),
                sum(self.blocks.get(g, 0) for g in groups))


def same_meaning(a: Belief, b: Belief, cosine: float) -> str | None:
    """Why two beliefs mean the same, or None."""
    if (a.domain, a.key) == (b.domain, b.key):
        return "same slot"
    if cosine >= SAME_COSINE:
        return f"cosine {cosine:.2f}"
    words = _object_words(a.statement)
    if words and words == _object_words(b.statement):
        return "same content words"
    return None


def _object_words(statement: str) -> set[str]:
    """The statement's content words after its first word (the verb: "Prefers bullet
    points" and "Likes bullet points" say the same thing of the same object)."""
    rest = statement.split(maxsplit=1)
    return content_words(rest[1]) if len(rest) > 1 else set()


def block_pairs(finals: Sequence[Final], policy: Policy | None = None) -> Pairs:
    from selfmodel.language import embed

    policy = policy or Policy()
    out = Pairs()
    now = time.time()
    for final in finals:
        chosen = [s.belief for s in select(final.model.beliefs, policy=policy,
                                           conversation=final.question, now=now,
                                           measure=rendered_tokens).chosen]
        found = []
        if len(chosen) > 1:
            vectors = embed([b.statement for b in chosen])
            sims = vectors @ vectors.T
            for (i, a), (j, b) in combinations(enumerate(chosen), 2):
                why = same_meaning(a, b, float(sims[i, j]))
                if why:
                    found.append(f"{a.statement!r} ~ {b.statement!r} ({why})")
        out.add(final.group, found)
    return out


Check = Callable[[str], str | None]


def checker() -> tuple[str, Check]:
    """The extractor's well-formedness check when it exists, else ``malformed``."""
    try:
        from selfmodel.observer.extractors.wellformed import well_formed
    except ImportError:
        return OWN_CHECK, malformed

    def extractor_check(statement: str) -> str | None:
        verdict: Any = well_formed(statement)
        if isinstance(verdict, tuple):
            verdict = verdict[0]
        return None if verdict else "not well formed (extractor's check)"

    return "the extractor's well_formed", extractor_check


def malformed(statement: str) -> str | None:
    """Why ``statement`` is not a well-formed third-person statement, or None."""
    from selfmodel.language import parse

    text = statement.strip().rstrip(".")
    if not text:
        return "empty"
    doc = parse(text)
    words = [t for t in doc if not t.is_punct]
    lower = {t.lower_ for t in words}
    if lower & _PERSONS:
        return "first or second person: " + ", ".join(sorted(lower & _PERSONS))
    unresolved = [t.lower_ for t in words if _unresolved(t)]
    if unresolved:
        return "unresolved pronoun: " + ", ".join(unresolved)
    if words and (words[-1].pos_ in _DANGLING or words[-1].tag_ == "TO") and not (
            words[-1].dep_ == "prt" or words[-1].tag_ == "RP"):  # "eats out": a particle
        return f"ends on {words[-1].pos_.lower()} {words[-1].text!r}"
    if _has_subject_clause(doc) or _starts_with_finite_verb(text):
        return None
    return "does not start with a third-person verb or copula"


def _unresolved(token: Any) -> bool:
    """"it / ones / this" anywhere; "they / them" only as an argument of the main
    predicate ("Prefers not to use them"): inside a clause of its own, singular they is
    the user ("projects that allow them to dive deep")."""
    if token.pos_ != "PRON":
        return False
    if token.lower_ in _UNRESOLVED:
        # "those affected by X", "this one": a demonstrative that carries its own modifier
        # says what it is.
        return not (token.lower_ in ("this", "these", "those") and any(token.children))
    return token.lower_ in ("they", "them") and token.head.dep_ in _MAIN


def _has_subject_clause(doc: Any) -> bool:
    """A clause with its own (third-person) subject and a finite verb at its root."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or not any(c.dep_ in ("nsubj", "nsubjpass") for c in root.children):
        return False
    verbs = [root, *(c for c in root.children if c.dep_ in ("aux", "auxpass"))]
    return any(v.tag_ in _FINITE for v in verbs)


def _starts_with_finite_verb(text: str) -> bool:
    """Read with a subject in front ("She ..."), the first word that is not an adverb
    ("usually", "strongly", "only") is a finite verb."""
    from selfmodel.language import parse

    doc = parse("She " + text[0].lower() + text[1:])
    first = next((t for t in doc[1:] if t.pos_ != "ADV"), None)
    return first is not None and first.tag_ in _FINITE and first.pos_ in ("VERB", "AUX")


OWN_CHECK = "parse check (bench/quality_blocks.py)"


@dataclass
class Sampled:
    """The sampled statements with each check's verdict, per side of the split: the
    extractor's own check when it exists (the table's row) and, always, the bench's parse
    check (an extractor that filters with its own check passes it by construction)."""

    checker: str
    rows: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    own: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)

    def bad(self, side: str, own: bool = False) -> tuple[int, int]:
        rows = (self.own if own else self.rows).get(side, [])
        return sum(reason is not None for _, reason in rows), len(rows)


def sample_statements(finals: Sequence[Final], sides: Mapping[str, Sequence[str]],
                      seed: int, size: int = SAMPLE) -> Sampled:
    """``size`` stored beliefs split evenly across ``sides`` (name -> groups), each checked."""
    name, check = checker()
    out = Sampled(name)
    rng = random.Random(seed)
    for side, groups in sides.items():
        statements = sorted({b.statement for f in finals if f.group in groups
                             for b in active(f.model)})
        picked = rng.sample(statements, min(size // len(sides), len(statements)))
        out.rows[side] = [(s, check(s)) for s in picked]
        out.own[side] = (out.rows[side] if check is malformed
                         else [(s, malformed(s)) for s in picked])
    return out


__all__ = ["Pairs", "Sampled", "block_pairs", "malformed", "sample_statements"]
