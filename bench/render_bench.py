"""Belief lookup + selection + render for users with 10, 200 and 2,000 beliefs, in process.

The same calls the request path makes: ``store.get_model`` then
``Personalizer.personalize`` (selection by confidence and relevance within the tenant's
budget, then the sandboxed template), with the gateway's own config and default template.
Each call's conversation ends with a new number, as in the load runs: caches keyed by the
request's text miss, as they would in real traffic.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench import seed
from bench.systems import TENANT, numbered, varied_conversation

SIZES = (10, 200, 2000)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(store: Any, personalizer: Any, tenant: Any, user: str,
                  seconds: float, limit: int) -> dict[str, float]:
    text = "\n".join(m["content"] for m in varied_conversation() if m["role"] == "user")
    gets, renders, totals = [], [], []
    first = None
    t_end = time.perf_counter() + seconds
    while len(totals) < limit and (time.perf_counter() < t_end or len(totals) < 20):
        conversation = numbered(text.encode(), len(totals)).decode()  # new text every call
        t0 = time.perf_counter()
        model = await store.get_model(TENANT, user)
        t1 = time.perf_counter()
        result = personalizer.personalize(tenant=tenant, user_id=user, model=model,
                                          conversation=conversation, now=time.time())
        t2 = time.perf_counter()
        if first is None:
            first = t2 - t0
            if not result.text:
                raise RuntimeError(f"no personalization rendered for {user}: {result.error}")
        gets.append(t1 - t0)
        renders.append(t2 - t1)
        totals.append(t2 - t0)
    us = 1e6
    return {"get_p50": us * statistics.median(gets), "render_p50": us * statistics.median(renders),
            "total_p50": us * statistics.median(totals), "total_p99": us * pct(totals, 99),
            "first": us * (first or 0.0), "calls": len(totals)}


async def run(out: Path, stores: list[tuple[str, str]], *, quick: bool) -> list[dict[str, Any]]:
    from bench.systems import selfmodel_config
    from selfmodel.config import load_config
    from selfmodel.personalize.engine import Personalizer

    config = load_config(selfmodel_config(out, "render", 1, "sqlite:///unused.db"))
    tenant = config.effective_tenants()[0]
    personalizer = Personalizer(config)
    rows = []
    for label, url in stores:
        store = await seed.open_started(url)
        try:
            for size in SIZES:
                user = f"render-{size}"
                await seed.seed_user(store, TENANT, user, size)
                row = await measure(store, personalizer, tenant, user,
                                    seconds=1.0 if quick else 3.0, limit=5000)
                rows.append({"beliefs": size, "store": label, **row})
        finally:
            await store.close()
    return rows
