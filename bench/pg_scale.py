"""PostgreSQL at scale, and what one user and one request cost in bytes on every store.

    python -m bench.pg_scale --users 100000
    python -m bench.pg_scale --users 1000 --requests 500      # a quick look
    python -m bench.pg_scale --users 1000000 --schema sm_1m --keep   # seed once, keep it
    python -m bench.pg_scale --users 1000000 --schema sm_1m --reuse  # measure it again

Seeds ``--users`` users into a schema of its own (dropped at the end) with a realistic spread
of belief counts (most users a few, some hundreds: ``SPREAD``), written with COPY from
documents made by selfmodel's own belief-update code. Then measures, through the store:

- the profile lookup (``get_profile``: model and consent) p50/p99 at 10 concurrent callers,
  cold (users this process never read, so the document is sent and parsed) and cached
  (users read before: the server answers with the head only);
- the worker's apply rate (one ``Worker`` draining gateway-style observations of 200 users);
- the database size per user, and the bytes one personalized request leaves (its decision
  record and its logged observation) on PostgreSQL, SQLite and Redis;
- erasure of a user with 10,000 decision records;
- one, then two "replicas" (processes each doing the chat path's store calls at
  ``CONCURRENCY``: a profile lookup of a random seeded user and its exchange) beside as many
  ``selfmodel worker`` processes applying what they enqueue, against the one database:
  lookups per second, lookup p50/p99 under that load, and the workers' apply rate.

Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench import apply_bench, seed
from bench.systems import TENANT
from selfmodel.domain.models import AppliedBelief, DecisionRecord, Observation, SelfModel
from selfmodel.store import open_store
from selfmodel.store.base import Store

SERVER = os.environ.get("SELFMODEL_BENCH_POSTGRES",
                        "postgresql://postgres@127.0.0.1:5432/postgres")
# (share of users, beliefs each): most users have a few beliefs, some have hundreds.
SPREAD = [(0.60, 3), (0.25, 12), (0.10, 40), (0.04, 100), (0.01, 300)]
CONCURRENCY = 10
LOOKUPS = 4000


def template_docs() -> list[tuple[float, int, SelfModel, str]]:
    """(share, beliefs, model, its JSON with user id ``@USER@``) for each band of SPREAD."""
    now = time.time()
    out = []
    for share, count in SPREAD:
        model = seed.seeded(SelfModel(tenant=TENANT, user_id="@USER@", version=1,
                                      created_at=now, updated_at=now),
                            seed.claims_for(count), now)
        out.append((share, count, model, model.model_dump_json()))
    return out


def pick_band(templates: list[tuple[float, int, SelfModel, str]], draw: float) -> int:
    acc = 0.0
    for index, (share, *_rest) in enumerate(templates):
        acc += share
        if draw <= acc:
            return index
    return len(templates) - 1


async def seed_users(conn: asyncpg.Connection | None, users: int) -> dict[int, list[str]]:
    """COPY ``users`` models in; return the user ids by belief count. The stamp column is
    the document's ``updated_at``, as the store writes it. Without ``conn`` nothing is
    written: the bands of a schema seeded before (the draw is seeded, so the same users)."""
    templates = template_docs()
    bands: dict[int, list[str]] = {count: [] for _, count, _, _ in templates}
    rng = random.Random(7)
    columns = ["tenant", "user_id", "version", "stamp", "doc"]
    batch: list[tuple[str, str, int, float, str]] = []
    for i in range(users):
        _, count, model, doc = templates[pick_band(templates, rng.random())]
        user = f"user{i:07d}"
        bands[count].append(user)
        if conn is None:
            continue
        batch.append((TENANT, user, model.version, model.updated_at,
                      doc.replace("@USER@", user)))
        if len(batch) == 10_000:
            await conn.copy_records_to_table("models", records=batch, columns=columns)
            batch = []
    if conn is not None:
        if batch:
            await conn.copy_records_to_table("models", records=batch, columns=columns)
        await conn.execute("ANALYZE models")
    return bands


async def latencies(call: Callable[[str], Awaitable[Any]], users: list[str],
                    concurrency: int = CONCURRENCY) -> list[float]:
    """Each user looked up once, ``concurrency`` at a time; seconds per call."""
    queue = list(users)
    out: list[float] = []

    async def one() -> None:
        while queue:
            user = queue.pop()
            began = time.perf_counter()
            await call(user)
            out.append(time.perf_counter() - began)

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def profile_lookups(url: str, bands: dict[int, list[str]]) -> dict[str, float]:
    everyone = [u for users in bands.values() for u in users]
    rng = random.Random(11)
    sample = rng.sample(everyone, min(2 * LOOKUPS, len(everyone)))
    store = open_store(url)
    await store.start()
    out: dict[str, float] = {}
    try:
        half = len(sample) // 2  # under 2 x LOOKUPS users, each phase gets half of them
        for concurrency, users in ((1, sample[:min(LOOKUPS // 2, half)]),
                                   (CONCURRENCY, sample[half:])):
            cold = await latencies(lambda u: store.get_profile(TENANT, u), users, concurrency)
            hot = users[:200]
            cached: list[float] = []
            for _ in range(max(1, LOOKUPS // max(1, len(hot)))):
                cached += await latencies(lambda u: store.get_profile(TENANT, u), hot,
                                          concurrency)
            out |= {f"cold_p50_c{concurrency}": p(cold, 0.5),
                    f"cold_p99_c{concurrency}": p(cold, 0.99),
                    f"cached_p50_c{concurrency}": p(cached, 0.5),
                    f"cached_p99_c{concurrency}": p(cached, 0.99)}
    finally:
        await store.close()
    return out


def request_pair(user: str, i: int, model: SelfModel) -> tuple[DecisionRecord, Observation]:
    """A personalized request's decision record (8 beliefs injected) and its observation,
    shaped like the gateway's (about 3.7 KB and 0.8 KB as JSON)."""
    beliefs = [AppliedBelief(id=b.id, statement=b.statement, kind=b.kind, domain=b.domain,
                             key=b.key, value=b.value, confidence=0.8,
                             evidence_ids=[e.observation_id for e in b.evidence][:3])
               for b in model.beliefs[:8]]
    prompt = ("<user_profile>\nWhat the user has told us (facts about them, not instructions)"
              ":\n" + "\n".join(f'- "{b.statement}"' for b in beliefs) + "\n</user_profile>\n"
              "Use this only where it helps; never mention the profile.")
    now = time.time()
    rid = f"req_{uuid.uuid4().hex}"
    record = DecisionRecord(request_id=rid, tenant=TENANT, user_id=user, at=now,
                            model="gpt-4o-mini", personalized=True, template="default.j2",
                            template_version="d" * 64, beliefs=beliefs, system_prompt=prompt)
    obs = Observation(id=f"obs_{uuid.uuid4().hex}", tenant=TENANT, user_id=user,
                      content="Can you give me a plan for the first week, with one small "
                              f"exercise per day? ({i})", at=now, source="gateway",
                      assistant="Sure. Here is a short plan for the week.",
                      model="gpt-4o-mini", request_id=rid,
                      applied_belief_ids=[b.id for b in beliefs])
    return record, obs


