"""Lexical relevance of a user's beliefs to the text of the current request.

The default ranking needs no model and no network, and runs on the hot path (a few
microseconds a belief). It is BM25-like:

- text is lower-cased, split into words, stop words dropped, and each word reduced by a light
  stemmer (plurals, -ing/-ed, -ly, y/ie and a final e), so "allergies" meets "allergic";
- every word also brings the topic fields it belongs to (lexicon.py): "dishes" brings
  ``food``, "shrimp" ``food`` and ``food.seafood``. Fields weigh less than the words
  themselves, narrow fields more than broad ones;
- terms are weighted by IDF over the user's own beliefs plus a small built-in background (so
  a word all of this user's beliefs share, like "hotel" for a hotel reviewer, tells little,
  and so do words every request has, like "recommend");
- a request's *setting* ("... during my trip to Spain", "for my upcoming vacation") says when
  or where the thing asked for will be used, not what it is: its terms count at
  ``SETTING_WEIGHT``, so "sports to try during my visit" is about sports first, travel second;
- a belief's text is its statement, key, value, domain and context (key and domain split on
  ``_``); its score is divided by the square root of its length, so long statements do not
  win by size, and squashed into [0, 1).

``Relevance`` is the seam: any callable ``(conversation, beliefs) -> scores`` can replace it
(an embedding ranking, for instance).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

from selfmodel.domain.models import Belief
from selfmodel.personalize.lexicon import FIELDS
from selfmodel.recent import Recent, same_objects

Relevance = Callable[[str, Sequence[Belief]], list[float]]

FIELD_WEIGHT = 0.5  # a word's broad topic field ("food"), against 1.0 for the word itself
NARROW_FIELD_WEIGHT = 0.7  # a narrow one ("food.seafood")
BACKGROUND_DOCS = 20  # size of the built-in background the IDF adds to the user's beliefs
TOPIC_WEIGHT = 2.0  # a belief fully on the request's topics counts as much as a rare word
SQUASH = 1.5  # score / (score + SQUASH): one good shared word lands near 0.5
MAX_QUERY_CHARS = 4000  # the most recent text is what the request is about
SETTING_WEIGHT = 0.25  # terms of the request's setting phrase (see the module docstring)

_WORD = re.compile(r"[a-z0-9]+")
_SETTING = re.compile(
    r"\b(?:during|on|for|while|before|after|throughout|in|at)\s+(?:my|our|the|an?|this|next)\s+"
    r"(?:\w+\s+){0,2}?(?:trip|trips|visit|vacation|holiday|stay|journey|flight|travels?|getaway|"
    r"weekend|tour|break|honeymoon)\b[^.?!,;]*",
    re.IGNORECASE,
)
# What each alternative of ``_SETTING``'s last group contains (tests check the two agree).
_SETTING_NOUNS = ("trip", "visit", "vacation", "holiday", "stay", "journey", "flight", "travel",
                  "getaway", "weekend", "tour", "break", "honeymoon")
_FOLDED = ("\u0130", "\u0131", "\u017f", "\u212a")  # dotted I, dotless i, long s, Kelvin K


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = _word_set(
    """a about above after again against all am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn
    doing don down during each few for from further had hadn has hasn have haven having he
    her here hers herself him himself his how i if in into is isn it its itself just ll me
    more most my myself no nor not now of off on once only or other our ours ourselves out
    over own re s same she should shouldn so some such t than that the their theirs them
    themselves then there these they this those through to too under until up ve very was
    wasn we were weren what when where which while who whom why will with won would wouldn
    you your yours yourself yourselves also get got us let may might must shall much many
    one ones thing things something anything everything way really quite per via etc"""
)
# Words any request or preference statement may carry: they say nothing about the topic.
_GENERIC = _word_set(
    """recommend recommendation suggest suggestion option idea tip help good best great new
    nice like love enjoy hate dislike prefer preference avoid want need strong strongly
    always never usually often sometimes try find look looking make know think tell give
    take use using go going come see say ask question answer please thanks time day week
    month year next last first well better lot little big small kind sort type different
    certain particular specific interest interested plan planning upcoming soon consider
    any popular top must suitable cannot refuse stand particularly especially prefer able
    trying suggest could share include ideas options tips things experience experiences
    recommended someone people person"""
)
_SKIP = _STOP | _GENERIC
SKIPPED_WORDS = _SKIP  # words that say nothing about a topic (the embedding skips them too)


def stem(word: str) -> str:
    """A light stemmer: enough to meet plural and verb forms, never clever enough to surprise."""
    if len(word) <= 3 or word.isdigit():
        return word
    base = _strip_suffix(word)
    if base.endswith("ly") and len(base) >= 7:
        base = base[:-2]
    if base.endswith("y") and len(base) > 3:
        base = base[:-1] + "i"
    if base.endswith("e") and len(base) > 3:
        base = base[:-1]
    return base


def _strip_suffix(word: str) -> str:
    if word.endswith(("ies", "ied")) and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return _undouble(word[: -len(suffix)])
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _undouble(base: str) -> str:
    """running -> runn -> run; falling keeps its ll."""
    if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
        return base[:-1]
    return base


def words(text: str) -> list[str]:
    """The stems of ``text``'s content words (stop words dropped)."""
    found = _WORD.findall(text.lower().replace("_", " "))
    return [s for s in map(_content_stem, found) if s is not None]


