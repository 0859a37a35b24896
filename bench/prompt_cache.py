"""Prompt-prefix stability: does each request of a conversation begin with the previous one?

    python -m bench.prompt_cache [--users 4] [--turns 10] [--json FILE]

Providers cache prompt prefixes (OpenAI, Anthropic, Gemini, vLLM, llama.cpp): the part of a
request that begins exactly like an earlier one is not computed again, and is billed at a
fraction. A chat app resends the whole history each turn, so the conversation is a growing
prefix, unless the gateway's personalization block changes in the middle of it.

Through the real gateway (served on loopback, the in-process worker observing every turn, a
SQLite file) and a fake provider that records every body it receives, several users each
hold a handful of beliefs and hold 10-turn conversations about varied things (the openai SDK
resending the history). Counted per pair of consecutive requests: the later prompt begins
with the earlier one, less at most its last user turn (with ``placement: last_user`` the
block rides in that turn). Reported per placement, for conversations in which no belief
changes (target >= 0.9) and in which one belief is added half way (the block must change
then, once), and, as the baseline, the system placement without the conversation memo
(each turn selected afresh against its own text, as before).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import openai
from tests.support.servers import serve
from tests.support.upstream import FakeUpstream

from selfmodel.app import create_app
from selfmodel.config import Config
from selfmodel.pipeline import Prepared
from selfmodel.store import open_store
from selfmodel.store.base import Store

SYSTEM = "You are a helpful assistant for everyday questions."
TENANTS = [
    {"name": "system", "api_keys": ["sk-system"]},
    {"name": "last_user", "api_keys": ["sk-last-user"], "policy": {"placement": "last_user"}},
]
BELIEFS = [
    ("diet", "diet", "vegetarian"),
    ("location", "home_city", "Lisbon"),
    ("hobbies", "board_game", "chess"),
    ("pets", "pet", "a cat"),
    ("work", "job", "nurse"),
    ("communication", "format", "bullet points"),
    ("health", "condition", "asthma"),
    ("tools", "phone", "an Android phone"),
    ("schedule", "shift", "night shifts"),
    ("family", "children", "two children"),
]
ADDED = ("communication", "response_length", "concise")
QUESTIONS = [
    "Can you suggest a dinner recipe for tonight?",
    "What should I see in Lisbon this weekend?",
    "How do I get better at chess openings?",
    "My cat keeps scratching the sofa, what can I do?",
    "How can I sleep better during the day?",
    "What is a good stretching routine after a long walk?",
    "Which phone apps help with budgeting?",
    "Any tips for keeping children busy on a rainy day?",
    "How do I make lentil soup?",
    "What are easy houseplants to keep alive?",
    "How do tides work?",
    "What is a good book about the history of medicine?",
]
BELIEFS_PER_USER = 6


@dataclass
class Tally:
    """Pairs of consecutive requests, and those whose prompt kept the earlier prefix."""

    pairs: int = 0
    kept: int = 0
    changed: int = 0  # pairs across which the user's eligible beliefs changed
    kept_changed: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, kept: bool, changed: bool, note: str) -> None:
        self.pairs += 1
        self.kept += kept
        self.changed += changed
        self.kept_changed += kept and changed
        if not kept and len(self.misses) < 20:
            self.misses.append(note)

    @property
    def share(self) -> float:
        return self.kept / self.pairs if self.pairs else float("nan")


def keeps_prefix(previous: Sequence[Any], current: Sequence[Any]) -> bool:
    """``current`` begins with ``previous``, or with ``previous`` less its last user turn."""
    if list(current[:len(previous)]) == list(previous):
        return True
    last = previous[-1] if previous else None
    return (isinstance(last, dict) and last.get("role") == "user"
            and list(current[:len(previous) - 1]) == list(previous[:-1]))


@dataclass
class Forgetful:
    """The app's pipeline without the conversation memo: every turn selected afresh."""

    inner: Any

    async def prepare(self, **kwargs: Any) -> Prepared:
        kwargs["thread"] = None
        prepared: Prepared = await self.inner.prepare(**kwargs)
        return prepared

    async def finish(self, prepared: Prepared, **kwargs: Any) -> None:
        await self.inner.finish(prepared, **kwargs)


