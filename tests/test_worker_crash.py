"""Crash safety with real processes (RELIABILITY 1, 2, 9): a ``selfmodel worker`` process is
SIGKILLed while it holds a batch, another takes over, and every observation is applied exactly
once, on SQLite, Redis and PostgreSQL. The survivor is then stopped with SIGTERM and exits 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from selfmodel.domain.models import Observation
from selfmodel.store import open_store
from selfmodel.store.base import QueueStats, Store

pytestmark = pytest.mark.slow

USERS, PER_USER = 30, 10
TENANT = "default"  # no tenants configured: the open local tenant
LEASE = 1.5


def write_config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"url": store_url},
        "observer": {"extractor": "rules", "lease_seconds": LEASE, "batch_size": 16,
                     "max_tries": 20},
        "server": {"graceful_timeout": 10},
    }))
    return path


def start_worker(config: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "selfmodel.observer.process", "--config", str(config),
             "--name", name, "--concurrency", "2", "--log-level", "WARNING"],
            stdout=out, stderr=subprocess.STDOUT, cwd=config.parent)


def observations() -> list[Observation]:
    now = time.time()
    return [Observation(id=f"obs_{uuid.uuid4().hex}", tenant=TENANT, user_id=f"user{u}",
                        content=f"I love board game number {u * 100 + k}", at=now - 100 + k,
                        source="gateway")
            for k in range(PER_USER) for u in range(USERS)]


async def wait_for(store: Store, done: str, timeout: float) -> QueueStats:
    """Poll the queue until ``done`` ("progress" or "drained") holds.

    ``timeout`` bounds the time without progress (the queue not getting shorter), not the
    whole wait: on a busy machine a worker process takes seconds to start and drains slowly,
    and a fixed deadline failed there with the workers still making steady progress.
    """
    deadline = time.monotonic() + timeout
    least = USERS * PER_USER
    while True:
        stats = await store.queue_stats()
        progress = stats.pending > 0 and 0 < stats.depth < USERS * PER_USER
        if done == "progress" and progress and await applied_count(store) > acked(stats):
            return stats  # mid-batch: some entries applied but not yet acknowledged
        if done == "drained" and stats.depth == 0:
            return stats
        if stats.depth < least:
            least, deadline = stats.depth, time.monotonic() + timeout
        if time.monotonic() > deadline:
            raise AssertionError(f"queue made no progress towards {done} in {timeout} s: "
                                 f"{stats}")
        await asyncio.sleep(0.005)


def acked(stats: QueueStats) -> int:
    return USERS * PER_USER - stats.depth


async def applied_count(store: Store) -> int:
    """Observations applied so far: each applied exchange counts once in its user's model.

    Not the model versions: a version counts writes, and one write applies all of a user's
    entries in a batch. Entries reclaimed from the killed worker share a claim with newer
    entries of the same users (tests/test_worker_redelivery.py), so under load the versions
    came out below the observation counts (``assert 9 == 10``) with nothing lost.
    """
    models = [await store.get_model(TENANT, f"user{u}") for u in range(USERS)]
    return sum(int(m.stats.get("exchanges", 0)) for m in models if m is not None)


async def assert_applied_exactly_once(store: Store) -> None:
    for u in range(USERS):
        model = await store.get_model(TENANT, f"user{u}")
        assert model is not None, f"user{u} has no model"
        assert sorted(b.key for b in model.beliefs) == sorted(
            f"likes:board_game_number_{u * 100 + k}" for k in range(PER_USER))
        assert all(b.observations == 1 for b in model.beliefs)
        assert 1 <= model.version <= PER_USER  # writes: a batch may carry several entries
        assert model.stats["exchanges"] == PER_USER
        assert len(await store.list_observations(TENANT, f"user{u}")) == PER_USER


@pytest.mark.parametrize("backend", ["sqlite", "redis", "postgres"])
async def test_sigkill_mid_batch_then_another_worker(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    config = write_config(tmp_path, url)
    store = open_store(url)
    await store.start()
    log = tmp_path / "workers.log"
    first = second = None
    try:
        for o in observations():
            await store.enqueue(o)
        first = start_worker(config, "first", log)
        at_kill = await wait_for(store, "progress", timeout=30)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        # Killed a few milliseconds after a poll that saw entries applied but not yet
        # acknowledged (RELIABILITY 2); the process may have moved on in between, which is
        # why this is the poll's condition and not an assertion after the kill.
        assert at_kill.pending > 0 and at_kill.depth > 0

        second = start_worker(config, "second", log)
        await wait_for(store, "drained", timeout=20)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0, log.read_text()

        stats = await store.queue_stats()
        assert (stats.depth, stats.pending, stats.dead) == (0, 0, 0)
        await assert_applied_exactly_once(store)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        await store.close()