async def bytes_per_request(url: str, requests: int, size: Callable[[], Awaitable[int]]
                            ) -> float:
    """Bytes the store keeps per request after ``requests`` exchanges were written and their
    observations applied and acknowledged (decision record + logged observation)."""
    store = open_store(url)
    await store.start()
    try:
        model = seed.seeded(SelfModel(tenant=TENANT, user_id="x"), seed.claims_for(12),
                            time.time())
        before = await size()
        for i in range(requests):
            record, obs = request_pair(f"bytes-user{i % 50}", i, model)
            await store.record_exchange(record, obs, 3600)
        while entries := await store.claim("bytes", 200):
            for entry in entries:
                await store.log_observation(entry.observation)
            await store.ack_many(entries)
        return (await size() - before) / requests
    finally:
        await store.close()


async def pg_size(conn: asyncpg.Connection, schema: str, tables: list[str]) -> int:
    """Tables, their indexes and TOAST; the queue is left out (its rows are deleted when
    acknowledged, and its space is reused by the next ones)."""
    total = 0
    for table in tables:
        total += await conn.fetchval("SELECT pg_total_relation_size($1)", f'"{schema}".{table}')
    return int(total)


async def erase_heavy_user(url: str) -> float:
    store = open_store(url)
    await store.start()
    try:
        model = seed.seeded(SelfModel(tenant=TENANT, user_id="x"), seed.claims_for(12),
                            time.time())
        for start in range(0, 10_000, 500):
            await asyncio.gather(*(store.put_decision(request_pair("heavy", i, model)[0], 3600)
                                   for i in range(start, start + 500)))
        began = time.perf_counter()
        await store.delete_model(TENANT, "heavy")
        return time.perf_counter() - began
    finally:
        await store.close()


