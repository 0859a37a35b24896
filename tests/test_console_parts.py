"""The console's pure parts: signed tokens, sign-in limits, gate reasons, the decision
record's left-out reasons, explanations, daily rates and chart geometry."""

from __future__ import annotations

from selfmodel.config import Policy
from selfmodel.console.auth import SignInLimiter
from selfmodel.console.beliefs import gate_reasons, overview
from selfmodel.console.charts import bar_chart, interval_chart, line_chart
from selfmodel.console.explain import explain
from selfmodel.console.series import daily
from selfmodel.console.signing import Signer
from selfmodel.domain.models import (
    AppliedBelief,
    Belief,
    BeliefStatus,
    DecisionRecord,
    Evidence,
    Kind,
    SelfModel,
    Source,
)
from selfmodel.personalize.left_out import KEPT, left_out
from selfmodel.personalize.selection import Scored, Selection

NOW = 1_750_000_000.0


def belief(bid: str, *, key: str = "k", value: str = "v", support: float = 4.0,
           status: BeliefStatus = BeliefStatus.ACTIVE, domain: str = "general",
           evidence: list[Evidence] | None = None) -> Belief:
    return Belief(id=bid, key=key, value=value, statement=f"statement {bid}", support=support,
                  ref_at=NOW, status=status, domain=domain, evidence=evidence or [],
                  last_seen=NOW)


# -- signing -----------------------------------------------------------------------------------

def test_a_token_verifies_only_for_its_purpose_unaltered_and_unexpired() -> None:
    signer = Signer(b"s" * 32)
    token = signer.sign("portal", {"t": "acme", "u": "alice"}, NOW + 60)
    assert signer.verify("portal", token, NOW) == {"t": "acme", "u": "alice", "exp": NOW + 60}
    assert signer.verify("session", token, NOW) is None  # another purpose, another key
    assert signer.verify("portal", token, NOW + 61) is None  # expired
    body, _, mac = token.partition(".")
    forged = Signer(b"s" * 32).sign("portal", {"t": "acme", "u": "bob"}, NOW + 60)
    assert signer.verify("portal", forged.split(".")[0] + "." + mac, NOW) is None
    assert signer.verify("portal", body + "." + mac[:-2] + "AA", NOW) is None
    assert signer.verify("portal", "garbage", NOW) is None
    assert Signer(b"t" * 32).verify("portal", token, NOW) is None  # another secret


def test_macs_compare_in_constant_time_and_bind_their_parts() -> None:
    signer = Signer.generated()
    mac = signer.mac("csrf", "sid-1")
    assert signer.check_mac("csrf", mac, "sid-1")
    assert not signer.check_mac("csrf", mac, "sid-2")
    assert not signer.check_mac("csrf-portal", mac, "sid-1")


