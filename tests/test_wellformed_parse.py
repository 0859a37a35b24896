"""``well_formed`` decided by the parse of the statement, one rule at a time.

Written for this file in everyday language before it was run. Each rule has statements that
must pass and statements that must fail, so a check that accepts or rejects everything fails.
"""

from __future__ import annotations

import pytest

from selfmodel.observer.extractors.wellformed import well_formed


@pytest.mark.parametrize("statement", [
    "Rarely eats out",  # "out" is a particle of "eat out", not a preposition missing its object
    "Often stays in",
    "Gave up smoking",
    "Never throws anything away",
])
def test_a_final_particle_is_not_a_dangling_preposition(statement: str) -> None:
    assert well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Likes to talk about",  # a preposition with its object missing
    "Is allergic to",
    "Works with",
    "Prefers tea and",
])
def test_a_preposition_or_conjunction_missing_its_object_fails(statement: str) -> None:
    assert not well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Studied economics",
    "Never finished high school",
    "Grew up on a farm",
    "Dropped out of college",
    "Was diagnosed with celiac disease",
    "Was born in Manila",
    "Served in the navy for six years",
])
def test_the_past_of_life_history_passes(statement: str) -> None:
    assert well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Studyed economics",  # not an English form
    "Grewed up on a farm",
])
def test_a_past_form_the_lexicon_does_not_know_fails(statement: str) -> None:
    assert not well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Prefers to take the train",  # a definite noun inside a complement: a routine
    "Likes to walk the dog in the morning",
    "Usually takes the bus",
])
def test_a_definite_noun_inside_a_complement_passes(statement: str) -> None:
    assert well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Despises the look",  # the look of what?
    "Prefers not to use them",  # unresolved pronoun
    "Loves it",
])
def test_a_missing_argument_or_unresolved_pronoun_fails(statement: str) -> None:
    assert not well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Has Glacier National Park the landscapes there are just incredible as their favorite spot",
    "Likes the old bakery the bread there is always fresh",
    "Owns a cabin the view from it is amazing",
])
def test_a_clause_fused_into_a_noun_phrase_fails(statement: str) -> None:
    assert not well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Has a dog that sheds a lot",  # a relative clause is part of its noun phrase
    "Likes cafes where it is quiet",
    "Keeps a garden they tend every weekend",
])
def test_a_relative_clause_is_not_a_fused_clause(statement: str) -> None:
    assert well_formed(statement)


@pytest.mark.parametrize("statement", [
    "Prefers to pay more for quality",  # an amount inside a complement, not a lost noun
    "Would rather spend less on rent",
])
def test_a_comparative_amount_inside_a_complement_passes(statement: str) -> None:
    assert well_formed(statement)


def test_an_object_set_off_by_a_comma_is_an_aside_not_a_fused_clause() -> None:
    assert well_formed("Cannot have peanuts, severe allergy")


@pytest.mark.parametrize("statement", [
    "Usually prefers light reads",  # the tagger splits "light reads" into two objects
    "Has a collection of seashells and some pressed flowers",
    "Avoids street food due to hygiene concerns",
])
def test_a_noun_phrase_the_tagger_splits_is_not_a_fused_clause(statement: str) -> None:
    assert well_formed(statement)
