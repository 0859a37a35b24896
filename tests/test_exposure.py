"""Open by accident: open mode warns, refuses a network address without ``--allow-open``,
``/metrics`` honours its token, and ``--access-log`` prints no user id.

The CLI tests run ``selfmodel serve`` as a real process, as a user starts it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from selfmodel.app import create_app
from selfmodel.config import Config, ServerSettings, StoreSettings
from selfmodel.logging_setup import redact_path
from selfmodel.tenants import is_loopback, open_bind_refusal
from tests.support.processes import Process, start, wait_ready, write_config
from tests.support.servers import free_port, serve

USER = "team/alice@example.com"


def config_file(folder: Path, **server: object) -> Path:
    return write_config(folder, {
        "model_list": [{"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}}],
        "store": {"url": f"sqlite:///{folder / 'selfmodel.db'}"},
        "server": server,
    })


@pytest.fixture
def stopping() -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.kill()


def test_open_mode_on_all_interfaces_refuses_to_start(tmp_path: Path,
                                                      stopping: list[Process]) -> None:
    port = free_port()
    process = start("open", ["serve", "--config", str(config_file(tmp_path)), "--host",
                             "0.0.0.0", "--port", str(port)], tmp_path, port)
    stopping.append(process)
    assert process.popen.wait(60) == 2
    assert "refusing to serve open mode (no tenants) on 0.0.0.0" in process.stderr()
    assert "--allow-open" in process.stderr()
    with socket.socket() as probe:  # nothing ever listened
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_allow_open_starts_and_warns(tmp_path: Path, stopping: list[Process]) -> None:
    port = free_port()
    process = start("allowed", ["serve", "--config", str(config_file(tmp_path)), "--host",
                                "0.0.0.0", "--port", str(port), "--allow-open"], tmp_path, port)
    stopping.append(process)
    wait_ready(process)
    warnings = [line for line in process.json_lines() if line["level"] == "warning"]
    assert any("open mode" in line["msg"] for line in warnings)
    assert process.stop() == 0


def test_the_rule_in_config_and_for_loopback() -> None:
    open_config = Config()
    assert open_bind_refusal(open_config, "127.0.0.1") is None
    assert open_bind_refusal(open_config, "localhost") is None
    assert open_bind_refusal(open_config, "::1") is None
    assert open_bind_refusal(open_config, "::") is not None
    assert open_bind_refusal(open_config, "gateway.internal") is not None
    assert open_bind_refusal(open_config, "0.0.0.0", allow_open=True) is None
    allowed = Config(server=ServerSettings(allow_open=True))
    assert open_bind_refusal(allowed, "0.0.0.0") is None
    keyed = Config.model_validate({"tenants": [{"name": "a", "api_keys": ["sk-a"]}]})
    assert open_bind_refusal(keyed, "0.0.0.0") is None
    assert not is_loopback("10.0.0.1") and is_loopback("127.0.0.2")


def test_metrics_token_is_honoured(tmp_path: Path) -> None:
    config = Config(store=StoreSettings(url=f"sqlite:///{tmp_path / 'm.db'}"),
                    server=ServerSettings(metrics_token="scrape-secret"))  # type: ignore[arg-type]
    with serve(create_app(config, run_workers=False)) as served:
        assert httpx.get(served.url + "/metrics").status_code == 401
        wrong = httpx.get(served.url + "/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "authentication_error"
        right = httpx.get(served.url + "/metrics",
                          headers={"Authorization": "Bearer scrape-secret"})
        assert right.status_code == 200 and "selfmodel_requests_total" in right.text
        assert httpx.get(served.url + "/healthz").status_code == 200  # probes stay open


def test_metrics_stay_open_without_a_token(tmp_path: Path) -> None:
    config = Config(store=StoreSettings(url=f"sqlite:///{tmp_path / 'm.db'}"))
    with serve(create_app(config, run_workers=False)) as served:
        assert httpx.get(served.url + "/metrics").status_code == 200


def test_the_access_log_carries_no_user_id(tmp_path: Path, stopping: list[Process]) -> None:
    port = free_port()
    process = start("access", ["serve", "--config", str(config_file(tmp_path)), "--port",
                               str(port), "--access-log"], tmp_path, port)
    stopping.append(process)
    wait_ready(process)
    base, encoded = process.url, quote(USER, safe="")
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.post("/v1/self-models", json={"user_id": USER}).status_code == 201
        assert http.get(f"/v1/self-models/{encoded}?context=secret-context").status_code == 200
        assert http.get(f"/v1/self-models/{encoded}/export").status_code == 200
        http.post("/v1/chat/completions?user=alice", headers={"x-selfmodel-user": USER},
                  json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
        assert http.delete(f"/v1/self-models/{encoded}").status_code == 204
    assert process.stop() == 0
    access = [line["msg"] for line in process.json_lines() if line["logger"] == "uvicorn.access"]
    assert len(access) >= 5
    text = process.stderr()
    for secret in ("alice", "team", encoded, "secret-context"):
        assert secret not in text
    assert any('"GET /v1/self-models/-/export HTTP/1.1" 200' in line for line in access)
    assert any("/v1/self-models/-?context=-" in line for line in access)


@pytest.mark.parametrize(("path", "logged"), [
    ("/v1/self-models/team%2Falice/export", "/v1/self-models/-/export"),
    ("/v1/self-models/team/alice/export", "/v1/self-models/-/export"),
    ("/v1/self-models/bob/beliefs/b_1", "/v1/self-models/-/beliefs/b_1"),
    ("/v1/self-models/bob?min_confidence=0.5&context=x",
     "/v1/self-models/-?min_confidence=-&context=-"),
    ("/v1/self-models", "/v1/self-models"),
    ("/v1/chat/completions?user=bob", "/v1/chat/completions?user=-"),
])
def test_redact_path(path: str, logged: str) -> None:
    assert redact_path(path) == logged