def test_sign_in_limiter_is_a_sliding_window_per_client() -> None:
    limiter = SignInLimiter(per_minute=3)
    assert [limiter.attempt("a", NOW + i) for i in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.attempt("a", NOW + 3)
    assert 56 <= wait <= 57
    assert limiter.attempt("b", NOW + 3) == 0.0  # another client is not held up
    assert limiter.attempt("a", NOW + 60.5) == 0.0  # the first attempt left the window


# -- what the console says about beliefs ----------------------------------------------------------

def test_gate_reasons_follow_the_selection_gate() -> None:
    strong = belief("b1", value="concise", support=9.0)
    rival = belief("b2", value="detailed", support=4.0)
    weak = belief("b3", key="other", support=0.5)
    rejected = belief("b4", key="x", status=BeliefStatus.REJECTED)
    reasons = gate_reasons([strong, rival, weak, rejected], [0.9, 0.7, 0.3, 0.8], 0.6)
    assert reasons[0] is None
    assert reasons[1] == "outranked by \u201cstatement b1\u201d"
    assert reasons[2] == "confidence 0.30 is below the gate (0.60)"
    assert reasons[3] == "rejected"


def test_overview_groups_by_domain_and_keeps_a_timeline_newest_first() -> None:
    ev = [Evidence(observation_id=f"o{i}", quote=f"q{i}", at=NOW - i) for i in range(3)]
    model = SelfModel(tenant="t", user_id="u", beliefs=[
        belief("b1", domain="diet", evidence=ev[:2]),
        belief("b2", domain="communication", key="len", evidence=ev[2:]),
        belief("b3", domain="diet", key="y", status=BeliefStatus.REJECTED)])
    view = overview(model, 0.6, NOW)
    assert list(view.groups) == ["communication", "diet"]
    assert [m.evidence.quote for m in view.timeline] == ["q0", "q1", "q2"]
    assert view.active == 2
    mine = overview(model, 0.6, NOW, include_retired=False)
    assert [s.belief.id for s in mine.groups["diet"]] == ["b1"]


# -- left-out reasons in the decision record -----------------------------------------------------

def scored(b: Belief) -> Scored:
    return Scored(b, 0.9, 0.5, 1.0, 0.7, False)


def test_left_out_counts_every_reason_and_keeps_a_few_ids() -> None:
    passed = [(belief(f"p{i}", key=f"k{i}"), 0.9) for i in range(30)]
    chosen = [scored(b) for b, _ in passed[:2]]
    selection = Selection(chosen=chosen, skipped=[("p2", "over the token budget"),
                                                   ("p3", "asks the assistant to obey")])
    counts, ids = left_out(40, passed, selection, max_beliefs=2)
    assert counts == {"gate": 10, "budget": 1, "refused": 1, "relevance": 26}
    assert ids["p2"] == "budget" and ids["p3"] == "refused"
    assert len(ids) == KEPT and "p0" not in ids


def test_left_out_after_a_budget_stop_and_at_cold_start() -> None:
    passed = [(belief("a"), 0.9), (belief("b", key="k2"), 0.8)]
    counts, ids = left_out(2, passed, Selection(chosen=[scored(passed[0][0])]), max_beliefs=8)
    assert counts == {"budget": 1} and ids == {"b": "budget"}
    assert left_out(5, [], Selection(cold_start=True), max_beliefs=8) == ({"gate": 5}, {})


def test_explanation_looks_statements_up_in_the_model_now() -> None:
    ev = Evidence(observation_id="o1", quote="I'm vegetarian", at=NOW)
    model = SelfModel(tenant="t", user_id="u", beliefs=[belief("b1", evidence=[ev]),
                                                        belief("b2", key="k2")])
    record = DecisionRecord(
        request_id="req_1", tenant="t", user_id="u", at=NOW, model="echo", personalized=True,
        beliefs=[AppliedBelief(id="b1", statement="Is vegetarian", kind=Kind.PREFERENCE,
                               domain="diet", key="diet", value="vegetarian", confidence=0.8,
                               evidence_ids=["o1"]),
                 AppliedBelief(id="gone", statement="Old", kind=Kind.PREFERENCE,
                               domain="d", key="k", value="v", confidence=0.7)],
        left_out={"gate": 3, "budget": 1}, left_out_ids={"b2": "budget", "zz": "budget"})
    view = explain(record, model, Policy(token_budget=123))
    assert [a.evidence[0].quote for a in view.applied[:1]] == ["I'm vegetarian"]
    assert [a.gone for a in view.applied] == [False, True]
    assert [(c, n) for c, n, _ in view.reasons] == [("gate", 3), ("budget", 1)]
    assert "123 tokens" in view.reasons[1][2]
    assert [(x.statement, x.belief_id) for x in view.left_out] == [
        ("statement b2", "b2"), (None, "zz")]


# -- insights over time and charts -------------------------------------------------------------

def test_daily_rates_count_requests_and_corrections_per_day() -> None:
    day = 86_400.0
    decisions = [
        DecisionRecord(request_id=f"r{i}", tenant="t", user_id="u", at=NOW - d * day,
                       model="m", personalized=p)
        for i, (d, p) in enumerate([(0, True), (0, True), (0, False), (1, True)])]
    decisions.append(DecisionRecord(request_id="x", tenant="t", user_id="u", at=NOW,
                                    model="m", personalized=False,
                                    reason="no consent: withdrawn"))
    fix = Evidence(observation_id="o9", quote="no, shorter", source=Source.CORRECTION, at=NOW)
    twice = [belief("b1", evidence=[fix]), belief("b2", key="k2", evidence=[fix])]
    days = daily(decisions, [SelfModel(tenant="t", user_id="u", beliefs=twice)], now=NOW,
                 days=3)
    assert [(d.requests, d.personalized, d.corrections) for d in days] == [
        (0, 0, 0), (1, 1, 0), (3, 2, 1)]
    assert days[-1].correction_rate == 1 / 3
    assert days[-1].alignment == (1 + 1) / (2 + 2)
    assert days[0].correction_rate is None and days[0].alignment is None


def test_chart_geometry_spans_the_data_and_zero() -> None:
    chart = interval_chart([("a", -0.1, -0.05, 0.02, "x"), ("b", 0.01, 0.03, 0.08, "y")])
    a, b = chart.rows
    assert a.low < a.point < chart.zero < a.high
    assert chart.zero < b.low < b.point < b.high
    bars = bar_chart([("x", 2.0, "2"), ("y", 1.0, "1"), ("z", 0.0, "0")])
    assert bars.bars[0].width == 2 * bars.bars[1].width and bars.bars[2].width == 0
    lines = line_chart(["d1", "d2", "d3"], [("r", "line-a", [0.0, None, 1.0])])
    assert len(lines.lines[0].dots) == 2
    assert lines.lines[0].dots[0][1] > lines.lines[0].dots[1][1]  # 0 is lower than 1
