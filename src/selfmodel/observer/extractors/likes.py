"""Likes, dislikes and habits: "I love jazz", "I can't stand crowded places", "I only fly direct".

Each cue is anchored at a clause start with the user as subject. The object runs to the next
clause boundary (text.object_end); it must not point back at the conversation ("I like that",
"I love your idea", "the first option") because such praise is small talk, not a preference.
The slot is ``likes:<object>`` or ``dislikes:<object>`` in a domain guessed from the words.
A second verb phrase joined with "and" shares the subject ("I'm allergic to wool and avoid
woolen clothing") and is read as its own claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfmodel.domain.models import Claim, Kind
from selfmodel.observer.extractors.lexicon import guess_domain
from selfmodel.observer.extractors.text import (
    EPHEMERAL,
    Clause,
    clean_object,
    object_end,
    slug,
    third_person,
)

_ADV = (
    r"(?:(?:really|strongly|absolutely|truly|genuinely|totally|just|generally|usually|typically|"
    r"normally|always|also|actually|definitely|especially|particularly|deeply|greatly|honestly|"
    r"personally|certainly|very\s+much|much|kind\s+of|kinda|sort\s+of|do|still|quite|pretty\s+much|"
    r"seriously|simply|vastly|intensely|passionately|extremely|highly|mostly|mainly|primarily|"
    r"strictly|steadfastly|actively|consistently|completely|entirely|firmly|categorically|"
    r"staunchly|religiously|utterly|often|almost\s+always|tend\s+to|try\s+to|now|definitely|"
    r"super|increasingly|would\s+much|very|so|have\s+to|must|need\s+to|[a-z]+ly)\s+)*"
)
_HABIT = (
    r"(?:eat|drink|wear|read|listen\s+to|watch|use|buy|purchase|shop\s+(?:at|for)|book|"
    r"stay\s+(?:at|in)|travel\s+(?:by|with|in|on|to)|fly(?:\s+with)?|take|choose|pick|order|cook|"
    r"drive|walk|bike|cycle|go\s+(?:to|for|with)|play|follow|consume|dine\s+(?:at|in|out)|"
    r"frequent|visit|attend|select|opt\s+for|rent|ride|support|seek\s+out|stick\s+(?:to|with)|"
    r"own|shop|live\s+in|sleep\s+(?:in|on|with)|work\s+(?:in|from|with))"
)
_SUBJECTS = {
    "i": r"i\s+",
    "im": r"(?:i'm|im|i\s+am)\s+",
    "ihave": r"(?:i\s+have|i've|i\s+have\s+got|i've\s+got)\s+",
    "id": r"(?:i'd|i\s+would)\s+",
    "": "",
}
_CONTINUED = {"i": "", "ihave": r"(?:have|'ve)\s+"}
_STRENGTH = (
    r"(?:(?:strong|deep|intense|real|severe|extreme|great|huge|serious|big|major|slight|bit\s+of\s+an?|"
    r"deep-seated|irrational|general|personal|absolute|natural|visceral|genuine|lifelong|ethical|"
    r"growing|definite|clear|particular|special|soft|strict|long-standing|certain)\s+)*"
)
_NEGATIVE_ADJ = (
    r"boring|annoying|uncomfortable|unpleasant|overwhelming|tedious|gross|disgusting|distasteful|"
    r"off-putting|unappealing|irritating|exhausting|stressful|depressing|overrated|pretentious|"
    r"tacky|ugly|dull|unbearable|intolerable|obnoxious|repulsive|cheesy|frustrating|draining|"
    r"cringe|cringy|distracting|uninteresting|vapid|unsettling|disturbing|upsetting|creepy|scary|"
    r"triggering|nauseating|claustrophobic|stifling|suffocating|pointless|tiresome|grating|"
    r"too\s+\w+"
)
_POSITIVE_ADJ = (
    r"relaxing|fascinating|enjoyable|calming|inspiring|delightful|soothing|comforting|appealing|"
    r"fun|beautiful|amazing|wonderful|refreshing|rewarding|satisfying|therapeutic"
)


@dataclass(frozen=True)
class Cue:
    subject: str
    body: re.Pattern[str]
    polarity: int
    object_group: bool = False  # the object is the regex group "obj", not what follows


def _cue(subject: str, body: str, polarity: int, object_group: bool = False) -> Cue:
    return Cue(subject, re.compile(body), polarity, object_group)


CUES: tuple[Cue, ...] = (
    _cue("i", rf"{_ADV}(?:dislike|hate|detest|despise|loathe|abhor|avoid|shun|can't\s+stand|"
         r"cannot\s+stand|can't\s+bear|cannot\s+bear|can't\s+tolerate|cannot\s+tolerate|can't\s+handle|"
         r"refuse\s+to|steer\s+clear\s+of|stay\s+away\s+from|prefer\s+to\s+avoid|prefer\s+not\s+to|"
         r"could\s+do\s+without|never\s+liked|won't\s+touch|am\s+against|object\s+to)\s+", -1),
    _cue("i", rf"{_ADV}(?:don't|do\s+not|dont|never|no\s+longer|won't|will\s+not|rarely|seldom)\s+"
         rf"{_ADV}(?:like|enjoy|love|care\s+for|fancy|appreciate|want|do|{_HABIT})\s+", -1),
    _cue("i", r"(?:can't|cannot|can\s+not)\s+(?:eat|drink|have|consume|wear|tolerate|digest|"
         r"handle)\s+", -1),
    _cue("id", r"(?:much\s+)?(?:rather\s+not|prefer\s+not\s+to)\s+", -1),
    _cue("im", r"(?:not|no\s+longer)\s+(?:really\s+|particularly\s+|very\s+|that\s+|at\s+all\s+|"
         r"too\s+)?(?:an?\s+)?(?:(?:big|huge|great|massive)\s+)?(?:fan\s+of|into|interested\s+in|"
         r"keen\s+on|fond\s+of|comfortable\s+with|lover\s+of|big\s+on|crazy\s+about|a\s+fan\s+of|"
         r"partial\s+to|drawn\s+to)\s+", -1),
    _cue("i", rf"{_ADV}(?:get|feel|become|grow)\s+{_ADV}(?:uncomfortable|anxious|nervous|uneasy|"
         r"bored|sick|queasy|claustrophobic|overwhelmed|stressed|irritated|annoyed)\s+(?:with|of|"
         r"about|around|by|in|on|when|during|at|while)?\s*", -1),
    _cue("", r"(?P<obj>(?!it\b|that\b|this\b|these\b|those\b|they\b)[\w\s'-]{2,60}?)\s+"
         r"(?:don't|doesn't|do\s+not|does\s+not|never)\s+(?:really\s+)?(?:interest|appeal\s+to|"
         r"excite|suit|agree\s+with)\s+me\b", -1, object_group=True),
    _cue("im", rf"{_ADV}(?:uncomfortable|unhappy|bored|fed\s+up|tired|sick|wary|afraid|scared|"
         r"terrified|frightened|nervous|uneasy)\s+(?:with|of|about|around|by|to)\s+", -1),
    _cue("im", r"not\s+an?\s+(?P<obj>[\w-]+(?:\s+[\w-]+)?)\s+person\b", -1, object_group=True),
    _cue("ihave", rf"{_ADV}(?:an?\s+)?{_STRENGTH}(?:aversion|dislike|distaste|disdain|hatred|"
         r"contempt|fear|phobia|loathing|disinterest|antipathy|objection|stance\s+against|"
         r"intolerance)\s+(?:to|for|of|towards?|against|with|about)?\s*", -1),
    _cue("ihave", r"(?:no|zero|little|absolutely\s+no|never\s+had\s+any)\s+(?:real\s+)?(?:interest|"
         r"desire|patience|love|appetite|taste|tolerance|use)\s+(?:in|for)\s+", -1),
    _cue("ihave", r"(?:never\s+(?:liked|enjoyed|been\s+a\s+fan\s+of|been\s+into)|had\s+enough\s+of)"
         r"\s+", -1),
    _cue("i", rf"{_ADV}(?:find|consider)\s+(?P<obj>(?!it\b|that\b|this\b|them\b)[^,.;!?]+?)\s+"
         rf"(?:to\s+be\s+)?(?:(?:very|really|quite|so|incredibly|extremely|rather|pretty|a\s+bit|"
         rf"overly|way|super)\s+)*(?:{_NEGATIVE_ADJ})\b", -1, object_group=True),
    _cue("i", rf"{_ADV}(?:find|consider)\s+(?P<obj>(?!it\b|that\b|this\b|them\b)[^,.;!?]+?)\s+"
         rf"(?:to\s+be\s+)?(?:(?:very|really|quite|so|incredibly|extremely|pretty|super)\s+)*"
         rf"(?:{_POSITIVE_ADJ})\b", 1, object_group=True),
    _cue("i", rf"{_ADV}(?:like|love|enjoy|adore|prefer|favou?r|appreciate|relish|cherish|value|"
         r"prioriti[sz]e|gravitate\s+towards?|lean\s+towards?|go\s+for|opt\s+for|"
         r"seek\s+out|(?:always|usually)\s+(?:choose|pick|go\s+with|book|order))\s+"
         r"(?!not\b|to\s+avoid\b)", 1),
    _cue("i", r"(?:only|exclusively|always|usually|typically|generally|mostly|mainly|primarily|"
         r"strictly|normally|almost\s+always|tend\s+to|love\s+to|like\s+to)\s+"
         rf"{_ADV}{_HABIT}\s+", 1),
    _cue("ihave", r"(?:always\s+)?(?:loved|liked|enjoyed|preferred|been\s+(?:really\s+)?into|"
         r"been\s+a\s+(?:big\s+|huge\s+)?fan\s+of|been\s+drawn\s+to)\s+", 1),
    _cue("ihave", rf"(?:an?\s+)?{_STRENGTH}(?:preference|fondness|love|passion|soft\s+spot|"
         r"weakness|affinity|appreciation|liking|taste)\s+(?:for|of)\s+", 1),
    _cue("id", r"(?:much\s+)?(?:rather|prefer)\s+(?!not\b)", 1),
    _cue("im", rf"{_ADV}(?:an?\s+(?:(?:big|huge|great|massive|real|long-?time|total|die-hard|"
         r"devoted|avid)\s+)?(?:fan|lover|devotee|admirer)\s+of|into|passionate\s+about|obsessed\s+"
         r"with|fond\s+of|keen\s+on|crazy\s+about|drawn\s+to|partial\s+to|a\s+sucker\s+for|all\s+"
         r"about|big\s+on|an\s+avid)\s+", 1),
    _cue("im", rf"{_ADV}(?:only|exclusively|mainly|mostly|primarily|really|genuinely)\s+"
         r"interested\s+in\s+", 1),
    _cue("im", rf"{_ADV}(?:fascinated|intrigued|captivated|enchanted|thrilled|delighted)\s+"
         r"(?:by|with)\s+", 1),
    _cue("", r"(?P<obj>(?!it\b|that\b|this\b)[\w\s'-]{2,40}?)\s+(?:is|are)\s+my\s+(?:number\s+"
         r"one\s+|top\s+|main\s+|biggest\s+|first\s+|highest\s+)?priority\b", 1,
         object_group=True),
    _cue("im", r"an?\s+(?P<obj>(?!people\b)[\w-]+(?:\s+[\w-]+)?)\s+person\b", 1, object_group=True),
)
_FAVOURITE = re.compile(
    r"my\s+(?:absolute\s+|all-time\s+|personal\s+)?favou?rite\s+(?P<cat>(?:[\w-]+\s+){0,2}?)"
    r"(?:is|are|has\s+to\s+be|would\s+be|of\s+all\s+time\s+is)\s+"
)
_FULL = [(cue, re.compile(_SUBJECTS[cue.subject] + cue.body.pattern)) for cue in CUES]
_CONT_CUES = [(cue, re.compile(_CONTINUED[cue.subject] + _ADV + cue.body.pattern))
              for cue in CUES if cue.subject in _CONTINUED and not cue.object_group]
_AFTER_CONJ = re.compile(r"(?:\band|\bbut|\bor|&)[,\s]+(?:(?:also|then|so)\s+)?$")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|im)\b")

_REFERENTIAL = re.compile(
    r"^(?:it|this|that|these|those|them|you|your|what|how|which|everything|nothing|"
    r"something\s+like\s+that|him|her|his|their|our|us|he|she|they|one|ones|both|either|"
    r"neither|all\s+of\s+(?:them|these|those|it)|the\s+way|when\s+you|whatever|here|there|so|"
    r"such|having|being\s+able|doing\s+that|talking|chatting|hearing|learning\s+(?:more|about|how)|"
    r"knowing|finding\s+out|seeing|to\s+"
    r"(?:know|ask|hear|learn|get|see|find|understand|discuss|talk|explore|check|think|say|add|"
    r"mention|share|clarify|be|make|try|go|keep|do|have|help|start|focus|look|read\s+more|"
    r"continue|move|visit\s+(?:it|them)))\b"
)
_CONVERSATION_NOUNS = re.compile(
    r"\b(?:idea|ideas|suggestion|suggestions|concept|option|options|recommendation|"
    r"recommendations|tip|tips|approach|plan|list|point|points|feature|features|sound|way|part|"
    r"parts|first|second|third|last|latter|former|answer|answers|response|explanation|example|"
    r"examples|above|proposal|outline|itinerary|draft|advice|insight|insights|info|information|"
    r"details|question|questions|breakdown|overview|summary|thought|thoughts|help|input|"
    r"perspective|angle|framework|strategy|strategies|steps|one)\b"
)
_FUNCTION_WORDS = frozenset({"the", "that", "those", "these", "this", "and", "with", "for", "from",
                            "about", "into", "over"})
_GENERIC = frozenset({"anything", "everything", "something", "stuff", "things", "it", "all"})
_LEADING = re.compile(
    r"^(?:(?:a|an|the|any|all|some|most|many|certain|any\s+(?:form|kind|type|sort)s?\s+of|all\s+"
    r"(?:forms|kinds|types|sorts)\s+of|anything|something|things|stuff|products?|items?)\s+)+"
)
_VERB_LEAD = re.compile(
    r"^(?:to\s+)?(?:(?:listen(?:ing)?\s+to|watch(?:ing)?|read(?:ing)?|eat(?:ing)?|us(?:e|ing)|"
    r"wear(?:ing)?|stay(?:ing)?\s+(?:in|at)|liv(?:e|ing)\s+in|din(?:e|ing)\s+(?:at|in)|go(?:ing)?\s+"
    r"to|buy(?:ing)?|purchas(?:e|ing)|consum(?:e|ing)|tak(?:e|ing)|travel(?:l?ing)?\s+(?:by|on|in|"
    r"with|to)|play(?:ing)?|follow(?:ing)?|book(?:ing)?|visit(?:ing)?|attend(?:ing)?|rent(?:ing)?|"
    r"driv(?:e|ing)|ha(?:ve|ving)|do(?:ing)?|drink(?:ing)?|shop(?:ping)?\s+(?:at|for)|be(?:ing)?\s+"
    r"(?:in|on|near|around))\s+)"
)


def likes(clause: Clause) -> list[Claim]:
    """The like/dislike statement starting at this clause, and any that continue it."""
    for cue, pattern in _FULL:
        found = clause.match(pattern)
        if found:
            return _read(clause, cue, found)
    found = clause.match(_FAVOURITE)
    if found:
        return _favourite(clause, found)
    return _continued(clause)


def _continued(clause: Clause) -> list[Claim]:
    """'I'm allergic to wool and avoid woolen clothing': a verb phrase sharing the subject I."""
    before = clause.lower[:clause.start]
    if not (_AFTER_CONJ.search(before) and _FIRST_PERSON.search(before)):
        return []
    for cue, pattern in _CONT_CUES:
        found = clause.match(pattern)
        if found:
            return _read(clause, cue, found, continued=True)
    return []


