"""Static sentence embeddings: WordLlama's 256-d ``l2_supercat`` token table, mean-pooled.

The weights (16 MB) and the tokenizer ship inside the PyPI wheel ``wordllama``; there is no
network model and no torch: a text's vector is the normalised average of its tokens'
vectors, about 20 microseconds for a short request on one core. That is cheap enough for
the request path, where only the request's own text is embedded: a belief's vector is
computed once, when the belief is written, and kept with it.

The package's own ``WordLlama.load()`` looks for its tokenizer in a folder name that does
not match the wheel's layout and then tries to download it; we load both files from the
installed package directly, so a missing file is an error at startup, never a download.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 256
CONFIG = "l2_supercat"
Vector = npt.NDArray[np.float32]

_LOCK = threading.Lock()
_MODEL: tuple[Any, npt.NDArray[np.float32]] | None = None


def model() -> tuple[Any, npt.NDArray[np.float32]]:
    """The tokenizer and the token table (loaded on first call, then shared)."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = _load()
    return _MODEL


def _load() -> tuple[Any, npt.NDArray[np.float32]]:
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer

    root = Path(wordllama.__file__).parent
    weights = root / "weights" / f"{CONFIG}_{DIM}.safetensors"
    tokenizer_file = root / "tokenizers" / f"{CONFIG}_tokenizer_config.json"
    for path in (weights, tokenizer_file):
        if not path.is_file():
            raise FileNotFoundError(f"wordllama is installed without {path.name}")
    with safe_open(str(weights), framework="np", device="cpu") as tensors:
        table = tensors.get_tensor("embedding.weight")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, np.ascontiguousarray(table, dtype=np.float32)


def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Unit vectors, one row per text (a text with no token gives a zero row)."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    tokenizer, table = model()
    for row, encoding in enumerate(tokenizer.encode_batch(list(texts), add_special_tokens=False)):
        out[row] = _pool(encoding.ids, table)
    return out


def embed_one(text: str) -> Vector:
    """The unit vector of one text (the request path's call: one tokenizer pass, one mean)."""
    tokenizer, table = model()
    return _pool(tokenizer.encode(text, add_special_tokens=False).ids, table)


def _pool(ids: Sequence[int], table: npt.NDArray[np.float32]) -> Vector:
    """The normalised mean of the tokens' vectors (WordLlama's own pooling)."""
    if not ids:
        return np.zeros(DIM, dtype=np.float32)
    mean: Vector = table[np.asarray(ids, dtype=np.intp)].mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean
