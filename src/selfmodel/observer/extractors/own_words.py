"""The user's own words in an observation: what is left once everything that is not theirs
is taken out.

An observation's ``content`` holds only the user's turns (the app's system prompt and the
assistant's answers travel in other fields and are never read for beliefs), but a user turn
can still carry text that is not a statement by the user:

- the injected profile block, pasted back (``<user_profile>...</user_profile>``): beliefs
  the model already holds, restated, would confirm themselves;
- quoted lines (``> ...``), the usual way to paste someone else's text;
- code (fenced or inline) and text in double quotes, when there is text around it;
- material introduced by a colon ("Summarize this email: ...", "You said: ..."), to the end
  of its paragraph: a short lead that points at what follows ("this", "the following",
  "here") or names the assistant as its author ("you said", "your answer") hands over text
  that someone else wrote;
- a passage of the assistant's answer pasted or repeated into the message ("you said: I'd
  recommend the vegan menu"): any sentence the previous or the current answer contains.
"""

from __future__ import annotations

import re

PROFILE_BLOCK = re.compile(r"<user_profile>.*?(?:</user_profile>|\Z)", re.S | re.I)
QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.M)
CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)
DOUBLE_QUOTED = re.compile(r"[\"\u201c][^\"\u201d]{3,}[\"\u201d]")
_HANDOVER = re.compile(r"^(?P<lead>[^:\n]{0,80}):(?P<rest>.+)$", re.S)
_HANDOVER_LEAD = re.compile(
    r"\b(?:this|these|the following|here|below|attached|you|your|it says|says)\b", re.I)
_LEAD_WORDS = 8
_SENTENCE = re.compile(r"[^.!?:\n]+[.!?:]*")
_WORD = re.compile(r"[a-z0-9']+")
MIN_PASTED_WORDS = 4


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _without_handover(paragraph: str) -> str:
    """The paragraph without material handed over after a colon ("Summarize this email:",
    "You said:", "My profile says:"): up to the end of the paragraph, it is not the user's."""
    handover = _HANDOVER.match(paragraph)
    if handover and len(handover.group("lead").split()) <= _LEAD_WORDS \
            and _HANDOVER_LEAD.search(handover.group("lead")):
        return handover.group("lead")
    return paragraph


def own_words(content: str, *answers: str) -> str:
    """``content`` without the profile block, quoted lines and sentences of ``answers``."""
    text = QUOTED_LINE.sub(" ", PROFILE_BLOCK.sub(" ", content))
    text = CODE.sub(" ", text)
    unquoted = DOUBLE_QUOTED.sub(" ", text)
    if unquoted.strip(" .,!?\n"):
        text = unquoted  # a wholly quoted message is the user's own words, quoted
    text = "\n\n".join(_without_handover(p) for p in re.split(r"\n\s*\n", text))
    theirs = " ".join(_normal(a) for a in answers if a)
    if not theirs:
        return text.strip()
    kept = []
    for found in _SENTENCE.finditer(text):
        sentence = _normal(found.group(0))
        if len(sentence.split()) >= MIN_PASTED_WORDS and sentence in theirs:
            continue
        kept.append(found.group(0))
    return "".join(kept).strip()
