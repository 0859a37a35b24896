"""Thumbs-style feedback on the previous answer: "👍", "good answer", "thumbs down", "not helpful".

For ``type=feedback`` observations (an app's thumbs button) the whole text is read. In a chat
turn only a message that is nothing but feedback counts ("👍", "not helpful"), so that
"thanks, and what about X?" is not taken as a verdict.
"""

from __future__ import annotations

import re
from typing import Literal

_UP_EMOJI = ("\U0001f44d", "\U0001f44c", "\u2764", "\U0001f64f", "\U0001f525", "\u2705")
_DOWN_EMOJI = ("\U0001f44e", "\u274c", "\U0001f621", "\U0001f620")
_NEGATIVE = re.compile(
    r"\b(?:thumbs?[- ]?down|not\s+(?:very\s+|at\s+all\s+|really\s+)?(?:helpful|useful|good|great|"
    r"what\s+i\s+(?:asked|wanted|needed)|right|correct|relevant)|unhelpful|useless|bad\s+(?:answer|"
    r"response|reply)|wrong|incorrect|terrible|awful|poor|downvote|(?:doesn't|didn't|does\s+not|"
    r"did\s+not)\s+help|irrelevant|meh|bad)\b|(?:^|\s)-1\b"
)
_POSITIVE = re.compile(
    r"\b(?:thumbs?[- ]?up|(?:very\s+|really\s+|super\s+)?(?:helpful|useful)|good|great|perfect|"
    r"exactly|excellent|spot\s+on|(?:that|this)\s+help(?:s|ed)|thanks|thank\s+you|love\s+it|nice|"
    r"awesome|amazing|well\s+done|upvote|correct|brilliant|fantastic)\b|(?:^|\s)\+1\b"
)
_WHOLE = re.compile(
    r"^(?:thumbs?[- ]?(?:up|down)|(?:good|great|bad|perfect|excellent)\s+(?:answer|response|job)|"
    r"(?:very\s+|really\s+)?(?:not\s+)?(?:helpful|useful)|unhelpful|useless|[+-]1)[.!]*$"
)


def read_feedback(text: str, *, whole_message_only: bool) -> Literal[1, -1] | None:
    """+1 / -1 for a verdict on the previous answer, None when the text gives none."""
    stripped = text.strip()
    if not stripped:
        return None
    words = re.sub(r"[\U0001f000-\U0001ffff\u2600-\u27bf\ufe0f]", " ", stripped.lower()).strip()
    if whole_message_only and words and not _WHOLE.match(words):
        return None
    emoji = _emoji_verdict(stripped)
    if emoji is not None and not words:
        return emoji
    if _NEGATIVE.search(words) or (emoji == -1):
        return -1
    if _POSITIVE.search(words) or (emoji == 1):
        return 1
    return None


def _emoji_verdict(text: str) -> Literal[1, -1] | None:
    if any(e in text for e in _DOWN_EMOJI):
        return -1
    if any(e in text for e in _UP_EMOJI):
        return 1
    return None
