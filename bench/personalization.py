"""Personalization-specific figures (selfmodel only).

- lookup + selection + render for users with 10, 200 and 2,000 beliefs (in process, pinned
  to the proxy core while the proxies are idle): ``store.get_model`` and the Personalizer;
- freshness: end of an answer -> the belief it stated visible through
  ``GET /v1/self-models/{user}``, rules extractor, while wrk loads the same gateway;
- observations applied per second by one worker (in process, one core);
- ``store.get_model`` p50 / p99 with 100,000 users in the store (SQLite and Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from bench import loads, seed
from bench.systems import LOAD_CORE, PROXY_CORE, TENANT, TENANT_KEY

if TYPE_CHECKING:
    from bench.run import Suite

FRESH_TEXT = "I'm vegetarian. What should I cook tonight?"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@contextlib.contextmanager
def pinned(core: int) -> Iterator[None]:
    """Run this (the harness) process on ``core`` for the block."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run_all(suite: Suite) -> None:
    steps: list[tuple[str, Callable[[Suite], None]]] = [
        ("render", render), ("freshness", freshness), ("apply_rate", apply_rate),
        ("lookup", lookup),
    ]
    for name, step in steps:
        suite.quiesce(cap=120 if not suite.plan.quick else 20)
        try:
            step(suite)
        except Exception as exc:  # one figure failing must not cost the others
            suite.results["errors"].append(f"personalization/{name}: {type(exc).__name__}: {exc}")
        suite.save()


# -- lookup + selection + render --------------------------------------------------------------

def render(suite: Suite) -> None:
    try:
        from selfmodel.personalize.engine import Personalizer  # noqa: F401
    except ImportError:
        suite.note("render microbenchmark skipped: selfmodel.personalize.engine is not there yet")
        return
    from bench import render_bench

    stores = suite.lookup_stores()
    try:
        with pinned(PROXY_CORE):
            rows = asyncio.run(render_bench.run(suite.out, stores, quick=suite.plan.quick))
    finally:
        for _, url in stores:
            suite.cleanup_store(url)
    suite.results["extras"]["render"] = rows


# -- freshness --------------------------------------------------------------------------------

def http_json(port: int, method: str, path: str, body: dict[str, Any] | None = None,
              timeout: float = 30) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {TENANT_KEY}"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def ask(port: int, user: str) -> float:
    """Send the stating request; return when its answer ended (perf_counter)."""
    status, _ = http_json(port, "POST", "/v1/chat/completions", {
        "model": "bench-model", "user": user,
        "messages": [{"role": "user", "content": FRESH_TEXT}]})
    if status != 200:
        raise RuntimeError(f"chat answered {status}")
    return time.perf_counter()


def visible(port: int, user: str) -> bool:
    status, model = http_json(port, "GET", f"/v1/self-models/{user}")
    return status == 200 and any(b.get("key") == "diet" for b in model.get("beliefs", []))


def sample_freshness(port: int, count: int, spread: float, cap: float) -> list[float]:
    """``count`` fresh users state a fact, one every ``spread / count`` seconds; one poller
    walks the pending users (GET each in turn) so checking costs the gateway little.
    Seconds from end of answer to visible; inf when not visible within ``cap``."""
    tag = secrets.token_hex(3)
    pending: dict[str, float] = {}
    lock = threading.Lock()
    out: list[float] = []

    def sampler() -> None:
        t0 = time.perf_counter()
        for i in range(count):
            time.sleep(max(0.0, t0 + i * spread / count - time.perf_counter()))
            user = f"fresh-{tag}-{i}"
            end = ask(port, user)
            with lock:
                pending[user] = end

    thread = threading.Thread(target=sampler)
    thread.start()
    while thread.is_alive() or pending:
        with lock:
            users = list(pending.items())
        if not users:
            time.sleep(0.005)
            continue
        for user, end in users:
            if visible(port, user):
                out.append(time.perf_counter() - end)
            elif time.perf_counter() - end > cap:
                out.append(float("inf"))
            else:
                continue
            with lock:
                del pending[user]
        time.sleep(0.005)
    thread.join()
    return out