@lru_cache(maxsize=16384)
def _content_stem(word: str) -> str | None:
    """``word``'s stem, or None for a stop word; cached per word, because every request is
    mostly words seen before and stemming them was most of the cost of reading a request
    (16,384 words: the common vocabulary stays, a few MB at most)."""
    if len(word) <= 1 or word in _SKIP:
        return None
    return stem(word)


def _field_index() -> dict[str, dict[str, float]]:
    """stem -> {"§field": weight}: a narrow field also brings its broad parent.

    A word listed under several broad fields ("season": climate and screen) is evidence for
    each of them only in part: its weights are divided by the number of broad fields.
    """
    index: dict[str, dict[str, float]] = {}
    for field, listed in FIELDS.items():
        tokens = {"§" + field: FIELD_WEIGHT if "." not in field else NARROW_FIELD_WEIGHT}
        if "." in field:
            tokens["§" + field.split(".", 1)[0]] = FIELD_WEIGHT
        for word in listed.split():
            entry = index.setdefault(stem(word), {})
            for token, weight in tokens.items():
                entry[token] = max(entry.get(token, 0.0), weight)
    for entry in index.values():
        broad = sum(1 for token in entry if "." not in token)
        for token in entry:
            entry[token] /= max(broad, 1)
    return index


_FIELDS = _field_index()
_BACKGROUND_DF: dict[str, float] = {
    "§" + f: BACKGROUND_DOCS * (0.05 if "." in f else 0.15) for f in FIELDS
}


@lru_cache(maxsize=8192)
def terms(text: str) -> dict[str, float]:
    """``text_terms``, cached: for texts that come back (belief texts, setting phrases)."""
    return text_terms(text)


def text_terms(text: str) -> dict[str, float]:
    """Term -> weight for ``text``: its stems (1.0) and the topic fields they belong to.

    A field's weight is the sum of its words' weights, capped at 1: two fashion words make a
    text more about fashion than one ambiguous word does.
    """
    out: dict[str, float] = {}
    for word in words(text):
        out[word] = 1.0
        for token, weight in _FIELDS.get(word, {}).items():
            out[token] = min(1.0, out.get(token, 0.0) + weight)
    return out


def _may_set(text: str) -> bool:
    """False only when ``_SETTING`` cannot match: every match holds one of its nouns, which
    IGNORECASE matches in ASCII letters of either case or in the four non-ASCII letters
    ``re`` folds onto ASCII ones. A few substring searches instead of the regex's attempt
    at every position, most of the cost of reading a long request that names no trip."""
    lowered = text.lower()
    return any(noun in lowered for noun in _SETTING_NOUNS) or any(c in text for c in _FOLDED)


@lru_cache(maxsize=256)
def request_terms(text: str) -> dict[str, float]:
    """``terms`` of a request, with the terms of its setting phrases down-weighted.

    Requests rarely repeat their text (each turn adds a message), so only a few are kept
    (a retried request) and their terms stay out of the belief texts' cache: thousands of
    request texts kept there cost tens of MB and evicted what does come back."""
    settings = [found.group(0) for found in _SETTING.finditer(text)] if _may_set(text) else []
    if not settings:
        return text_terms(text)
    out = text_terms(_SETTING.sub(" ", text))
    for token, weight in terms(" ".join(settings)).items():
        out[token] = max(out.get(token, 0.0), weight * SETTING_WEIGHT)
    return out


def belief_text(belief: Belief) -> str:
    """What a belief is matched on: statement, key, value, domain and context."""
    parts = (belief.statement, belief.key, belief.value, belief.domain, belief.context or "")
    return " ".join(parts)


def idf(df: float, docs: float) -> float:
    return math.log(1.0 + (docs - df + 0.5) / (df + 0.5))


