"""Holdout assignment: deterministic, stable across processes, at the configured share."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from selfmodel.config import ExperimentSettings
from selfmodel.domain.experiments import CONTROL, PERSONALIZED, assign_arm, bucket

IDS = [f"user-{i}" for i in range(10_000)]


def holdout(share: float, name: str = "holdout", salt: str | None = None) -> ExperimentSettings:
    return ExperimentSettings(name=name, control_share=share, salt=salt)


def arms(share: float, ids: list[str] = IDS, **kwargs: str) -> list[str | None]:
    settings = holdout(share, **kwargs)
    return [assign_arm("acme", uid, settings, {}) for uid in ids]


def test_the_same_user_gets_the_same_arm_on_every_call() -> None:
    assert arms(0.5, IDS[:500]) == arms(0.5, IDS[:500])
    assert set(arms(0.5, IDS[:500])) == {CONTROL, PERSONALIZED}


def test_a_fresh_process_with_another_hash_seed_assigns_the_same_arms() -> None:
    """What a second replica or a restarted gateway computes: no per-process hash() salt."""
    script = (
        "import json, sys\n"
        "from selfmodel.config import ExperimentSettings\n"
        "from selfmodel.domain.experiments import assign_arm\n"
        "s = ExperimentSettings(name='holdout', control_share=0.3)\n"
        "ids = json.load(sys.stdin)\n"
        "print(json.dumps([assign_arm('acme', u, s, {}) for u in ids]))\n"
    )
    ids = IDS[:300]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(ids), env=env,
                          capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == arms(0.3, ids)


@pytest.mark.parametrize("share", [0.05, 0.1, 0.5, 0.9])
def test_the_control_share_matches_the_configured_share(share: float) -> None:
    observed = arms(share).count(CONTROL) / len(IDS)
    # Binomial SD at n=10,000 is at most 0.005; 0.02 is 4 SD at the widest.
    assert observed == pytest.approx(share, abs=0.02)


def test_no_experiment_or_a_zero_share_assigns_nobody() -> None:
    assert assign_arm("acme", "u1", None, {}) is None
    assert assign_arm("acme", "u1", None, {"holdout": CONTROL}) is None
    assert set(arms(0.0, IDS[:200])) == {None}


def test_everyone_is_control_at_share_one() -> None:
    assert set(arms(1.0, IDS[:500])) == {CONTROL}


def recorded_at(share: float) -> dict[str, dict[str, str]]:
    """Each user's ``SelfModel.experiments`` after their first exchange at ``share``."""
    return {uid: {"holdout": arm} for uid, arm in zip(IDS, arms(share), strict=True) if arm}


def test_a_recorded_arm_never_flips_when_the_share_changes() -> None:
    recorded = recorded_at(0.1)
    for share in (0.0, 0.5, 0.9, 1.0):
        settings = holdout(share)
        again = [assign_arm("acme", uid, settings, recorded[uid]) for uid in IDS]
        assert again == [recorded[uid]["holdout"] for uid in IDS]


def test_raising_the_share_only_moves_users_towards_control() -> None:
    """Buckets are fixed, so an unrecorded user in control at 10% is in control at 20%."""
    before, after = arms(0.1), arms(0.2)
    moved = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert moved and all(m == (PERSONALIZED, CONTROL) for m in moved)


def test_a_new_experiment_name_re_randomizes_even_recorded_users() -> None:
    recorded = recorded_at(0.5)
    fresh = holdout(0.5, name="holdout-2")
    again = [assign_arm("acme", uid, fresh, recorded[uid]) for uid in IDS]
    changed = sum(a != recorded[uid]["holdout"] for uid, a in zip(IDS, again, strict=True))
    # Independent assignments at 50% disagree for about half of the users.
    assert changed / len(IDS) == pytest.approx(0.5, abs=0.03)


def test_tenant_and_salt_change_the_assignment() -> None:
    base = arms(0.5, IDS[:2000])
    salted = arms(0.5, IDS[:2000], salt="s2")
    other = [assign_arm("globex", u, holdout(0.5), {}) for u in IDS[:2000]]
    assert base != salted and base != other


def test_an_unknown_recorded_value_is_ignored_not_trusted() -> None:
    arm = assign_arm("acme", "u1", holdout(0.5), {"holdout": "bogus"})
    assert arm in (CONTROL, PERSONALIZED)


def test_buckets_are_in_unit_interval_and_accept_any_text() -> None:
    for uid in ("", "\ud800", "a/b", "{x}", "é" * 300):
        assert 0.0 <= bucket("acme", "holdout", uid) < 1.0
    assert bucket("a/b", "c", "u") != bucket("a", "b/c", "u")
