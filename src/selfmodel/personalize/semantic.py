"""Semantic relevance: belief vectors computed when written, a hybrid ranking at request time.

Vectors come from an ``Embedder``; the built-in one is WordLlama's static token table
(``selfmodel.language.embed``: weights inside the PyPI wheel, no torch, no download, tens of
microseconds for a short text). What is embedded is a text's *content*: its words less the
stop words and the words any request or preference carries ("recommend", "prefer", "like",
the same list the lexical ranking skips), because a mean of token vectors is otherwise
dominated by the frame every sentence shares ("I would like some ...").

- Write time (``with_claim_vectors``, ``with_vectors``): every claim gets the vector of its
  statement before the pure update runs (the merge decision compares it with the beliefs'
  vectors), and every belief whose vector is missing (old data, an edited statement) or
  came from another embedding model gets one. The vector is stored with the belief, as
  ``domain.meaning.encode`` writes it, with the model's name.
- Request time (``HybridRelevance``): the request's own text is embedded once; each belief
  with a vector of the same model scores ``LEXICAL_SHARE * lexical + (1 - LEXICAL_SHARE) *
  cosine`` (negative cosines count 0); a belief without one keeps its lexical score alone,
  until its next write gives it a vector. The token table loads in a background thread
  when the ranking is built (at startup); requests served before it is loaded rank
  lexically rather than wait.

``LEXICAL_SHARE`` was set on the tuning topics of bench.quality's selection measure (0.5:
between 0.4 and 0.6 the figures move by less than their noise).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from selfmodel.domain.meaning import decode, encode, same_meaning
from selfmodel.domain.models import Belief, Claim, Extraction, SelfModel
from selfmodel.language.embed import DIM, model
from selfmodel.personalize.relevance import SKIPPED_WORDS, LexicalRelevance, Relevance
from selfmodel.recent import Recent, same_objects

LEXICAL_SHARE = 0.5
MAX_QUERY_CHARS = 1000  # the newest text of the request is what it is about
BUILTIN = "wordllama-l2_supercat-256/content-v1"  # model and what is embedded: a change
# of either recomputes the stored vectors at their next write
INDEXES_KEPT = 128  # users whose belief-vector matrix is kept (50 KB for 200 beliefs)

_WORD = re.compile(r"[a-z0-9]+")
Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Unit vectors for texts (one row each); ``name`` identifies the model, so a vector made
    by another model is never compared with this one's."""

    name: str

    def __call__(self, texts: Sequence[str]) -> Matrix: ...


def content_words(text: str) -> list[str]:
    """What is embedded: the text's words less stop and generic words and bare numbers (all
    its words when nothing is left, so a short statement still gets a vector). A number
    says little in a static embedding, and each new one would cost a tokenizer call."""
    found = _WORD.findall(text.lower().replace("_", " "))
    return [w for w in found if w not in SKIPPED_WORDS and not w.isdigit()] or found


