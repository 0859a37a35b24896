"""The belief math on its own: calibration, decay, order independence, alignment."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from selfmodel.domain.confidence import (
    DAY,
    MAX_CONFIDENCE,
    add_evidence,
    add_outcome,
    alignment_score,
    confidence,
    half_life,
    weight,
)
from selfmodel.domain.models import Belief, Kind, SelfModel, Source

T0 = 1_700_000_000.0


def fresh(kind: Kind = Kind.PREFERENCE, domain: str = "communication") -> Belief:
    return Belief(id="b", kind=kind, domain=domain, key="k", value="v", statement="s")


def with_pieces(belief: Belief, pieces: list[tuple[Source, int, float]]) -> Belief:
    for source, polarity, at in pieces:
        belief = add_evidence(belief, weight(source), polarity, at)
    return belief


pieces_st = st.lists(
    st.tuples(st.sampled_from(list(Source)), st.sampled_from([1, -1]),
              st.floats(min_value=T0, max_value=T0 + 400 * DAY)),
    max_size=30,
)
kinds_st = st.sampled_from(list(Kind))


def test_one_explicit_statement_is_believed_at_once() -> None:
    belief = with_pieces(fresh(), [(Source.EXPLICIT, 1, T0)])
    assert confidence(belief, T0) >= 0.6


def test_a_structured_api_observation_is_believed_at_once() -> None:
    assert confidence(with_pieces(fresh(), [(Source.API, 1, T0)]), T0) >= 0.6


def test_an_inference_alone_is_not_enough() -> None:
    once = with_pieces(fresh(), [(Source.INFERRED, 1, T0)])
    twice = with_pieces(once, [(Source.INFERRED, 1, T0 + 60)])
    assert confidence(once, T0) < 0.6
    assert confidence(twice, T0 + 60) < 0.6


def test_source_weights_rank_user_then_correction_then_statement_then_hints() -> None:
    order = [Source.USER_CONFIRMED, Source.CORRECTION, Source.EXPLICIT, Source.API,
             Source.FEEDBACK, Source.INFERRED, Source.APPLIED]
    weights = [weight(s) for s in order]
    assert weights == sorted(weights, reverse=True)
    assert len(set(weights)) == len(weights)
    assert weight(Source.USER_REJECTED) == weight(Source.USER_CONFIRMED)


def test_repeated_confirmations_approach_but_never_reach_one() -> None:
    belief = fresh()
    values = []
    for i in range(2000):
        belief = add_evidence(belief, weight(Source.USER_CONFIRMED), 1, T0 + i)
        values.append(confidence(belief, T0 + i))
    assert values == sorted(values)
    assert values[-1] > 0.99
    assert values[-1] < 1.0
    huge = fresh().model_copy(update={"support": 1e300, "ref_at": T0})
    assert confidence(huge, T0) == MAX_CONFIDENCE < 1.0


def test_a_goal_fades_in_days_a_diet_in_months() -> None:
    goal = with_pieces(fresh(Kind.GOAL, "career"), [(Source.EXPLICIT, 1, T0)])
    diet = with_pieces(fresh(Kind.PREFERENCE, "diet"), [(Source.EXPLICIT, 1, T0)])
    month = T0 + 30 * DAY
    assert confidence(goal, month) < 0.6 < confidence(diet, month)
    assert half_life(Kind.GOAL) <= 14 * DAY
    assert half_life(Kind.EXPERTISE) >= 180 * DAY
    assert half_life(Kind.PREFERENCE, "diet") > half_life(Kind.PREFERENCE, "communication")


def test_half_of_a_piece_is_left_after_one_half_life() -> None:
    belief = with_pieces(fresh(Kind.GOAL), [(Source.EXPLICIT, 1, T0)])
    later = add_evidence(belief, 0.0, 1, T0 + half_life(Kind.GOAL))
    assert math.isclose(later.support, weight(Source.EXPLICIT) / 2)


@given(pieces_st, kinds_st, st.floats(min_value=0, max_value=800 * DAY))
def test_confidence_stays_in_unit_interval(pieces: list[tuple[Source, int, float]], kind: Kind,
                                           offset: float) -> None:
    belief = with_pieces(fresh(kind), pieces)
    assert 0.0 <= confidence(belief, T0 + offset) < 1.0


@given(pieces_st, kinds_st, st.sampled_from(list(Source)),
       st.floats(min_value=0, max_value=1.0))
def test_more_support_never_lowers_confidence(pieces: list[tuple[Source, int, float]],
                                              kind: Kind, source: Source,
                                              fraction: float) -> None:
    belief = with_pieces(fresh(kind), pieces)
    now = T0 + 500 * DAY
    at = T0 + fraction * 500 * DAY
    more = add_evidence(belief, weight(source), 1, at)
    assert confidence(more, now) >= confidence(belief, now) - 1e-12


@given(pieces_st, kinds_st, st.randoms(use_true_random=False))
def test_order_of_evidence_does_not_matter(pieces: list[tuple[Source, int, float]], kind: Kind,
                                           rnd: random.Random) -> None:
    shuffled = list(pieces)
    rnd.shuffle(shuffled)
    a, b = with_pieces(fresh(kind), pieces), with_pieces(fresh(kind), shuffled)
    assert a.ref_at == b.ref_at
    assert math.isclose(a.support, b.support, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(a.against, b.against, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=200)
@given(pieces_st.filter(bool), kinds_st, st.floats(min_value=1, max_value=400 * DAY))
def test_time_without_evidence_lowers_confidence(pieces: list[tuple[Source, int, float]],
                                                 kind: Kind, wait: float) -> None:
    belief = with_pieces(fresh(kind), pieces)
    now = belief.ref_at
    before, after = confidence(belief, now), confidence(belief, now + wait)
    assert after <= before
    if belief.support > 1e-6:
        assert after < before


def test_alignment_starts_at_one_half_and_moves_with_outcomes() -> None:
    model = SelfModel(tenant="t", user_id="u")
    assert alignment_score(model, T0) == 0.5
    accepted = add_outcome(model, 1.0, 0.0, T0)
    corrected = add_outcome(model, 0.0, 1.0, T0)
    assert alignment_score(accepted, T0) == 2 / 3
    assert alignment_score(corrected, T0) == 1 / 3


def test_alignment_drifts_back_towards_one_half_without_signal() -> None:
    model = SelfModel(tenant="t", user_id="u")
    for i in range(10):
        model = add_outcome(model, 1.0, 0.0, T0 + i)
    now = alignment_score(model, T0 + 10)
    later = alignment_score(model, T0 + 365 * DAY)
    assert now > later > 0.5


@given(st.lists(st.tuples(st.booleans(), st.floats(min_value=T0, max_value=T0 + 100 * DAY)),
                max_size=20), st.randoms(use_true_random=False))
def test_alignment_is_order_independent(outcomes: list[tuple[bool, float]],
                                        rnd: random.Random) -> None:
    def run(items: list[tuple[bool, float]]) -> float:
        model = SelfModel(tenant="t", user_id="u")
        for ok, at in items:
            model = add_outcome(model, float(ok), float(not ok), at)
        return alignment_score(model, T0 + 200 * DAY)

    shuffled = list(outcomes)
    rnd.shuffle(shuffled)
    assert math.isclose(run(outcomes), run(shuffled), rel_tol=1e-9)
    assert 0.0 < run(outcomes) < 1.0
