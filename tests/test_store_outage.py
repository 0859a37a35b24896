"""A store that is frozen, down or locked (issue 20, items 1 and 2), with real processes.

A redis-server of the test's own on a free port is SIGSTOPped (frozen: connections accepted,
nothing answered) or shut down and started again; a SQLite file is locked by another process
holding ``BEGIN EXCLUSIVE``. The gateway runs on uvicorn with its in-process worker, the
openai SDK is the client, the fake upstream answers. Each chat must be answered, within a
loose bound of its provider time, unpersonalized where the profile could not be read; the
self-model API answers 503 quickly; and once the store is back, every answered exchange's
decision record and observation land, each once (spool replay).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from selfmodel.app import create_app
from selfmodel.config import Config
from tests.support.clients import keep
from tests.support.servers import free_port, serve
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.slow

T = "default"  # open local tenant
BOUND = 3.0  # seconds: loose on purpose (the provider answers at once); a frozen store cost 60
CHATS = 4
MESSAGES = [{"role": "user", "content": "Which units should the recipe use?"}]


@dataclass
class RedisServer:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix=outage:"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                             check=False).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "test redis-server did not start"
            time.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """Shut down (the append-only file keeps the data for the next start)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own: never SIGSTOP the shared one on 6379."""
    server = RedisServer(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
            server.proc.kill()
            server.proc.wait(timeout=10)


@dataclass
class Gateway:
    url: str
    upstream: FakeUpstream

    def chat(self, user: str) -> tuple[str, str, float]:
        """(answer, request id, seconds) of one chat through the openai SDK."""
        client = keep(openai.OpenAI(base_url=self.url + "/v1", api_key="sk-local",
                                    max_retries=0, timeout=30))
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, user=user)  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
        answer = raw.parse().choices[0].message.content or ""
        return answer, raw.headers["x-selfmodel-request-id"], elapsed

    def call(self, method: str, path: str, **kw: Any) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = httpx.request(method, self.url + path, timeout=30, **kw)
        return response, time.monotonic() - started

    def personalized(self) -> bool:
        """Whether the provider's last request carried a system message we added."""
        return any(m["role"] == "system" for m in self.upstream.last.body["messages"])


@contextmanager
def gateway(store_url: str, **store: Any) -> Iterator[Gateway]:
    upstream = FakeUpstream()
    with ExitStack() as stack:
        served = stack.enter_context(serve(upstream))
        config = Config.model_validate({
            "model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": served.url + "/v1",
                "api_key": "sk-upstream"}}],
            "store": {"url": store_url, "breaker_cooldown_ms": 300, **store},
            "observer": {"batch_pause_ms": 0},
            "server": {"retry_backoff": 0.01, "request_timeout": 10.0},
        })
        app = stack.enter_context(serve(create_app(config, run_workers=True)))
        yield Gateway(app.url, upstream)


def learn_metric_units(gw: Gateway, user: str) -> None:
    created, _ = gw.call("POST", "/v1/self-models", json={"user_id": user})
    assert created.status_code == 201
    observed, _ = gw.call("POST", f"/v1/self-models/{user}/observations?wait=true", json={
        "type": "preference", "content": "Use metric units", "key": "units",
        "value": "metric"})
    assert observed.status_code == 200, observed.text


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def landed_once(gw: Gateway, user: str, request_ids: list[str]) -> bool:
    """Every exchange's decision record is there, and its observation was applied once."""
    for request_id in request_ids:
        response, _ = gw.call("GET", f"/v1/decisions/{request_id}")
        if response.status_code != 200:
            return False
    export, _ = gw.call("GET", f"/v1/self-models/{user}/export")
    if export.status_code != 200:
        return False
    seen = [o.get("request_id") for o in export.json()["observations"]]
    assert all(seen.count(r) <= 1 for r in request_ids), f"an exchange applied twice: {seen}"
    return all(seen.count(r) == 1 for r in request_ids)


def test_frozen_redis_costs_a_chat_no_more_than_its_budgets(own_redis: RedisServer) -> None:
    with gateway(own_redis.url) as gw:
        learn_metric_units(gw, "alice")
        answer, _, _ = gw.chat("alice")
        assert answer == "Hello from upstream" and gw.personalized()

        own_redis.signal(signal.SIGSTOP)
        request_ids = []
        for _ in range(CHATS):
            answer, request_id, elapsed = gw.chat("alice")
            assert answer == "Hello from upstream"
            assert elapsed < BOUND, f"a chat took {elapsed:.1f} s with the store frozen"
            assert not gw.personalized()  # the profile could not be read in its budget
            request_ids.append(request_id)
        response, elapsed = gw.call("GET", "/v1/self-models/alice")
        assert response.status_code == 503 and elapsed < BOUND
        assert response.json()["error"]["type"]

        own_redis.signal(signal.SIGCONT)
        wait_until(lambda: landed_once(gw, "alice", request_ids), "the spooled exchanges")
        answer, _, _ = gw.chat("alice")
        assert gw.personalized()  # the breaker closed again


def test_exchanges_answered_while_redis_is_down_land_once_when_it_returns(
    own_redis: RedisServer,
) -> None:
    with gateway(own_redis.url) as gw:
        learn_metric_units(gw, "bob")
        own_redis.stop()
        request_ids = []
        for _ in range(CHATS + 1):
            answer, request_id, elapsed = gw.chat("bob")
            assert answer == "Hello from upstream" and elapsed < BOUND
            request_ids.append(request_id)
        own_redis.start()
        wait_until(lambda: landed_once(gw, "bob", request_ids), "the spooled exchanges")


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_sqlite_file_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with gateway(f"sqlite:///{path}") as gw:
        learn_metric_units(gw, "carol")
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert locker.stdout is not None and locker.stdout.readline() == b"locked\n"
            request_ids = []
            for _ in range(CHATS):
                answer, request_id, elapsed = gw.chat("carol")
                assert answer == "Hello from upstream" and elapsed < BOUND
                request_ids.append(request_id)
            created, elapsed = gw.call("POST", "/v1/self-models", json={"user_id": "dave"})
            assert created.status_code == 503 and elapsed < BOUND
            spool = Path(str(path) + "-spool.jsonl")
            assert spool.exists() and spool.read_text().count("\n") >= 1  # fsynced lines
        finally:
            assert locker.stdin is not None
            locker.stdin.write(b"\n")
            locker.stdin.close()
            locker.wait(timeout=10)
            if locker.stdout is not None:
                locker.stdout.close()
        wait_until(lambda: landed_once(gw, "carol", request_ids), "the spooled exchanges")
        with sqlite3.connect(path) as conn:  # each exchange's decision record once
            rows = conn.execute("SELECT request_id FROM decisions WHERE user_id='carol'")
            recorded = [r for (r,) in rows]
        assert sorted(set(recorded) & set(request_ids)) == sorted(request_ids)
        assert len(recorded) == len(set(recorded))
    assert os.path.getsize(str(path) + "-spool.jsonl") == 0  # replayed: nothing left