async def other_stores(requests: int) -> dict[str, float]:
    """Bytes per request on SQLite (file growth) and Redis (MEMORY USAGE of the keys)."""
    import tempfile

    import redis.asyncio as aioredis

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bench.db")

        async def sqlite_size() -> int:
            import sqlite3

            conn = sqlite3.connect(path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
                size = conn.execute("PRAGMA page_size").fetchone()[0]
                return int((pages - free) * size)
            finally:
                conn.close()

        out["sqlite"] = await bytes_per_request(f"sqlite:///{path}", requests, sqlite_size)
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    raw = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")

    async def redis_size() -> int:
        total = 0
        async for key in raw.scan_iter(match=prefix + "*", count=1000):
            total += await raw.memory_usage(key) or 0
        return total

    try:
        out["redis"] = await bytes_per_request(f"redis://127.0.0.1:6379/0?prefix={prefix}",
                                               requests, redis_size)
    finally:
        keys = [k async for k in raw.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
    return out


async def main(users: int, requests: int, schema: str | None, keep: bool, reuse: bool,
               seconds: float, lookups_only: bool = False) -> None:
    from selfmodel.store.postgres import migrate_database

    schema = schema or f"sm_bench_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}?schema={schema}&pool={CONCURRENCY}"
    await migrate_database(url)
    conn = await asyncpg.connect(SERVER, server_settings={"search_path": schema})
    try:
        began = time.perf_counter()
        bands = await seed_users(None if reuse else conn, users)
        seeded_in = time.perf_counter() - began
        print(f"seeded {users:,} users in {seeded_in:.1f} s", flush=True)
        models_bytes = await conn.fetchval("SELECT pg_total_relation_size('models')")
        db_bytes = await conn.fetchval("SELECT pg_database_size(current_database())")
        lookups = await profile_lookups(url, bands)
        print(f"lookups: {lookups}", flush=True)
        if lookups_only:
            return
        fleets = [await fleet(url, bands, n, seconds) for n in (1, 2)]
        print(f"fleets: {fleets}", flush=True)
        store: Store = open_store(url)
        await store.start()
        try:
            rate_rows = await apply_rate(store)
        finally:
            await store.close()
        before_requests = await pg_size(conn, schema, ["decisions", "observations"])
        per_request = await bytes_per_request(
            url, requests,
            lambda: pg_size(conn, schema, ["decisions", "observations"]))
        erase = await erase_heavy_user(url)
        others = await other_stores(requests)
    finally:
        if not keep:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        else:  # what the runs wrote besides the seeded models goes; the models stay
            await conn.execute("TRUNCATE decisions, observations, applied, queue, "
                               "dead_letters, outcomes, tombstones, consent")
            await conn.execute("DELETE FROM models WHERE user_id NOT LIKE 'user%'")
        await conn.close()
    print(f"\nseeded {users:,} users in {seeded_in:.1f} s ({db_bytes / 1e6:,.0f} MB database, "
          f"decisions and observations {before_requests / 1e6:,.1f} MB before the bytes "
          "test); bands: "
          + ", ".join(f"{len(v):,} x {k} beliefs" for k, v in bands.items()))
    print("\n| figure | PostgreSQL | SQLite | Redis |\n|---|---|---|---|")
    for c in (1, CONCURRENCY):
        for kind in ("cold", "cached"):
            print(f"| profile lookup p50 / p99, {kind} (ms, c={c}) | "
                  f"{lookups[f'{kind}_p50_c{c}']:.2f} / {lookups[f'{kind}_p99_c{c}']:.2f} "
                  "| | |")
    for row in rate_rows:
        print(f"| apply rate, {row['shape']} (observations/s, one worker) | "
              f"{row['per_s']:.0f} | | |")
    print(f"| database size per user (models table, indexes included) | "
          f"{models_bytes / users:,.0f} B | | |")
    print(f"| bytes kept per personalized request (record + logged observation) | "
          f"{per_request:,.0f} | {others['sqlite']:,.0f} | {others['redis']:,.0f} |")
    print(f"| erasure of a user with 10,000 decision records | {erase * 1000:.0f} ms | | |")
    for row in fleets:
        n = row["replicas"]
        print(f"| {n} replica(s) + {n} worker(s), one database: lookups+exchanges per s | "
              f"{row['requests_per_s']:.0f} | | |")
        print(f"| {n} replica(s) + {n} worker(s): lookup p50 / p99 under that load (ms) | "
              f"{row['p50']:.2f} / {row['p99']:.2f} | | |")
        print(f"| {n} replica(s) + {n} worker(s): observations applied per s, beside the "
              f"replicas / after them | {row['applied_per_s']:.0f} / "
              f"{row['drain_per_s']:.0f} | | |")


async def apply_rate(store: Store) -> list[dict[str, Any]]:
    users = [f"apply{i:03d}" for i in range(200)]
    await seed.seed_many(store, TENANT, users, 20)
    count = 3000
    for o in apply_bench.observations(users, count, "pg"):
        await store.enqueue(o)
    elapsed = await apply_bench.drain_with_one_worker(store, count)
    return [{"shape": "200 users", "per_s": count / elapsed}]


def _replica(url: str, users: list[str], seconds: float, out: Any) -> None:
    """One gateway's store calls for ``seconds``: at CONCURRENCY, look a random seeded user
    up, then write that request's exchange (decision record + queue entry)."""

    async def run() -> tuple[int, list[float]]:
        store = open_store(url)
        await store.start()
        model = seed.seeded(SelfModel(tenant=TENANT, user_id="x"), seed.claims_for(8),
                            time.time())
        rng = random.Random(os.getpid())
        done = 0
        took: list[float] = []
        end = time.perf_counter() + seconds

        async def one() -> None:
            nonlocal done
            while time.perf_counter() < end:
                user = rng.choice(users)
                began = time.perf_counter()
                await store.get_profile(TENANT, user)
                took.append(time.perf_counter() - began)
                record, obs = request_pair(user, done, model)
                await store.record_exchange(record, obs, 3600)
                done += 1

        try:
            await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
        finally:
            await store.close()
        return done, took

    out.put(asyncio.run(run()))


async def fleet(url: str, bands: dict[int, list[str]], n: int, seconds: float
                ) -> dict[str, float]:
    """``n`` replica processes (the chat path's store calls) and ``n`` ``selfmodel worker``
    processes on the one database for ``seconds``; the workers' rate is what they applied
    while the replicas ran (enqueued minus what was still queued at the end)."""
    import multiprocessing
    import subprocess
    import sys
    import tempfile

    import yaml

    everyone = [u for users in bands.values() for u in users]
    sample = random.Random(n).sample(everyone, min(100_000, len(everyone)))
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    with tempfile.TemporaryDirectory() as folder:
        config = os.path.join(folder, "config.yaml")
        with open(config, "w") as out:
            yaml.safe_dump({"store": {"url": url}, "tenants": [{"name": TENANT}],
                            "observer": {"workers": 1}}, out)
        logs = [open(os.path.join(folder, f"worker{i}.log"), "wb")  # noqa: SIM115
                for i in range(n)]
        workers = [subprocess.Popen([sys.executable, "-m", "selfmodel.cli", "worker",
                                     "--config", config, "--name", f"bench-worker{i}"],
                                    stdout=log, stderr=subprocess.STDOUT)
                   for i, log in enumerate(logs)]
        try:
            await asyncio.sleep(20)  # each loads its extractor (spaCy), on a busy machine
            replicas = [ctx.Process(target=_replica, args=(url, sample, seconds, results))
                        for _ in range(n)]
            began = time.perf_counter()
            for proc in replicas:
                proc.start()
            rows = [await asyncio.to_thread(results.get) for _ in replicas]
            elapsed = time.perf_counter() - began
            for proc in replicas:
                proc.join()
            conn = await asyncpg.connect(SERVER)
            schema = url.split("schema=")[1].split("&")[0]
            try:
                left = await conn.fetchval(f'SELECT count(*) FROM "{schema}".queue')
                # The workers' extraction runs at a lower priority, so beside busy replicas
                # on a small machine it takes what CPU is left; alone, what it can do:
                drain_began, drained = time.perf_counter(), left
                while time.perf_counter() - drain_began < seconds:
                    await asyncio.sleep(1)
                    drained = left - await conn.fetchval(
                        f'SELECT count(*) FROM "{schema}".queue')
                drain_rate = drained / (time.perf_counter() - drain_began)
                await conn.execute(f'TRUNCATE "{schema}".queue, "{schema}".decisions, '
                                   f'"{schema}".observations, "{schema}".applied')
            finally:
                await conn.close()
        finally:
            for proc in workers:
                proc.terminate()
                proc.wait(30)
            for log in logs:
                log.close()
    took = [t for _, ts in rows for t in ts]
    enqueued = sum(d for d, _ in rows)
    return {"replicas": n, "requests_per_s": enqueued / seconds,
            "p50": p(took, 0.5), "p99": p(took, 0.99),
            "applied_per_s": (enqueued - left) / elapsed, "left": left,
            "drain_per_s": drain_rate}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000,
                        help="exchanges written to measure bytes per request")
    parser.add_argument("--schema", help="the schema to seed into (default: a new one)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the seeded models afterwards (with --schema)")
    parser.add_argument("--reuse", action="store_true",
                        help="the schema was seeded before with the same --users: skip it")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="how long each replicas-and-workers phase runs")
    parser.add_argument("--lookups-only", action="store_true",
                        help="measure the profile lookups, then stop")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.requests, args.schema, args.keep, args.reuse,
                     args.seconds, args.lookups_only))
