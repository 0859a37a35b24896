"""English inflection through lemminflect, imported on first use.

lemminflect registers itself as a spaCy extension when imported, which imports spaCy (seconds
on a busy machine): importing it lazily keeps that cost off the process's startup (the
worker loads the parser in a thread anyway) and off every module that only imports the
extractors.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=8192)
def inflect(lemma: str, tag: str) -> tuple[str, ...]:
    """The forms of ``lemma`` for the Penn tag ``tag`` ("VBZ", "VBP", "NNS"), or ()."""
    from lemminflect import getInflection

    return tuple(str(f) for f in getInflection(lemma, tag))


@lru_cache(maxsize=8192)
def verb_lemmas(word: str) -> tuple[str, ...]:
    """The verb lemmas lemminflect's lexicon knows for ``word`` (() for a non-verb)."""
    from lemminflect import getAllLemmas

    return tuple(str(lemma) for lemma in getAllLemmas(word, upos="VERB").get("VERB", ()))


@lru_cache(maxsize=8192)
def comparative(word: str) -> bool:
    """Is ``word`` the comparative or superlative of an English adjective ("quieter",
    "warmest") and not also a noun ("number", "corner"), whatever a tagger made of it?"""
    from lemminflect import getAllLemmas

    lower = word.lower()
    if getAllLemmas(lower, upos="NOUN").get("NOUN"):
        return False  # "number" is also "numb" made comparative, and a noun first
    return any(lemma != lower and (lower in inflect(lemma, "JJR") or lower in inflect(lemma, "JJS"))
               for lemma in getAllLemmas(lower, upos="ADJ").get("ADJ", ()))


@lru_cache(maxsize=4096)
def adjective_lemmas(word: str) -> tuple[str, ...]:
    """The adjective lemmas lemminflect knows for ``word`` ("deeper" -> ("deep",))."""
    from lemminflect import getAllLemmas

    return tuple(str(lemma) for lemma in getAllLemmas(word, upos="ADJ").get("ADJ", ()))