class BuiltinEmbedder:
    """WordLlama static embeddings over each text's content words: the normalized sum of
    their tokens' vectors (the direction WordLlama's mean pooling gives).

    Each word is tokenized alone and its token ids cached: the tokenizer splits on spaces
    first, so a word's ids are the same alone as inside the text (checked in the tests),
    and a request then costs a few dictionary lookups instead of a tokenizer pass (about
    40 us for a short request on the shared machine, against 5 for the lookups).
    """

    name = BUILTIN

    def __init__(self) -> None:
        self._loaded = threading.Event()
        self._warming = threading.Lock()
        self._started = False

    def warm(self) -> None:
        """Load the table in a background thread (once): about a second, which must not
        land on the first request or block the event loop."""
        with self._warming:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="selfmodel-embeddings", daemon=True).start()

    def _load(self) -> None:
        model()
        self._loaded.set()

    def ready(self) -> bool:
        """Whether the table is loaded (the request path ranks lexically until it is)."""
        return self._loaded.is_set()

    def __call__(self, texts: Sequence[str]) -> Matrix:
        return np.stack([self.one(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def one(self, text: str) -> npt.NDArray[np.float32]:
        _, table = model()
        self._loaded.set()
        ids = [i for word in content_words(text) for i in _word_ids(word)]
        if not ids:
            return np.zeros(DIM, dtype=np.float32)
        total: npt.NDArray[np.float32] = table[ids].sum(axis=0)
        norm = math.sqrt(float(total @ total))
        return total / norm if norm > 0 else total


@lru_cache(maxsize=65536)
def _word_ids(word: str) -> tuple[int, ...]:
    tokenizer, _ = model()
    return tuple(tokenizer.encode(word, add_special_tokens=False).ids)


@lru_cache(maxsize=1)
def builtin() -> BuiltinEmbedder:
    return BuiltinEmbedder()


def load_embeddings() -> None:
    """Load the built-in model now (blocking; a worker calls it in a thread at startup)."""
    builtin().one("")


# -- write time ------------------------------------------------------------------------------

def with_claim_vectors(extraction: Extraction, embedder: Embedder | None = None) -> Extraction:
    """The extraction with each claim's statement vector (computed before the pure update, so
    the domain can decide merges without a model)."""
    missing = [c for c in extraction.claims if c.vector is None and c.statement.strip()]
    if not missing:
        return extraction
    embedder = embedder or builtin()
    rows = embedder([c.statement for c in missing])
    vectors = {id(c): encode(row) for c, row in zip(missing, rows, strict=True)}
    claims = [_claim_with(c, vectors.get(id(c)), embedder.name) for c in extraction.claims]
    return extraction.model_copy(update={"claims": claims})


def _claim_with(claim: Claim, vector: str | None, name: str) -> Claim:
    if vector is None:
        return claim
    return claim.model_copy(update={"vector": vector or None, "vector_model": name})


def with_vectors(model: SelfModel, embedder: Embedder | None = None) -> SelfModel:
    """The model with a vector on every belief that lacks one from ``embedder``'s model (old
    data, an edited statement, another model); the same model object when none is missing."""
    embedder = embedder or builtin()
    missing = [b for b in model.beliefs if needs_vector(b, embedder.name)]
    if not missing:
        return model
    rows = embedder([b.statement for b in missing])
    fresh = {b.id: encode(row) for b, row in zip(missing, rows, strict=True)}
    beliefs = [
        b.model_copy(update={"vector": fresh[b.id] or None, "vector_model": embedder.name})
        if b.id in fresh else b
        for b in model.beliefs
    ]
    return model.model_copy(update={"beliefs": beliefs})


def needs_vector(belief: Belief, name: str) -> bool:
    return bool(belief.statement.strip()) and (belief.vector is None
                                               or belief.vector_model != name)


# -- request time ----------------------------------------------------------------------------

def query_text(conversation: str) -> str:
    """What a request's vector is made of: its newest text (a provider embedder fetches
    exactly this before the ranking asks for it)."""
    return conversation[-MAX_QUERY_CHARS:]


class _Vectors(NamedTuple):
    beliefs: tuple[Belief, ...]  # the objects indexed, to recognize them when they come back
    positions: npt.NDArray[np.intp]  # which beliefs have a vector of the model
    matrix: Matrix  # their vectors, one row each
    complete: bool  # every belief has one


class HybridRelevance:
    """``Relevance``: lexical and semantic similarity mixed (see the module docstring).

    The beliefs' vector matrix is kept per user while the same belief objects come back (the
    stores share one parsed model per version), so a request decodes nothing and pays one
    embedding of its own text and one matrix-vector product.
    """

    def __init__(self, embedder: Embedder | None = None,
                 lexical: Relevance | None = None) -> None:
        self._embedder = embedder or builtin()
        self._lexical = lexical or LexicalRelevance()
        if isinstance(self._embedder, BuiltinEmbedder):
            self._embedder.warm()
        self._indexes: Recent[tuple[int, str, str], _Vectors] = Recent(INDEXES_KEPT)
        self._queries: Recent[str, npt.NDArray[np.float32]] = Recent(64)

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def __call__(self, conversation: str, beliefs: Sequence[Belief]) -> list[float]:
        scores = self._lexical(conversation, beliefs)
        if not beliefs:
            return scores
        vectors = self._vectors(beliefs)
        if not len(vectors.positions):
            return scores
        query = self._query(query_text(conversation))
        if query is None:
            return scores
        semantic = np.maximum(vectors.matrix @ query, 0.0)
        if vectors.complete:  # every belief has a vector: the common case, one array sum
            mixed = LEXICAL_SHARE * np.asarray(scores) + (1.0 - LEXICAL_SHARE) * semantic
            out: list[float] = mixed.tolist()
            return out
        lexical = np.asarray(scores)
        lexical[vectors.positions] *= LEXICAL_SHARE
        lexical[vectors.positions] += (1.0 - LEXICAL_SHARE) * semantic
        out = lexical.tolist()
        return out

    def _query(self, text: str) -> npt.NDArray[np.float32] | None:
        """The request's vector (kept for a few texts: a retried request, a stream's twin)."""
        kept = self._queries.get(text)
        if kept is None:
            if isinstance(self._embedder, BuiltinEmbedder) and not self._embedder.ready():
                return None  # still loading (the first second after startup): lexical
            embedder = self._embedder
            one = getattr(embedder, "one", None)  # one text (a provider's: no write backlog)
            kept = one(text) if one is not None else embedder([text])[0]
            if not kept.any():
                return None  # nothing to embed, or a provider that did not answer in time
            self._queries.put(text, kept)
        return kept

    def _vectors(self, beliefs: Sequence[Belief]) -> _Vectors:
        key = (len(beliefs), beliefs[0].id, beliefs[-1].id)
        kept = self._indexes.get(key)
        if kept is not None and same_objects(kept.beliefs, beliefs):
            return kept
        name = self._embedder.name
        positions = [i for i, b in enumerate(beliefs)
                     if b.vector and b.vector_model == name]
        matrix = (np.stack([decode(beliefs[i].vector or "") for i in positions])
                  if positions else np.zeros((0, 0), dtype=np.float32))
        index = _Vectors(tuple(beliefs), np.asarray(positions, dtype=np.intp), matrix,
                         len(positions) == len(beliefs))
        self._indexes.put(key, index)
        return index


def twin_among(belief: Belief, chosen: Sequence[Belief]) -> Belief | None:
    """The first of ``chosen`` that means what ``belief`` says (``same_meaning``; vectors of
    different models are not compared, only the wording), or None.

    Only the beliefs a request looks at are compared, with the ones already chosen (a few
    dozen pairs, not every pair of a 2,000-belief model), and each pair's answer is kept:
    the same beliefs come back on the next request, and the key's strings hash once."""
    for other in chosen:
        if _same(belief.statement, belief.vector, belief.vector_model,
                 other.statement, other.vector, other.vector_model):
            return other
    return None


@lru_cache(maxsize=65536)
def _same(text_a: str, vector_a: str | None, model_a: str | None,
          text_b: str, vector_b: str | None, model_b: str | None) -> bool:
    comparable = model_a == model_b and vector_a and vector_b
    return same_meaning(text_a, decode(vector_a) if comparable and vector_a else None,
                        text_b, decode(vector_b) if comparable and vector_b else None)