def _read(clause: Clause, cue: Cue, found: re.Match[str], continued: bool = False) -> list[Claim]:
    if cue.object_group:
        obj_start, obj_end = found.span("obj")
        end = found.end()
    else:
        obj_start = found.end()
        end = obj_end = object_end(clause.lower, obj_start)
    obj = clean_object(clause.original(obj_start, obj_end))
    if not _usable(obj) or refers_back(obj, clause.sentence.context):
        return []
    prefix = "I " if continued else ""
    statement = third_person(prefix + clean_object(clause.original(clause.start, end)))
    return [_claim(obj, cue.polarity, found.group(0), statement)]


def _favourite(clause: Clause, found: re.Match[str]) -> list[Claim]:
    end = object_end(clause.lower, found.end())
    obj = clean_object(clause.original(found.end(), end))
    if not _usable(obj):
        return []
    category = found.group("cat").strip()
    statement = third_person(clean_object(clause.original(clause.start, end)))
    statement = statement.replace("My ", "Their ", 1) if statement.startswith("My ") else statement
    return [_claim(obj, 1, category or obj, statement)]


def _usable(obj: str) -> bool:
    low = obj.lower()
    if not re.search(r"[a-z]{2}", low) or _REFERENTIAL.match(low):
        return False
    if re.search(r"\b(?:you|your|yours)\b", low):
        return False
    core = core_object(obj).lower()
    if not core or core in _GENERIC or EPHEMERAL.search(low):
        return False
    if low.startswith("the ") and _CONVERSATION_NOUNS.search(low):
        return False
    head = " ".join(low.split()[:4])
    return not (low.startswith(("a ", "an ")) and _CONVERSATION_NOUNS.search(head))


