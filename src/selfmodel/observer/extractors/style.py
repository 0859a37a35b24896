"""Style requests ("keep it short", "use tables", "in English please") and corrections.

A style rule names one communication slot and a value. Two flavours:
- a *request* is durable on its own ("keep answers short", "no bullet points please");
- a *complaint* ("too long", "stop using bullet points", "in English please") reacts to the
  previous answer. Said after an answer it is a correction of that slot (the strongest
  signal); said with no answer to react to, a complaint that only makes sense as a reaction
  ("too long") is ignored rather than guessed at.

Generic corrections ("that's wrong", "no, I meant...", "not what I asked") concern the answer,
not a slot: they mark the extraction as a correction without naming slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfmodel.observer.extractors.lexicon import LANGUAGES
from selfmodel.observer.extractors.literals import Prefilter
from selfmodel.observer.extractors.text import Sentence, capitalize, clause_starts

DOMAIN = "communication"


@dataclass(frozen=True)
class StyleRule:
    pattern: re.Pattern[str]
    key: str
    value: str
    statement: str
    complaint: bool = False  # a reaction to the previous answer: a correction when reacting
    needs_context: bool = False  # meaningless without a previous answer ("too long")
    anchored: bool = False  # must match at a clause start


@dataclass(frozen=True)
class StyleHit:
    key: str
    value: str
    statement: str
    complaint: bool
    needs_context: bool

    @property
    def slot(self) -> str:
        return f"{DOMAIN}/{self.key}"


def _rule(regex: str, key: str, value: str, statement: str, **flags: bool) -> StyleRule:
    return StyleRule(re.compile(regex), key, value, statement, **flags)


_ANS = r"(?:answers?|responses?|replies|reply|explanations?|summaries|outputs?)"
_YOUR_ANS = rf"(?:it|things|this|them|everything|(?:your|the|all)\s+{_ANS}|{_ANS})"
_TOO = r"(?:(?:way|far|much|a bit|a little|kind of|kinda|still|just|really|so|bit|slightly)\s+)*too"
_THAT = r"(?:(?:that|this|it|that answer|the answer|your answer|your response|the response|" \
        r"that response|this answer|the explanation|your explanation)(?:'s|\s+is|\s+was)\s+)?"
_NEG_GUARD = re.compile(
    r"(?:don't|do not|dont|no|not|stop|never|without|less|fewer|avoid|quit|no need to|"
    r"no need for|enough with)\s+(?:\w+\s+){0,3}$"
)

_LENGTH = [
    _rule(rf"\b(?:keep|make)\s+{_YOUR_ANS}\s+(?:short|brief|concise|succinct|tight|shorter|"
          r"briefer|crisp|to the point|short and sweet|short and simple)\b",
          "response_length", "concise", "Prefers concise answers"),
    _rule(r"(?<!i'll )(?<!i will )(?<!i'd )(?<!i'm )\b(?:be|being)\s+(?:more\s+|very\s+|extra\s+)?"
          r"(?:brief|concise|succinct|terse|to the point)\b",
          "response_length", "concise", "Prefers concise answers"),
    _rule(r"\b(?:prefer|like|want|need|love|appreciate|only|just|always|give me|stick to)\s+"
          r"(?:\w+\s+)?(?:short|shorter|brief|briefer|concise|succinct|terse|quick|compact|"
          rf"to-the-point)\s+{_ANS}", "response_length", "concise", "Prefers concise answers"),
    _rule(rf"\b(?:short|shorter|brief|concise|succinct)\s+{_ANS}\s+(?:please|pls|plz|from now "
          r"on|going forward|in general)\b", "response_length", "concise",
          "Prefers concise answers"),
    _rule(r"\b(?:less|fewer)\s+(?:verbose|wordy|words|text|fluff|rambling|filler)\b",
          "response_length", "concise", "Prefers concise answers", complaint=True),
    _rule(rf"\bno\s+(?:long|lengthy|wordy)\s+(?:{_ANS}|essays?|paragraphs|walls of text)\b",
          "response_length", "concise", "Prefers concise answers"),
    _rule(r"\b(?:get|cut|skip)\s+(?:straight\s+|right\s+)?to\s+the\s+(?:point|chase)\b",
          "response_length", "concise", "Prefers concise answers"),
    _rule(r"\b(?:don't|do not|stop|please don't)\s+(?:ramble|rambling|over-?explain|"
          r"over-?explaining|waffle|waffling)\b",
          "response_length", "concise", "Prefers concise answers", complaint=True),
    _rule(r"\b(?:shorter|briefer)\s+(?:please|pls|plz)\b|\bmake\s+it\s+(?:shorter|briefer)\b|"
          r"\btl;?dr\b", "response_length", "concise", "Prefers concise answers",
          complaint=True, needs_context=True),
    _rule(rf"{_THAT}{_TOO}\s+(?:long|verbose|wordy|lengthy|much text|much detail)\b",
          "response_length", "concise", "Prefers concise answers",
          complaint=True, needs_context=True, anchored=True),
    _rule(r"\b(?:give|tell|show)\s+me\s+(?:more\s+|all\s+the\s+|the\s+full\s+|lots\s+of\s+|"
          r"some\s+|the\s+)?(?:details|detail|depth|specifics)\b(?!\s+(?:about|on|of|regarding|"
          r"for|as\s+to|in))", "response_length", "detailed", "Prefers detailed answers",
          complaint=True),
    _rule(r"(?<!i'll )(?<!i will )\b(?:be|being)\s+(?:more\s+)?(?:detailed|thorough|"
          r"comprehensive|elaborate)\b", "response_length", "detailed", "Prefers detailed answers"),
    _rule(r"\b(?:prefer|like|want|need|love|appreciate|always|give me)\s+(?:\w+\s+)?(?:detailed|"
          r"thorough|in-depth|longer|comprehensive|elaborate|extensive|exhaustive|long-form)\s+"
          rf"{_ANS}", "response_length", "detailed", "Prefers detailed answers"),
    _rule(r"(?:^|\b(?:please|can\s+you|could\s+you)\s+)(?:go|dig)\s+(?:deeper|into\s+(?:more\s+)?"
          r"detail)\b|\b(?:more|greater|extra)\s+"
          r"(?:detail|details|depth)\s+(?:please|pls|plz)\b|\bmake\s+it\s+longer\b|"
          r"\blonger\s+(?:please|pls|plz)\b|\bcan\s+you\s+elaborate\b",
          "response_length", "detailed", "Prefers detailed answers",
          complaint=True, needs_context=True),
    _rule(r"\b(?:explain|describe)\s+(?:it\s+|things\s+|everything\s+)?(?:in\s+(?:more|full|"
          r"great|greater|much more)\s+detail|thoroughly|in depth)\b",
          "response_length", "detailed", "Prefers detailed answers"),
    _rule(rf"{_THAT}{_TOO}\s+(?:short|brief|terse|shallow|vague|superficial|thin|sparse)\b",
          "response_length", "detailed", "Prefers detailed answers",
          complaint=True, needs_context=True, anchored=True),
]

_BULLETS = r"(?:bullet(?:ed)?[- ]?(?:points?|lists?|form)|bullets)"
_FORMAT = [
    _rule(rf"\b(?:no|stop\s+using|stop\s+with|stop|don't\s+use|do\s+not\s+use|without|fewer|less|"
          r"avoid|quit\s+using|drop\s+the|enough\s+with\s+the|no\s+more|never\s+use|lose\s+the|"
          rf"ditch\s+the|too\s+many)\s+(?:the\s+)?(?:{_BULLETS}|lists)\b",
          "format", "prose", "Prefers prose over bullet points", complaint=True),
    _rule(r"\bi\s+(?:really\s+)?(?:don't like|do not like|dislike|hate|can't stand)\s+"
          rf"(?:{_BULLETS}|lists)\b", "format", "prose", "Prefers prose over bullet points"),
    _rule(r"\b(?:in|use|write in|as|using)\s+(?:full\s+|plain\s+|proper\s+)?(?:prose|paragraphs|"
          r"full sentences)\b", "format", "prose", "Prefers prose over bullet points"),
    _rule(rf"\b(?:use|in|with|as|into|using)\s+(?:a\s+)?{_BULLETS}|\b{_BULLETS}\s+(?:please|pls|"
          rf"plz)\b|\bi\s+(?:really\s+)?(?:prefer|like|love|want)\s+{_BULLETS}|\b(?:as|in)\s+a\s+"
          r"(?:numbered\s+|bulleted\s+)?list\b(?!\s+of)", "format", "bullets",
          "Prefers bullet points"),
    _rule(r"\b(?:in|as|into)\s+(?:a\s+)?(?:table|tabular)(?:\s+(?:format|form))?\b(?!\s+(?:for|"
          r"of|at|with))|\buse\s+(?:a\s+)?tables?\b|\btabular\s+(?:format|form)\b|\bi\s+(?:prefer|"
          r"like|love|want)\s+tables\b|\btables?\s+(?:please|pls|plz)\b",
          "format", "table", "Prefers tables"),
    _rule(r"\bcode[- ]first\b|\b(?:show|give)\s+(?:me\s+)?(?:the\s+)?code\s+(?:first|before)\b|"
          r"\bjust\s+(?:show|give)\s+(?:me\s+)?the\s+code\b|\bonly\s+(?:the\s+)?code\b|\bcode\s+"
          r"only\b|\bskip\s+the\s+(?:explanations?|prose|intro|preamble)\b",
          "code", "code_first", "Prefers code first, explanation after"),
    _rule(r"\bstep[- ]by[- ]step\b", "steps", "step_by_step", "Prefers step-by-step explanations"),
]

_TONE = [
    _rule(r"(?<!i'll )(?<!i will )(?<!i'm )\b(?:be|sound|keep\s+it|stay)\s+(?:more\s+|very\s+)?"
          r"(?:formal|professional)\b|\b(?:a|in\s+a|with\s+a|use\s+a)\s+(?:more\s+)?(?:formal|"
          r"professional)\s+tone\b|\bi\s+prefer\s+(?:a\s+)?(?:formal|professional)\s+(?:tone|"
          r"style|language)\b", "tone", "formal", "Prefers a formal tone"),
    _rule(rf"{_THAT}{_TOO}\s+(?:casual|informal|chatty|familiar|flippant|colloquial|jokey)\b",
          "tone", "formal", "Prefers a formal tone", complaint=True, needs_context=True,
          anchored=True),
    _rule(r"(?<!i'll )(?<!i will )(?<!i'm )\b(?:be|sound|keep\s+it|stay)\s+(?:more\s+|very\s+)?"
          r"(?:casual|informal|relaxed|friendly|conversational|chill|laid-back)\b|\b(?:a|in\s+a|"
          r"with\s+a|use\s+a)\s+(?:more\s+)?(?:casual|informal|relaxed|friendly|conversational)\s+"
          r"tone\b|\bless\s+formal\b|\bno\s+need\s+to\s+be\s+(?:so\s+)?formal\b|\b(?:talk|speak|"
          r"write)\s+to\s+me\s+like\s+a\s+(?:friend|human|normal person)\b|\bdrop\s+the\s+"
          r"formalities\b|\bi\s+prefer\s+(?:a\s+)?(?:casual|informal|relaxed|friendly)\s+(?:tone|"
          r"style)\b", "tone", "casual", "Prefers a casual tone"),
    _rule(rf"{_THAT}{_TOO}\s+(?:formal|stiff|stuffy|robotic|corporate|stilted)\b",
          "tone", "casual", "Prefers a casual tone", complaint=True, needs_context=True,
          anchored=True),
]

_JARGON = [
    _rule(r"\b(?:no|avoid|without|less|skip\s+the|cut\s+the|drop\s+the|minimal|minimize|fewer)\s+"
          r"(?:the\s+)?(?:technical\s+)?(?:jargon|technical terms|buzzwords|acronyms)\b|"
          r"\b(?:use|using|stick\s+to|speak\s+in|talk\s+in|write\s+in|prefer)\s+(?:plain|simple|"
          r"layman'?s?|everyday|non-technical|simpler|easy)\s+(?:english|language|terms|words)\b|"
          r"\b(?:in\s+)?(?:plain|simple|layman'?s?|everyday)\s+(?:english|language|terms|words)\s+"
          r"(?:please|pls|plz|only)\b|\bexplain\s+(?:it\s+|this\s+|things\s+)?(?:to\s+"
          r"me\s+)?like\s+i'?m\s+(?:five|5|a\s+(?:beginner|child|kid|five-year-old|5-year-old)|"
          r"ten|10|twelve|12)\b|\beli5\b|\b(?:dumb|tone|water)\s+it\s+down\b|\b(?:simpler|easier)"
          r"\s+(?:words|language|terms)\b", "jargon", "plain", "Prefers plain language, no jargon"),
    _rule(rf"{_THAT}{_TOO}\s+(?:technical|jargony|complicated|complex|advanced|academic|dense|"
          r"confusing)\b", "jargon", "plain", "Prefers plain language, no jargon",
          complaint=True, needs_context=True, anchored=True),
    _rule(r"\b(?:you\s+can|feel\s+free\s+to|it's\s+(?:ok|okay|fine)\s+to|don't\s+be\s+afraid\s+to)"
          r"\s+(?:be|get|go)\s+(?:as\s+|very\s+|more\s+|really\s+|fully\s+)?(?:technical|deep|"
          r"in-depth)\b|\b(?:don't|do\s+not|no\s+need\s+to)\s+(?:dumb|water)\s+(?:it|things|this)"
          r"\s+down\b|\b(?:use|keep|include)\s+(?:the\s+)?(?:technical|precise)\s+(?:terms|"
          r"terminology|language|details|jargon)\b|\bi\s+(?:prefer|like|want)\s+(?:technical|"
          r"in-depth|precise)\s+(?:answers|explanations|details|language)\b",
          "jargon", "technical", "Prefers technical depth and precise terms"),
    _rule(rf"{_THAT}{_TOO}\s+(?:basic|simple|simplistic|dumbed[- ]down|elementary|high-level|"
          r"hand-wavy)\b", "jargon", "technical", "Prefers technical depth and precise terms",
          complaint=True, needs_context=True, anchored=True),
]

_EMOJI = [
    _rule(r"\b(?:use|add|include|with|love|like|enjoy)\s+(?:lots\s+of\s+|more\s+|plenty\s+of\s+|"
          r"some\s+|a\s+few\s+)?emojis?\b|\bemojis?\s+(?:are|is)\s+(?:fine|welcome|great|ok|okay)\b",
          "emoji", "lots", "Likes emojis in answers"),
    _rule(r"\b(?:no|stop\s+using|stop|don't\s+use|do\s+not\s+use|without|fewer|less|avoid|skip\s+"
          r"the|drop\s+the|lose\s+the|no\s+more|too\s+many)\s+(?:the\s+)?emojis?\b|\bi\s+(?:really"
          r"\s+)?(?:hate|dislike|don't like|can't stand)\s+emojis?\b",
          "emoji", "none", "Prefers no emojis", complaint=True),
]

_LANG = "|".join(sorted(LANGUAGES, key=len, reverse=True))
_LANGUAGE = [
    re.compile(r"\b(?:answer|reply|respond|write|speak|talk|communicate)(?:\s+(?:to\s+me|back|"
               rf"only))?\s+(?:only\s+)?in\s+(?P<lang>{_LANG})\b"),
    re.compile(rf"\b(?P<lang>{_LANG})\s+(?:please|pls|plz|only|from now on)\b"),
    re.compile(rf"\b(?:switch|change|go\s+back)\s+(?:back\s+)?to\s+(?P<lang>{_LANG})\b"),
    re.compile(r"\bi\s+(?:prefer|want|need)\s+(?:answers\s+|replies\s+|responses\s+)?in\s+"
               rf"(?P<lang>{_LANG})\b"),
    re.compile(rf"\buse\s+(?P<lang>{_LANG})\b(?!\s+(?:words|terms|names|grammar))"),
]

STYLE_RULES: tuple[StyleRule, ...] = (*_LENGTH, *_FORMAT, *_TONE, *_JARGON, *_EMOJI)
# Every pattern a sentence is searched with: the rules' in order, then the language ones.
_PATTERNS = (*(rule.pattern for rule in STYLE_RULES), *_LANGUAGE)
# Most sentences ask for no style at all: the pre-filter rules out nearly every pattern first.
_PREFILTER = Prefilter(_PATTERNS)


def style_hits(sentence: Sentence) -> list[StyleHit]:
    """Every style request or complaint in one sentence (negated requests excluded)."""
    lower = sentence.lower
    possible = _PREFILTER.possible(lower)
    ruled = len(STYLE_RULES)
    hits: list[StyleHit] = []
    for rule, maybe in zip(STYLE_RULES, possible[:ruled], strict=True):
        if maybe and _matches(rule, lower):
            hits.append(StyleHit(rule.key, rule.value, rule.statement, rule.complaint,
                                 rule.needs_context))
    hits.extend(_language_hits(lower, possible[ruled:]))
    return hits


def _matches(rule: StyleRule, lower: str) -> bool:
    if rule.anchored:
        return any(rule.pattern.match(lower, pos) for pos in clause_starts(lower))
    for match in rule.pattern.finditer(lower):
        if rule.complaint or not _NEG_GUARD.search(lower[max(0, match.start() - 40):match.start()]):
            return True
    return False


def _language_hits(lower: str, possible: list[bool]) -> list[StyleHit]:
    for pattern, maybe in zip(_LANGUAGE, possible, strict=True):
        found = pattern.search(lower) if maybe else None
        if found and not _NEG_GUARD.search(lower[max(0, found.start() - 40):found.start()]):
            lang = found.group("lang")
            return [StyleHit("reply_language", lang, f"Prefers replies in {capitalize(lang)}",
                             complaint=True, needs_context=False)]
    return []


_GENERIC_CORRECTIONS = re.compile(
    r"\b(?:no[,.!]?\s+)?i\s+meant\b|\bthat's\s+not\s+what\s+i\s+(?:meant|asked|wanted|said)\b|"
    r"\bnot\s+what\s+i\s+(?:asked|meant|wanted|was\s+asking|was\s+looking\s+for)\b|"
    r"\b(?:that's|that\s+is|this\s+is|it's|it\s+is|that\s+was|your\s+answer\s+is|you're|you\s+are)"
    r"\s+(?:completely\s+|totally\s+|just\s+|simply\s+|plain\s+|all\s+|so\s+)?(?:wrong|incorrect|"
    r"not\s+right|not\s+correct|inaccurate|not\s+true|mistaken)\b|\bwrong\s+answer\b|"
    r"\byou\s+(?:misunderstood|misread|got\s+it\s+wrong|missed\s+the\s+point|didn't\s+(?:answer|"
    r"understand|read))\b|\bthat\s+(?:doesn't|does\s+not|didn't)\s+answer\b|^(?:incorrect|wrong|"
    r"nope)\b|\bthat's\s+not\s+(?:it|right|correct)\b"
)


_GENERIC_PREFILTER = Prefilter([_GENERIC_CORRECTIONS])


def generic_correction(sentence: Sentence) -> bool:
    """'That's wrong', 'no, I meant...', 'not what I asked': a correction of the answer."""
    lower = sentence.lower
    return _GENERIC_PREFILTER.possible(lower)[0] and bool(_GENERIC_CORRECTIONS.search(lower))


def without_style(lower: str) -> str:
    """The sentence with every span a style rule matches blanked out: what else it says."""
    chars = list(lower)
    for pattern, maybe in zip(_PATTERNS, _PREFILTER.possible(lower), strict=True):
        for found in pattern.finditer(lower) if maybe else ():
            chars[found.start():found.end()] = " " * (found.end() - found.start())
    return "".join(chars)
