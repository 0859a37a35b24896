"""Text plumbing for the rules extractor: sentences, clause starts, objects, third person.

The rules read only where the user speaks *about themselves*: a pattern must start at a
clause start (the start of a sentence, or right after a comma, semicolon, dash or a
conjunction), so "my wife said I'm vegetarian" never yields a belief about the user, while
"my wife eats meat, but I'm vegetarian" does. Matching runs on a lowercased copy of the same
length as the original, so spans cut from the original keep proper nouns ("Go", "Berlin").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfmodel.domain.privacy import redact

MAX_QUOTE = 300
MAX_OBJECT_WORDS = 14
_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
MIN_PASTE = 12
_PASTE = re.compile(
    r"\b(?:article|e-?mail|text|document|doc|message|passage|paragraph|review|post|letter|"
    r"transcript|content|following|below|snippet|excerpt|page|abstract|report|essay|story|"
    r"code|log|logs|output|error|thread|conversation|chat|tweet|comment|description)\s*:\s*",
    re.IGNORECASE,
)
_QUOTATION = re.compile(r"[\"\u201c][^\"\u201c\u201d]{40,}[\"\u201d]")
_WHOLLY_QUOTED = re.compile(r"\s*[\"\u201c][^\"\u201c\u201d]*[\"\u201d]\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+|;\s*")

INTERROGATIVES = frozenset(
    str.split("do does did can could would will is are am was were should shall have has what "
    "which who whom whose where when why how any anything isn't aren't don't doesn't didn't won't "
    "wouldn't couldn't shouldn't may might")
)
HYPOTHETICAL = re.compile(
    r"^(?:what if|if|suppose|supposing|imagine|pretend|assuming|assume|hypothetically|"
    r"let's say|say|in a world where|unless|even if|whether|in case)\b"
)
HYPOTHETICAL_ANYWHERE = re.compile(r"\b(?:if i (?:were|was|had|could)|i wish i|i used to)\b")
_DISCOURSE = re.compile(
    r"^(?:(?:and|but|so|also|plus|well|oh|honestly|actually|personally|yeah|yes|ok|okay|"
    r"btw|by the way|to be honest|tbh|fwiw|for what it's worth|in general|as for me|for me|"
    r"though|anyway|anyways|just so you know|fyi|just fyi|generally speaking|then|now|"
    r"hey|hi|hello|frankly|admittedly|basically|because|as(?!\s+an?\s)|since|although|while|yet|"
    r"however|otherwise|again|or|whereas)\b[,!]?\s+)+"
)
_CLAUSE_START = re.compile(
    r"(?:^|[,;:(\u2014\u2013]\s*|\s[-\u2014\u2013]\s+|\s(?=(?:and|but|or|so|because|as|since|"
    r"though|although|while|whereas|plus|yet|then|also)\s))"
)

# A time limit that makes a statement a one-off ("I'd prefer to stay in the US for now").
EPHEMERAL = re.compile(
    r"\b(?:for\s+now|this\s+time|today|today's|tonight|tomorrow|tomorrow's|this\s+(?:week|weekend|"
    r"month|trip)|next\s+(?:week|weekend|month)|at\s+the\s+moment|right\s+now)\b"
)

# Where an object (the thing liked, avoided, used...) ends.
_OBJECT_STOP = re.compile(
    r"[.;:!?()\[\]]|\s[-\u2014\u2013]\s|\s(?:because|since|due to|so that|so|which|"
    r"whenever|when|while|but|unless|if|even|especially|particularly|except|like|such as|"
    r"including|e\.g\.|for example|as|where|whereas|although|though|given|considering|yet|"
    r"instead|rather than|unlike|compared|whose|that's|"
    r"what|thanks|thank you|please|lol|haha|in order to|because of)\b"
)
_NEW_CLAUSE_WORDS = (
    "i|i'm|i'd|i've|im|it|its|it's|they|this|that|which|who|so|but|as|because|since|"
    "especially|particularly|even|like|such|including|though|although|while|whereas|thanks|"
    "thank|please|lol|haha|unless|if|when|where|given|due|instead|rather|preferring|"
    "preferably|not|plus|what|how|do|does|can|could|would|any|anyway|just|also|yet|whether|"
    "for|my|we|you|your|he|she|there|and i|or i"
)
_VP_WORDS = (
    "prefer|avoid|will|would|refuse|only|never|must|try|can|cannot|can't|don't|do|am|"
    "find|love|like|hate|steer|always|usually|tend|generally|much|vastly|strongly|really|"
    "absolutely|also|instead|have|has|feel|think|keep|want|need|enjoy|dislike|stay|choose|"
    "opt|look|seek|rather|won't|wouldn't|then|greatly|actively|strictly|exclusively|mostly|"
    "definitely|am|i|i'm|my|it|so|therefore|thus|am not|favor|favour|stick|lean"
)
_COMMA_BREAK = re.compile(rf",\s+(?:(?:and|or)\s+)?(?:{_NEW_CLAUSE_WORDS})\b")
_AND_BREAK = re.compile(rf",?\s+(?:and|or|&)\s+(?:{_VP_WORDS})\b")

_PRONOUNS = {"my": "their", "me": "them", "myself": "themselves", "mine": "theirs", "i": "they",
             "i'm": "they're", "i've": "they've", "i'd": "they'd", "i'll": "they'll"}
_IRREGULAR = {"have": "has", "do": "does", "go": "goes", "be": "is", "am": "is",
              "don't": "doesn't", "dont": "doesn't"}
_MODALS = {"can't", "cannot", "can", "could", "would", "will", "won't", "must", "should",
           "might", "may", "shall"}


@dataclass(frozen=True)
class Sentence:
    """One sentence of the user's message: the original text and its matching form."""

    original: str
    lower: str
    context: str = ""  # the previous answer, lowercased: what "the X" may refer back to

    @property
    def question(self) -> bool:
        """A question about the world or the assistant ("do you like..?"), not about the user."""
        first = self.lower.split(maxsplit=1)[0] if self.lower.strip() else ""
        return self.lower.rstrip().endswith("?") and first.strip(",") in INTERROGATIVES

    @property
    def hypothetical(self) -> bool:
        stripped = _DISCOURSE.sub("", self.lower)
        return bool(HYPOTHETICAL.match(stripped) or HYPOTHETICAL_ANYWHERE.search(self.lower))

    def quote(self) -> str:
        return redact(self.original.strip())[:MAX_QUOTE]


