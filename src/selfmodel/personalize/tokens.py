"""Token counting for the personalization budget: counted with cl100k_base, not guessed.

tiktoken downloads its BPE files on first use, and this machine (like many deployments) has no
internet. litellm ships the cl100k_base file inside its package (``litellm_core_utils/
tokenizers/``); we point tiktoken's cache at that folder for the one load, without importing
litellm (``find_spec`` only locates the package), after checking the file's sha256 so tiktoken
never deletes or re-downloads it.

Only if the file is absent (litellm not installed, or a different layout) do we fall back to an
approximation: ``max(ceil(chars / 4), words + punctuation marks)``. That is OpenAI's published
rule of thumb (about four characters per token of English) with a floor that counts every word
and symbol as at least one token, so it overestimates rather than under: a budget is never
exceeded by much. ``exact()`` tells which one is in use (``selfmodel doctor`` can say so).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import threading
from pathlib import Path
from typing import Protocol

ENCODING = "cl100k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_PIECES = re.compile(r"\w+|[^\w\s]")


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


_lock = threading.Lock()
_state: dict[str, _Encoder | None] = {}


def bundled_bpe_file() -> Path | None:
    """The cl100k_base file litellm ships, if it is installed and intact."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    name = hashlib.sha1(_URL.encode(), usedforsecurity=False).hexdigest()
    path = folder / "litellm_core_utils" / "tokenizers" / name
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return path if hashlib.sha256(data).hexdigest() == _SHA256 else None


def _load() -> _Encoder | None:
    """cl100k_base from the bundled file (tiktoken's cache pointed at it for this one load)."""
    path = bundled_bpe_file()
    if path is None:
        return None
    import tiktoken

    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path.parent)
    try:
        return tiktoken.get_encoding(ENCODING)
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def _encoder() -> _Encoder | None:
    if ENCODING not in _state:
        with _lock:
            if ENCODING not in _state:
                _state[ENCODING] = _load()
    return _state[ENCODING]


def exact() -> bool:
    """Whether tokens are counted with cl100k_base (True) or approximated (False)."""
    return _encoder() is not None


def approximate(text: str) -> int:
    """The documented fallback: never fewer tokens than words and symbols, about chars / 4."""
    return max(math.ceil(len(text) / 4), len(_PIECES.findall(text)))


def count(text: str) -> int:
    """Tokens of ``text`` in cl100k_base (special-token text counted as ordinary text)."""
    encoder = _encoder()
    if encoder is None:
        return approximate(text)
    return len(encoder.encode_ordinary(text))
