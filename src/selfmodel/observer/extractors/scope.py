"""Is a style request about the user's answers in general, or about this one task?

"Keep your answers short" said on its own is a lasting preference. "Can you suggest three
dinners? Provide your answer in French." asks for one answer in French; "Give me a
step-by-step guide to changing a tire" asks for one guide. Storing those as preferences would
make one request a rule for every later one, and it is also how text spliced into a message
(a pasted email, an injected instruction) would become a lasting belief.

So a style request that is not a reaction to the previous answer is kept only when it reads
as lasting: it carries a marker of generality ("always", "from now on", "in general",
"answers" in the plural, "I prefer ..."), or nothing else in the message asks for a piece
of work. A sentence asks for a piece of work when it is a question, or opens with a verb of
work ("write", "summarize", "give me"...), and has content of its own once the words of
its style requests are taken out ("give me a step-by-step guide to changing a tire": yes;
"explain it step by step": no).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selfmodel.observer.extractors.lexicon import LANGUAGES, word_set
from selfmodel.observer.extractors.style import without_style
from selfmodel.observer.extractors.text import Sentence, clause_starts

LASTING = re.compile(
    r"\b(?:always|from\s+now\s+on|going\s+forward|in\s+general|generally|by\s+default|"
    r"every\s+time|each\s+time|whenever|never|in\s+(?:the\s+)?future|for\s+future|"
    r"(?:answers|responses|replies|explanations|summaries|outputs)|things|everything|"
    r"i\s+(?:really\s+)?(?:prefer|like|love|want|need|hate|dislike|can't\s+stand)|"
    r"i'd\s+(?:prefer|like|rather)|i\s+would\s+(?:prefer|like|rather)|remember)\b"
)
_WORD = re.compile(r"[a-z][a-z'-]+")
# Words that describe the form of an answer, or carry no content: what is left of a sentence
# once they are dropped is what it asks about.
_FORM = word_set(
    """answer answers response responses reply replies respond explanation explanations
    explain output short shorter brief briefer concise succinct terse detailed detail details
    thorough long longer lengthy step steps step-by-step table tables tabular bullet bullets
    bulleted point points list lists numbered prose paragraph paragraphs sentences full
    format formal informal casual professional friendly tone style jargon plain simple simpler
    terms words language english emoji emojis technical precise keep make use using write
    written speak talk be more less please pls plz can could would will you your me it this
    that just also kindly give show put the and with into for from now then okay ok thanks
    hey again instead way lot little bit very really quite rather code first before after
    example examples intro preamble summary gist version straight chase depth deeper
    elaborate clarify skip cut"""
) | LANGUAGES
_INTERROGATIVE = re.compile(
    r"(?:what|which|who|whom|whose|where|when|why|how|can|could|would|will|should|do|does|"
    r"did|is|are|any)\b"
)
_WORK = re.compile(
    r"^(?:(?:please|pls|kindly|now|also|and|then|so|ok|okay|hey|hi|could\s+you|can\s+you|"
    r"would\s+you|will\s+you)[\s,!]+)*(?:write|draft|compose|give|tell|explain|describe|suggest|"
    r"recommend|summari[sz]e|translate|list|make|create|generate|plan|find|help|compare|"
    r"outline|rewrite|fix|calculate|convert|design|build|name|brainstorm|review|proofread|edit|"
    r"analy[sz]e|check|prepare|propose|teach|draw|book|show|provide|send|add|include)\b"
)
_CONTENT_WORDS = 2


def own_content(sentence: Sentence) -> bool:
    """Does the sentence ask about something beyond the form of the answer?"""
    rest = without_style(sentence.lower)
    words = [w for w in _WORD.findall(rest) if len(w) > 2 and w not in _FORM]
    return len(words) >= _CONTENT_WORDS


def asks_for_work(sentence: Sentence) -> bool:
    """A question, or a request for a piece of work with content of its own."""
    lower = sentence.lower
    if lower.rstrip().endswith("?") and any(_INTERROGATIVE.match(lower, pos)
                                            for pos in (0, *clause_starts(lower))):
        return True
    return bool(_WORK.match(sentence.lower)) and own_content(sentence)


def one_off(sentence: Sentence, message: Sequence[Sentence]) -> bool:
    """Is this style request about the current task only (see the module docstring)?"""
    if LASTING.search(sentence.lower):
        return False
    if asks_for_work(sentence) and own_content(sentence):
        return True
    return any(asks_for_work(other) for other in message if other is not sentence)
