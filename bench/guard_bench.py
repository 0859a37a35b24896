"""What the store guard (store/guard.py) costs a healthy chat path.

``python -m bench.guard_bench`` (a few seconds, one core): the two store calls of a chat
(profile read, exchange record) against a SQLite file, raw and through ``GuardedStore``, in
interleaved rounds; and ``asyncio.timeout`` alone around an awaited no-op, which is what the
guard adds per call. Budgets are set high here so a stall of a busy machine cannot send a
record to the spool mid-measurement: the budget's value does not change what it costs.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable

from selfmodel.config import StoreSettings
from selfmodel.domain.models import DecisionRecord, Observation
from selfmodel.store import open_store
from selfmodel.store.base import Store
from selfmodel.store.guard import GuardedStore
from selfmodel.store.spool import Spool

ROUNDS, PER_ROUND, NOOPS = 10, 500, 20_000


def _exchange() -> tuple[DecisionRecord, Observation]:
    now, request_id = time.time(), f"req_{uuid.uuid4().hex}"
    return (DecisionRecord(request_id=request_id, tenant="t", user_id="u1", at=now,
                           model="m", surface="chat", personalized=False),
            Observation(id=f"obs_{uuid.uuid4().hex}", tenant="t", user_id="u1",
                        content="hi", at=now, source="gateway", request_id=request_id))


async def _chat_path(store: Store) -> float:
    """Microseconds per request for the profile read and the exchange record."""
    items = [_exchange() for _ in range(PER_ROUND)]
    started = time.perf_counter()
    for decision, observation in items:
        await store.get_profile("t", "u1")
        await store.record_exchange(decision, observation, 60)
    return (time.perf_counter() - started) / PER_ROUND * 1e6


async def _per_call(fn: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    for _ in range(NOOPS):
        await fn()
    return (time.perf_counter() - started) / NOOPS * 1e6


async def _noop() -> None:
    return None


async def _timed_noop() -> None:
    async with asyncio.timeout(1):
        await _noop()


async def main() -> None:
    folder = tempfile.mkdtemp()
    raw = open_store(f"sqlite:///{folder}/bench.db")
    guard = GuardedStore(raw, StoreSettings(read_budget_ms=60_000, record_budget_ms=60_000),
                         Spool(None, 1_000_000))
    await guard.start()
    await raw.create_model("t", "u1")
    plain, guarded, bare, timed = [], [], [], []
    for n in range(ROUNDS):  # which goes first alternates (the WAL grows as rounds write)
        if n % 2:
            guarded.append(await _chat_path(guard))
        plain.append(await _chat_path(raw))
        if not n % 2:
            guarded.append(await _chat_path(guard))
        bare.append(await _per_call(_noop))
        timed.append(await _per_call(_timed_noop))
    await guard.close()
    p, g = statistics.median(plain), statistics.median(guarded)
    print(f"chat path store calls (SQLite): raw {p:.1f} us, guarded {g:.1f} us per request "
          f"(medians of {ROUNDS} rounds; best {min(plain):.1f} / {min(guarded):.1f})")
    added = statistics.median(t - b for t, b in zip(timed, bare, strict=True))
    print(f"asyncio.timeout around an awaited call: +{added:.2f} us (two per chat request)")


if __name__ == "__main__":
    asyncio.run(main())
