"""SQLite shared by several real processes: no lost update, no double lease, no lost entry.

The contract suite runs one process; these spawn more (``serve`` plus ``worker`` processes on
one file is the embedded deployment), including one that is SIGKILLed while holding leases.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from selfmodel.domain.models import Belief, Observation, SelfModel
from selfmodel.store.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

T = "acme"
PROCESSES = 4
SPAWN = multiprocessing.get_context("spawn")


async def _mutate_all(url: str, keys: list[str]) -> None:
    store = SQLiteStore(url)
    await store.start()

    def adder(key: str) -> Callable[[SelfModel], SelfModel]:
        def fn(model: SelfModel) -> SelfModel:
            belief = Belief(id="b_" + key, key=key, value="v", statement=key)
            return model.model_copy(update={"beliefs": [*model.beliefs, belief]})
        return fn

    try:
        await asyncio.gather(*(store.mutate_model(T, "u1", adder(k), observation_id=k)
                               for k in keys))
    finally:
        await store.close()


def mutate_process(url: str, keys: list[str]) -> None:
    asyncio.run(_mutate_all(url, keys))


async def _drain(url: str, consumer: str, out: str) -> None:
    store = SQLiteStore(url)
    await store.start()
    Path(out + ".ready").touch()
    while not Path(out).parent.joinpath("go").exists():  # all start claiming together
        await asyncio.sleep(0.01)
    seen: list[str] = []
    try:
        while batch := await store.claim(consumer, 7, block_ms=100):
            seen += [e.observation.id for e in batch]
            await asyncio.sleep(0.005)  # "work", so the others get their turns
            for entry in batch:
                await store.ack(entry)
    finally:
        await store.close()
    Path(out).write_text(json.dumps(seen))


def drain_process(url: str, consumer: str, out: str) -> None:
    asyncio.run(_drain(url, consumer, out))


async def _claim_and_hang(url: str, ready: str) -> None:
    store = SQLiteStore(url)
    await store.start()
    held = await store.claim("doomed", 10, lease_seconds=0.5)
    Path(ready).write_text(json.dumps([e.observation.id for e in held]))
    await asyncio.sleep(60)  # killed long before this ends


def hang_process(url: str, ready: str) -> None:
    asyncio.run(_claim_and_hang(url, ready))


def _run_all(procs: list[multiprocessing.process.BaseProcess]) -> None:
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def _observations(n: int) -> list[Observation]:
    return [Observation(id=f"o{i}-{uuid.uuid4().hex[:6]}", tenant=T, user_id=f"u{i % 5}",
                        content=f"m{i}", at=time.time()) for i in range(n)]


async def _enqueue(url: str, observations: list[Observation]) -> SQLiteStore:
    store = SQLiteStore(url)
    await store.start()
    for o in observations:
        await store.enqueue(o)
    return store


async def test_fifty_mutations_from_four_processes_lose_nothing(sqlite_url: str) -> None:
    keys = [f"k{i}" for i in range(50)]
    store = SQLiteStore(sqlite_url)
    await store.start()  # schema first, so the children do not race to create it
    procs = [SPAWN.Process(target=mutate_process, args=(sqlite_url, keys[i::PROCESSES]))
             for i in range(PROCESSES)]
    await asyncio.to_thread(_run_all, procs)
    # The same observations again, from two processes: idempotent by observation id.
    again = [SPAWN.Process(target=mutate_process, args=(sqlite_url, keys)) for _ in range(2)]
    await asyncio.to_thread(_run_all, again)
    model = await store.get_model(T, "u1")
    await store.close()
    assert model is not None and model.version == 50
    assert sorted(b.key for b in model.beliefs) == sorted(keys)


async def test_processes_claiming_at_once_never_share_an_entry(
    sqlite_url: str, tmp_path: Path
) -> None:
    sent = _observations(200)
    store = await _enqueue(sqlite_url, sent)
    outs = [str(tmp_path / f"seen{i}.json") for i in range(PROCESSES)]
    procs = [SPAWN.Process(target=drain_process, args=(sqlite_url, f"w{i}", outs[i]))
             for i in range(PROCESSES)]
    running = asyncio.create_task(asyncio.to_thread(_run_all, procs))
    deadline = time.monotonic() + 30
    while not all(Path(o + ".ready").exists() for o in outs) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    (tmp_path / "go").touch()
    await running
    per_process = [json.loads(Path(out).read_text()) for out in outs]
    seen = [i for ids in per_process for i in ids]
    stats = await store.queue_stats()
    await store.close()
    assert len(seen) == len(set(seen)) == len(sent)
    assert set(seen) == {o.id for o in sent}
    assert (stats.depth, stats.pending) == (0, 0)
    assert sum(1 for ids in per_process if ids) >= 2  # they really did claim concurrently


async def test_sigkilled_worker_leases_expire_and_entries_are_redelivered(
    sqlite_url: str, tmp_path: Path
) -> None:
    """RELIABILITY 1 and 3 at the store level: nothing a dead worker held is lost."""
    sent = _observations(15)
    store = await _enqueue(sqlite_url, sent)
    ready = tmp_path / "held.json"
    proc = SPAWN.Process(target=hang_process, args=(sqlite_url, str(ready)))
    proc.start()
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        held = json.loads(ready.read_text())
    finally:
        os.kill(proc.pid or 0, signal.SIGKILL)
        await asyncio.to_thread(proc.join, 10)
    assert len(held) == 10 and proc.exitcode == -signal.SIGKILL
    await asyncio.sleep(0.6)  # the dead worker's leases run out
    got = await store.claim("survivor", 100)
    await store.close()
    # Expired leases first (re-delivered: second try), then the entries nobody held.
    assert [e.observation.id for e in got] == held + [o.id for o in sent[10:]]
    assert [e.tries for e in got] == [2] * 10 + [1] * 5
