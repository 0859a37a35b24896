"""``well_formed`` on statements written for this file: complete predicates pass, broken
renderings (an object resolved back into its own clause, a verb of liking with no object)
do not."""

from __future__ import annotations

import pytest

from selfmodel.observer.extractors.wellformed import well_formed


@pytest.mark.parametrize(
    "statement",
    [
        "Prefers warmer",  # a verb of liking needs what is liked
        "Enjoys quieter",
        pytest.param("Likes spicy", marks=pytest.mark.xfail(
            reason="the tagger reads a lone 'spicy' after a verb as a noun", strict=True)),
        "Has mixed feelings about mixed feelings",  # an object repeated into its own clause
        "Keeps an eye on eye",
        "Can keep an eye on eye",
        "Prefers not to use them",
        "Adamantlies avoid workouts",
    ],
)
def test_broken_statements_fail(statement: str) -> None:
    assert not well_formed(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "Prefers warmer climates",
        "Likes spicy food",
        "Loves cooking",
        "Is taller than average",
        "Has mixed feelings about social media",
        "Keeps an eye on their budget",
        "Usually takes the train to work",
        "Trades vinyl records with other collectors",
        "Prefers boutique hotels over chain hotels",  # a contrast, not a repeated object
        "Likes dark chocolate more than milk chocolate",
        "Loves board game number 2",  # "number" is a noun, not "numb" made comparative
    ],
)
def test_complete_statements_pass(statement: str) -> None:
    assert well_formed(statement)
