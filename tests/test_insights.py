"""Insights: a simulated holdout shows a real lift, and shows none when there is none.

The populations are scripted. Each user has a hidden preferred answer style; the generic
answer suits a quarter of them. A user corrects an answer that misses their style with
probability ``p_miss`` and one that fits with ``p_fit``. Personalized users get their style
once their first correction has taught the model; control users always get the generic one.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from selfmodel.app import create_app
from selfmodel.config import (
    Config,
    ExperimentSettings,
    Policy,
    StoreSettings,
    Tenant,
    default_config,
)
from selfmodel.domain import stats
from selfmodel.domain.experiments import CONTROL, PERSONALIZED, assign_arm
from selfmodel.domain.insights import Insights, compute_insights
from selfmodel.domain.lift import Metric
from selfmodel.domain.models import Belief, BeliefStatus, DecisionRecord, Kind, SelfModel
from selfmodel.insights_report import run_insights
from selfmodel.store import open_store
from tests.support.servers import serve

NOW = 1_750_000_000.0
DAY = 86_400.0
STYLES = ("concise", "detailed", "bullets", "examples")
GENERIC = "detailed"
HOLDOUT = ExperimentSettings(name="holdout", control_share=0.5)


@dataclass
class Population:
    models: list[SelfModel]
    decisions: list[DecisionRecord]
    outcomes: list[tuple[str, str, float, float]]


def belief(key: str, value: str, *, domain: str = "communication", support: float = 4.0,
           kind: Kind = Kind.PREFERENCE, status: BeliefStatus = BeliefStatus.ACTIVE) -> Belief:
    return Belief(id=f"b-{domain}-{key}-{value}", kind=kind, domain=domain, key=key,
                  value=value, statement=f"{key}: {value}", support=support, ref_at=NOW,
                  status=status)


def simulate_user(uid: str, arm: str | None, rng: random.Random, p_miss: float, p_fit: float,
                  population: Population, tenant: str = "acme") -> None:
    """One scripted user: their exchanges, corrections, decisions and one app outcome."""
    style = rng.choice(STYLES)
    learned = False
    counts = {"exchanges": 0.0, "corrections": 0.0, "tokens": 0.0, "follow_ups": 0.0}
    for turn in range(rng.randint(8, 30)):
        personalized = arm == PERSONALIZED and learned
        fits = (style if personalized else GENERIC) == style
        corrected = rng.random() < (p_fit if fits else p_miss)
        learned = learned or corrected
        counts["exchanges"] += 1
        counts["corrections"] += corrected
        counts["tokens"] += 300 + 50 * personalized
        counts["follow_ups"] += turn > 0
        population.decisions.append(DecisionRecord(
            request_id=f"req-{uid}-{turn}", tenant=tenant, user_id=uid, at=NOW - DAY,
            model="echo", personalized=personalized, arm=arm,
            reason="" if personalized else ("control arm" if arm == CONTROL else "cold start")))
    completed = 1.0 if counts["corrections"] / counts["exchanges"] < 0.25 else 0.0
    population.outcomes.append((uid, "task_completed", completed, NOW - DAY))
    population.models.append(SelfModel(
        tenant=tenant, user_id=uid, experiments={"holdout": arm} if arm else {},
        beliefs=[belief("answer_style", style)] if learned else [], stats=counts,
        last_exchange_at=NOW - rng.uniform(0, 20) * DAY, updated_at=NOW - DAY))


def population(users: int, p_miss: float, p_fit: float, *, seed: int = 7,
               settings: ExperimentSettings | None = HOLDOUT) -> Population:
    rng = random.Random(seed)
    result = Population([], [], [])
    for i in range(users):
        uid = f"user-{i}"
        simulate_user(uid, assign_arm("acme", uid, settings, {}), rng, p_miss, p_fit, result)
    return result


def insights(pop: Population, settings: ExperimentSettings | None = HOLDOUT) -> Insights:
    return compute_insights("acme", pop.models, pop.decisions, pop.outcomes, now=NOW,
                            experiment=settings)


def metric(result: Insights, name: str) -> Metric:
    return next(m for m in result.experiments[0].metrics if m.name == name)


# -- the experiment --------------------------------------------------------------------------


def test_personalization_that_helps_shows_a_lift_with_an_interval_excluding_zero() -> None:
    result = insights(population(400, p_miss=0.40, p_fit=0.10))
    correction = metric(result, "correction_rate")
    lift = correction.lift
    assert lift is not None and lift.result == "better"
    assert lift.high < 0  # personalized minus control: fewer corrections, whole interval
    assert correction.arms[CONTROL].mean == pytest.approx(0.325, abs=0.05)
    assert lift.relative is not None and lift.relative < -0.3
    experiment = result.experiments[0]
    assert experiment.configured and experiment.control_share == 0.5
    assert experiment.arms[CONTROL].users + experiment.arms[PERSONALIZED].users == 400
    assert experiment.arms[CONTROL].personalized_requests == 0
    assert result.verdict.startswith("Personalization shows a lift")
    assert "95% CI" in result.verdict


def test_personalization_that_does_not_matter_shows_no_measurable_lift() -> None:
    result = insights(population(400, p_miss=0.25, p_fit=0.25))
    lift = metric(result, "correction_rate").lift
    assert lift is not None and lift.low < 0 < lift.high
    assert lift.result == "no measurable difference"
    assert result.experiments[0].users_needed <= 400
    assert result.verdict.startswith("No measurable lift")


def test_personalization_that_hurts_is_reported_as_worse() -> None:
    # Scripted the other way round: the learned style is the wrong one for these users.
    result = insights(population(400, p_miss=0.10, p_fit=0.40))
    assert metric(result, "correction_rate").lift.result == "worse"  # type: ignore[union-attr]
    assert result.verdict.startswith("Personalized answers are corrected more often")


def test_a_small_population_is_not_enough_data_whatever_it_shows() -> None:
    result = insights(population(24, p_miss=0.40, p_fit=0.10))
    assert result.verdict.startswith("Not enough data yet")
    assert f"need ~{result.experiments[0].users_needed}" in result.verdict


def test_users_not_heavy_users_are_the_unit() -> None:
    """One control user with 10,000 uncorrected exchanges is one observation, not 10,000."""
    pop = population(400, p_miss=0.40, p_fit=0.10)
    control_before = metric(insights(pop), "correction_rate").arms[CONTROL].mean
    heavy = next(m for m in pop.models if m.experiments["holdout"] == CONTROL)
    heavy.stats.update(exchanges=10_000.0, corrections=0.0)
    control_after = metric(insights(pop), "correction_rate").arms[CONTROL].mean
    assert control_before is not None and control_after is not None
    assert control_before - control_after < 0.01


def test_app_outcomes_and_other_signals_are_reported_per_arm() -> None:
    result = insights(population(400, p_miss=0.40, p_fit=0.10))
    completed = metric(result, "outcome:task_completed")
    assert completed.lift is not None and completed.lift.result == "higher"
    assert completed.arms[CONTROL].users + completed.arms[PERSONALIZED].users == 400
    tokens = metric(result, "tokens_per_exchange")
    assert tokens.lift is not None and tokens.lift.difference > 0
    assert metric(result, "feedback_up_share").arms[CONTROL].users == 0  # none given


def test_an_ended_experiment_is_still_reported_but_not_as_the_verdict() -> None:
    pop = population(200, p_miss=0.40, p_fit=0.10)
    result = insights(pop, settings=None)
    assert [e.name for e in result.experiments] == ["holdout"]
    assert not result.experiments[0].configured
    assert result.verdict == result.readiness.verdict


def test_since_narrows_decisions_and_outcomes() -> None:
    pop = population(50, p_miss=0.4, p_fit=0.1)
    result = compute_insights("acme", pop.models, pop.decisions, pop.outcomes, now=NOW,
                              experiment=HOLDOUT, since=NOW - 3600)
    assert result.requests.total == 0 and result.outcomes == {}
    assert result.users == 50


# -- what the models learned -----------------------------------------------------------------


def test_overview_counts_beliefs_requests_alignment_and_freshness() -> None:
    models = [
        SelfModel(tenant="acme", user_id="a", updated_at=NOW - 100, accepted=8, corrected=0,
                  outcomes_at=NOW,
                  beliefs=[belief("answer_style", "concise"),
                           belief("diet", "vegetarian", domain="diet"),
                           belief("old", "x", status=BeliefStatus.REJECTED)]),
        SelfModel(tenant="acme", user_id="b", updated_at=NOW - 300,
                  beliefs=[belief("level", "expert", kind=Kind.EXPERTISE, support=0.2)]),
        SelfModel(tenant="globex", user_id="c", updated_at=NOW),
    ]
    decisions = [
        DecisionRecord(request_id=f"r{i}", tenant="acme", user_id="a", at=NOW, model="echo",
                       personalized=i < 3, reason="" if i < 3 else "opt-out")
        for i in range(4)
    ]
    result = compute_insights("acme", models, decisions, [], now=NOW)
    assert result.users == 2
    assert result.beliefs_per_user.mean == 1.5 and result.confident_beliefs_per_user.mean == 1.0
    assert result.kinds == {"preference": 2, "expertise": 1}
    assert result.domains == {"communication": 2, "diet": 1}
    assert result.requests.share_personalized == 0.75
    assert result.requests.not_personalized == {"opt-out": 1}
    assert result.alignment.count == 2 and result.alignment_histogram["0.8-1.0"] == 1
    assert result.freshness_seconds.median == 200
    assert result.experiments == []


# -- readiness -------------------------------------------------------------------------------


def alike_users(n: int, *, distinct: bool) -> list[SelfModel]:
    return [
        SelfModel(tenant="acme", user_id=f"u{i}", last_exchange_at=NOW - DAY,
                  stats={"exchanges": 20.0, "corrections": 6.0 + i % 3},
                  beliefs=[belief("answer_style", STYLES[i % 4] if distinct else "concise"),
                           belief("lang", f"l{i % 5}" if distinct else "en", domain="language")])
        for i in range(n)
    ]


def test_readiness_says_when_profiles_are_alike() -> None:
    result = compute_insights("acme", alike_users(50, distinct=False), [], [], now=NOW)
    assert result.readiness.profile_diversity == 0.0
    assert any("much alike" in note for note in result.readiness.notes)
    assert result.readiness.generic_correction_source.startswith("all users")


def test_readiness_of_a_large_varied_tenant_recommends_measuring() -> None:
    result = compute_insights("acme", alike_users(2000, distinct=True), [], [], now=NOW)
    ready = result.readiness
    assert ready.active_users_7d == ready.active_users_30d == 2000
    assert ready.profile_diversity is not None and ready.profile_diversity > 0.6
    assert ready.generic_correction_rate == pytest.approx(0.35, abs=0.01)
    assert ready.users_needed <= 2000
    assert ready.verdict.startswith("Worth measuring")


def test_readiness_of_a_new_tenant_is_honest() -> None:
    assert compute_insights("acme", [], [], [], now=NOW).verdict.startswith("No users yet")
    small = compute_insights("acme", alike_users(10, distinct=True), [], [], now=NOW)
    assert small.verdict.startswith("Too early to measure a lift")


def test_readiness_uses_the_control_arm_as_the_generic_answer() -> None:
    result = insights(population(400, p_miss=0.40, p_fit=0.10))
    assert result.readiness.generic_correction_source.startswith("control arm")
    control = metric(result, "correction_rate").arms[CONTROL].mean
    assert result.readiness.generic_correction_rate == control


# -- the statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize(("df", "exact"), [(3, 3.182), (10, 2.228), (30, 2.042), (120, 1.980)])
def test_t_quantile_matches_the_table(df: int, exact: float) -> None:
    assert stats.t_quantile(0.975, df) == pytest.approx(exact, abs=0.005)


def test_welch_interval_on_a_worked_example() -> None:
    a = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0]
    b = [28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0,
         23.9, 21.6, 24.3, 20.4, 23.9, 13.3]
    diff = stats.welch(a, b)
    assert diff is not None
    # Welch's t-test on these samples (Wikipedia, "Welch's t-test", example 3): t = 2.22,
    # df = 24.5, p = 0.036, so the 95% interval just excludes zero.
    assert diff.diff / diff.se == pytest.approx(2.22, abs=0.01)
    assert diff.df == pytest.approx(24.5, abs=0.1)
    assert diff.excludes_zero and 0 < diff.low < 0.5
    assert stats.welch([1.0], b) is None


def test_users_needed_grows_with_an_uneven_split() -> None:
    even, holdout = stats.users_needed(0.1, 0.05, 0.5), stats.users_needed(0.1, 0.05, 0.1)
    assert even == pytest.approx(126, abs=1)
    assert holdout == pytest.approx(even * 2.78, rel=0.02)


# -- over HTTP: GET /v1/insights, POST /v1/outcomes --------------------------------------------

KEY_A, KEY_B, KEY_C = "sk-acme-test", "sk-globex-test", "sk-initech-test"


def gateway_config(store_url: str) -> Config:
    config = default_config()
    config.store = StoreSettings(url=store_url)
    config.tenants = [
        Tenant(name="acme", api_keys=[KEY_A], experiment=HOLDOUT),
        Tenant(name="globex", api_keys=[KEY_B]),
        Tenant(name="initech", api_keys=[KEY_C], policy=Policy(consent="required")),
    ]
    return config


def copying(model: SelfModel) -> Callable[[SelfModel], SelfModel]:
    """A mutation that gives the stored model the simulated user's arm, counters and beliefs."""
    update = {"experiments": model.experiments, "stats": model.stats,
              "beliefs": model.beliefs, "last_exchange_at": model.last_exchange_at}
    return lambda stored: stored.model_copy(update=update)