def refers_back(obj: str, context: str) -> bool:
    """'I especially like the mock excavation' right after an answer suggesting a mock
    excavation: praise for a suggestion, not a preference of the user's own."""
    low = obj.lower()
    if not context or not low.startswith(("the ", "that ", "those ", "these ", "this ")):
        return False
    words = [w for w in re.findall(r"[a-z][a-z'-]{2,}", low) if w not in _FUNCTION_WORDS]
    return bool(words) and sum(w in context for w in words) * 2 >= len(words)


def _claim(obj: str, polarity: int, cue_text: str, statement: str) -> Claim:
    core = core_object(obj)
    kind_key = "likes" if polarity > 0 else "dislikes"
    return Claim(kind=Kind.PREFERENCE, domain=guess_domain(f"{cue_text} {obj}"),
                 key=f"{kind_key}:{slug(core)}", value=core.lower(), statement=statement)


def core_object(obj: str) -> str:
    """The thing itself, without a leading verb or determiner: 'listening to loud music' ->
    'loud music' (used for the key and value; the statement keeps the user's words)."""
    text = obj.strip()
    text = re.sub(r"^it\s+when\s+", "when ", text, flags=re.I)
    for pattern in (_VERB_LEAD, _LEADING, _VERB_LEAD, _LEADING):
        stripped = pattern.sub("", text.lower())
        if stripped and stripped != text.lower():
            text = text[len(text) - len(stripped):]
    return text.strip()
