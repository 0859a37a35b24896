"""Console page times for a user with 500 beliefs: ``python -m bench.console_pages``.

The gateway is served by uvicorn on loopback in open mode over a SQLite file holding one user
with ``BELIEFS`` beliefs across 10 domains (each with ``EVIDENCE`` pieces of evidence, and
the worst case of the 20 a belief keeps) and 50 decision records; an httpx client signed in
to the console asks each page ``ROUNDS`` times and the median and p95 wall times are printed
(one client, one request at a time: what an operator's clicks cost), with the CPU time the
server's event-loop thread spent on each (rendering runs there; on a busy machine the wall
time also counts waiting for a core). Not a pass/fail test.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.support.console import ConsoleClient
from tests.support.servers import serve

from selfmodel.app import create_app
from selfmodel.config import StoreSettings, default_config
from selfmodel.domain.models import (
    AppliedBelief,
    Belief,
    DecisionRecord,
    Evidence,
    SelfModel,
    Source,
)
from selfmodel.store import open_store

BELIEFS = 500
ROUNDS = 30
USER = "user-500"


def beliefs(count: int, evidence: int, now: float) -> list[Belief]:
    return [Belief(id=f"b_{i}", domain=f"domain{i % 10}", key=f"key{i // 2}", value=f"v{i % 2}",
                   statement=f"Belief number {i} about something the user said",
                   support=1.0 + (i % 7), against=0.5, ref_at=now, first_seen=now - 86_400,
                   last_seen=now - i, observations=evidence,
                   evidence=[Evidence(observation_id=f"obs_{i}_{j}",
                                      quote=f"I said thing {j} about {i}, quite a long quote",
                                      source=Source.EXPLICIT, at=now - j * 60)
                             for j in range(evidence)])
            for i in range(count)]


async def seed(url: str, evidence: int) -> str:
    store = open_store(url)
    await store.start()
    now = time.time()
    made = beliefs(BELIEFS, evidence, now)

    def put(model: SelfModel) -> SelfModel:
        return model.model_copy(update={"beliefs": made})

    await store.mutate_model("default", USER, put)
    applied = [AppliedBelief(id=b.id, statement=b.statement, kind=b.kind, domain=b.domain,
                             key=b.key, value=b.value, confidence=0.8,
                             evidence_ids=[e.observation_id for e in b.evidence])
               for b in made[:8]]
    for i in range(50):
        await store.put_decision(DecisionRecord(
            request_id=f"req_{i:04d}", tenant="default", user_id=USER, at=now - i,
            model="echo", personalized=True, beliefs=applied, system_prompt="x" * 600,
            left_out={"gate": 300, "relevance": 192}, left_out_ids={
                f"b_{j}": "relevance" for j in range(8, 24)}), 3600)
    await store.close()
    return "req_0000"


class CpuTimed:
    """ASGI wrapper: the CPU time of the serving thread for each HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cpu: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.thread_time()
        await self.app(scope, receive, send)
        self.cpu.append(time.thread_time() - start)


def timed(client: ConsoleClient, server: CpuTimed, path: str,
          **params: str) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(ROUNDS + 3):
        start = time.perf_counter()
        answer = client.get(path, **params)
        walls.append(time.perf_counter() - start)
        cpus.append(server.cpu[-1])
        assert answer.status_code == 200, (path, answer.status_code)
    return walls[3:], cpus[3:]  # the first few compile templates and warm caches


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    for evidence in (3, 20):
        folder = Path(tempfile.mkdtemp())
        config = default_config(str(folder))
        config.store = StoreSettings(url=f"sqlite:///{folder / 'bench.db'}")
        request_id = asyncio.run(seed(config.store.url, evidence))
        server = CpuTimed(create_app(config, run_workers=False))
        with serve(server) as served:
            client = ConsoleClient(served.url)
            client.sign_in(None)
            pages = {"user": ("/console/user", {"u": USER}),
                     "decisions": ("/console/decisions", {"u": USER}),
                     "decision": ("/console/decisions", {"r": request_id}),
                     "users": ("/console/users", {}),
                     "templates": ("/console/templates", {"u": USER})}
            link = httpx.post(served.url + f"/v1/self-models/{USER}/portal-link").json()["url"]
            mine = ConsoleClient(served.url)
            mine.http.get(link)  # sets the portal cookie
            print(f"{BELIEFS} beliefs x {evidence} evidence each:")
            for name, (path, params) in pages.items():
                walls, cpus = timed(client, server, path, **params)
                size = len(client.get(path, **params).content)
                print(f"  {name:<10} wall median {statistics.median(walls) * 1000:6.1f} ms "
                      f"p95 {p95(walls) * 1000:6.1f} ms | server CPU median "
                      f"{statistics.median(cpus) * 1000:6.1f} ms p95 {p95(cpus) * 1000:6.1f} ms"
                      f" | {size / 1024:6.1f} KiB")
            walls, cpus = timed(mine, server, "/console/me")
            print(f"  {'portal':<10} wall median {statistics.median(walls) * 1000:6.1f} ms "
                  f"p95 {p95(walls) * 1000:6.1f} ms | server CPU median "
                  f"{statistics.median(cpus) * 1000:6.1f} ms p95 {p95(cpus) * 1000:6.1f} ms")
            client.close()
            mine.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
