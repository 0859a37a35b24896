"""Relevance and selection for one request against 50 beliefs, in process (microseconds).

    python -m bench.relevance_bench [--beliefs 50] [--calls 2000]

The request path's share of ranking: ``LexicalRelevance`` alone, ``HybridRelevance``
(lexical plus the request's embedding and one matrix-vector product with the stored belief
vectors), and the whole ``select`` with each. Beliefs are written the way the gateway
writes them (``apply_claims`` then ``with_vectors``), with varied everyday statements; each
call's request text ends with a new number, so caches keyed by the request's text miss, as
in real traffic. Best, median and p99 of per-call times: on a shared machine the best call
is the closest to the cost on an idle core.

``hybrid-provider``: the same ranking for a tenant that names a provider's embedding model
(1,536-d vectors, as text-embedding-3-small gives), once the request's vector is fetched:
the provider's own latency (bounded by ``embedding_timeout_ms``) comes on top, and is not
measured here (the vectors are made up, fetched before the timing starts).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from selfmodel.config import Policy
from selfmodel.domain.models import Belief, Claim, SelfModel
from selfmodel.domain.update import apply_claims
from selfmodel.personalize.engine import rendered_tokens
from selfmodel.personalize.provider_embedding import ProviderEmbedder
from selfmodel.personalize.relevance import LexicalRelevance, Relevance
from selfmodel.personalize.selection import CachedConfidence, gate, select
from selfmodel.personalize.semantic import HybridRelevance, query_text, with_vectors

SUBJECTS = ("jazz records", "vegetarian recipes", "Rust programming", "trail running",
            "budget travel", "Python notebooks", "watercolor painting", "chess openings",
            "sourdough baking", "Kubernetes clusters", "poetry readings", "statistics",
            "board games", "home gardening", "photography gear", "mountain hiking",
            "classical music", "spreadsheet formulas", "yoga classes", "science fiction")
FRAMES = ("Enjoys {}", "Is learning {}", "Avoids {}", "Works with {} every day",
          "Wants short explanations about {}", "Has years of experience with {}")
REQUEST = ("I have a free weekend coming up and would like to plan something relaxing. "
           "Could you suggest a few ideas, maybe something outdoors or creative? (ref {})")


def beliefs(count: int, at: float) -> list[Belief]:
    claims = [Claim(domain=f"d{i % 7}", key=f"k{i}", value=f"v{i}",
                    statement=FRAMES[i % len(FRAMES)].format(SUBJECTS[(i * 3) % len(SUBJECTS)]))
              for i in range(count)]
    model = SelfModel(tenant="bench", user_id="u")
    for rep in range(3):  # three observations each, so they pass the confidence gate
        model, _ = apply_claims(model, claims, observation_id=f"o{rep}", at=at - rep)
    return with_vectors(model).beliefs


def _provider(count: int, calls: int, at: float) -> tuple[ProviderEmbedder, list[Belief]]:
    """A provider embedder with made-up 1,536-d vectors for the beliefs and every request
    text the timing will send, and the beliefs with its vectors."""
    rng = np.random.default_rng(7)

    async def fetch(texts: list[str]) -> list[list[float]]:
        return rng.standard_normal((len(texts), 1536)).tolist()

    embedder = ProviderEmbedder("bench", "openai/text-embedding-3-small", fetch)
    model = SelfModel(tenant="bench", user_id="u", beliefs=beliefs(count, at))
    texts = [b.statement for b in model.beliefs]
    texts += [query_text(REQUEST.format(i)) for i in range(-50, calls)]
    asyncio.run(embedder.fetch(texts, timeout=600.0))
    model = model.model_copy(update={"beliefs": [
        b.model_copy(update={"vector": None, "vector_model": None}) for b in model.beliefs]})
    return embedder, with_vectors(model, embedder).beliefs


def timed(fn: Callable[[str], object], calls: int) -> tuple[float, float, float]:
    for i in range(50):  # warm the caches that do repeat (belief profiles, vectors)
        fn(REQUEST.format(-i))
    times = []
    for i in range(calls):
        text = REQUEST.format(i)
        t0 = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - t0)
    times.sort()
    us = 1e6
    return us * times[0], us * statistics.median(times), us * times[int(0.99 * (len(times) - 1))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relevance_bench")
    parser.add_argument("--beliefs", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    now = time.time()
    held = beliefs(args.beliefs, now)
    policy = Policy()
    passed = gate(held, policy.min_confidence, now, CachedConfidence())
    print(f"{len(held)} beliefs, {len(passed)} pass the gate")
    provider, held_provider = _provider(args.beliefs, args.calls, now)
    rankers: list[tuple[str, Relevance, list[Belief]]] = [
        ("lexical", LexicalRelevance(), held), ("hybrid", HybridRelevance(), held),
        ("hybrid-provider", HybridRelevance(provider), held_provider)]
    for name, relevance, held in rankers:
        def rank(text: str, r: Relevance = relevance, held: list[Belief] = held) -> object:
            return r(text, held)

        best, p50, p99 = timed(rank, args.calls)
        print(f"relevance {name:15} best {best:6.1f} us  p50 {p50:6.1f} us  p99 {p99:7.1f} us")

        gated = gate(held, policy.min_confidence, now, CachedConfidence())

        def choose(text: str, r: Relevance = relevance, held: list[Belief] = held,
                   gated: list[tuple[Belief, float]] = gated) -> object:
            return select(held, policy=policy, conversation=text, now=now,
                          measure=rendered_tokens, relevance=r, passed=gated)

        best, p50, p99 = timed(choose, args.calls)
        print(f"select    {name:15} best {best:6.1f} us  p50 {p50:6.1f} us  p99 {p99:7.1f} us")


if __name__ == "__main__":
    main()
