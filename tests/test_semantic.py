"""Semantic relevance and one-meaning-one-belief: the pure math, the update rules, selection.

The merge examples are everyday statements written for this file (not taken from a data
set), phrased the way an extractor renders claims; the vectors are the built-in model's,
computed the way the write path computes them (``with_claim_vectors``).
"""

from __future__ import annotations

import numpy as np
import pytest

from selfmodel.config import Policy
from selfmodel.domain.meaning import Vector, content, cosine, decode, encode, polarity, same_meaning
from selfmodel.domain.models import Belief, Claim, Extraction, SelfModel
from selfmodel.domain.update import apply_claims, edit_belief
from selfmodel.language.embed import model as wordllama
from selfmodel.personalize.relevance import LexicalRelevance
from selfmodel.personalize.selection import select
from selfmodel.personalize.semantic import (
    BUILTIN,
    LEXICAL_SHARE,
    HybridRelevance,
    builtin,
    content_words,
    twin_among,
    with_claim_vectors,
    with_vectors,
)

NOW = 1_800_000_000.0


def _model() -> SelfModel:
    return SelfModel(tenant="acme", user_id="u1")


def _claim(domain: str, key: str, value: str, statement: str, **extra: object) -> Claim:
    return Claim.model_validate({"domain": domain, "key": key, "value": value,
                                 "statement": statement, "quote": statement, **extra})


def _learn(model: SelfModel, *claims: Claim, obs: str, at: float = NOW) -> SelfModel:
    """What observer/apply does: claim vectors first, then the pure update."""
    extraction = with_claim_vectors(Extraction(claims=list(claims)))
    model, refused = apply_claims(model, extraction.claims, observation_id=obs, at=at)
    assert refused == []
    return model


def _vector(text: str) -> Vector:
    return builtin().one(text)


# -- codec and the built-in embedder ---------------------------------------------------------

def test_a_vector_survives_its_codec_within_rounding() -> None:
    vector = _vector("Prefers vegetarian recipes with lots of vegetables")
    text = encode(vector)
    assert len(text) == 344  # 256 int8 bytes in base64: compact in the stored document
    back = decode(text)
    assert back.shape == vector.shape
    assert cosine(back, vector) > 0.999
    assert abs(float(np.linalg.norm(back)) - 1.0) < 1e-5


def test_a_zero_vector_encodes_to_nothing() -> None:
    assert encode(np.zeros(256, dtype=np.float32)) == ""


def test_a_words_token_ids_are_the_same_alone_as_inside_a_text() -> None:
    """The embedder caches token ids per word; that is only right if the tokenizer never
    merges across a space."""
    tokenizer, _ = wordllama()
    text = "vegetarian recipes gluten-free bullet points night shifts at the hospital"
    whole = tokenizer.encode(text, add_special_tokens=False).ids
    alone = [i for w in text.split() for i in tokenizer.encode(w, add_special_tokens=False).ids]
    assert whole == alone


def test_only_content_words_are_embedded() -> None:
    assert content_words("I would like some good jazz albums") == ["jazz",
                                                                                  "albums"]
    assert content_words("I like it") == ["i", "like", "it"]  # nothing left: all words


# -- hybrid score --------------------------------------------------------------------------

def _beliefs(*statements: str, vectors: bool = True) -> list[Belief]:
    model = SelfModel(tenant="acme", user_id="u1", beliefs=[
        Belief(id=f"b{i}", key=f"k{i}", value="v", statement=s, support=3.0, ref_at=NOW,
               last_seen=NOW)
        for i, s in enumerate(statements)])
    return with_vectors(model).beliefs if vectors else model.beliefs


def test_hybrid_score_mixes_lexical_score_and_cosine() -> None:
    beliefs = _beliefs("Works night shifts as a nurse", "Knits scarves and sweaters")
    request = "How do I stay awake during long hospital rotations?"
    lexical = LexicalRelevance()(request, beliefs)
    query = _vector(request)
    expected = [LEXICAL_SHARE * lex + (1 - LEXICAL_SHARE) * max(0.0, cosine(query, decode(
        b.vector or ""))) for lex, b in zip(lexical, beliefs, strict=True)]
    assert HybridRelevance()(request, beliefs) == pytest.approx(expected, abs=1e-6)