class LexicalRelevance:
    """The default ``Relevance``: shared words (BM25-like) plus shared topics (cosine).

    score = sum of the IDF of the words a belief shares with the request, over the square
    root of the belief's length, plus ``TOPIC_WEIGHT`` times the cosine of the two texts'
    topic-field vectors; squashed into [0, 1). The IDF of a shared term counts the user's
    own beliefs (so what all of them share tells little) plus the built-in background.

    Per-belief terms and norms are cached by the belief's text (not its id: an edited
    statement gets new terms), so a request scores a 200-belief user without tokenizing
    any belief again. The beliefs of the users seen most recently are also kept as an
    inverted index (term -> the beliefs that have it), so a request looks up its own few
    dozen terms instead of intersecting them with every belief's terms.
    """

    def __init__(self) -> None:
        self._indexes: Recent[tuple[int, str, str], _Index] = Recent(INDEXES_KEPT)

    def __call__(self, conversation: str, beliefs: Sequence[Belief]) -> list[float]:
        query = request_terms(conversation[-MAX_QUERY_CHARS:])
        if not query or not beliefs:
            return [0.0] * len(beliefs)
        index = self._index(beliefs)
        postings = index.postings
        shared: dict[int, list[str]] = {}
        df: dict[str, int] = {}
        for term in query:
            having = postings.get(term)
            if having:
                df[term] = len(having)
                for i in having:
                    shared.setdefault(i, []).append(term)
        coefficient = _coefficients(query, df, len(beliefs))
        scores = [0.0] * len(beliefs)
        profiles = index.profiles
        for i, common in shared.items():
            scores[i] = _squash(_score(profiles[i], common, coefficient))
        return scores

    def _index(self, beliefs: Sequence[Belief]) -> _Index:
        """The beliefs' index, kept while the same belief objects come back (the stores
        share one parsed model per version, and a changed belief is a new object). Keyed
        by belief ids, not objects, so a user's next model version replaces the entry of
        the last one instead of keeping its beliefs alive beside it."""
        key = (len(beliefs), beliefs[0].id, beliefs[-1].id)
        kept = self._indexes.get(key)
        if kept is not None and same_objects(kept.beliefs, beliefs):
            return kept
        index = _build_index(beliefs)
        self._indexes.put(key, index)
        return index


class _Profile(NamedTuple):
    weights: dict[str, float]
    length_norm: float  # square root of the word count (at least 4 words)
    topic_norm: float  # length of the topic-field vector


@lru_cache(maxsize=65536)
def _profile(*parts: str) -> _Profile:
    """A belief's terms and norms, cached by its text fields (see ``belief_text``)."""
    weights = terms(" ".join(parts))
    length = sum(1 for t in weights if not t.startswith("§"))
    return _Profile(weights, math.sqrt(max(length, 4)), _topic_norm(weights))


INDEXES_KEPT = 128  # users whose beliefs' inverted index is kept (tens of KB each)


class _Index(NamedTuple):
    beliefs: tuple[Belief, ...]  # the objects indexed, to recognize them when they come back
    profiles: list[_Profile]
    postings: dict[str, list[int]]  # term -> positions of the beliefs that have it


def _build_index(beliefs: Sequence[Belief]) -> _Index:
    profiles = [_profile(b.statement, b.key, b.value, b.domain, b.context or "") for b in beliefs]
    postings: dict[str, list[int]] = {}
    for i, profile in enumerate(profiles):
        for term in profile.weights:
            postings.setdefault(term, []).append(i)
    return _Index(tuple(beliefs), profiles, postings)


# A field's IDF in the background alone: used for vector lengths, which must not depend on
# the other beliefs of the request.
_STATIC_IDF = {token: idf(df, BACKGROUND_DOCS + 10) for token, df in _BACKGROUND_DF.items()}


def _topic_norm(weights: dict[str, float]) -> float:
    fields = (w * _STATIC_IDF[t] for t, w in weights.items() if t.startswith("§"))
    return math.sqrt(sum(x * x for x in fields)) or 1.0


def _coefficients(query: dict[str, float], df: dict[str, int], count: int) -> dict[str, float]:
    """Per shared term (``df``: how many of the ``count`` beliefs have it), what one
    occurrence in a belief adds (before the belief's norms).

    Words: their IDF among the user's beliefs and the background. Fields: the query side of
    the cosine (weight, user IDF, background IDF, over the query's topic norm).
    """
    docs = count + BACKGROUND_DOCS
    query_norm = _topic_norm(query)
    out: dict[str, float] = {}
    for term, n in df.items():
        weight = idf(n + _BACKGROUND_DF.get(term, 0.0), docs)
        if term.startswith("§"):
            weight *= TOPIC_WEIGHT * query[term] * _STATIC_IDF[term] / query_norm
        out[term] = weight
    return out


def _score(profile: _Profile, common: list[str], coefficient: dict[str, float]) -> float:
    words = 0.0
    topics = 0.0
    for term in common:
        if term[0] == "§":
            topics += coefficient[term] * profile.weights[term]
        else:
            words += coefficient[term]
    return words / profile.length_norm + topics / profile.topic_norm


def _squash(score: float) -> float:
    return score / (score + SQUASH)
