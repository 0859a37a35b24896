"""Users with beliefs, written through selfmodel's own store and belief-update code.

Each belief is made the way the gateway makes one: claims applied with
``selfmodel.domain.update.apply_claims`` (one to three pieces of explicit evidence each, so it
passes the default ``min_confidence``) inside ``store.mutate_model``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from selfmodel.domain.models import Claim, Kind, SelfModel
from selfmodel.domain.update import apply_claims
from selfmodel.personalize.semantic import with_vectors
from selfmodel.store import open_store
from selfmodel.store.base import Store

DOMAINS = ("communication", "workflow", "diet", "tools", "language", "travel", "health",
           "finance", "learning", "style")
KINDS = tuple(Kind)
TOPICS = ("rust", "python", "cooking", "hiking", "budgets", "jazz", "gardening", "databases",
          "chess", "photography", "kubernetes", "running", "poetry", "statistics", "design")


def claims_for(count: int, salt: str = "") -> list[Claim]:
    """``count`` claims on distinct slots, with plausible statements of varied length."""
    out = []
    for i in range(count):
        domain = DOMAINS[i % len(DOMAINS)]
        topic = TOPICS[(i * 7) % len(TOPICS)]
        value = f"{topic}-{i}{salt}"
        out.append(Claim(
            kind=KINDS[i % len(KINDS)], domain=domain, key=f"{topic}_{i}", value=value,
            statement=f"Prefers {topic} examples with {'short' if i % 2 else 'detailed'} "
                      f"explanations when discussing {domain} (item {i})",
            quote=f"I like {topic}, keep it {'short' if i % 2 else 'detailed'} please"))
    return out


def seeded(model: SelfModel, claims: list[Claim], now: float) -> SelfModel:
    """Apply each claim one to three times, as separate observations over the past days."""
    for i, claim in enumerate(claims):
        for rep in range(1 + i % 3):
            model, _ = apply_claims(model, [claim], observation_id=f"seed-{i}-{rep}",
                                    at=now - 86_400 * (rep + 1) - i)
    return with_vectors(model)  # as the write path stores them (observer/apply.py)


async def seed_user(store: Store, tenant: str, user_id: str, beliefs: int,
                    now: float | None = None) -> None:
    claims = claims_for(beliefs)
    at = now or time.time()
    await store.mutate_model(tenant, user_id, lambda m: seeded(m, claims, at))


async def seed_many(store: Store, tenant: str, users: Iterable[str], beliefs: int,
                    concurrency: int = 32) -> None:
    """Seed many users; the same beliefs for each (built once), written ``concurrency`` at
    a time."""
    template = seeded(SelfModel(tenant=tenant, user_id="template"), claims_for(beliefs),
                      time.time())
    sem = asyncio.Semaphore(concurrency)

    async def one(user_id: str) -> None:
        async with sem:
            await store.mutate_model(
                tenant, user_id,
                lambda m: m.model_copy(update={"beliefs": template.beliefs}))

    await asyncio.gather(*(one(u) for u in users))


async def open_started(url: str) -> Store:
    store = open_store(url)
    await store.start()
    return store


def redis_cleanup(url: str, prefix: str) -> int:
    """Delete every key under the benchmark's own ``prefix`` (never FLUSHDB)."""
    import redis

    if not prefix.startswith("bench"):
        raise ValueError(f"refusing to delete keys under {prefix!r}: not a benchmark prefix")
    client = redis.Redis.from_url(url.split("?", 1)[0])
    deleted = 0
    batch = []
    for key in client.scan_iter(match=prefix + "*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    client.close()
    return deleted