class Bench:
    """The gateway and the fake provider, and one conversation at a time through them."""

    def __init__(self, url: str, upstream: FakeUpstream, store: Store) -> None:
        self.url = url
        self.upstream = upstream
        self.store = store
        self.http = httpx.AsyncClient(base_url=url, timeout=60)

    async def believe(self, key: str, user: str, belief: tuple[str, str, str]) -> None:
        domain, slot, value = belief
        headers = {"authorization": f"Bearer {key}"}
        created = await self.http.post("/v1/self-models", json={"user_id": user},
                                       headers=headers)
        created.raise_for_status()
        applied = await self.http.post(
            f"/v1/self-models/{user}/observations", params={"wait": "true"}, headers=headers,
            json={"type": "preference", "content": f"My {slot} is {value}.", "key": slot,
                  "value": value, "domain": domain})
        applied.raise_for_status()

    async def eligible(self, key: str, user: str) -> frozenset[tuple[str, str]]:
        """The user's beliefs that pass the default gate (what a block is chosen from)."""
        response = await self.http.get(f"/v1/self-models/{user}",
                                       headers={"authorization": f"Bearer {key}"},
                                       params={"min_confidence": 0.6})
        response.raise_for_status()
        return frozenset((b["id"], b["statement"]) for b in response.json()["beliefs"])

    async def applied(self, tenant: str, user: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(await self.store.list_observations(tenant, user)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"observations of {user} were not applied")
            await asyncio.sleep(0.02)

    async def conversation(self, key: str, tenant: str, user: str, turns: Sequence[str],
                           tally: Tally, middle: Callable[[], Awaitable[None]] | None) -> None:
        client = openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)
        history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        previous: tuple[list[Any], frozenset[tuple[str, str]]] | None = None
        observed = len(await self.store.list_observations(tenant, user))
        try:
            for n, text in enumerate(turns):
                if middle is not None and n == len(turns) // 2:
                    await middle()
                    observed += 1
                state = await self.eligible(key, user)
                history.append({"role": "user", "content": text})
                answer = await client.chat.completions.create(
                    model="model", messages=history, user=user)  # type: ignore[arg-type]
                history.append({"role": "assistant",
                                "content": answer.choices[0].message.content or ""})
                sent = list(self.upstream.last.body["messages"])
                observed += 1
                await self.applied(tenant, user, observed)
                if previous is not None:
                    tally.add(keeps_prefix(previous[0], sent), state != previous[1],
                              f"{user} turn {n + 1}")
                previous = (sent, state)
        finally:
            await client.close()

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class Variant:
    name: str
    tenant: str
    key: str
    memo: bool = True


VARIANTS = [
    Variant("system prompt (default)", "system", "sk-system"),
    Variant("last user turn", "last_user", "sk-last-user"),
    Variant("system prompt, no conversation memo (before)", "system", "sk-system", memo=False),
]


def config(workdir: Path, upstream_url: str) -> Config:
    return Config.model_validate({
        "model_list": [{"model_name": "model", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": upstream_url + "/v1",
            "api_key": "sk-upstream"}}],
        "store": {"url": f"sqlite:///{workdir / 'prompt-cache.db'}"},
        "tenants": TENANTS,
        "observer": {"batch_pause_ms": 0},
    })


async def run_variant(bench: Bench, variant: Variant, users: int, turns: int,
                      add_belief: bool) -> Tally:
    tally = Tally()
    label = "a" if add_belief else "n"
    for u in range(users):
        user = f"{variant.tenant}-{'m' if variant.memo else 'f'}{label}{u}"
        for k in range(BELIEFS_PER_USER):
            await bench.believe(variant.key, user, BELIEFS[(u + k) % len(BELIEFS)])
        questions = [QUESTIONS[(u * 3 + t) % len(QUESTIONS)] for t in range(turns)]

        async def add(user: str = user) -> None:
            await bench.believe(variant.key, user, ADDED)

        await bench.conversation(variant.key, variant.tenant, user, questions, tally,
                                 add if add_belief else None)
    return tally


QUIET = ("httpx", "httpx2", "selfmodel.access", "selfmodel.observer")


def quiet() -> None:
    """Client and access logs at warnings only: a line per request would bury the table."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


async def measure(users: int, turns: int, workdir: Path) -> dict[str, dict[str, Tally]]:
    """Every variant's tallies: {placement: {scenario: Tally}}."""
    quiet()
    upstream = FakeUpstream()
    results: dict[str, dict[str, Tally]] = {}
    with serve(upstream) as fake:
        settings = config(workdir, fake.url)
        app = create_app(settings)
        with serve(app) as served:
            store = open_store(settings.store_url())
            await store.start()
            bench = Bench(served.url, upstream, store)
            services = app.state.services
            real = services.pipeline
            try:
                for variant in VARIANTS:
                    app.state.services = replace(
                        services, pipeline=real if variant.memo else Forgetful(real))
                    results[variant.name] = {
                        "no belief changes": await run_variant(bench, variant, users, turns,
                                                               False),
                        "one belief added": await run_variant(bench, variant, users, turns,
                                                              True),
                    }
            finally:
                app.state.services = services
                await bench.close()
                await store.close()
    return results


def table(results: dict[str, dict[str, Tally]], users: int, turns: int) -> str:
    lines = ["| Placement | No belief changes | One belief added at turn "
             f"{turns // 2 + 1} | n (pairs) |", "|---|---|---|---|"]
    for name, scenarios in results.items():
        still, added = scenarios["no belief changes"], scenarios["one belief added"]
        lines.append(f"| {name} | {still.kept}/{still.pairs} ({still.share:.3f}) | "
                     f"{added.kept}/{added.pairs} ({added.share:.3f}) | {still.pairs} |")
    notes = [f"{users} users x {turns}-turn conversations per cell, each user holding "
             f"{BELIEFS_PER_USER} beliefs; the worker observes every turn (applied before "
             "the next); target >= 0.9 with no belief change."]
    for name, scenarios in results.items():
        changed = scenarios["no belief changes"].changed
        if changed:
            notes.append(f"{name}: {changed} pair(s) of the 'no belief changes' runs saw the "
                         "eligible beliefs change anyway (learned from a question).")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prompt_cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the tallies here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="selfmodel-prompt-cache-") as tmp:
        results = asyncio.run(measure(args.users, args.turns, Path(tmp)))
    print(table(results, args.users, args.turns))
    if args.json:
        args.json.write_text(json.dumps(
            {name: {scenario: vars(t) for scenario, t in s.items()}
             for name, s in results.items()}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
