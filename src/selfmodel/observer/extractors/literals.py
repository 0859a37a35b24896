"""Which strings every match of a pattern contains: a quick proof that a pattern cannot match.

The rules extractor tries some sixty patterns on every sentence, and most sentences (a
question, a task) match none of them. ``\\bkeep\\s+(?:it|answers)\\s+short`` cannot match a
sentence without "short" in it, and a substring check says so far faster than the regex
engine, which tries the pattern at every position of the sentence. The strings are read from
the patterns' own parse trees, so they cannot drift from them; where the analysis finds none
(an optional start, a character class, a case-insensitive flag) the pattern is always run.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

# False runs every pattern everywhere: the reference the pre-filter is checked against.
ENABLED = True

# The parser ``re`` itself compiles with (private, but stable since Python 3.11). Without it
# nothing is ever ruled out.
try:
    _parser: Any = importlib.import_module("re._parser")
    _ops: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - a future Python that moved it
    _parser = _ops = None

Strings = frozenset[str]


def required(pattern: re.Pattern[str]) -> Strings | None:
    """Strings one of which is part of every match of ``pattern``; None when none are known."""
    if _parser is None or pattern.flags & re.IGNORECASE:
        return None
    parsed = _parser.parse(pattern.pattern, pattern.flags)
    if parsed.state.flags & re.IGNORECASE:
        return None
    return _sequence(parsed)


def _sequence(items: Any) -> Strings | None:
    """A match of a sequence holds a match of each item, and each run of literal characters:
    any one of them will do, so the most telling one is kept."""
    options: list[Strings] = []
    run = ""
    for op, arg in items:
        if op is _ops.LITERAL:
            run += chr(arg)
            continue
        if run:
            options.append(frozenset({run}))
        run = ""
        found = _item(op, arg)
        if found:
            options.append(found)
    if run:
        options.append(frozenset({run}))
    return max(options, key=_telling, default=None)


def _telling(strings: Strings) -> tuple[int, int]:
    """Longer strings are rarer in text, and fewer of them are fewer checks."""
    return min(map(len, strings)), -len(strings)


def _item(op: Any, arg: Any) -> Strings | None:
    if op is _ops.SUBPATTERN:
        _group, add_flags, del_flags, items = arg
        return None if add_flags or del_flags else _sequence(items)
    if op is _ops.BRANCH:
        branches = [_sequence(items) for items in arg[1]]
        union: set[str] = set()
        for strings in branches:
            if strings is None:
                return None
            union |= strings
        return frozenset(union)
    if op in (_ops.MAX_REPEAT, _ops.MIN_REPEAT, _ops.POSSESSIVE_REPEAT):
        least, _most, items = arg
        return _sequence(items) if least >= 1 else None
    if op is _ops.ATOMIC_GROUP:
        return _sequence(arg)
    return None


class Prefilter:
    """Which of a family of patterns may match a text, from one pass of substring checks."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        needs = [required(pattern) for pattern in patterns]
        self._always = [strings is None for strings in needs]
        self._needed_by: dict[str, list[int]] = {}
        for index, strings in enumerate(needs):
            for string in sorted(strings or ()):
                self._needed_by.setdefault(string, []).append(index)

    def possible(self, text: str) -> list[bool]:
        """For each pattern, in order: may it match ``text``? False means it cannot."""
        if not ENABLED:
            return [True] * len(self._always)
        out = self._always.copy()
        for string, indices in self._needed_by.items():
            if string in text:
                for index in indices:
                    out[index] = True
        return out
