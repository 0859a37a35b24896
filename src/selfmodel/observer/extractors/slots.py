"""The communication slots: the product's schema for how a user wants to be answered.

Each slot value has a statement (what the prompt says), a short description (what a request
for it is compared with, by meaning: ``selfmodel.language.embed``) and an opposite (what a
negated request or a complaint about it asks for: "no bullet points" -> prose, "too long" ->
concise). The descriptions are the schema's documentation, not phrasings collected from data:
a request is matched by the similarity of its head phrase to them, so "use a friendly,
relaxed register" finds ``tone/casual`` without either word being listed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from selfmodel.language import embed

DOMAIN = "communication"
# Cosine similarity a request's phrase must reach to name a slot (calibrated on short
# hand-written phrases: slot phrases score 0.5-1.0, unrelated task objects under 0.3).
MATCH = 0.42
# A complaint's adjective read as "<adjective> answers" against the complaint descriptions.
COMPLAINT_MATCH = 0.45


@dataclass(frozen=True)
class SlotValue:
    key: str
    value: str
    statement: str
    describe: str  # what asking for this value sounds like
    opposite: str | None  # the value a negated request asks for
    complaint: str = ""  # what an answer that has too much of this value is like

    @property
    def slot(self) -> str:
        return f"{DOMAIN}/{self.key}"


VALUES: tuple[SlotValue, ...] = (
    SlotValue("response_length", "concise", "Prefers concise answers",
              "short, brief, concise answers, straight to the point", "detailed",
              "short, brief, shallow, superficial answers"),
    SlotValue("response_length", "detailed", "Prefers detailed answers",
              "detailed, in-depth, thorough answers with more depth", "concise",
              "long, lengthy, verbose, wordy answers"),
    SlotValue("format", "bullets", "Prefers bullet points", "bullet points, a bulleted list",
              "prose"),
    SlotValue("format", "table", "Prefers tables", "a table, tabular format", "prose"),
    SlotValue("format", "prose", "Prefers plain paragraphs of prose over bullet points",
              "prose, full paragraphs", "bullets"),
    SlotValue("format", "markdown", "Prefers markdown formatting",
              "markdown formatting, with markdown headers", "prose"),
    SlotValue("code", "code_first", "Prefers code before explanations",
              "code first, then the explanation", None),
    SlotValue("steps", "step_by_step", "Prefers step-by-step explanations",
              "step-by-step instructions", None),
    SlotValue("tone", "formal", "Prefers a formal, professional tone",
              "a formal, professional tone",
              "casual", "formal, stiff, robotic, corporate answers"),
    SlotValue("tone", "casual", "Prefers a casual, informal tone",
              "a casual, friendly, informal tone",
              "formal", "casual, chatty, informal answers"),
    SlotValue("jargon", "plain", "Prefers plain language, no jargon",
              "plain, simple, everyday language, as if to a beginner", "technical",
              "simplistic, basic, dumbed-down answers"),
    SlotValue("jargon", "technical", "Prefers technical depth and precise terms",
              "technical jargon, precise terminology", "plain",
              "technical, complicated, jargon-heavy answers"),
    SlotValue("emoji", "lots", "Likes emojis in answers", "emojis", "none"),
    SlotValue("emoji", "none", "Prefers no emojis", "", None),
    SlotValue("sources", "cited", "Prefers answers that cite sources",
              "sources, citations, references", None),
    SlotValue("summary", "included", "Prefers a summary at the end of answers",
              "a summary at the end", "none"),
    SlotValue("summary", "top", "Prefers a short summary at the top of answers",
              "a short summary first, at the top, before the details", "none"),
    SlotValue("summary", "none", "Prefers answers without a closing summary", "", None),
    SlotValue("examples", "included", "Prefers concrete examples in answers",
              "concrete examples", None),
)
BY_VALUE = {(v.key, v.value): v for v in VALUES}
KEYS = frozenset(v.key for v in VALUES) | {"reply_language"}

_LOCK = threading.Lock()
_TABLES: dict[str, tuple[list[SlotValue], npt.NDArray[np.float32]]] = {}


def _table(which: str) -> tuple[list[SlotValue], npt.NDArray[np.float32]]:
    """The described values and their unit vectors (computed once per process)."""
    if which not in _TABLES:
        with _LOCK:
            values = [v for v in VALUES if getattr(v, which)]
            _TABLES[which] = values, embed([getattr(v, which) for v in values])
    return _TABLES[which]


def _best(text: str, which: str, floor: float) -> SlotValue | None:
    values, table = _table(which)
    vector = embed([text])[0]
    scores = table @ vector
    best = int(np.argmax(scores))
    return values[best] if float(scores[best]) >= floor else None


def match(phrase: str, negated: bool = False) -> SlotValue | None:
    """The slot value a request's phrase asks for ("use a casual tone" -> tone/casual; with
    ``negated``, "no bullet points" -> format/prose), or None when it names no slot."""
    found = _best(phrase, "describe", MATCH)
    if found is None or not negated:
        return found
    return BY_VALUE.get((found.key, found.opposite)) if found.opposite else None


def complaint(adjective: str) -> SlotValue | None:
    """What "this is too <adjective>" asks for: the opposite of the value it complains of."""
    found = _best(f"{adjective} answers", "complaint", COMPLAINT_MATCH)
    if found is None or found.opposite is None:
        return None
    return BY_VALUE.get((found.key, found.opposite))


def language(name: str) -> SlotValue:
    """A reply-language slot value for a language the parse named."""
    return SlotValue("reply_language", name.lower(), f"Prefers replies in {name.capitalize()}",
                     "", None)
