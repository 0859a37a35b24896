"""The chat path's store calls alone, on each store, in interleaved rounds.

    python -m bench.store_path                       # SQLite and PostgreSQL, 4 rounds
    python -m bench.store_path --rounds 6 --requests 3000 --store redis=redis://127.0.0.1/0
    python -m bench.store_path --pg-setting synchronous_commit=off

What a personalized request asks of the store, without HTTP, templates or the upstream: at
``--concurrency`` callers, the profile lookup (``get_profile``) of the seeded 50-belief user
and the exchange (``record_exchange``: decision record + queue entry), while one in-process
``Worker`` (its extraction stubbed out: no claims) claims, reads, applies and acknowledges
what they enqueue, as the gateway's in-process worker does in ``bench.ab``. Per store and
round: requests per second, this process's CPU per request (the gateway's share), and for
PostgreSQL the server's CPU per request (the pool's backends' CPU from /proc, same machine)
and store calls per request by kind. Rounds alternate the
stores so both see the same minutes of a shared machine; medians and the ratios to the
first store are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench import seed
from bench.pg_scale import SERVER, request_pair
from bench.systems import TENANT, USER
from selfmodel.config import Config, Tenant
from selfmodel.domain.models import Extraction, Observation, SelfModel
from selfmodel.observer.worker import Worker, policy_lookup
from selfmodel.store import open_store
from selfmodel.store.base import Store
from selfmodel.store.postgres import PostgresStore

TICKS = os.sysconf("SC_CLK_TCK")


PARSES = [0]
_parse = SelfModel.model_validate_json


def _counted_parse(*args: Any, **kwargs: Any) -> SelfModel:
    PARSES[0] += 1
    return _parse(*args, **kwargs)


SelfModel.model_validate_json = _counted_parse  # type: ignore[method-assign]


class NoClaims:
    """An extractor that reads nothing: the worker's store calls without the parse."""

    name = "none"

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        return Extraction()


@dataclass
class Round:
    per_s: float
    cpu_ms: float
    server_ms: float | None = None


@dataclass
class Target:
    name: str
    url: str
    rounds: list[Round] = field(default_factory=list)
    calls: dict[str, float] = field(default_factory=dict)  # PostgreSQL: per request


def backend_cpu(pids: list[int]) -> float:
    """CPU seconds the server's backends ``pids`` have used so far (from /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            continue
    return total / TICKS


def pool_pids(store: Store) -> list[int]:
    """The server processes serving this store's pool (asyncpg's holders: a bench's peek)."""
    pool = getattr(store, "_pool", None)
    holders = getattr(pool, "_holders", [])
    return [h._con.get_server_pid() for h in holders if h._con is not None]


async def one_round(target: Target, requests: int, concurrency: int, work: bool = True
                    ) -> Round:
    store: Store = open_store(target.url)
    await store.start()
    counts: Counter[str] = Counter()
    if isinstance(store, PostgresStore):
        real = store._run

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            counts[fn.__name__] += 1
            return await real(fn, *args, **kwargs)

        store._run = counted  # type: ignore[method-assign]
    config = Config(tenants=[Tenant(name=TENANT)])
    worker = Worker(store, NoClaims(), policy_lookup(config),
                    batch_size=config.observer.batch_size, block_ms=500,
                    pause_ms=config.observer.batch_pause_ms, name="path-worker")
    model = await store.get_model(TENANT, USER)
    assert model is not None
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop) if work else stop.wait())
    pids = pool_pids(store)
    left = requests

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await store.get_profile(TENANT, USER)
            record, obs = request_pair(USER, left, model)
            await store.record_exchange(record, obs, 3600)

    try:
        server0 = backend_cpu(pids)
        parses0 = PARSES[0]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        wall = time.perf_counter() - wall0
        while work and (await store.queue_stats()).depth:  # the worker's share counts too
            await asyncio.sleep(0.01)
        cpu = time.process_time() - cpu0
        server1 = backend_cpu(pids)
    finally:
        stop.set()
        await running
        await store.close()
    counts["model parses"] = PARSES[0] - parses0
    target.calls = {name: n / requests for name, n in counts.items()}
    out = Round(per_s=requests / wall, cpu_ms=cpu / requests * 1000)
    if pids:
        out.server_ms = (server1 - server0) / requests * 1000
    return out


async def prepare(target: Target) -> None:
    if target.url.startswith("postgresql"):
        from selfmodel.store.postgres import migrate_database

        await migrate_database(target.url)
    store = await seed.open_started(target.url)
    try:
        await seed.seed_user(store, TENANT, USER, 50)
    finally:
        await store.close()


async def main(targets: list[Target], rounds: int, requests: int, concurrency: int,
               work: bool) -> None:
    for target in targets:
        await prepare(target)
    for n in range(rounds):
        order = targets if n % 2 == 0 else list(reversed(targets))
        for target in order:
            result = await one_round(target, requests, concurrency, work)
            target.rounds.append(result)
            print(f"round {n + 1} {target.name}: {result}", flush=True)
    base = targets[0]
    base_rate = statistics.median(r.per_s for r in base.rounds)
    base_cpu = statistics.median(r.cpu_ms for r in base.rounds)
    print(f"\n| store | req/s (median) | vs {base.name} | gateway CPU ms/req | vs {base.name} "
          "| server CPU ms/req |\n|---|---|---|---|---|---|")
    for target in targets:
        rate = statistics.median(r.per_s for r in target.rounds)
        cpu = statistics.median(r.cpu_ms for r in target.rounds)
        server = [r.server_ms for r in target.rounds if r.server_ms is not None]
        print(f"| {target.name} | {rate:.0f} | {rate / base_rate:.2f}x | {cpu:.2f} | "
              f"{cpu / base_cpu:.2f}x | "
              + (f"{statistics.median(server):.2f} |" if server else " |"))
    for target in targets:
        if True:
            print(f"{target.name} store calls per request: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sorted(target.calls.items())))


async def drop(schema: str) -> None:
    conn = await asyncpg.connect(SERVER)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--store", action="append", default=[], metavar="NAME=URL",
                        help="more stores (default: a SQLite file and a PostgreSQL schema)")
    parser.add_argument("--no-worker", action="store_true",
                        help="the callers only: entries stay in the queue")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="one more PostgreSQL target with this session setting "
                             "(e.g. synchronous_commit=off), in a fresh schema of its own")
    args = parser.parse_args()
    schemas = [f"sm_path_{uuid.uuid4().hex[:8]}" for _ in range(1 + len(args.pg_setting))]
    with tempfile.TemporaryDirectory() as folder:
        chosen = [Target("sqlite", f"sqlite:///{folder}/path.db"),
                  Target("postgres", f"{SERVER}?schema={schemas[0]}")]
        chosen += [Target(f"postgres {setting}", f"{SERVER}?schema={schema}&{setting}")
                   for setting, schema in zip(args.pg_setting, schemas[1:], strict=True)]
        chosen += [Target(*spec.split("=", 1)) for spec in args.store]
        try:
            asyncio.run(main(chosen, args.rounds, args.requests, args.concurrency,
                             not args.no_worker))
        finally:
            for schema in schemas:
                asyncio.run(drop(schema))
