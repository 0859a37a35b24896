"""The store guard (store/guard.py) and its spool (store/spool.py) around a real SQLite store
whose calls a test can hold: budgets, the breaker, replay order, the bound and a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from selfmodel.config import StoreSettings
from selfmodel.domain.models import DecisionRecord, Observation
from selfmodel.metrics import Metrics
from selfmodel.store import open_store
from selfmodel.store.base import Store, StoreError
from selfmodel.store.guard import GuardedStore, StoreCircuitOpen, StoreTimeout
from selfmodel.store.spool import Spool, Spooled

T = "acme"


class Holdable:
    """A real store whose record_exchange and get_profile wait while ``held`` is set."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.held = False
        self.released = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _gate(self) -> None:
        while self.held:
            await self.released.wait()

    async def record_exchange(self, *args: Any) -> None:
        await self._gate()
        await self.inner.record_exchange(*args)

    async def get_profile(self, tenant: str, user_id: str) -> Any:
        await self._gate()
        return await self.inner.get_profile(tenant, user_id)

    def release(self) -> None:
        self.held = False
        self.released.set()


def exchange(n: int) -> tuple[DecisionRecord, Observation]:
    now = time.time()
    return (DecisionRecord(request_id=f"req_{n}", tenant=T, user_id="u1", at=now, model="m",
                           surface="chat", personalized=False),
            Observation(id=f"obs_{n}", tenant=T, user_id="u1", content=f"I love tea{n}",
                        at=now, source="gateway", request_id=f"req_{n}"))


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[tuple[GuardedStore, Holdable, Metrics]]:
    inner = Holdable(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    settings = StoreSettings(read_budget_ms=50, record_budget_ms=100, api_budget_ms=200,
                             breaker_failures=2, breaker_cooldown_ms=100,
                             breaker_window_ms=0, spool_max=5)
    metrics = Metrics()
    guard = GuardedStore(inner, settings, Spool(tmp_path / "spool.jsonl", 5), metrics)  # type: ignore[arg-type]
    await guard.start()
    yield guard, inner, metrics
    inner.release()
    await guard.close()


async def test_a_burst_over_budget_is_not_an_outage_but_a_second_of_failures_is(
    tmp_path: Path,
) -> None:
    inner = Holdable(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    settings = StoreSettings(read_budget_ms=20, breaker_failures=3, breaker_window_ms=300,
                             breaker_cooldown_ms=5000)
    guard = GuardedStore(inner, settings, Spool(tmp_path / "spool.jsonl", 5))  # type: ignore[arg-type]
    await guard.start()
    try:
        inner.held = True
        burst = await asyncio.gather(*(guard.get_profile(T, "u1") for _ in range(10)),
                                     return_exceptions=True)
        assert all(isinstance(r, StoreTimeout) for r in burst)
        assert not guard.circuit.is_open  # ten at once, within the window: still asked
        deadline = time.monotonic() + 5
        while not guard.circuit.is_open:  # failures alone for longer than the window
            assert time.monotonic() < deadline, "the breaker never opened"
            with pytest.raises(StoreError):
                await guard.get_profile(T, "u1")
        with pytest.raises(StoreCircuitOpen):
            await guard.get_profile(T, "u1")
    finally:
        inner.release()
        await guard.close()


async def test_budgets_breaker_spool_order_and_bound(
    held: tuple[GuardedStore, Holdable, Metrics], tmp_path: Path,
) -> None:
    guard, inner, metrics = held
    inner.held = True
    with pytest.raises(StoreTimeout):
        await guard.get_profile(T, "u1")
    for n in range(7):  # 5 fit in the spool; the 6th and 7th are dropped and counted
        if n < 5:
            await guard.record_exchange(*exchange(n), 60)
        else:
            with pytest.raises(StoreError):
                await guard.record_exchange(*exchange(n), 60)
    assert len(guard.spool) == 5
    assert metrics.spool_dropped._value.get() == 2  # type: ignore[attr-defined]
    with pytest.raises(StoreCircuitOpen):  # two failures in a row: not asked at all
        await guard.get_profile(T, "u1")
    assert (tmp_path / "spool.jsonl").read_text().count("\n") == 5  # durable lines

    inner.release()
    deadline = time.monotonic() + 10
    while len(guard.spool):  # the replay task probes after the cooldown and drains in order
        assert time.monotonic() < deadline, "the spool was not replayed"
        await asyncio.sleep(0.02)
    entries = await inner.inner.claim("w", 10)
    assert [e.observation.id for e in entries] == [f"obs_{n}" for n in range(5)]
    assert (tmp_path / "spool.jsonl").read_text() == ""
    assert await guard.get_profile(T, "u1") == (None, None)  # closed again


async def test_a_spool_left_by_a_stopped_process_is_replayed_at_start(tmp_path: Path) -> None:
    settings = StoreSettings(breaker_cooldown_ms=100)
    first = Spool(tmp_path / "spool.jsonl", 10)
    first.open()
    for n in range(3):
        assert await first.append(Spooled(*exchange(n), 60))
    first.close()
    with (tmp_path / "spool.jsonl").open("a") as torn:
        torn.write('{"decision": {"request_')  # a crash mid-line
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    guard = GuardedStore(store, settings, Spool(tmp_path / "spool.jsonl", 10))
    await guard.start()
    try:
        deadline = time.monotonic() + 10
        while len(guard.spool):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert [e.observation.id for e in await store.claim("w", 10)] == [
            "obs_0", "obs_1", "obs_2"]
    finally:
        await guard.close()