def test_a_belief_without_a_vector_ranks_lexically() -> None:
    with_vector = _beliefs("Plays the cello")[0]
    old = _beliefs("Knits scarves and sweaters", vectors=False)[0].model_copy(
        update={"id": "old"})
    beliefs = [with_vector, old]
    request = "Which knitting needles suit a beginner?"
    hybrid = HybridRelevance()(request, beliefs)
    assert hybrid[1] == LexicalRelevance()(request, beliefs)[1]


def test_a_vector_of_another_model_is_not_compared() -> None:
    belief = _beliefs("Knits scarves and sweaters")[0].model_copy(
        update={"vector_model": "someone-else"})
    request = "Which yarn should I buy for a winter hat?"
    assert HybridRelevance()(request, [belief]) == LexicalRelevance()(request, [belief])
    assert with_vectors(SelfModel(tenant="a", user_id="u", beliefs=[belief])).beliefs[
        0].vector_model == BUILTIN  # recomputed at the next write


def test_a_related_belief_wins_without_a_shared_word() -> None:
    beliefs = _beliefs("Allergy: peanuts", "Job: nurse")
    request = "How do I handle long hospital shifts?"
    assert LexicalRelevance()(request, beliefs) == [0.0, 0.0]
    scores = HybridRelevance()(request, beliefs)
    assert scores[1] > scores[0]


# -- the merge decision --------------------------------------------------------------------

def test_polarity_reads_negators_and_opposite_verbs() -> None:
    assert polarity("Likes jazz") == 1
    assert polarity("Dislikes jazz") == -1
    assert polarity("Doesn't eat meat") == -1
    assert polarity("Can't stand loud restaurants") == -1
    assert polarity("Never avoids spicy food") == 1  # two flips


def test_content_ignores_the_frame() -> None:
    assert content("Prefers bullet points") == content("Please use bullet points")
    assert content("Likes jazz") != content("Likes jazz and rock")


@pytest.mark.parametrize(("a", "b"), [
    ("Prefers bullet points", "Please use bullet points"),
    ("Prefers bullet points", "Wants answers in bullet points"),
    ("Is vegetarian", "Is a vegetarian"),
    ("Prefers short answers", "Wants short responses"),
])
def test_rewordings_mean_the_same(a: str, b: str) -> None:
    assert same_meaning(a, _vector(a), b, _vector(b))


@pytest.mark.parametrize(("a", "b"), [
    ("Likes jazz", "Dislikes jazz"),
    ("Prefers concise answers", "Prefers detailed answers"),
    ("Likes jazz", "Likes jazz and rock"),
    ("Lives in Paris", "Lives in Berlin"),
    ("Is vegetarian", "Is vegan"),
    ("Prefers metric units", "Prefers imperial units"),
    ("Has a dog", "Has a cat"),
    ("Uses Python 2", "Uses Python 3"),
    ("Loves topic0", "Loves topic5"),
    ("Prefers prose over bullet points", "Prefers bullet points"),
    ("Prefers prose over bullet points", "Prefers bullet points over prose"),
    ("Is vegetarian", "Is a strict vegetarian"),
])
def test_different_meanings_stay_apart(a: str, b: str) -> None:
    assert not same_meaning(a, _vector(a), b, _vector(b))


def test_without_vectors_only_the_same_wording_counts() -> None:
    assert same_meaning("Prefers bullet points", None, "prefers  bullet points", None)
    assert not same_meaning("Prefers bullet points", None, "Please use bullet points", None)


# -- one meaning, one belief (the pure update) -----------------------------------------------

def test_a_rewording_on_another_slot_adds_evidence_to_the_first_belief() -> None:
    model = _learn(_model(), _claim("communication", "format", "bullet points",
                                    "Prefers bullet points"), obs="o1")
    model = _learn(model, _claim("general", "likes", "bullet_points",
                                 "Wants answers in bullet points"), obs="o2", at=NOW + 60)
    assert len(model.beliefs) == 1
    belief = model.beliefs[0]
    assert belief.slot == ("communication", "format")
    assert belief.statement == "Prefers bullet points"
    assert belief.observations == 2
    assert [e.observation_id for e in belief.evidence] == ["o1", "o2"]


