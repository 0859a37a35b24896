"""Explicit self-statements: role, expertise, diet, allergies, location, tools, constraints, goals.

Every rule starts at a clause start with the user as subject ("I'm", "I", "my"), so statements
about other people never match. A negated statement ("I'm not vegetarian") yields a claim with
polarity -1: the extractor keeps it only when it contradicts something the model believes,
because evidence against a belief nobody holds would only create noise.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from selfmodel.domain.models import Claim, Kind
from selfmodel.observer.extractors.lexicon import DIETS, RESTRICTIONS, ROLE_NOUNS, is_tech
from selfmodel.observer.extractors.text import (
    EPHEMERAL,
    Clause,
    capitalize,
    clean_object,
    object_end,
    slug,
)

Rule = Callable[[Clause], list[Claim]]

_IM = r"(?:i'm|im|i am)\s+"
_NEG = r"(?P<neg>not\s+(?:really\s+)?|no\s+longer\s+|never\s+been\s+)?"
_STOP_WORDS = r"(?:and|or|at|for|in|with|who|from|of|by|on|but|so|because|since|that|which|to)\b"
_ROLE_ALT = "|".join(sorted(ROLE_NOUNS, key=len, reverse=True))
_REFERENTIAL = re.compile(
    r"^(?:it|this|that|these|those|them|you|your|what|how|which|everything|anything|nothing|"
    r"stuff|things|him|her|his|their|our|us|he|she|they|one|ones)\b"
)


def claim(kind: Kind, domain: str, key: str, value: str, statement: str,
          polarity: int = 1) -> Claim:
    return Claim(kind=kind, domain=domain, key=key, value=value, statement=statement,
                 polarity=1 if polarity > 0 else -1)


def _object(clause: Clause, start: int, max_words: int = 6) -> tuple[str, int]:
    end = object_end(clause.lower, start)
    text = clean_object(clause.original(start, end))
    words = text.split()
    if len(words) > max_words:
        text = " ".join(words[:max_words])
    return text, end


def _usable(text: str) -> bool:
    low = text.lower()
    return (bool(re.search(r"[a-z]{2}", low)) and not _REFERENTIAL.match(low)
            and not re.search(r"\b(?:you|your|yours|them|others|it)\b", low)
            and not EPHEMERAL.search(low))


# -- role ------------------------------------------------------------------------------------

_ROLE = re.compile(
    rf"(?:{_IM}{_NEG}(?:working\s+as\s+)?|i\s+work\s+as\s+|my\s+(?:job|role|profession|title|"
    rf"position)\s+is\s+|as\s+)(?:a|an)\s+(?P<role>(?:(?!{_STOP_WORDS})[\w+#.'-]+\s+){{0,4}}?"
    rf"(?:{_ROLE_ALT})s?)\b(?!\s+(?:of|to)\b)"
)


def role(clause: Clause) -> list[Claim]:
    found = clause.match(_ROLE)
    if not found:
        return []
    if found.group(0).startswith("as ") and "," not in clause.lower[found.end():found.end() + 2]:
        return []
    words = [w for w in clause.original(*found.span("role")).split() if not re.search(r"\d", w)]
    text = " ".join(words)
    negated = bool(found.group("neg")) if "neg" in found.groupdict() else False
    return [claim(Kind.CONTEXT, "work", "role", text.lower(), capitalize(text),
                  -1 if negated else 1)]


# -- expertise ---------------------------------------------------------------------------------

_LEVELS = {"beginner": "Beginner in {}", "intermediate": "Has some experience with {}",
           "expert": "Expert in {}"}
_EXPERTISE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"{_IM}{_NEG}(?:a\s+|an\s+)?(?:complete\s+|total\s+|absolute\s+|relative\s+|"
                r"real\s+)?(?:beginner|novice|newbie|newcomer|noob)\s+(?:in|at|with|to|on)\s+"),
     "beginner"),
    (re.compile(rf"{_IM}{_NEG}(?:completely\s+|totally\s+|fairly\s+|pretty\s+|quite\s+|very\s+|"
                r"relatively\s+|still\s+)?new\s+to\s+"), "beginner"),
    (re.compile(rf"{_IM}(?:just\s+)?(?:starting|getting\s+started|starting\s+out)\s+(?:out\s+)?"
                r"(?:with|in|on)\s+"), "beginner"),
    (re.compile(rf"{_IM}not\s+(?:very\s+|that\s+|really\s+|too\s+|super\s+)?(?:familiar|"
                r"comfortable|experienced|good)\s+(?:with|in|at)\s+"), "beginner"),
    (re.compile(r"i\s+(?:don't|do\s+not)\s+know\s+(?:much|anything|a\s+lot)\s+about\s+|i\s+know\s+"
                r"(?:nothing|very\s+little|little)\s+about\s+"), "beginner"),
    (re.compile(rf"{_IM}(?:fairly|pretty|quite|somewhat|reasonably|moderately)\s+(?:familiar|"
                r"comfortable|good|experienced)\s+(?:with|in|at)\s+"), "intermediate"),
    (re.compile(rf"{_IM}(?:an?\s+)?(?:expert|specialist|guru|veteran)\s+(?:in|at|on|with)\s+"),
     "expert"),
    (re.compile(rf"{_IM}(?:very\s+|highly\s+|really\s+|extremely\s+)?(?:experienced|proficient|"
                r"skilled|fluent|well[- ]versed|advanced)\s+(?:in|with|at)\s+"), "expert"),
]
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "a": 1, "a few": 3,
            "several": 4, "many": 8}
_YEARS = re.compile(
    r"i\s+(?:have|'ve|'ve\s+got|have\s+got)\s+(?:over\s+|more\s+than\s+|about\s+|around\s+|"
    r"almost\s+|nearly\s+|roughly\s+)?(?P<n>\d+|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"fifteen|twenty|a few|several|many)\+?\s+years?\s+of\s+(?:professional\s+|hands-on\s+|"
    r"industry\s+|work\s+)?experience\s+(?:in|with|as|doing|using|writing|building)\s+(?:an?\s+)?"
)


def expertise(clause: Clause) -> list[Claim]:
    for pattern, level in _EXPERTISE:
        found = clause.match(pattern)
        if found:
            negated = bool(found.groupdict().get("neg"))
            return _expertise_claim(clause, found.end(), level, None, -1 if negated else 1)
    found = clause.match(_YEARS)
    if found:
        years = _NUMBERS.get(found.group("n")) or int(found.group("n"))
        level = "expert" if years >= 5 else "intermediate" if years >= 2 else "beginner"
        return _expertise_claim(clause, found.end(), level, found.group("n"))
    return []


def _expertise_claim(clause: Clause, start: int, level: str, years: str | None,
                     polarity: int = 1) -> list[Claim]:
    """A level of expertise in a topic; "I'm not a beginner in X" is evidence against the
    beginner belief (kept only when held, like every negation)."""
    topic, _ = _object(clause, start, max_words=5)
    if not _usable(topic):
        return []
    statement = (f"Has {years} years of experience with {topic}" if years
                 else _LEVELS[level].format(topic))
    return [claim(Kind.EXPERTISE, "expertise", slug(topic), level, statement, polarity)]


# -- diet and allergies ------------------------------------------------------------------------

_DIET_ALT = "|".join(sorted(DIETS | {"raw vegan", "plant based"}, key=len, reverse=True))
_DIET_IS = re.compile(
    rf"{_IM}{_NEG}(?:an?\s+)?(?:(?:strict|committed|ethical|lifelong|full-time|practicing|"
    r"practising|devoted|total|complete|proud|longtime|long-time|mostly|pretty\s+much|basically|"
    rf"now|also|fully|100%)\s+)*(?P<diet>{_DIET_ALT})\b(?!\s+(?:food|restaurant|friend|recipe))"
)
_DIET_LEAD = (
    r"(?:i\s+(?:strictly\s+|now\s+|also\s+|mostly\s+)?(?:follow|adhere\s+to|stick\s+to|keep\s+to|"
    rf"maintain|eat|live\s+on|have|observe|keep)|{_IM}(?:on|committed\s+to))\s+(?:an?\s+)?(?:(?:strict|strictly|"
    r"mostly|largely|fully|entirely|completely|primarily|exclusively|whole-food|whole\s+food)\s+)*"
    r"(?P<items>[\w\s,/&-]+?)\s+"
)
_DIET_FOLLOW = (re.compile(_DIET_LEAD + r"(?P<what>diet|lifestyle)\b"),
                re.compile(_DIET_LEAD + r"(?P<what>food|foods|meals|eating)\b"))
_INTOLERANT = re.compile(
    rf"(?:{_IM}{_NEG}(?:severely\s+|very\s+|highly\s+|extremely\s+|mildly\s+|slightly\s+|a\s+bit\s+)?"
    r"(?P<a>lactose|gluten|dairy|fructose|histamine|wheat)[- ]intolerant|i\s+(?:have|'ve\s+got)\s+"
    r"(?:an?\s+)?(?:severe\s+|mild\s+|serious\s+)?(?P<b>lactose|gluten|dairy|fructose|histamine|"
    r"wheat)\s+intolerance|i\s+have\s+(?P<c>celiac|coeliac)(?:\s+disease)?)"
)
_ALLERGIC = re.compile(
    rf"(?:{_IM}{_NEG}(?:severely\s+|very\s+|highly\s+|deathly\s+|extremely\s+|mildly\s+|"
    r"slightly\s+|a\s+(?:bit|little)\s+)?allergic\s+to\s+|i\s+have\s+(?:an?\s+)?(?:(?:severe|mild|"
    r"serious|life-threatening|deadly|bad|strong|slight)\s+)*allerg(?:y|ies)\s+to\s+)"
)
_ALLERGY = re.compile(
    r"i\s+(?:have|'ve\s+got|have\s+got|suffer\s+from)\s+(?:an?\s+)?(?:(?:severe|mild|serious|"
    r"life-threatening|deadly|bad|strong|slight|food)\s+)*(?P<items>[\w\s,-]+?)\s+"
    r"allerg(?:y|ies)\b"
)


def diet(clause: Clause) -> list[Claim]:
    found = clause.match(_DIET_IS)
    if found:
        value = found.group("diet").replace(" ", "-")
        negated = bool(found.group("neg"))
        return [claim(Kind.CONTEXT, "diet", "diet", value, f"Is {value}", -1 if negated else 1)]
    found = clause.match(_DIET_FOLLOW[0]) or clause.match(_DIET_FOLLOW[1])
    if found:
        items = _diet_items(found.group("items"), clause.statement(found.end()))
        if items or found.group("what") != "diet":
            return items
        return _named_diet(found.group("items"), clause.statement(found.end()))
    found = clause.match(_INTOLERANT)
    if found:
        what = found.group("a") or found.group("b") or "gluten"
        negated = bool(found.groupdict().get("neg"))
        statement = clause.statement(found.end())
        return [claim(Kind.CONTEXT, "diet", f"restriction:{what}-free", f"{what}-free",
                      statement, -1 if negated else 1)]
    return []


def _diet_items(items: str, statement: str) -> list[Claim]:
    out = []
    for raw in re.split(r"\s*(?:,|/|&|\band\b|\bor\b)\s*", items):
        item = re.sub(r"\s+free$", "-free", raw.strip()).replace("plant based", "plant-based")
        if item in DIETS or item == "raw vegan":
            out.append(claim(Kind.CONTEXT, "diet", "diet", item.replace(" ", "-"), statement))
        elif item in RESTRICTIONS or re.fullmatch(r"[a-z]+-free|low-[a-z]+", item):
            out.append(claim(Kind.CONTEXT, "diet", f"restriction:{item}", item, statement))
    return out


def _named_diet(items: str, statement: str) -> list[Claim]:
    """A diet the lexicon does not know ("a raw food diet"): kept as named, if short."""
    words = items.split()
    if not 0 < len(words) <= 4 or not re.search(r"[a-z]{3}", items):
        return []
    return [claim(Kind.CONTEXT, "diet", "diet", " ".join(words), statement)]


def allergy(clause: Clause) -> list[Claim]:
    found = clause.match(_ALLERGIC)
    if found:
        text, end = _object(clause, found.end(), max_words=5)
        negated = bool(found.groupdict().get("neg"))
        return _allergy_items(text, clause.statement(end), -1 if negated else 1)
    found = clause.match(_ALLERGY)
    if found:
        return _allergy_items(found.group("items"), clause.statement(found.end()), 1)
    return []


def _allergy_items(text: str, statement: str, polarity: int) -> list[Claim]:
    items = [i.strip() for i in re.split(r"\s*(?:,|/|&|\band\b|\bor\b)\s*", text) if i.strip()]
    items = [re.sub(r"^(?:all|any|most)\s+", "", i) for i in items if _usable(i)]
    single = len(items) == 1
    return [claim(Kind.CONTEXT, "allergies", slug(item), "allergic",
                  statement if single else f"Is allergic to {item}", polarity)
            for item in items[:4]]


# -- location and time zone --------------------------------------------------------------------

_PLACE = re.compile(
    r"(?:the\s+)?[A-Z][\w.'-]*(?:(?:\s+|-)(?:(?:of|de|la|del|do|da|am|upon|on|the)\s+)?"
    r"[A-Z][\w.'-]*)*(?:,\s*[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*)?"
)
_LIVES = re.compile(
    r"(?:i\s+(?:currently\s+|now\s+|still\s+)?(?:live|reside)\s+in\s+|"
    rf"{_IM}(?:currently\s+|now\s+)?(?:based|located|living|residing)\s+(?:in|out\s+of)\s+|"
    r"i\s+(?:just\s+|recently\s+)?(?:moved|relocated)\s+to\s+|my\s+(?:home\s+town|hometown|home"
    r"\s+city|city)\s+is\s+)"
)
_FROM = re.compile(rf"{_IM}(?:originally\s+)?from\s+")
_TZ_ABBR = (r"(?:utc|gmt)\s*[+-]\s*\d{1,2}(?::\d\d)?|pst|pdt|est|edt|cst|cdt|mst|mdt|cet|cest|"
            r"bst|ist|jst|kst|aest|aedt|utc|gmt")
_TIMEZONE = re.compile(
    rf"(?:my\s+time\s*zone\s+is\s+|{_IM}(?:in|on)\s+(?:the\s+)?)(?P<tz>{_TZ_ABBR}|[a-z]+(?:/[a-z_]+)?"
    r"(?:\s+[a-z]+)?(?=\s+time\s*zone)|[a-z]+/[a-z_]+)\b"
)


def location(clause: Clause) -> list[Claim]:
    for pattern, key, template in ((_LIVES, "location", "Lives in {}"),
                                   (_FROM, "origin", "Is from {}")):
        found = clause.match(pattern)
        if found:
            place = _PLACE.match(clause.sentence.original, found.end())
            if not place:
                return []
            name = place.group(0).rstrip(",. ")
            return [claim(Kind.CONTEXT, "location", key, name.lower(), template.format(name))]
    found = clause.match(_TIMEZONE)
    if found:
        tz = clause.original(*found.span("tz")).strip()
        tz = tz.upper() if len(tz) <= 5 or tz.lower().startswith(("utc", "gmt")) else tz
        return [claim(Kind.CONTEXT, "location", "timezone", tz.lower(),
                      f"Is in the {tz} time zone")]
    return []


# -- tools and languages -----------------------------------------------------------------------

_TOOLS = re.compile(
    r"(?:i|we)\s+(?:(?:mostly|mainly|primarily|usually|always|only|exclusively|currently|now|also|"
    r"still|generally|typically|normally|do|really|daily|heavily)\s+)*(?:use|work\s+with|code\s+in|"
    r"program\s+in|develop\s+in|build\s+with|work\s+in|write|rely\s+on|run|am\s+using|'m\s+using|"
    r"are\s+using|'re\s+using)\s+|my\s+(?:main\s+|primary\s+|favou?rite\s+|preferred\s+|daily\s+|go-to"
    r"\s+)?(?:language|stack|editor|ide|os|tool|tools|framework|tech\s+stack)\s+(?:is|are)\s+|"
    r"our\s+(?:tech\s+)?stack\s+is\s+"
)


def tools(clause: Clause) -> list[Claim]:
    found = clause.match(_TOOLS)
    if not found:
        return []
    text, _ = _object(clause, found.end(), max_words=8)
    out = []
    for raw in re.split(r"\s*(?:,|/|&|\band\b|\bor\b|\bplus\b)\s*", text):
        item = re.sub(r"\s+(?:at|for|in|on|to|every|daily|mostly|a lot|day)\b.*$", "", raw).strip()
        if item and (is_tech(item) or _proper_name(item)):
            out.append(claim(Kind.CONTEXT, "tools", f"uses:{slug(item)}", item.lower(),
                             f"Uses {item}"))
    return out[:4]


def _proper_name(item: str) -> bool:
    """A product name as written: capitalized words ("Obsidian", "Google Sheets")."""
    words = item.split()
    return 0 < len(words) <= 3 and all(w[:1].isupper() for w in words) and item.lower() != "i"


# -- constraints -------------------------------------------------------------------------------

_TIME_AMOUNT = re.compile(
    r"i\s+(?:only\s+|just\s+)?(?:have|'ve\s+got|have\s+got)\s+(?:only\s+|just\s+|about\s+|around\s+|"
    r"roughly\s+|less\s+than\s+|under\s+|maybe\s+)?(?P<n>\d+|a\s+few|a\s+couple\s+of|one|two|three|"
    r"four|five|ten|fifteen|twenty|thirty|an?)\s+(?P<unit>minutes?|mins?|hours?|hrs?)\b"
)
_TIME_SHORT = re.compile(
    rf"(?:{_IM}(?:really\s+|very\s+|a\s+bit\s+|always\s+|quite\s+|often\s+)?(?:short\s+on|pressed\s+"
    r"for|tight\s+on|strapped\s+for)\s+time|i\s+(?:don't|do\s+not)\s+have\s+(?:much|a\s+lot\s+of|"
    r"enough)\s+time|i\s+have\s+(?:very\s+)?(?:limited|little)\s+time|"
    rf"{_IM}(?:always\s+|usually\s+)?(?:very\s+)?busy)\b"
)
_BUDGET = re.compile(
    rf"(?:{_IM}on\s+an?\s+(?:(?:very|really|pretty|quite|super)\s+)?(?P<b>tight|limited|strict|small|"
    r"shoestring|low|modest|fixed)\s+budget|(?:my\s+budget\s+is|i\s+have\s+a\s+budget\s+of)\s+"
    r"(?:around\s+|about\s+|under\s+|roughly\s+|only\s+|up\s+to\s+)?(?P<amt>[$\u20ac\u00a3]?\s?\d[\d,.]*"
    r"\s?(?:k|usd|eur|gbp|dollars|euros|pounds)?))"
)


def constraints(clause: Clause) -> list[Claim]:
    found = clause.match(_TIME_AMOUNT)
    if found:
        _, end = _object(clause, found.end())
        value = f"{found.group('n')} {found.group('unit')}"
        return [claim(Kind.CONTEXT, "constraints", "time", value, clause.statement(end))]
    found = clause.match(_TIME_SHORT)
    if found:
        return [claim(Kind.CONTEXT, "constraints", "time", "limited", "Is short on time")]
    found = clause.match(_BUDGET)
    if found:
        if found.group("b"):
            value = found.group("b")
            return [claim(Kind.CONTEXT, "constraints", "budget", value,
                          f"Is on a {value} budget")]
        amount = found.group("amt").strip()
        return [claim(Kind.CONTEXT, "constraints", "budget", amount.lower(),
                      f"Has a budget of {amount}")]
    return []


# -- goals -------------------------------------------------------------------------------------

_GOALS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"{_IM}(?:currently\s+|now\s+|still\s+|also\s+|slowly\s+|actively\s+)?(?:learning|"
                r"studying|teaching\s+myself|trying\s+to\s+learn|picking\s+up)\s+(?!to\b|that\b|"
                r"about\s+(?:it|this|that)\b)"), "learning"),
    (re.compile(rf"{_IM}(?:currently\s+|now\s+)?(?:preparing|prepping|studying|training|practicing|"
                r"practising|getting\s+ready|cramming)\s+for\s+"), "preparing"),
    (re.compile(r"my\s+(?:main\s+|long-term\s+|ultimate\s+|big\s+)?(?:goal|aim|dream|objective|"
                r"ambition)\s+is\s+to\s+"), "goal"),
    (re.compile(r"i\s+(?:really\s+|eventually\s+|ultimately\s+|also\s+)?(?:want|hope|plan|aim|"
                r"intend)\s+to\s+(?=(?:learn|become|get\s+better\s+at|improve|master|switch\s+to|"
                r"transition\s+into|move\s+into|get\s+into|run\s+a|lose|start\s+a)\b)"), "goal"),
    (re.compile(rf"{_IM}(?:working|aiming)\s+(?:on|towards?)\s+(?=(?:becoming|getting)\b)"),
     "goal"),
]


def goals(clause: Clause) -> list[Claim]:
    for pattern, value in _GOALS:
        found = clause.match(pattern)
        if found:
            text, end = _object(clause, found.end(), max_words=8)
            if not _usable(text) or re.search(r"\byou|\byour\b", text.lower()):
                return []
            mine = found.group(0).startswith("my ")
            statement = f"Wants to {text}" if mine else clause.statement(end)
            return [claim(Kind.GOAL, "goals", slug(text), value, statement)]
    return []


FACT_RULES: tuple[Rule, ...] = (diet, allergy, role, expertise, location, tools, constraints,
                                goals)
