"""Observations applied per second by one worker (selfmodel.observer.worker.Worker), in process.

Gateway-style observations (built with the gateway's own ``build_observation``; one in four
states something the rules extractor turns into a belief) are enqueued first, then one
worker drains the queue; the rate is observations over the time to an empty queue. Two
shapes: spread over 200 users (each seeded with 20 beliefs), and all for one user with 50
beliefs (the load test's shape: one user's observations apply one after another).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from bench import seed
from bench.systems import TENANT

TEXTS = (
    "Can you give me a plan for the first week, with one small exercise per day?",
    "I'm vegetarian. What should I cook tonight?",
    "What is the difference between a process and a thread?",
    "Please keep your answers short.",
    "How do I read a CSV file and sum one column?",
    "I'm a beginner in statistics, what is a p-value?",
    "Thanks, that worked. Now how do I plot it?",
    "Summarize the plot of Hamlet in two sentences.",
)


def observations(users: list[str], count: int, tag: str) -> list[Any]:
    from selfmodel.observer.capture import build_observation

    now = time.time()
    texts = itertools.cycle(TEXTS)
    people = itertools.cycle(users)
    return [build_observation(
        tenant=TENANT, user_id=next(people), request_id=f"req-{tag}-{i}", model="bench-model",
        surface="chat", user_turns=next(texts), previous_assistant="Here is what I suggest.",
        assistant="Sure. Here is a short answer.", applied_belief_ids=[], truncated=False,
        arm=None, tokens=40, at=now - count + i) for i in range(count)]


async def drain_with_one_worker(store: Any, count: int) -> float:
    from selfmodel.config import Config, Tenant
    from selfmodel.observer.extractors import build_extractor
    from selfmodel.observer.worker import Worker, policy_lookup

    config = Config(tenants=[Tenant(name=TENANT)])
    worker = Worker(store, build_extractor(config), policy_lookup(config),
                    batch_size=config.observer.batch_size, block_ms=20, name="bench-worker")
    stop = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    deadline = t0 + 300
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
        if (await store.queue_stats()).depth == 0:
            break
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    return elapsed


async def run(url: str, label: str, *, quick: bool) -> list[dict[str, Any]]:
    count = 200 if quick else 3000
    store = await seed.open_started(url)
    rows = []
    try:
        spread = [f"a{i:03d}" for i in range(200)]
        await seed.seed_many(store, TENANT, spread, 20)
        await seed.seed_user(store, TENANT, "hot-user", 50)
        for shape, users in (("200 users", spread), ("one user, 50 beliefs", ["hot-user"])):
            obs = observations(users, count, shape.split()[0])
            for o in obs:
                await store.enqueue(o)
            elapsed = await drain_with_one_worker(store, count)
            rows.append({"store": f"{label}, {shape}", "count": count,
                         "per_s": count / elapsed})
    finally:
        await store.close()
    return rows