def test_the_same_preference_read_twice_in_one_message_counts_once() -> None:
    """"I prefer bullet points" read as a format and as a like is one piece of evidence."""
    model = _learn(_model(),
                   _claim("communication", "format", "bullet points", "Prefers bullet points"),
                   _claim("general", "likes", "bullet_points", "Prefers bullet points"),
                   obs="o1")
    assert len(model.beliefs) == 1
    assert model.beliefs[0].observations == 1


def test_vegetarian_and_no_meat_on_the_diet_slot_are_one_belief() -> None:
    model = _learn(_model(), _claim("food", "diet", "vegetarian", "Is vegetarian"), obs="o1")
    model = _learn(model, _claim("food", "diet", "vegetarian", "Does not eat meat"), obs="o2",
                   at=NOW + 60)
    assert len(model.beliefs) == 1
    assert model.beliefs[0].observations == 2


def test_likes_and_dislikes_jazz_stay_two_beliefs() -> None:
    model = _learn(_model(), _claim("music", "likes", "jazz", "Likes jazz"), obs="o1")
    model = _learn(model, _claim("music", "dislikes", "jazz", "Dislikes jazz"), obs="o2",
                   at=NOW + 60)
    assert sorted(b.statement for b in model.beliefs) == ["Dislikes jazz", "Likes jazz"]


def test_a_contradicting_value_of_one_slot_is_a_rival_as_before() -> None:
    model = _learn(_model(), _claim("communication", "response_length", "concise",
                                    "Prefers concise answers"), obs="o1")
    model = _learn(model, _claim("communication", "response_length", "detailed",
                                 "Prefers detailed answers"), obs="o2", at=NOW + 60)
    assert len(model.beliefs) == 2
    concise = next(b for b in model.beliefs if b.value == "concise")
    assert concise.against > 0  # the detailed value's support counts against it


def test_another_context_is_another_belief() -> None:
    model = _learn(_model(), _claim("communication", "format", "bullet points",
                                    "Prefers bullet points", context="work"), obs="o1")
    model = _learn(model, _claim("general", "likes", "bullet_points",
                                 "Please use bullet points"), obs="o2", at=NOW + 60)
    assert len(model.beliefs) == 2


def test_a_new_belief_keeps_its_claims_vector() -> None:
    model = _learn(_model(), _claim("hobby", "craft", "knitting", "Knits scarves"), obs="o1")
    belief = model.beliefs[0]
    assert belief.vector_model == BUILTIN
    assert cosine(decode(belief.vector or ""), _vector("Knits scarves")) > 0.999


def test_an_edited_statement_loses_its_old_vector_until_the_next_write() -> None:
    model = _learn(_model(), _claim("hobby", "craft", "knitting", "Knits scarves"), obs="o1")
    bid = model.beliefs[0].id
    edited, held = edit_belief(model, bid, at=NOW + 60, action_id="act1",
                               statement="Crochets blankets")
    assert held == bid and edited.beliefs[0].vector is None
    refreshed = with_vectors(edited).beliefs[0]
    assert cosine(decode(refreshed.vector or ""), _vector("Crochets blankets")) > 0.999


# -- selection: one meaning injected once (old data) ---------------------------------------

def test_selection_injects_one_of_two_same_meaning_beliefs() -> None:
    beliefs = _beliefs("Prefers bullet points", "Please use bullet points", "Knits scarves")
    assert twin_among(beliefs[1], beliefs[:1]) == beliefs[0]
    assert twin_among(beliefs[2], beliefs[:2]) is None
    selection = select(beliefs, policy=Policy(min_confidence=0.0), conversation="Any tips?",
                       now=NOW, measure=len)
    chosen = [s.belief.id for s in selection.chosen]
    assert sorted(chosen) in (["b0", "b2"], ["b1", "b2"])
    assert any(why.startswith("same meaning as ") for _, why in selection.skipped)


def test_selection_without_vectors_still_drops_the_same_wording() -> None:
    beliefs = _beliefs("Prefers bullet points", "prefers bullet points", vectors=False)
    selection = select(beliefs, policy=Policy(min_confidence=0.0), conversation="hello",
                       now=NOW, measure=len)
    assert len(selection.chosen) == 1