def normalize(text: str) -> str:
    """Lowercase with typographic apostrophes made plain, same length as ``text``.

    Each character is lowered on its own and kept when its lowercase is longer ("\u0130"), see
    ``_normalize_by_char``. ``str.lower`` gives the same string whenever it keeps the length
    (then no character grew) and there is no capital sigma (the one character it lowers by
    context, to a final sigma at the end of a word): nearly always, and at C speed."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    lowered = text.lower()
    if len(lowered) == len(text) and "\u03a3" not in text:
        return lowered
    return _normalize_by_char(text)


def _normalize_by_char(text: str) -> str:
    """``normalize`` one character at a time: the definition, and the path for rare text."""
    out = []
    for char in text.replace("\u2019", "'").replace("\u2018", "'"):
        low = char.lower()
        out.append(low if len(low) == 1 else char)
    return "".join(out)


def own_words(content: str) -> str:
    """The part of a message the user wrote themselves: without code blocks, ``>`` quoted
    lines, long quotations, and anything after "here is the article:" (pasted material is
    someone else's words, and the usual carrier of injected instructions)."""
    content = _FENCE.sub(" ", content.strip())
    pasted = _PASTE.search(content)
    if pasted and len(content) - pasted.end() >= MIN_PASTE:
        content = content[:pasted.start()]
    if not _WHOLLY_QUOTED.fullmatch(content):
        content = _QUOTATION.sub(" ", content)
    return "\n".join(ln for ln in content.splitlines() if not ln.lstrip().startswith(">"))


def sentences(content: str, context: str = "") -> list[Sentence]:
    """The sentences of the user's own words in ``content`` (see ``own_words``).

    ``context`` (the answer the user reacts to) is kept only to recognise references back to
    it; nothing is ever extracted from it."""
    parts = _SENTENCE_END.split(own_words(content))
    stripped = (x.strip().strip("\"\u201c\u201d*_`").strip() for x in parts if x)
    lowered_context = normalize(context)
    return [Sentence(p, normalize(p), lowered_context) for p in stripped if p]


def clause_starts(lower: str) -> list[int]:
    """Positions where a clause starts, after leading discourse words ("well, honestly, ...")."""
    starts: list[int] = []
    for match in _CLAUSE_START.finditer(lower):
        pos = match.end()
        rest = lower[pos:]
        skipped = _DISCOURSE.match(rest)
        pos += skipped.end() if skipped else 0
        if pos < len(lower) and (not starts or starts[-1] != pos):
            starts.append(pos)
    return starts


def object_end(lower: str, start: int) -> int:
    """Where the object starting at ``start`` ends: the first clause boundary after it."""
    ends = [len(lower)]
    for pattern in (_OBJECT_STOP, _COMMA_BREAK, _AND_BREAK):
        found = pattern.search(lower, start)
        if found:
            ends.append(found.start())
    end = min(ends)
    words = list(re.finditer(r"\S+", lower[start:end]))
    if len(words) > MAX_OBJECT_WORDS:
        end = start + words[MAX_OBJECT_WORDS - 1].end()
    return end


# Time and degree words that close a statement without being part of its object
# ("I can't stand spicy food anymore", "I like jazz too").
_TRAILING = re.compile(
    r"(?i)[\s,]+(?:any\s?more|these\s+days|nowadays|lately|again|either|as\s+well|too|now|"
    r"at\s+all|in\s+general|whatsoever)$"
)


def clean_object(text: str) -> str:
    """Trim an object: surrounding punctuation, dangling conjunctions, closing time words."""
    text = text.strip().strip(",;:-\u2014\u2013 '\"")
    text = re.sub(r"(?i)[\s,]+(?:and|or|&|,)$", "", text)
    previous = None
    while previous != text:
        previous, text = text, _TRAILING.sub("", text).strip(" ,")
    return re.sub(r"\s+", " ", text).strip(" ,")


def swap_pronouns(text: str) -> str:
    """First person to third person ("my home" -> "their home")."""

    def repl(match: re.Match[str]) -> str:
        word = match.group(0)
        return _PRONOUNS.get(normalize(word), word)

    return re.sub(r"\b(?:[Mm]y|[Mm]e|[Mm]yself|[Mm]ine|I'm|I've|I'd|I'll|I)\b", repl, text)


def conjugate(verb: str) -> str:
    """Third person singular of a (regular enough) English verb."""
    low = verb.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low in _MODALS:
        return verb
    if re.search(r"(?:s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


_SUBJECT_FORMS = (
    (re.compile(r"^(?:i'm|im|i am)\s+", re.I), "is "),
    (re.compile(r"^(?:i've|i have)\s+", re.I), "has "),
    (re.compile(r"^(?:i don't|i do not|i dont)\s+", re.I), "does not "),
    (re.compile(r"^(?:i didn't|i did not)\s+", re.I), "did not "),
    (re.compile(r"^(?:i won't|i will not)\s+", re.I), "will not "),
    (re.compile(r"^(?:i'd|i would)\s+", re.I), "would "),
    (re.compile(r"^(?:i'll|i will)\s+", re.I), "will "),
)
_ADVERB = re.compile(
    r"^(?:really|strongly|absolutely|truly|genuinely|totally|just|generally|usually|"
    r"typically|normally|always|also|actually|definitely|especially|particularly|deeply|"
    r"greatly|honestly|personally|certainly|much|quite|seriously|simply|vastly|intensely|"
    r"passionately|extremely|highly|mostly|mainly|primarily|strictly|steadfastly|actively|"
    r"consistently|completely|entirely|firmly|categorically|staunchly|religiously|only|"
    r"exclusively|never|rarely|often|still|sometimes|occasionally|totally|utterly|"
    r"particularly)$",
    re.I,
)


def third_person(span: str) -> str:
    """'I strongly dislike my commute' -> 'Strongly dislikes their commute'."""
    span = span.strip().replace("\u2019", "'")
    for pattern, replacement in _SUBJECT_FORMS:
        if pattern.match(span):
            return capitalize(swap_pronouns(pattern.sub(replacement, span, count=1)))
    words = span.split()
    if words and normalize(words[0]) == "i":
        words = words[1:]
        index = 0
        while index < len(words) - 1 and _ADVERB.match(words[index]):
            index += 1
        if index < len(words):
            words[index] = conjugate(words[index])
    return capitalize(swap_pronouns(" ".join(words)))


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def slug(text: str, limit: int = 60) -> str:
    """A key fragment: lowercase words joined by ``_``, cut at a word boundary."""
    words = re.findall(r"[a-z0-9+#][a-z0-9+#'.-]*", normalize(text))
    out = ""
    for word in (w.strip(".'-") for w in words):
        if not word:
            continue
        candidate = f"{out}_{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out


@dataclass(frozen=True)
class Clause:
    """A clause of a sentence: where a statement about the user may start."""

    sentence: Sentence
    start: int

    @property
    def lower(self) -> str:
        return self.sentence.lower

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        return pattern.match(self.sentence.lower, self.start)

    def original(self, start: int, end: int) -> str:
        return self.sentence.original[start:end]

    def statement(self, end: int) -> str:
        """The clause up to ``end`` in the third person ("I'm allergic to X" -> "Is ...")."""
        return third_person(clean_object(self.sentence.original[self.start:end]))


def clauses(sentence: Sentence) -> list[Clause]:
    return [Clause(sentence, pos) for pos in clause_starts(sentence.lower)]
