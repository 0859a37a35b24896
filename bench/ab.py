"""Side-by-side A/B of selfmodel source trees: the personalized gateway (the full bench's
``sm_on``: SQLite, the seeded 50-belief user, the in-process worker) from each tree, in
interleaved rounds on one machine.

The full run (bench.run) compares selfmodel with other proxies; its absolute figures move by
about 10% between runs and hosts, more than most single changes. Two trees measured in
turns, each round every tree at every load, separate changes of a few percent:

    python -m bench.ab --tree before=HEAD~3 --tree after=.
    python -m bench.ab --tree before=main --tree after=. --loads 1,10 --rounds 4
    python -m bench.ab --tree sqlite=. --tree pg=. \
        --store pg=postgresql://postgres@127.0.0.1:5432/postgres?schema=sm_ab   # migrated

A tree is a git revision (checked out into a temporary worktree) or ``.`` (the working
tree, uncommitted changes included). Each tree's ``selfmodel serve`` runs on the project's
venv with that tree's ``src`` first on the path, pinned to the proxy core; the upstream and
wrk run on the other core, as in the full run. CPU per request counts the work the gateway
does after the load until it is idle again (applying the queued observations).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import loads, procs, seed, systems
from bench.run import free_port, log
from bench.systems import LOAD_CORE, PROXY_CORE, ROOT


@dataclass
class Tree:
    name: str
    src: Path
    port: int = 0
    proc: procs.Proc | None = None
    runs: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    store_url: str | None = None  # default: a SQLite file of its own


@contextlib.contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """The ``src`` folder of ``revision``: the working tree's for ".", else a temporary
    detached worktree removed afterwards."""
    if revision == ".":
        yield ROOT / "src"
        return
    with tempfile.TemporaryDirectory(prefix="selfmodel-ab-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(path), revision], check=True)
        try:
            yield path / "src"
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                           check=False)


def start(tree: Tree, out: Path, upstream: int, body: Path) -> None:
    """Seed the tree's own store and start its gateway (paused until its turn)."""
    url = tree.store_url or f"sqlite:///{out / (tree.name + '.db')}"

    async def seeded() -> None:
        if url.startswith("postgresql://"):
            from selfmodel.store.postgres import migrate_database

            await migrate_database(url)
        store = await seed.open_started(url)
        try:
            await seed.seed_user(store, systems.TENANT, systems.USER, 50)
        finally:
            await store.close()

    asyncio.run(seeded())
    config = systems.selfmodel_config(out, tree.name, upstream, url)
    tree.port = free_port()
    argv = [sys.executable, "-m", "selfmodel", "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(tree.port)]
    tree.proc = procs.start(tree.name, argv, core=PROXY_CORE, log=out / f"{tree.name}.log",
                            env={"PYTHONPATH": str(tree.src),
                                 "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
                            cwd=str(out), timeout=90,
                            ready=systems.ready_check(tree.port, body, systems.TENANT_KEY))


def measure(tree: Tree, body: Path, conc: int, seconds: int) -> None:
    """One load run: (p50 ms, p99 ms, req/s, CPU ms per request incl. the work after it)."""
    assert tree.proc is not None
    url = f"http://127.0.0.1:{tree.port}/v1/chat/completions"
    cpu = tree.proc.cpu()
    res = loads.wrk(url, body=body, api_key=systems.TENANT_KEY, connections=conc,
                    seconds=seconds, core=LOAD_CORE)
    procs.wait_idle(tree.proc, cap=30)
    cpu_ms = 1000 * (tree.proc.cpu() - cpu) / max(res["requests"], 1)
    tree.runs.setdefault(conc, []).append((res["p50"], res["p99"], res["rps"], cpu_ms))
    log(f"{tree.name:>10} c={conc:<3} {res['rps']:7.0f} req/s  p50 {res['p50']:.3f} ms  "
        f"cpu {cpu_ms:.3f} ms/req")


def report(trees: list[Tree], concs: list[int]) -> str:
    """Medians per tree and load, and each tree against the first (median of per-round
    ratios, so drift between rounds cancels)."""
    base = trees[0]
    lines = ["| tree | load | p50 ms | p99 ms | req/s | CPU ms/req | CPU vs "
             f"{base.name} | p50 vs {base.name} |", "|---|---|---|---|---|---|---|---|"]
    for conc in concs:
        for tree in trees:
            rows = tree.runs.get(conc, [])
            med = [statistics.median(r[i] for r in rows) for i in range(4)]
            pairs = list(zip(rows, base.runs.get(conc, []), strict=False))
            cpu_ratio = statistics.median(r[3] / b[3] for r, b in pairs)
            p50_ratio = statistics.median(r[0] / b[0] for r, b in pairs)
            lines.append(f"| {tree.name} | c={conc} | {med[0]:.3f} | {med[1]:.2f} | "
                         f"{med[2]:,.0f} | {med[3]:.3f} | {cpu_ratio:.3f} | {p50_ratio:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=REVISION",
                        help="a tree to measure (two or more; the first is the reference)")
    parser.add_argument("--loads", default="1,10,16", help="wrk connections (default 1,10,16)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--store", action="append", default=[], metavar="NAME=URL",
                        help="the store URL of tree NAME (default: a SQLite file of its own)")
    args = parser.parse_args()
    stores = dict(spec.split("=", 1) for spec in args.store)
    specs = [spec.split("=", 1) for spec in args.tree]
    if len(specs) < 2 or any(len(spec) != 2 for spec in specs):
        parser.error("give two or more --tree NAME=REVISION")
    concs = [int(c) for c in args.loads.split(",")]
    out = Path(tempfile.mkdtemp(prefix="selfmodel-ab-run-"))
    body = systems.write_bodies(out)["user"]
    upstream_port = free_port()
    with contextlib.ExitStack() as stack:
        trees = [Tree(name, stack.enter_context(checked_out(rev)), store_url=stores.get(name))
                 for name, rev in specs]
        upstream = systems.start_upstream(out, upstream_port)
        stack.callback(upstream.stop)
        for tree in trees:
            start(tree, out, upstream_port, body)
            assert tree.proc is not None
            stack.callback(tree.proc.stop)
            measure(tree, body, 10, 2)  # warm-up, not counted
            tree.runs.clear()
            tree.proc.pause()
        for rnd in range(args.rounds):
            shift = rnd % len(trees)
            for tree in trees[shift:] + trees[:shift]:
                assert tree.proc is not None
                tree.proc.resume()
                for conc in concs:
                    measure(tree, body, conc, args.seconds)
                tree.proc.pause()
    print(report(trees, concs))
    log(f"logs in {out}")


if __name__ == "__main__":
    main()
