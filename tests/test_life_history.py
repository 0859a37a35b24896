"""Life history told in the past is a lasting fact; a one-off story is not.

Sentences written for this file in everyday language before it was run. Life history covers
the whole of a life (education, upbringing, a diagnosis, "never" in the past); a story is one
occasion, dated or not.
"""

from __future__ import annotations

import pytest

from selfmodel.domain.models import Claim, Observation
from selfmodel.observer.extractors.grammar import extract_grammar

ANSWER = "Sure, here is a first draft for you."


def claims(content: str) -> list[Claim]:
    observation = Observation(id="obs_1", tenant="acme", user_id="u1", content=content, at=1.0,
                              previous_assistant=ANSWER)
    return [c for c in extract_grammar(observation, None).claims if c.polarity > 0]


@pytest.mark.parametrize(("text", "word"), [
    ("I studied economics at university.", "economics"),
    ("I grew up on a farm.", "farm"),
    ("I was diagnosed with ADHD as an adult.", "adhd"),
    ("I dropped out of college.", "college"),
    ("I studied nursing.", "nursing"),
    ("I was diagnosed with celiac disease.", "celiac"),
    ("I never finished high school.", "high school"),
    ("I was raised in a small town in Ohio.", "town"),
])
def test_life_history_is_learned_in_the_past(text: str, word: str) -> None:
    found = claims(text)
    assert any(word in f"{c.statement} {c.value}".lower() for c in found), found


@pytest.mark.parametrize(("text", "stem"), [
    ("I studied economics at university.", "Studied"),
    ("I grew up on a farm.", "Grew up"),
    ("I was diagnosed with ADHD as an adult.", "Was diagnosed"),
])
def test_life_history_keeps_its_past_tense(text: str, stem: str) -> None:
    assert any(c.statement.startswith(stem) for c in claims(text)), claims(text)


@pytest.mark.parametrize("text", [
    "I went to the beach yesterday.",
    "I bought a new blender last week.",
    "I watched a documentary about whales on Sunday.",
    "I had pasta for dinner.",
    "I went to the beach.",
    "I visited my aunt in Denver.",
    "I called the bank this morning.",
])
def test_one_off_stories_store_nothing(text: str) -> None:
    assert claims(text) == []


@pytest.mark.parametrize("text", [
    "Please make sure we're up to code.",
    "Make sure everything is up to code before the inspection.",
    "Make sure the deck is up to code.",
])
def test_a_clause_about_the_world_is_not_a_request_about_answers(text: str) -> None:
    assert not any(c.key == "code" for c in claims(text)), claims(text)


@pytest.mark.parametrize(("text", "key"), [
    ("Make sure your answers are short.", "response_length"),
    ("Make sure you cite sources.", "sources"),
])
def test_a_clause_about_the_answer_is_still_a_request(text: str, key: str) -> None:
    assert any(c.key == key for c in claims(text)), claims(text)


def test_a_value_keeps_to_its_own_noun_phrase() -> None:
    found = claims("Glacier National Park, the landscapes there are just incredible, is my "
                   "favorite spot.")
    assert all("landscapes" not in f"{c.statement} {c.value}" for c in found), found


@pytest.mark.parametrize(("text", "word"), [
    ("I was diagnosed with celiac disease two years ago.", "celiac"),
    ("I graduated from nursing school last year.", "nursing"),
])
def test_life_history_dated_by_the_year_is_still_learned(text: str, word: str) -> None:
    assert any(word in f"{c.statement} {c.value}".lower() for c in claims(text)), claims(text)


@pytest.mark.parametrize("text", [
    "I went to a concert last night.",
    "I studied at the library last week.",
    "I took a cooking class two days ago.",
])
def test_a_past_dated_to_the_last_days_is_a_story(text: str) -> None:
    assert claims(text) == []
