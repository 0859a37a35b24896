"""config.yaml loading: LiteLLM's model_list shape, environment values, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from selfmodel.config import ECHO_MODEL, default_config, load_config, parse_config
from selfmodel.errors import ConfigError
from selfmodel.providers.targets import build_targets

LITELLM_FILE = """\
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/SM_TEST_OPENAI_KEY
  - model_name: gpt-4o-mini
    litellm_params:
      model: azure/gpt-4o-mini-eu
      api_base: https://eu.example.test
      api_key: os.environ/SM_TEST_AZURE_KEY
      api_version: "2024-10-21"
  - model_name: gpt-4o-mini
    litellm_params:
      model: anthropic/claude-3-5-haiku-latest
      api_key: os.environ/SM_TEST_ANTHROPIC_KEY
      aws_region_name: eu-west-1
  - model_name: echo
    litellm_params: {model: selfmodel/echo}
tenants:
  - name: acme
    api_keys: [os.environ/SM_TEST_ACME_KEY]
    models: [gpt-4o-mini]
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"SM_TEST_OPENAI_KEY": "sk-openai", "SM_TEST_AZURE_KEY": "az-key",
                        "SM_TEST_ANTHROPIC_KEY": "sk-ant", "SM_TEST_ACME_KEY": "sk-acme"}.items():
        monkeypatch.setenv(name, value)


def test_a_litellm_file_loads_with_environment_values(env: None, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM_FILE)
    config = load_config(path)
    deployments = config.deployments("gpt-4o-mini")
    assert [d.litellm_params.model for d in deployments] == [
        "openai/gpt-4o-mini", "azure/gpt-4o-mini-eu", "anthropic/claude-3-5-haiku-latest"]
    assert deployments[0].litellm_params.api_key is not None
    assert deployments[0].litellm_params.api_key.get_secret_value() == "sk-openai"
    assert deployments[2].litellm_params.extra_params() == {"aws_region_name": "eu-west-1"}
    assert config.aliases() == ["gpt-4o-mini", "echo"]
    assert config.base_dir == str(tmp_path)
    acme = config.tenants[0]
    assert acme.key_digests() == [hashlib.sha256(b"sk-acme").hexdigest()]
    assert "sk-acme" not in repr(config.tenants[0].key_digests())


def test_several_deployments_of_an_alias_become_targets_in_order(env: None) -> None:
    targets = build_targets(parse_config(LITELLM_FILE))["gpt-4o-mini"]
    assert [t.kind for t in targets] == ["direct", "direct", "litellm"]
    openai_target, azure_target, anthropic_target = targets
    assert openai_target.model == "gpt-4o-mini"
    assert openai_target.chat_url == "https://api.openai.com/v1/chat/completions"
    assert openai_target.headers["Authorization"] == "Bearer sk-openai"
    assert azure_target.chat_url == ("https://eu.example.test/openai/deployments/"
                                     "gpt-4o-mini-eu/chat/completions?api-version=2024-10-21")
    assert azure_target.headers["api-key"] == "az-key"
    assert anthropic_target.model == "anthropic/claude-3-5-haiku-latest"
    assert [t.label for t in targets] == [
        "openai/gpt-4o-mini", "azure/gpt-4o-mini-eu", "anthropic/claude-3-5-haiku-latest"]


def test_a_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_TEST_OPENAI_KEY", raising=False)
    monkeypatch.setenv("SM_TEST_AZURE_KEY", "x")
    monkeypatch.setenv("SM_TEST_ANTHROPIC_KEY", "x")
    monkeypatch.setenv("SM_TEST_ACME_KEY", "x")
    with pytest.raises(ConfigError) as caught:
        parse_config(LITELLM_FILE)
    assert "model_list.0.litellm_params.api_key" in str(caught.value)
    assert "SM_TEST_OPENAI_KEY" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("model_list:\n  - model_name: a\n    litellm_params: {}\n",
     "model_list.0.litellm_params.model (line 3)"),
    ("model_list: []\nserver:\n  max_body_bytes: 10\n", "server.max_body_bytes (line 3)"),
    ("model_list: []\nserver:\n  retries: 3\n", "server.retries (line 3)"),
    ("store:\n  url: sqlite:///x.db\n  pool: 3\n", "store.pool (line 3)"),
    ("model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n"
     "tenants:\n  - name: acme\n    models: [b]\n", "'b' is not a model_name"),
    ("model_list: [\n", "not valid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_errors_name_the_field_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config.yaml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("config.yaml")


def test_the_embedded_defaults_serve_echo_offline() -> None:
    config = default_config()
    assert ECHO_MODEL in config.aliases() and "echo" in config.aliases()
    assert config.open_mode
    assert config.store.url == "sqlite:///selfmodel.db"
    assert {t.kind for group in build_targets(config).values() for t in group} == {"echo"}


def test_relative_sqlite_paths_resolve_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("store:\n  url: sqlite:///data/sm.db\n")
    assert load_config(path).store_url() == f"sqlite:///{tmp_path / 'data' / 'sm.db'}"


def test_a_top_level_typo_is_refused_with_its_line_and_the_likely_key() -> None:
    text = "model_list: []\nobsever:\n  extractor: rules\ntemplate_dir: templates\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert "obsever (line 2): unknown key (did you mean 'observer'?)" in message
    assert "template_dir (line 4): unknown key (did you mean 'templates_dir'?)" in message


def test_litellm_proxy_sections_are_accepted_and_ignored() -> None:
    text = ("model_list:\n  - model_name: echo\n    litellm_params: {model: selfmodel/echo}\n"
            "litellm_settings:\n  drop_params: true\ngeneral_settings:\n  master_key: sk-1\n"
            "router_settings:\n  routing_strategy: simple-shuffle\n")
    config = parse_config(text)
    assert config.aliases() == ["echo"]
    assert not hasattr(config, "litellm_settings")


def test_commands_load_config_yaml_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selfmodel.config import discover_config

    monkeypatch.chdir(tmp_path)
    config, source = discover_config(None)
    assert source.startswith("embedded defaults") and "echo" in config.aliases()
    (tmp_path / "config.yaml").write_text(
        "model_list:\n  - model_name: local-echo\n    litellm_params: {model: selfmodel/echo}\n")
    config, source = discover_config(None)
    assert config.aliases() == ["local-echo"]
    assert source == str((tmp_path / "config.yaml").resolve())
