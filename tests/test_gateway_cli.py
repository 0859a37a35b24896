"""The ``selfmodel`` command as a user runs it: a real process, the openai SDK as client."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from selfmodel.cli import main
from tests.support.clients import keep
from tests.support.servers import free_port


def run_cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "selfmodel.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_key_hash_prints_the_config_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "hash", "sk-secret"]) == 0
    digest = hashlib.sha256(b"sk-secret").hexdigest()
    assert capsys.readouterr().out.strip() == f"sha256:{digest}"


def test_key_hash_reads_stdin(tmp_path: Path) -> None:
    done = run_cli("key", "hash", "-", cwd=tmp_path, stdin="sk-secret\n")
    assert done.stdout.strip() == "sha256:" + hashlib.sha256(b"sk-secret").hexdigest()


def test_a_bad_config_exits_2_naming_field_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model_list:\n  - model_name: x\n    litellm_params: {}\n")
    done = run_cli("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "model_list.0.litellm_params.model (line 3)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    done = run_cli("serve", "--config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot read config file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_serve_with_no_config_answers_with_echo(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "selfmodel.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_healthy(port, process)
        client = keep(openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x",
                                    max_retries=0))
        answer = client.chat.completions.create(
            model="selfmodel/echo", messages=[{"role": "user", "content": "ping"}], user="u1")
        assert "ping" in (answer.choices[0].message.content or "")
        assert (tmp_path / "selfmodel.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()


def test_doctor_names_the_config_it_found_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "model_list:\n  - model_name: here\n    litellm_params: {model: selfmodel/echo}\n"
        "store: {url: 'sqlite:///here.db'}\n")
    done = run_cli("doctor", cwd=tmp_path)
    assert f"config: {(tmp_path / 'config.yaml').resolve()}" in done.stdout
    assert "1 model(s) (here)" in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_output_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """``selfmodel user show --json | head -c 10``: the reader leaves early; no traceback."""
    observe = ("import asyncio, time\n"
               "from selfmodel.store import open_store\n"
               "from selfmodel.domain.models import SelfModel, Belief\n"
               "async def main():\n"
               "    store = open_store('sqlite:///' + 'selfmodel.db')\n"
               "    await store.start()\n"
               "    beliefs = [Belief(id=f'b{i}', key=f'k{i}', value='v', statement='Likes '\n"
               "               + 'x' * 200, support=2.0, ref_at=time.time()) for i in range(400)]\n"
               "    await store.mutate_model('default', 'u1', lambda m: m.model_copy(\n"
               "        update={'beliefs': beliefs}))\n"
               "    await store.close()\n"
               "asyncio.run(main())\n")
    subprocess.run([sys.executable, "-c", observe], cwd=tmp_path, check=True, timeout=60)
    done = subprocess.run(
        f"{sys.executable} -m selfmodel.cli user show u1 --json | head -c 10",
        shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.startswith("{")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("selfmodel serve did not start")


def test_startup_objects_are_frozen_out_of_the_collectors_reach() -> None:
    import gc

    from selfmodel.cli import freeze_startup_objects

    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
