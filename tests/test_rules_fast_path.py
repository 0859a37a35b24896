"""The rules extractor's shortcuts change no output: each is checked against the slow path it
replaces, over every text at hand (the public evaluation sets in ../shared/eval when present,
read in place, and the hand-written fixtures).

- the pre-filter (extractors/literals.py) that rules patterns out by the strings they need;
- ``normalize`` through ``str.lower`` instead of one character at a time;
- the stem index behind ``guess_domain`` instead of testing every stem;
- ``redact`` returning text with no "@" and no digit without running its patterns.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from functools import cache

import pytest
from bench import quality_data

from selfmodel.domain import privacy
from selfmodel.domain.models import (
    Belief,
    Extraction,
    Observation,
    ObservationType,
    SelfModel,
)
from selfmodel.observer.extractors import lexicon, likes, literals, style, text
from selfmodel.observer.extractors.facts import FACT_RULES
from selfmodel.observer.extractors.literals import Prefilter, required
from selfmodel.observer.extractors.rules import extract_rules
from tests.test_rules_extractor import NEGATIVES, POSITIVES

Turn = tuple[str, str]  # the user's message, the answer it follows ("" for none)

MODEL = SelfModel(tenant="t", user_id="u", beliefs=[
    Belief(id=f"b{i}", domain=domain, key=key, value=value, statement=f"{key}={value}")
    for i, (domain, key, value) in enumerate([
        ("diet", "diet", "vegetarian"), ("music", "likes:jazz", "jazz"),
        ("work", "role", "software engineer"), ("communication", "response_length", "concise"),
        ("travel", "likes:window_seats", "window seats"), ("tools", "uses:python", "python"),
        ("food", "likes:spicy_food", "spicy food"), ("allergies", "peanuts", "allergic")])])


def fixture_turns() -> list[Turn]:
    """The hand-written fixtures: extractor cases, small talk, corrections, poisoning."""
    turns: list[Turn] = [(t, "") for t, _ in POSITIVES] + [(t, "") for t in NEGATIVES]
    turns += [(t, "Here is an answer.") for t in quality_data.small_talk()]
    for script in quality_data.correction_scripts():
        turns += [(str(t), "Some answer.") for t in script["turns"]]  # type: ignore[attr-defined]
    payloads = (quality_data.FIXTURES / "poisoning_payloads.txt").read_text(encoding="utf-8")
    turns += [(line, "") for line in payloads.splitlines() if line.strip()]
    return turns


def eval_turns() -> list[Turn]:
    """PrefEval statements, questions and conversations, and BIPIA attacks, if present."""
    root = quality_data.DEFAULT_EVAL_DIR
    if not (root / "prefeval").is_dir() or not (root / "bipia-attacks").is_dir():
        return []
    turns: list[Turn] = []
    for record in quality_data.explicit(root):
        turns += [(record.preference, ""), (record.question, "")]
    for conversation in quality_data.implicit(root):
        previous = ""
        for user, answer in conversation.turns:
            turns.append((user, previous))
            previous = answer
    turns += [(attack.text, "") for attack in quality_data.attacks(root)]
    return turns


@cache
def corpus() -> tuple[Turn, ...]:
    return tuple(dict.fromkeys(fixture_turns() + eval_turns()))


def observations(turn: Turn) -> Iterator[tuple[Observation, SelfModel | None]]:
    """One text in two situations: a fresh message, and a reply to an answer from a user with
    beliefs (corrections, negations, contradictions)."""
    content, previous = turn
    yield Observation(id="o", tenant="t", user_id="u", content=content, at=1.0,
                      previous_assistant=previous), None
    yield Observation(id="o", tenant="t", user_id="u", content=content, at=1.0,
                      previous_assistant=previous or "Here is an answer."), MODEL


def extract_all(turns: tuple[Turn, ...]) -> list[Extraction]:
    """Each turn as observed, then the fixtures once more as corrections sent through the API."""
    out = [extract_rules(obs, model) for turn in turns for obs, model in observations(turn)]
    for content, _ in fixture_turns():
        correction = Observation(id="o", tenant="t", user_id="u", content=content, at=1.0,
                                 type=ObservationType.CORRECTION, applied_belief_ids=["b1"])
        out.append(extract_rules(correction, MODEL))
    return out


def test_the_corpus_is_large_and_says_things() -> None:
    turns = corpus()
    found = [e for e in extract_all(turns[:400]) if e.claims]
    assert len(turns) >= 100
    assert len(found) >= 50


def test_the_prefilter_changes_no_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    turns = corpus()
    fast = extract_all(turns)
    monkeypatch.setattr(literals, "ENABLED", False)
    slow = extract_all(turns)
    assert len(fast) == len(slow)
    for index, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert a == b, turns[index // 2] if index // 2 < len(turns) else index
    if not eval_turns():
        pytest.skip("checked on the fixtures only: ../shared/eval is not present")


def test_the_prefilter_rules_out_most_patterns_of_a_question() -> None:
    possible = style._PREFILTER.possible("what is the difference between a process and a thread?")
    assert sum(possible) <= 2


# -- the required strings themselves -------------------------------------------------------------

@pytest.mark.parametrize(
    ("pattern", "strings"),
    [
        (r"\bkeep\s+(?:it|answers)\s+short\b", {"short"}),
        (r"(?:keep|make)\s+it", {"keep", "make"}),
        (r"(?<!i'll )\bbe\s+(?:brief|concise)", {"brief", "concise"}),
        (r"(?:hello)?\s*x", {"x"}),
        (r"(?:ab)+c{2,}", {"ab"}),
        (r"(?:hello)?\s*", None),
        (r"[a-z]+", None),
        (r"(?:abc|d*)", None),
        (r"(?i)short", None),
        (r"(?i:short)", None),
    ],
)
def test_required_strings(pattern: str, strings: set[str] | None) -> None:
    assert required(re.compile(pattern)) == (frozenset(strings) if strings else None)


def all_patterns() -> list[re.Pattern[str]]:
    """Every pattern of the rules extractor's modules."""
    found: list[re.Pattern[str]] = []
    for module in (style, likes, text, sys.modules[FACT_RULES[0].__module__]):
        for value in vars(module).values():
            items = value if isinstance(value, list | tuple) else [value]
            for item in items:
                parts = item if isinstance(item, tuple) else (item,)
                found += [p for p in parts if isinstance(p, re.Pattern)]
                found += [p.pattern for p in parts if isinstance(p, style.StyleRule)]
    return found


