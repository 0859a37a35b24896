"""Handed-over material (a pasted tweet, email, review, chat log, draft) is someone else's
words: nothing in it is learned, while the user's own statements beside it are.

The messages were written for these tests (none comes from an evaluation data set); each
pasted text speaks in the first person, so reading it as the user's own would learn a
belief about the user.
"""

from __future__ import annotations

import pytest

from selfmodel.domain.models import Extraction, Observation, ObservationType
from selfmodel.observer.extractors.grammar import extract_grammar
from selfmodel.observer.extractors.own_words import introduces_material, own_words


def read(content: str) -> Extraction:
    observation = Observation(id="obs_1", tenant="acme", user_id="u1", content=content,
                              at=1.0, previous_assistant="", assistant="",
                              type=ObservationType.INTERACTION)
    return extract_grammar(observation, None)


def learned(content: str) -> str:
    return " ".join(f"{c.statement} {c.value}" for c in read(content).claims).lower()


# Pasted text whose first-person sentences are its author's; the words listed must not be
# learned (they appear only in the pasted text).
PASTED: list[tuple[str, tuple[str, ...]]] = [
    ("What's the mood of this tweet: 'Finally saw the finale and I'm completely obsessed "
     "with the soundtrack!'", ("obsessed", "soundtrack")),
    ("Can you suggest a quick pasta recipe? Rate the tone of the following review: "
     "\u2018I adore this hotel, I'm a frequent traveler and I always stay here.\u2019",
     ("hotel", "traveler", "adore")),
    ('Is this reply rude? "I hate long meetings and I work from home on Fridays."',
     ("meeting", "home")),
    ("Classify the sentiment of the following comment: I love the new update, I use it "
     "every day.", ("update",)),
    ("Help me answer this email:\n\nHi, I'm a dentist in Porto and I have three kids. "
     "I'd love to meet next week.\n\nBest, Marta", ("dentist", "porto", "kids")),
    ("My landlord wrote: I'm selling the flat and I live abroad now.",
     ("selling", "abroad")),
    ("Here's my cousin's chat log:\n> I'm allergic to shellfish\n> I play the cello",
     ("shellfish", "cello")),
    ("Translate into French: I am a nurse and I love hiking in the mountains.",
     ("nurse", "hiking")),
    ("Proofread I has went to the gym and I am a teacher.", ("gym", "teacher")),
    ("Analyze the sentiment of I just adopted a puppy and I'm thrilled.", ("puppy",)),
    ("Summarize this document:\n\n\"\"\"\nI run a bakery in Leeds. I hate mornings.\n\"\"\"",
     ("bakery", "leeds", "morning")),
    ("The review from my customer: I'm disappointed, I ordered the blue sofa.",
     ("sofa", "disappointed")),
]


@pytest.mark.parametrize(("text", "words"), PASTED)
def test_nothing_is_learned_from_pasted_text(text: str, words: tuple[str, ...]) -> None:
    got = learned(text)
    assert not any(word in got for word in words), got


# The user's own fact beside pasted material: the fact is learned, the material is not.
BESIDE: list[tuple[str, str, tuple[str, ...]]] = [
    ("I'm vegetarian and I live in Lisbon. Summarize this article: I'm a pilot and I love "
     "skydiving.", "vegetarian", ("pilot", "skydiving")),
    ("I'm a nurse. Analyze the sentiment of the following tweet: 'Just moved to Oslo and "
     "I'm absolutely in love with winter!' What do you think?", "nurse", ("oslo", "winter")),
    ("I have two cats. Is this message polite?\n\n\u201cI'm a lawyer and I never eat "
     "breakfast.\u201d", "cats", ("lawyer", "breakfast")),
]


@pytest.mark.parametrize(("text", "fact", "words"), BESIDE)
def test_the_users_fact_beside_pasted_text_is_kept(text: str, fact: str,
                                                   words: tuple[str, ...]) -> None:
    got = learned(text)
    assert fact in got, got
    assert not any(word in got for word in words), got


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("I have two kids: Ana and Rui.", "kids"),
        ("Note: I'm allergic to peanuts.", "peanuts"),
        ("I'd describe my style as 'minimalist' and I love linen.", "linen"),
        ("My favourite drinks: green tea and lemonade. I'm a runner.", "runner"),
        ("I wake up at 6:30 and I work as a baker.", "baker"),
        ("Keep in mind: I'm allergic to peanuts.", "peanuts"),
        ("Long story short: I live in Berlin.", "berlin"),
        ("Fix my bike please, I ride to work as a courier.", "courier"),
    ],
)
def test_a_colon_or_short_quote_in_the_users_own_sentence_keeps_it(text: str,
                                                                   word: str) -> None:
    assert word in learned(text)


@pytest.mark.parametrize(
    ("lead", "hands_over"),
    [
        ("Summarize this", True),
        ("Translate into German", True),
        ("Analyze the sentiment of the following tweet", True),
        ("The email from my boss", True),
        ("My sister wrote", True),
        ("Here's my draft", True),
        ("Proofread", True),
        ("Just so you know", False),
        ("I have two kids", False),
        ("Note", False),
        ("My favourite foods", False),
    ],
)
def test_a_lead_hands_over_material_by_its_grammar(lead: str, hands_over: bool) -> None:
    assert introduces_material(lead) is hands_over


def test_a_short_quoted_word_stays_and_a_long_quotation_goes() -> None:
    text = "I call it 'home'. She said \u201cI am moving to Rome next spring\u201d and I'm sad."
    mine = own_words(text)
    assert "'home'" in mine
    assert "Rome" not in mine
    assert "I'm sad" in mine


@pytest.mark.parametrize("text", [
    "I'm a teacher and my kids' school is close; we don't drive.",
    "I'm 5'10\" tall and I love \"jazz\" music, it's my parents' favourite too.",
])
def test_apostrophes_and_inch_marks_are_not_quotation_marks(text: str) -> None:
    assert own_words(text) == text