async def seed(store_url: str, pop: Population) -> None:
    """Write the population's models and decisions into the store the gateway will use."""
    store = open_store(store_url)
    await store.start()
    try:
        for model in pop.models:
            await store.mutate_model("acme", model.user_id, copying(model))
        for decision in pop.decisions[:40]:
            await store.put_decision(decision, ttl_seconds=3600)
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def gateway(store_url: str) -> AsyncIterator[httpx.AsyncClient]:
    pop = population(60, p_miss=0.4, p_fit=0.1)
    for decision in pop.decisions:
        decision.at = time.time() - 60
    await seed(store_url, pop)
    with serve(create_app(gateway_config(store_url), run_workers=False)) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_insights_and_outcomes_are_per_tenant(gateway: httpx.AsyncClient) -> None:
    for i in range(10):
        posted = await gateway.post("/v1/outcomes", headers=auth(KEY_A), json={
            "user_id": f"user-{i}", "name": "converted", "value": i % 2})
        assert posted.status_code == 202 and posted.json()["recorded"] is True
    other = await gateway.post("/v1/outcomes", headers=auth(KEY_B),
                               json={"user_id": "user-1", "name": "converted", "value": 5})
    assert other.status_code == 202

    mine = (await gateway.get("/v1/insights", headers=auth(KEY_A))).json()
    assert mine["object"] == "insights" and mine["tenant"] == "acme"
    assert mine["users"] == 60
    assert mine["outcomes"]["converted"] == {"events": 10, "users": 10, "mean": 0.5}
    assert mine["requests"]["total"] == 40
    experiment = mine["experiments"][0]
    assert experiment["name"] == "holdout" and experiment["configured"] is True
    assert sum(arm["users"] for arm in experiment["arms"].values()) == 60
    assert "outcome:converted" in [m["name"] for m in experiment["metrics"]]
    assert mine["generated_at"].endswith("Z") and mine["since"] is None

    theirs = (await gateway.get("/v1/insights", headers=auth(KEY_B))).json()
    assert theirs["tenant"] == "globex" and theirs["users"] == 0
    assert theirs["outcomes"] == {"converted": {"events": 1, "users": 1, "mean": 5.0}}
    assert theirs["experiments"] == [] and theirs["requests"]["total"] == 0