def freshness(suite: Suite) -> None:
    plan = suite.plan
    out: dict[str, Any] = {}
    cap = 30.0 if plan.quick else 90.0
    for key in ("sm_on", "sm_redis"):
        system = suite.systems.get(key)
        if system is None or system.proc is None:
            continue
        for conc in (1, 10):
            suite.quiesce(cap=120 if not plan.quick else 20)
            system.proc.resume()
            seconds = 5 if plan.quick else 20
            wrk = subprocess.Popen(
                ["taskset", "-c", str(LOAD_CORE), "wrk", "-t1", f"-c{conc}", f"-d{seconds}s",
                 "-s", str(loads.LUA), system.url],
                env={**os.environ, "WRK_BODY_FILE": str(system.body),
                     "WRK_API_KEY": system.api_key},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(1.0)  # let the load settle first
            samples = sample_freshness(system.port, plan.freshness_samples, seconds - 2.0, cap)
            output, _ = wrk.communicate(timeout=seconds + cap + 60)
            res = loads.parse_wrk(output)
            suite.served[key] += res["requests"]
            drain_s, _ = suite.drain(system)
            finite = [s for s in samples if s != float("inf")]
            row = {"samples": len(samples), "load": f"wrk c={conc}, {res['rps']:.0f} req/s "
                                                    f"for {seconds} s",
                   "p50": pct(samples, 50), "p95": pct(samples, 95),
                   "max": max(samples) if samples else float("nan"),
                   "timeouts": len(samples) - len(finite), "cap": cap,
                   "drain_after_s": drain_s}
            out[f"{key} c={conc}"] = row
            suite.log(f"freshness {key} under c={conc}: p50 {row['p50']:.3f} s p95 "
                      f"{row['p95']:.3f} s ({len(samples)} samples, {row['timeouts']} not "
                      f"visible within {cap:.0f} s; drained {drain_s:.1f} s after)")
    suite.results["extras"]["freshness"] = out


# -- observations applied per second ------------------------------------------------------------

def apply_rate(suite: Suite) -> None:
    try:
        from bench import apply_bench
    except ImportError as exc:
        suite.note(f"apply-rate benchmark skipped: {exc}")
        return
    rows = []
    with pinned(PROXY_CORE):
        for label, url in suite.lookup_stores():
            try:
                rows += asyncio.run(apply_bench.run(url, label, quick=suite.plan.quick))
            finally:
                suite.cleanup_store(url)
            suite.log(f"apply rate {label}: " + ", ".join(
                f"{r['store']} {r['per_s']:.0f}/s" for r in rows))
    suite.results["extras"]["apply_rate"] = rows


# -- lookup with many users -------------------------------------------------------------------

async def timed(fn: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


async def lookup_one(url: str, label: str, users: int, beliefs: int,
                     lookups: int) -> dict[str, Any]:
    store = await seed.open_started(url)
    try:
        ids = [f"u{i:06d}" for i in range(users)]
        t0 = time.perf_counter()
        await seed.seed_many(store, TENANT, ids, beliefs)
        seed_s = time.perf_counter() - t0
        rng = random.Random(8)
        picks = iter([rng.choice(ids) for _ in range(lookups + 200)])
        await timed(lambda: store.get_model(TENANT, next(picks)), 200)  # warm
        times = await timed(lambda: store.get_model(TENANT, next(picks)), lookups)
    finally:
        await store.close()
    ms = [1000 * t for t in times]
    return {"store": label, "users": users, "beliefs": beliefs, "lookups": lookups,
            "p50": statistics.median(ms), "p99": pct(ms, 99), "seed_s": seed_s}


def lookup(suite: Suite) -> None:
    users = suite.plan.lookup_users
    rows = []
    with pinned(PROXY_CORE):
        for label, url in suite.lookup_stores():
            try:
                rows.append(asyncio.run(lookup_one(url, label, users, 3, 5000)))
            finally:
                suite.cleanup_store(url)
            suite.log(f"lookup {label}: {users:,} users, p50 {rows[-1]['p50']:.3f} ms "
                      f"p99 {rows[-1]['p99']:.3f} ms (seeded in {rows[-1]['seed_s']:.0f} s)")
    suite.results["extras"]["lookup"] = rows
