"""PII redaction and sensitive categories.

Everything the observer keeps (observation text, evidence quotes) passes through ``redact``
first, so an e-mail address or a card number said in chat never reaches the store. The
patterns are deliberately a little greedy for contact data and strict for money: a card is
only a card when its digits pass the Luhn check and an IBAN only when its mod-97 check holds,
so order numbers, dates, versions and prices survive.

``sensitive_category`` backs the tenant policy ``never_store``: a keyword lexicon per common
special category (GDPR art. 9 and friends). It errs towards dropping: a false positive costs
one belief, a false negative stores what the tenant promised its users it would not.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
ACCOUNT = "[account]"

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD_RE = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?![\w])")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,4}){1,5}(?![\w])"
    r"|(?<![\w+])\+\d{8,15}(?![\w])"
    r"|(?<![\w+])\(\d{3}\)\s?\d{3}[\s.-]?\d{4}(?![\w])"
)
_ACCOUNT_RE = re.compile(
    r"(?i)\b((?:account|acct|a/c|routing|sort code|iban|bsb)(?:\s+(?:number|no\.?|num|#))?"
    r"\s*[:#]?\s*)(\d(?:[ -]?\d){5,19})\b"
)
_DIGIT_RE = re.compile(r"\d")  # every pattern but the e-mail one needs a digit


def redact(text: str) -> str:
    """Text with e-mail addresses, phone, card and account numbers replaced by markers.

    An e-mail address needs an "@" and every other pattern a digit (``\\d``, as they spell
    it): text with neither, most of what users write, comes back unchanged after two quick
    scans instead of five pattern passes."""
    if "@" not in text and not _DIGIT_RE.search(text):
        return text
    return _redact_all(text)


def _redact_all(text: str) -> str:
    """``redact`` without the shortcut: every pattern, in order."""
    if not text:
        return text
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _IBAN_RE.sub(_iban_or_keep, text)
    text = _CARD_RE.sub(_card_or_keep, text)
    text = _ACCOUNT_RE.sub(lambda m: m.group(1) + ACCOUNT, text)
    return _PHONE_RE.sub(_phone_or_keep, text)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """ISO 13616 mod-97 check: move the first four characters to the end, letters to numbers."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card_or_keep(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))
    return CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _iban_or_keep(match: re.Match[str]) -> str:
    return ACCOUNT if iban_valid(match.group(0)) else match.group(0)


def _phone_or_keep(match: re.Match[str]) -> str:
    """Phones have 10-15 digits (7+ when written with a + prefix); dates and versions fewer."""
    found = match.group(0)
    count = len(_digits(found))
    low = 8 if found.startswith("+") else 10
    return PHONE if low <= count <= 15 and not _NOT_PHONE_RE.fullmatch(found) else found


# Dates (2024-01-15) and dotted IPv4 addresses have phone-like digit groups.
_NOT_PHONE_RE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,3}(?:\.\d{1,3}){3}")


# -- sensitive categories --------------------------------------------------------------------

_LEXICON: dict[str, tuple[str, ...]] = {
    "religion": (
        "religion", "religions", "religious", "faith", "god", "christian", "christianity",
        "catholic", "protestant", "evangelical", "mormon", "muslim", "islam", "islamic",
        "jewish", "judaism", "hindu", "hinduism", "buddhist", "buddhism", "sikh", "atheist",
        "agnostic", "church", "mosque", "synagogue", "temple", "pray", "prayer", "praying",
        "bible", "quran", "koran", "torah", "ramadan", "halal", "kosher", "devout",
    ),
    "politics": (
        "politics", "political", "politically", "democrat", "democrats", "republican",
        "republicans", "liberal", "conservative", "socialist", "communist", "libertarian",
        "left-wing", "right-wing", "election", "elections", "vote", "voted", "voting",
        "voter", "political party", "campaign for", "activist",
    ),
    "sexuality": (
        "sexuality", "sexual orientation", "gay", "lesbian", "bisexual", "homosexual",
        "heterosexual", "queer", "asexual", "pansexual", "lgbt", "lgbtq", "lgbtq+",
    ),
    "gender_identity": (
        "transgender", "trans woman", "trans man", "non-binary", "nonbinary", "genderqueer",
        "gender identity",
    ),
    "health": (
        "health", "medical", "diagnosed", "diagnosis", "disease", "illness", "disorder",
        "diabetes", "diabetic", "cancer", "depression", "depressed", "anxiety", "adhd",
        "autism", "autistic", "hiv", "aids", "asthma", "pregnant", "pregnancy", "medication",
        "medications", "therapy", "therapist", "disability", "disabled", "celiac", "allergy",
        "allergies", "allergic", "intolerance", "intolerant", "chronic", "surgery", "phobia",
        "mental health", "bipolar", "schizophrenia",
    ),
    "ethnicity": (
        "ethnicity", "ethnic", "racial", "my race", "african american", "hispanic", "latino",
        "latina", "latinx", "caucasian", "asian american", "indigenous", "native american",
        "aboriginal",
    ),
    "union_membership": (
        "union member", "trade union", "labor union", "labour union", "unionized",
        "unionised", "my union",
    ),
    "criminal_record": (
        "criminal record", "convicted", "conviction", "arrested", "felony", "prison", "parole",
    ),
    "biometrics": ("biometric", "biometrics", "fingerprint", "face scan", "genetic", "dna"),
    "finances": (
        "salary", "income", "debt", "debts", "bankrupt", "bankruptcy", "loan", "mortgage",
        "credit score",
    ),
}

_ALIASES: dict[str, str] = {
    "religious_beliefs": "religion", "religious": "religion", "beliefs": "religion",
    "political": "politics", "political_opinions": "politics", "political_views": "politics",
    "sexual_orientation": "sexuality", "sex_life": "sexuality", "orientation": "sexuality",
    "gender": "gender_identity", "medical": "health", "health_data": "health",
    "race": "ethnicity", "racial_origin": "ethnicity", "ethnic_origin": "ethnicity",
    "trade_union": "union_membership", "union": "union_membership", "unions": "union_membership",
    "criminal": "criminal_record", "crime": "criminal_record", "biometric": "biometrics",
    "genetic": "biometrics", "genetics": "biometrics", "finance": "finances",
    "financial": "finances", "money": "finances",
}


def _canonical(category: str) -> str:
    key = re.sub(r"[^a-z]+", "_", category.lower()).strip("_")
    return _ALIASES.get(key, key)


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


_PATTERNS: dict[str, re.Pattern[str]] = {name: _pattern(ws) for name, ws in _LEXICON.items()}


def sensitive_category(text: str, categories: list[str]) -> str | None:
    """The first of ``categories`` (e.g. religion, politics, health) that ``text`` falls in.

    Categories are matched by name with common aliases (``political`` -> politics); a category
    the lexicon does not know is matched as a plain keyword, so a tenant can list any word.
    """
    lowered = text.lower()
    for category in categories:
        if _matcher(category)(lowered):
            return category
    return None


def _matcher(category: str) -> Callable[[str], bool]:
    known = _PATTERNS.get(_canonical(category))
    if known is not None:
        return lambda text: known.search(text) is not None
    word = _pattern((category.lower().strip(),))
    return lambda text: word.search(text) is not None