async def test_since_narrows_requests_and_outcomes(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/v1/outcomes", headers=auth(KEY_A), json={
        "user_id": "user-1", "name": "converted", "value": 1, "at": "2020-01-01T00:00:00Z"})
    later = (await gateway.get("/v1/insights", headers=auth(KEY_A),
                               params={"since": "2021-01-01T00:00:00Z"})).json()
    assert later["outcomes"] == {} and later["requests"]["total"] == 40
    assert later["since"] == "2021-01-01T00:00:00Z"
    everything = (await gateway.get("/v1/insights", headers=auth(KEY_A),
                                    params={"since": "0"})).json()
    assert everything["outcomes"]["converted"]["events"] == 1
    future = (await gateway.get("/v1/insights", headers=auth(KEY_A),
                                params={"since": str(time.time() + 3600)})).json()
    assert future["requests"]["total"] == 0


async def test_outcomes_of_users_without_consent_are_not_stored(
    gateway: httpx.AsyncClient,
) -> None:
    posted = await gateway.post("/v1/outcomes", headers=auth(KEY_C),
                                json={"user_id": "u1", "name": "converted", "value": 1})
    assert posted.status_code == 202 and posted.json()["recorded"] is False
    report = (await gateway.get("/v1/insights", headers=auth(KEY_C))).json()
    assert report["outcomes"] == {}


