"""The Personalizer end to end on in-memory self-models: what text goes out, what is recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from selfmodel.config import Config, Policy, Tenant
from selfmodel.domain.confidence import alignment_score, confidence
from selfmodel.domain.models import (
    Belief,
    BeliefStatus,
    DecisionRecord,
    Evidence,
    Kind,
    SelfModel,
    Source,
)
from selfmodel.personalize.engine import Personalization, Personalizer
from selfmodel.personalize.templates import packaged_folder

NOW = 1_700_000_000.0
DAY = 86_400.0
PAYLOADS = Path(__file__).parent / "data" / "poisoning_payloads.txt"


def belief(bid: str, statement: str, *, domain: str = "general", key: str | None = None,
           support: float = 3.0, status: BeliefStatus = BeliefStatus.ACTIVE) -> Belief:
    at = NOW - DAY
    return Belief(
        id=bid, kind=Kind.PREFERENCE, domain=domain, key=key or bid, value="v",
        statement=statement, support=support, ref_at=at, last_seen=at, status=status,
        evidence=[
            Evidence(observation_id=f"{bid}-said", at=at - DAY, source=Source.EXPLICIT),
            Evidence(observation_id=f"{bid}-confirmed", at=at, source=Source.USER_CONFIRMED),
            Evidence(observation_id=f"{bid}-doubted", at=at, polarity=-1,
                     source=Source.CORRECTION),
        ],
    )


def rich_model() -> SelfModel:
    return SelfModel(
        tenant="acme", user_id="alice", accepted=4.0, corrected=1.0, outcomes_at=NOW - DAY,
        beliefs=[
            belief("concise", "Prefers concise answers", domain="communication",
                   key="response_length"),
            belief("veg", "Is vegetarian", domain="diet", key="diet"),
            belief("python", "Writes Python at work", domain="tech", key="language"),
            belief("horror", "Loves horror films", status=BeliefStatus.REJECTED, support=9.0),
            belief("opera", "Might enjoy opera", support=0.4),
        ],
    )


@pytest.fixture
def personalizer() -> Personalizer:
    return Personalizer(Config(base_dir=str(Path(__file__).parent)))


def run(personalizer: Personalizer, model: SelfModel | None, conversation: str = "",
        tenant: Tenant | None = None) -> Personalization:
    return personalizer.personalize(tenant=tenant or Tenant(name="acme"), user_id="alice",
                                    model=model, conversation=conversation, now=NOW)


def test_a_rich_model_injects_the_relevant_confident_beliefs(personalizer: Personalizer) -> None:
    result = run(personalizer, rich_model(), "What should I cook for dinner? Also a horror film?")
    assert result.error is None and not result.cold_start
    assert result.text is not None
    assert '- "Is vegetarian"' in result.text
    assert '- "Prefers concise answers"' in result.text
    assert "horror" not in result.text.lower()  # rejected by the user
    assert "opera" not in result.text  # below the confidence gate
    assert [a.id for a in result.applied][:1] == ["veg"]
    assert {a.id for a in result.applied} == {"veg", "concise", "python"}


def test_applied_beliefs_carry_confidence_at_the_time_and_supporting_evidence(
    personalizer: Personalizer,
) -> None:
    model = rich_model()
    result = run(personalizer, model, "dinner ideas")
    veg = next(a for a in result.applied if a.id == "veg")
    assert veg.confidence == pytest.approx(confidence(model.belief("veg"), NOW))  # type: ignore[arg-type]
    assert veg.evidence_ids == ["veg-said", "veg-confirmed"]
    assert (veg.statement, veg.domain, veg.key, veg.kind) == (
        "Is vegetarian", "diet", "diet", Kind.PREFERENCE)


def test_the_decision_record_holds_exactly_what_was_sent(personalizer: Personalizer) -> None:
    result = run(personalizer, rich_model(), "dinner")
    record = DecisionRecord(request_id="req_1", tenant="acme", user_id="alice", at=NOW,
                            model="echo", personalized=True, **result.record_fields())
    assert record.system_prompt == result.text
    assert [b.id for b in record.beliefs] == [a.id for a in result.applied]
    assert record.template == "default.j2"
    source = (packaged_folder() / "default.j2").read_bytes()
    assert record.template_version == hashlib.sha256(source).hexdigest()


def test_no_model_is_a_cold_start_with_the_tenant_defaults(personalizer: Personalizer) -> None:
    tenant = Tenant(name="acme", policy=Policy(defaults=["Prefers clear, direct answers"]))
    result = run(personalizer, None, "hello", tenant)
    assert result.cold_start
    assert result.defaults == ["Prefers clear, direct answers"]
    assert result.applied == []
    assert result.text is not None
    assert '- "Prefers clear, direct answers"' in result.text
    assert "Nothing is known about this user yet" in result.text


def test_no_model_and_no_defaults_adds_nothing(personalizer: Personalizer) -> None:
    result = run(personalizer, None, "hello")
    assert result.text is None and result.error is None and result.cold_start
    assert result.template == "default.j2"


def test_a_model_whose_beliefs_are_all_unsure_falls_back_to_defaults(
    personalizer: Personalizer,
) -> None:
    model = SelfModel(tenant="acme", user_id="alice",
                      beliefs=[belief("opera", "Might enjoy opera", support=0.4)])
    tenant = Tenant(name="acme", policy=Policy(defaults=["Be brief"]))
    result = run(personalizer, model, "", tenant)
    assert result.cold_start and result.defaults == ["Be brief"]


def test_the_alignment_score_defaults_to_the_models_own(tmp_path: Path) -> None:
    (tmp_path / "a.j2").write_text("{{ alignment_score }}")
    tenant = Tenant(name="acme", template="a.j2")
    personalizer = Personalizer(Config(templates_dir=str(tmp_path), tenants=[tenant]))
    model = rich_model()
    result = run(personalizer, model, "", tenant)
    assert result.text == str(round(alignment_score(model, NOW), 2))


def test_policy_limits_apply_end_to_end(personalizer: Personalizer) -> None:
    tenant = Tenant(name="acme", policy=Policy(max_beliefs=1))
    result = run(personalizer, rich_model(), "dinner", tenant)
    assert [a.id for a in result.applied] == ["concise"]  # style first, whatever the topic


def _payloads() -> list[str]:
    lines = PAYLOADS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("# ")]


def test_no_poisoning_payload_reaches_the_prompt_even_if_it_was_stored(
    personalizer: Personalizer,
) -> None:
    payloads = _payloads()
    beliefs = [belief(f"p{i}", text, support=9.0) for i, text in enumerate(payloads)]
    beliefs.append(belief("veg", "Is vegetarian"))
    model = SelfModel(tenant="acme", user_id="mallory", beliefs=beliefs)
    tenant = Tenant(name="acme", policy=Policy(max_beliefs=100, token_budget=100_000))
    result = run(personalizer, model, " ".join(payloads), tenant)
    assert result.text is not None
    assert [a.id for a in result.applied] == ["veg"]
    assert len(result.skipped) == len(payloads)
    for text in payloads:
        assert text not in result.text


def test_personalize_never_raises_on_odd_input(personalizer: Personalizer) -> None:
    odd = SelfModel(tenant="acme", user_id="x", beliefs=[belief("e", "")])
    result = run(personalizer, odd, "\x00" * 10 + "🙂" * 1000)
    assert result.error is None
    assert result.text is None and result.skipped == [("e", "empty statement")]


def test_an_unexpected_failure_in_selection_degrades_to_no_text() -> None:
    def broken(conversation: str, beliefs: object) -> list[float]:
        raise RuntimeError("relevance backend down")

    personalizer = Personalizer(Config(base_dir=str(Path(__file__).parent)), relevance=broken)  # type: ignore[arg-type]
    result = run(personalizer, rich_model(), "dinner")
    assert result.text is None
    assert result.error is not None and "relevance backend down" in result.error


# -- caches never serve a belief's old text or confidence --------------------------------------

def test_a_restated_belief_renders_and_records_its_new_statement(
    personalizer: Personalizer,
) -> None:
    first = run(personalizer, rich_model(), "dinner ideas?")
    assert first.text is not None and '- "Is vegetarian"' in first.text
    model = rich_model()
    model.beliefs[1] = model.beliefs[1].model_copy(update={"statement": "Is vegan <now>"})
    again = run(personalizer, model, "dinner ideas?")
    assert again.text is not None
    assert '- "Is vegan \u2039now\u203a"' in again.text and "vegetarian" not in again.text
    assert {a.id: a.statement for a in again.applied}["veg"] == "Is vegan <now>"


def test_a_belief_whose_support_changes_is_gated_and_recorded_with_its_new_confidence(
    personalizer: Personalizer,
) -> None:
    before = run(personalizer, rich_model(), "dinner ideas?")
    assert "veg" in {a.id for a in before.applied}
    model = rich_model()
    model.beliefs[1] = model.beliefs[1].model_copy(update={"support": 0.5})
    weaker = run(personalizer, model, "dinner ideas?")
    assert "veg" not in {a.id for a in weaker.applied}  # now below the gate, same minute
    model.beliefs[1] = model.beliefs[1].model_copy(update={"support": 30.0})
    stronger = run(personalizer, model, "dinner ideas?")
    applied = {a.id: a.confidence for a in stronger.applied}
    assert applied["veg"] == pytest.approx(confidence(model.beliefs[1], NOW))
    assert applied["veg"] > {a.id: a.confidence for a in before.applied}["veg"]


def test_a_template_that_draws_random_values_is_rendered_every_time(tmp_path: Path) -> None:
    """Rendered text is reused for the same variables, except from templates that are not a
    pure function of them."""
    (tmp_path / "r.j2").write_text(
        "{{ range(90000) | random }}{% for b in beliefs %} {{ b.statement }}{% endfor %}")
    (tmp_path / "p.j2").write_text("{% for b in beliefs %}{{ b.statement | quote }} {% endfor %}")
    drawn = Tenant(name="acme", template="r.j2")
    plain = Tenant(name="acme", template="p.j2")
    personalizer = Personalizer(Config(templates_dir=str(tmp_path), tenants=[drawn, plain]))
    texts = {run(personalizer, rich_model(), "dinner?", drawn).text for _ in range(5)}
    assert len(texts) > 1
    first = run(personalizer, rich_model(), "dinner?", plain)
    again = run(personalizer, rich_model(), "dinner?", plain)  # new objects, same content
    assert first.text == again.text and first.text is not None
    assert '"Is vegetarian"' in first.text


def test_rendered_text_follows_the_user_and_the_confidence_shown(tmp_path: Path) -> None:
    (tmp_path / "c.j2").write_text(
        "{{ user_id }}:{% for b in beliefs %} {{ b.key }}={{ b.confidence }}{% endfor %}")
    tenant = Tenant(name="acme", template="c.j2")
    personalizer = Personalizer(Config(templates_dir=str(tmp_path), tenants=[tenant]))
    alice = run(personalizer, rich_model(), "dinner?", tenant)
    bob = personalizer.personalize(tenant=tenant, user_id="bob", model=rich_model(),
                                   conversation="dinner?", now=NOW)
    assert alice.text is not None and alice.text.startswith("alice:")
    assert bob.text is not None and bob.text.startswith("bob:")
    model = rich_model()
    model.beliefs[1] = model.beliefs[1].model_copy(update={"support": 30.0})
    stronger = run(personalizer, model, "dinner?", tenant)
    assert stronger.text is not None and stronger.text != alice.text
    shown = round(confidence(model.beliefs[1], NOW), 2)
    assert f"diet={shown}" in stronger.text
