"""Durable facts land in stable slots, so a later statement of the same slot replaces them.

The grammar extractor names most slots after the words of a statement ("is:..." plus the
object). Facts the user changes over time (a job, a skill level in a subject, an allergy, a
budget, where they live, a habit) need a slot named for what they are about instead:
otherwise "I'm not a novice at knitting any more" or "I relocated to Madrid" lands beside the
old belief rather than on it, and the old value keeps being applied. The sentences were
written for these tests.
"""

from __future__ import annotations

from selfmodel.domain.models import (
    Belief,
    Claim,
    Extraction,
    Kind,
    Observation,
    SelfModel,
    Source,
)
from selfmodel.observer.extractors.grammar import extract_grammar

ANSWER = "Here is a suggestion for you."


def read(content: str, model: SelfModel | None = None, previous: str = "") -> Extraction:
    observation = Observation(id="obs_1", tenant="acme", user_id="u1", content=content, at=1.0,
                              previous_assistant=previous)
    return extract_grammar(observation, model)


def holding(*beliefs: tuple[str, str, str]) -> SelfModel:
    """A user believed to hold each (domain, key, value)."""
    return SelfModel(tenant="acme", user_id="u1", beliefs=[
        Belief(id=f"b{i}", domain=d, key=k, value=v, statement=f"{k}={v}")
        for i, (d, k, v) in enumerate(beliefs)])


def slots(claims: list[Claim]) -> set[tuple[str, str, str, int]]:
    return {(c.domain, c.key, c.value, c.polarity) for c in claims}


# -- a skill level is the slot of its subject -------------------------------------------------

def test_a_skill_level_is_stored_under_the_subject() -> None:
    claims = read("I'm a novice at knitting.").claims
    assert ("expertise", "knitting", "beginner", 1) in slots(claims)
    assert all(c.kind is Kind.EXPERTISE for c in claims)


def test_an_expert_and_a_beginner_in_one_subject_share_the_slot() -> None:
    assert ("expertise", "rust", "expert", 1) in slots(read("I'm an expert in Rust.").claims)


def test_denying_a_held_skill_level_counts_against_that_slot() -> None:
    model = holding(("expertise", "knitting", "beginner"))
    claims = read("I'm not a novice at knitting any more.", model).claims
    assert ("expertise", "knitting", "beginner", -1) in slots(claims)


# -- role, allergy, budget ---------------------------------------------------------------------

def test_an_occupation_is_the_role_slot() -> None:
    assert ("work", "role", "accountant", 1) in slots(read("I'm an accountant.").claims)


def test_a_new_occupation_replaces_the_held_one_as_a_correction() -> None:
    model = holding(("work", "role", "accountant"))
    claims = [c for c in read("I'm an electrician.", model).claims if c.key == "role"]
    assert [(c.value, c.source) for c in claims] == [("electrician", Source.CORRECTION)]


def test_an_allergy_is_the_slot_of_what_it_is_to() -> None:
    assert ("health", "cats", "allergic", 1) in slots(read("I'm allergic to cats.").claims)


def test_denying_a_held_allergy_counts_against_it_even_if_the_words_read_elsewhere() -> None:
    # The slot's domain is judged from the statement's words; the denial must land on the
    # held belief whatever domain its own words suggest.
    model = holding(("general", "cats", "allergic"))
    claims = read("I'm not allergic to cats, that was my sister.", model).claims
    assert ("general", "cats", "allergic", -1) in slots(claims)


def test_a_budget_named_by_its_quality_and_then_by_an_amount_is_one_slot() -> None:
    assert ("budget", "budget", "strict", 1) in slots(read("I'm on a strict budget.").claims)
    model = holding(("budget", "budget", "strict"))
    claims = read("My budget is 500 euros now.", model).claims
    assert [(c.key, c.value, c.source) for c in claims] == [
        ("budget", "500 euros", Source.CORRECTION)]


# -- where the user lives ----------------------------------------------------------------------

def test_a_past_move_says_where_the_user_lives_now() -> None:
    claims = read("I relocated to Madrid two years ago.").claims
    assert ("location", "location", "madrid", 1) in slots(claims)


def test_a_planned_or_imagined_move_says_nothing_about_where_the_user_lives() -> None:
    assert read("I'm moving to Madrid next year.").claims == []
    assert read("If I moved to Madrid, would I need a car?").claims == []


def test_a_move_away_from_a_held_city_is_a_correction_of_the_location() -> None:
    model = holding(("location", "location", "porto"))
    claims = read("I moved to Oslo in the spring.", model).claims
    assert [(c.value, c.source) for c in claims if c.key == "location"] == [
        ("oslo", Source.CORRECTION)]


# -- "now" marks a change, not an occasion -----------------------------------------------------

def test_a_state_with_now_is_a_lasting_change() -> None:
    assert ("diet", "diet", "vegetarian", 1) in slots(read("I'm vegetarian now.").claims)


def test_a_duration_with_now_is_still_passing() -> None:
    assert read("I've been driving for 12 hours now.").claims == []


def test_a_clause_beside_a_habit_is_not_its_object() -> None:
    claims = read("I'm keto now, I eat a lot of eggs.").claims
    assert not any("keto" in c.key for c in claims if c.key != "diet")


# -- habits --------------------------------------------------------------------------------------

def test_a_habit_is_keyed_by_its_verb_and_object() -> None:
    assert ("drives:honda", "honda") in {(c.key, c.value) for c in read("I drive a Honda.").claims}


def test_giving_up_a_held_habit_counts_against_it() -> None:
    model = holding(("tools", "uses:emacs", "emacs"))
    claims = read("I don't use Emacs any more.", model).claims
    assert ("tools", "uses:emacs", "emacs", -1) in slots(claims)


def test_statements_with_a_relation_are_never_made_corrections() -> None:
    model = holding(("hobbies", "likes:chess", "chess"))
    claims = read("I love sailing.", model).claims
    assert claims and all(c.source is Source.EXPLICIT for c in claims)


# -- requests about answering ------------------------------------------------------------------

def test_switching_to_a_language_asks_for_it() -> None:
    claims = read("Change to Italian, please.", previous=ANSWER).claims
    assert ("communication", "reply_language", "italian", 1) in slots(claims)


def test_a_plural_noun_fragment_with_no_asks_for_none() -> None:
    claims = read("No summaries please, they waste my time.", previous=ANSWER).claims
    assert ("communication", "summary", "none", 1) in slots(claims)


def test_an_imperative_before_a_statement_is_a_request() -> None:
    claims = read("Add a few emojis, I enjoy them.").claims
    assert ("communication", "emoji", "lots", 1) in slots(claims)


def test_feel_free_to_asks_for_what_it_permits() -> None:
    claims = read("Feel free to use bullet points.").claims
    assert ("communication", "format", "bullets", 1) in slots(claims)


def test_a_new_style_value_after_another_is_a_correction() -> None:
    model = holding(("communication", "format", "prose"))
    claims = read("Actually, a table please, it is easier to compare.", model,
                  previous=ANSWER).claims
    assert [(c.key, c.value, c.source) for c in claims] == [
        ("format", "table", Source.CORRECTION)]


def test_a_like_restating_the_request_beside_it_is_not_a_second_belief() -> None:
    claims = read("Add a few emojis, I enjoy them.").claims
    assert [c.key for c in claims] == ["emoji"]


def test_a_like_beside_an_unrelated_request_is_kept() -> None:
    claims = read("Keep it short, I love gardening.").claims
    assert {"response_length", "likes:gardening"} <= {c.key for c in claims}
