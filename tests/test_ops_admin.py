"""The admin commands against a real SQLite file: ``user show``, ``doctor``, ``insights``.

``user show`` prints what a user said that selfmodel now believes, with confidence and
evidence; ``doctor`` says in plain words what stops an installation from serving (a broken
template, a store it cannot reach, a provider down or refusing its key) and exits 1.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from selfmodel.cli import main
from selfmodel.config import Policy
from selfmodel.observer.apply import apply_observation
from selfmodel.observer.capture import build_observation
from selfmodel.observer.extractors.grammar import GrammarExtractor
from selfmodel.store import open_store
from tests.support.processes import write_config
from tests.support.servers import free_port, serve
from tests.support.upstream import FakeUpstream, error

SAID = ["I prefer detailed explanations, with examples.", "I'm vegetarian, by the way."]


def config_data(sqlite_url: str, **extra: Any) -> dict[str, Any]:
    digest = hashlib.sha256(b"sk-acme").hexdigest()
    return {"model_list": [{"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}}],
            "store": {"url": sqlite_url},
            "tenants": [{"name": "acme", "api_keys": [f"sha256:{digest}"]}], **extra}


def learn(sqlite_url: str, user: str, texts: list[str]) -> None:
    """What the worker does with exchanges: extract and apply, into the SQLite file."""
    async def run() -> None:
        store = open_store(sqlite_url)
        await store.start()
        try:
            for i, text in enumerate(texts):
                observation = build_observation(
                    tenant="acme", user_id=user, request_id=f"req_{i}", model="echo",
                    surface="chat", user_turns=text, previous_assistant="", assistant="Sure.",
                    applied_belief_ids=[], truncated=False, arm=None, tokens=0,
                    at=time.time())
                await apply_observation(store, GrammarExtractor(), observation, policy=Policy())
        finally:
            await store.close()

    asyncio.run(run())


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    path = write_config(tmp_path, config_data(sqlite_url))
    learn(sqlite_url, "alice", SAID)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# -- user show --------------------------------------------------------------------------------


def test_user_show_prints_beliefs_with_confidence_and_evidence(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "user", "show", "alice", "--tenant", "acme",
                         "--config", str(config))
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("User alice, tenant acme: ")
    header = next(line for line in lines if "CONFIDENCE" in line)
    assert header.split() == ["CONFIDENCE", "STATUS", "KIND", "SLOT", "VALUE", "OBS",
                              "LAST", "SEEN"]
    row = next(line for line in lines if "communication/response_length" in line
               and "detailed" in line and "active" in line)
    confidence = float(row.split()[0])
    assert 0.6 <= confidence < 1
    assert '"I prefer detailed explanations' in out  # the evidence quote, the user's words
    assert "vegetarian" in out


def test_user_show_json_is_the_apis_shape(config: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "user", "show", "alice", "--tenant", "acme", "--json",
                         "--config", str(config))
    body = json.loads(out)
    assert status == 0 and body["user_id"] == "alice"
    belief = next(b for b in body["beliefs"] if b["key"] == "response_length")
    assert belief["value"] == "detailed" and belief["evidence"][0]["quote"]


def test_user_show_says_what_is_missing(config: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "user", "show", "nobody", "--tenant", "acme",
                         "--config", str(config))
    assert status == 1 and "no self-model for user 'nobody' in tenant 'acme'" in err
    status, _, err = run(capsys, "user", "show", "alice", "--tenant", "other",
                         "--config", str(config))
    assert status == 2 and "no tenant named 'other' (configured: acme)" in err
    status, _, err = run(capsys, "user", "show", "alice", "--config", str(config))
    assert status == 2  # the tenant defaults to "default", which this config does not have
    status, _, err = run(capsys, "user", "show", "x" * 300, "--tenant", "acme",
                         "--config", str(config))
    assert status == 2 and "longer than 256 characters" in err  # the API's own user id rule


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_passes_a_working_installation(tmp_path: Path, sqlite_url: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeUpstream()) as provider:
        data = config_data(sqlite_url)
        data["model_list"].append({"model_name": "gpt-4o-mini", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": provider.url + "/v1",
            "api_key": "sk-upstream-doctor"}})
        path = write_config(tmp_path, data)
        status, out, _ = run(capsys, "doctor", "--config", str(path))
    assert status == 0, out
    assert "FAIL" not in out and "Everything checked is fine." in out
    assert "model gpt-4o-mini (openai/gpt-4o-mini): reachable" in out
    assert "sk-upstream-doctor" not in out
    assert not (tmp_path / "selfmodel.db").exists()  # the doctor creates nothing


def test_doctor_names_every_problem_in_plain_words(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    closed = free_port()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "acme.j2").write_text("{% for b in beliefs %}{{ b.statement }")
    upstream = FakeUpstream().then(error(401, "Incorrect API key provided"))
    with serve(upstream) as provider:
        data = config_data(f"redis://127.0.0.1:{closed}/0", templates_dir="templates")
        data["tenants"][0]["template"] = "acme.j2"
        data["model_list"] += [
            {"model_name": "gpt-4o-mini", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": provider.url + "/v1",
                "api_key": "sk-revoked"}},
            {"model_name": "down", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": f"http://127.0.0.1:{closed}/v1",
                "api_key": "sk-x"}},
            {"model_name": "claude", "litellm_params": {
                "model": "anthropic/claude-3-5-haiku-latest",
                "api_base": f"http://127.0.0.1:{closed}", "api_key": "sk-ant"}},
        ]
        path = write_config(tmp_path, data)
        status, out, _ = run(capsys, "doctor", "--config", str(path), "--timeout", "2")
    assert status == 1
    fails = [line for line in out.splitlines() if line.strip().startswith("FAIL")]
    assert len(fails) == 5, out
    assert any("templates: template acme.j2" in line for line in fails)
    assert any(f"store: cannot reach redis://127.0.0.1:{closed}/0" in line for line in fails)
    assert any("model gpt-4o-mini" in line and "refused the API key (HTTP 401)" in line
               for line in fails)
    assert any("model down" in line and "connection refused" in line for line in fails)
    assert any("model claude" in line and f"cannot connect to 127.0.0.1:{closed}" in line
               for line in fails)
    assert "5 problem(s) found." in out
    assert "sk-revoked" not in out and "sk-ant" not in out


def test_doctor_reports_a_broken_config_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n  - model_name: x\n    litellm_params: {}\n")
    status, out, _ = run(capsys, "doctor", "--config", str(path))
    assert status == 1
    assert "FAIL  config:" in out and "model_list.0.litellm_params.model (line 3)" in out


def test_doctor_warns_about_an_open_gateway_and_a_missing_key(
        tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = config_data(sqlite_url, tenants=[])
    data["model_list"].append({"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o"}})
    status, out, _ = run(capsys, "doctor", "--config", str(write_config(tmp_path, data)))
    assert status == 1
    assert "warn  config: no tenants are configured" in out
    assert "FAIL  model gpt (openai/gpt-4o): no API key" in out


# -- insights ---------------------------------------------------------------------------------


def test_insights_command_reads_the_store(config: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "insights", "--tenant", "acme", "--json",
                         "--config", str(config))
    assert status == 0 and json.loads(out)["users"] == 1
    status, out, _ = run(capsys, "insights", "--tenant", "acme", "--config", str(config))
    assert status == 0 and "selfmodel insights: tenant acme" in out