async def test_both_routes_need_a_key(gateway: httpx.AsyncClient) -> None:
    for response in (
        await gateway.get("/v1/insights"),
        await gateway.post("/v1/outcomes", json={"user_id": "u", "name": "n", "value": 1}),
        await gateway.get("/v1/insights", headers=auth("sk-wrong")),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"


BAD_OUTCOMES = [
    (b'{"name": "converted", "value": 1}', "user_id"),
    (b'{"user_id": "", "name": "converted", "value": 1}', "user_id"),
    (b'{"user_id": "' + b"u" * 257 + b'", "name": "c", "value": 1}', "user_id"),
    (b'{"user_id": "a\\u0000b", "name": "c", "value": 1}', "user_id"),
    (b'{"user_id": "a\\nb", "name": "c", "value": 1}', "user_id"),
    (b'{"user_id": 42, "name": "c", "value": 1}', "user_id"),
    (b'{"user_id": "u", "value": 1}', "name"),
    (b'{"user_id": "u", "name": "' + b"n" * 65 + b'", "value": 1}', "name"),
    (b'{"user_id": "u", "name": "c"}', "value"),
    (b'{"user_id": "u", "name": "c", "value": NaN}', "value"),
    (b'{"user_id": "u", "name": "c", "value": Infinity}', "value"),
    (b'{"user_id": "u", "name": "c", "value": 1e400}', "value"),
    (b'{"user_id": "u", "name": "c", "value": 1' + b"0" * 400 + b"}", "value"),
    (b'{"user_id": "u", "name": "c", "value": "1"}', "value"),
    (b'{"user_id": "u", "name": "c", "value": true}', "value"),
    (b'{"user_id": "u", "name": "c", "value": 1, "at": "yesterday"}', "at"),
    (b'{"user_id": "u", "name": "c", "value": 1, "at": -5}', "at"),
    (b'{"user_id": "u", "name": "c", "value": 1, "at": 99999999999}', "at"),
    (b"[1, 2]", None),
    (b"{not json", None),
]


async def test_bad_outcomes_are_refused_with_the_field_named(
    gateway: httpx.AsyncClient,
) -> None:
    for body, param in BAD_OUTCOMES:
        response = await gateway.post("/v1/outcomes", headers=auth(KEY_A), content=body)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param), body
    report = (await gateway.get("/v1/insights", headers=auth(KEY_A))).json()
    assert report["outcomes"] == {}


async def test_a_bad_since_is_refused(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/insights", headers=auth(KEY_A), params={"since": "soon"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "since"


def test_the_cli_report_reads_the_same_store(sqlite_url: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(sqlite_url, population(60, p_miss=0.4, p_fit=0.1)))
    config = gateway_config(sqlite_url)
    assert run_insights(config, "acme", as_json=False) == 0
    text = capsys.readouterr().out
    assert "Experiment holdout (control share 50%)" in text and "correction_rate" in text
    assert run_insights(config, "acme", as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["users"] == 60
    assert run_insights(config, "nobody", as_json=False) == 2
    assert "no tenant named 'nobody'" in capsys.readouterr().err
