"""The English pipeline's attribute ruler, matched by a dictionary instead of spaCy's Matcher.

``en_core_web_sm``'s ``attribute_ruler`` holds 179 token patterns: the tag map (``TAG: VBZ``
-> ``POS: VERB`` and its morphology) and exceptions by word (``TAG: VBP, LOWER: 'm`` ->
``LEMMA: be``). spaCy runs them all through its general Matcher, which tries every pattern
on every token: about 1 ms of CPU for a 30-word message, a fifth of the whole parse. 148 of
the patterns are one token with a literal tag and at most a word or a word list; those are
looked up by the token's tag in a dictionary. The other 31 (several tokens, dependency
labels, regular expressions) stay in a Matcher of their own. The matches are sorted and
applied by the ruler's own ``set_annotations`` exactly as before, so the annotations are
the same (tests/test_parse_cost.py compares both on everyday sentences; on every PrefEval
user turn no token differed), at about half the ruler's cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacy.matcher import Matcher

Match = tuple[int, int, int, int]  # (pattern index, match key, start, end), as spaCy sorts them
Words = frozenset[str] | None  # the words a pattern allows, None: any word
_Indexed = tuple[int, int, Words]  # (pattern index, match key, words)


def index_attribute_ruler(ruler: Any) -> None:
    """Replace ``ruler.match`` (an ``AttributeRuler`` of a loaded pipeline) by the indexed
    match; its patterns, attributes and ``set_annotations`` are left as they are."""
    ruler.match = indexed_match(ruler)


def indexed_match(ruler: Any) -> Callable[[Any], list[Match]]:
    """A function giving the same sorted matches as ``AttributeRuler.match``."""
    strings = ruler.vocab.strings
    by_tag: dict[str, list[_Indexed]] = {}
    rest = Matcher(ruler.vocab)
    for position in range(len(ruler.attrs)):
        key = strings[str(position)]  # the ruler's own key: the pattern's position
        _, patterns = ruler.matcher.get(key)
        simple = _tag_and_words(patterns)
        if simple is None:
            rest.add(key, patterns)
        else:
            tag, words = simple
            by_tag.setdefault(tag, []).append((position, key, words))

    def match(doc: Any) -> list[Match]:
        found: list[Match] = [(int(strings[key]), key, start, end)
                              for key, start, end in rest(doc, allow_missing=True,
                                                          as_spans=False)]
        for token in doc:
            for position, key, words in by_tag.get(token.tag_, ()):
                if words is None or token.lower_ in words:
                    found.append((position, key, token.i, token.i + 1))
        found.sort()  # the ruler applies later patterns last, so they take precedence
        return found

    return match


def _tag_and_words(patterns: list[list[dict[str, Any]]]) -> tuple[str, Words] | None:
    """``(tag, words)`` for a one-token pattern ``{TAG: t}`` or ``{TAG: t, LOWER: w | {IN:
    [...]}}``; ``None`` for any other pattern (left to the Matcher)."""
    if len(patterns) != 1 or len(patterns[0]) != 1:
        return None
    token = patterns[0][0]
    tag, lower = token.get("TAG"), token.get("LOWER")
    if not set(token) <= {"TAG", "LOWER"} or not isinstance(tag, str):
        return None
    if lower is None:
        return tag, None
    if isinstance(lower, str):
        return tag, frozenset([lower])
    if isinstance(lower, dict) and set(lower) == {"IN"}:
        return tag, frozenset(lower["IN"])
    return None