def test_every_match_in_the_corpus_holds_a_required_string() -> None:
    lowered = [text.normalize(content) for content, _ in corpus()[::7]]
    checked = 0
    for pattern in all_patterns():
        strings = required(pattern)
        if strings is None:
            continue
        for lower in lowered:
            for found in pattern.finditer(lower):
                checked += 1
                assert any(s in found.group(0) for s in strings), (pattern.pattern, found)
    assert checked > (1000 if eval_turns() else 100)  # the fixtures alone hold fewer matches


def test_a_prefilter_says_maybe_to_what_matches() -> None:
    patterns = all_patterns()
    prefilter = Prefilter(patterns)
    for content, _ in corpus()[::5]:
        lower = text.normalize(content)
        for pattern, maybe in zip(patterns, prefilter.possible(lower), strict=True):
            assert maybe or not pattern.search(lower), (pattern.pattern, lower)


# -- normalize, guess_domain, redact ------------------------------------------------------------

def test_normalize_equals_lowering_each_character() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    for start in range(0, len(every), 1000):
        chunk = every[start:start + 1000]
        assert text.normalize(chunk) == text._normalize_by_char(chunk)
    # Capital sigma lowers by context in str.lower (a final sigma), dotted I grows to two.
    greek = ("\u039f\u0394\u039f\u03a3", "\u03a3", "\u0391\u03a3 x", "\u0130stanbul")
    for sample in (*greek, "\u2019Caf\u00c9\u2018", "", *every[:2000]):
        assert text.normalize(sample) == text._normalize_by_char(sample), sample
    for content, previous in corpus():
        assert text.normalize(content) == text._normalize_by_char(content)
        assert text.normalize(previous) == text._normalize_by_char(previous)


def test_the_stem_index_finds_what_testing_every_stem_finds() -> None:
    stems = [stem for stems in lexicon.DOMAINS.values() for stem in stems]
    for content, _ in corpus()[::6]:
        lowered = content.lower()
        words = lexicon._WORD.findall(lowered)
        expected = {stem for stem in stems if lexicon._hit(stem, words, lowered)}
        assert lexicon._stems_in(words, lowered) == expected, content


REDACTION_SAMPLES = [
    "", "no digits here", "mail me at a@b.co", "a@b", "call 415-555-2671", "4111 1111 1111 1111",
    "IBAN DE89 3704 0044 0532 0130 00", "version 1.2.3 on 2024-01-15", "\u0661\u0662\u0663",
    "account number: 12345678901", "@home", "+14155552671", "x@y.z 1",
]


def test_redact_equals_running_every_pattern() -> None:
    texts = REDACTION_SAMPLES + [t for turn in corpus() for t in turn]
    for sample in texts:
        assert privacy.redact(sample) == privacy._redact_all(sample), sample
