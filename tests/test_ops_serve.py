"""``selfmodel serve --workers N``: several uvicorn worker processes behind one port."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.processes import start, wait_ready, write_config
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def test_serve_with_two_workers_answers_and_exits_0(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, {
        "model_list": [{"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}}],
        "store": {"url": sqlite_url}})
    port = free_port()
    process = start("gateway", ["serve", "--config", str(config), "--port", str(port),
                                "--workers", "2"], tmp_path, port)
    try:
        wait_ready(process)
        for _ in range(4):  # a fresh connection each time, so either worker may answer
            answer = httpx.post(process.url + "/v1/chat/completions", json={
                "model": "echo", "messages": [{"role": "user", "content": "ping"}]})
            assert answer.status_code == 200 and "ping" in answer.text
        assert process.stop() == 0
    finally:
        process.kill()
    lines = process.json_lines()
    started = {line["msg"] for line in lines if line["msg"].startswith("Started server process")}
    assert len(started) == 2  # two worker processes, each logging JSON
    assert sum(1 for line in lines if line["msg"] == "request" and line["route"] == "chat") == 4
