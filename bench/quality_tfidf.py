"""A plain TF-IDF ranking, as a reference measured on the selection bench's own cases.

The data set's README quotes a word-overlap (TF-IDF) reference: gold first 0.829 with
distractors from other topics, 0.437 from the same topic, on all 20 PrefEval topics with
distractors of its own. Run on this bench's cases it ranks the gold first far less often
when a tie for first place counts 1/k (strict), and about as often as quoted when a tie
counts as a win (lenient): when no candidate shares a word with the question every score
is 0, and a lenient count calls that a win. So the quoted figures are lenient ones, and
this module gives the reference on the same cases, in both counts, beside our rankings.

Plain on purpose: lower-cased words, the usual English stop words, raw term counts times
a smoothed IDF fitted on the user's beliefs (the candidates), cosine of the L2-normalised
vectors. No stemming, no topic fields, no embeddings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from selfmodel.domain.models import Belief
from selfmodel.personalize.relevance import _STOP

_WORD = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP]


def _unit(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    weights = {w: n * idf[w] for w, n in counts.items() if w in idf}
    norm = math.sqrt(sum(x * x for x in weights.values())) or 1.0
    return {w: x / norm for w, x in weights.items()}


class TfidfRelevance:
    """``Relevance``: cosine of TF-IDF vectors, IDF fitted on the beliefs ranked."""

    def __call__(self, conversation: str, beliefs: Sequence[Belief]) -> list[float]:
        docs = [Counter(_tokens(b.statement)) for b in beliefs]
        df = Counter(w for d in docs for w in d)
        n = len(docs)
        idf = {w: math.log((1 + n) / (1 + k)) + 1.0 for w, k in df.items()}
        query = _unit(Counter(_tokens(conversation)), idf)
        return [sum(query.get(w, 0.0) * x for w, x in _unit(d, idf).items()) for d in docs]
