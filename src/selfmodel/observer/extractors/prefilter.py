"""Does a message need the parser at all? A check made without parsing.

The check is made per sentence, so a long message is parsed only where it can say something.
Only two kinds of sentence can say something about the user: a first-person one ("I", "my",
"me") and one addressed to the assistant about answering ("you", "please", an imperative or a
short fragment: "Use a casual tone.", "No summaries at the end.", "Too long."). A message
with no first- or second-person word and no short statement (longer sentences without a
person are task text: "Write a cover letter for a marketing role at a bank.") is skipped.
Questions are kept out too, unless they have a person word.
"""

from __future__ import annotations

import re

PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'd|i'll|me|my|mine|myself|you|your|please)\b",
                    re.I)
_SENTENCES = re.compile(r"(?:[^.!?\n]|[.!?](?=[^\s.!?]))+[.!?]*")  # "e.g." and "x@y.com" stay whole
SHORT_WORDS = 12


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences by punctuation and line breaks (no parse)."""
    return [s for s in (m.group(0).strip() for m in _SENTENCES.finditer(text)) if s]


def worth_parsing(text: str) -> bool:
    """True when ``text`` may hold a statement by the user or a request about answers."""
    if PERSON.search(text):
        return True
    for found in _SENTENCES.finditer(text):
        sentence = found.group(0).strip()
        if sentence and not sentence.endswith("?") and len(sentence.split()) <= SHORT_WORDS:
            return True
    return False
