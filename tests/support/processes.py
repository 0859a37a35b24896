"""``selfmodel`` processes for tests: ``serve`` and ``worker`` as a user starts them.

Each process writes its stderr (one JSON log line per request) to a file, never to a pipe:
a pipe nobody reads fills up after a few hundred lines and blocks the server. ``stop`` sends
SIGTERM and waits; ``kill`` is the fallback in ``finally`` blocks so no test leaves a process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.servers import free_port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        """Every stderr line, parsed (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.stderr().splitlines() if line.strip()]

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.popen.send_signal(sig)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start(name: str, args: list[str], folder: Path, port: int | None = None) -> Process:
    """``python -m selfmodel.cli <args>`` in ``folder``, stderr to ``<folder>/<name>.log``."""
    log = folder / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "selfmodel.cli", *args], cwd=folder,
                                 env=env, stdout=out, stderr=subprocess.STDOUT)
    return Process(name, popen, log, port)


def start_serve(name: str, config: Path, folder: Path) -> Process:
    port = free_port()
    process = start(name, ["serve", "--config", str(config), "--port", str(port)], folder, port)
    wait_ready(process)
    return process


def start_worker(name: str, config: Path, folder: Path, *extra: str) -> Process:
    process = start(name, ["worker", "--config", str(config), "--name", name, *extra], folder)
    wait_logged(process, "started")
    return process


def wait_ready(process: Process, timeout: float = 60) -> None:
    """Until ``/readyz`` answers 200 (store reachable, templates loaded, models configured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited: {process.stderr()}")
        try:
            if httpx.get(process.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{process.name} not ready in {timeout} s: {process.stderr()}")


def wait_logged(process: Process, words: str, timeout: float = 30) -> None:
    """Until a stderr line contains ``words`` (a worker has no HTTP port to poll)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if words in process.stderr():
            return
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited: {process.stderr()}")
        time.sleep(0.05)
    raise AssertionError(f"{process.name} never logged {words!r}: {process.stderr()}")


def poll(check: Any, timeout: float = 60.0, every: float = 0.02) -> Any:
    """``check()`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(every)
