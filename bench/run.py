"""The benchmark suite in one command.

    python -m bench.run            # the full table (about 16 minutes), updates BENCHMARKS.md
    python -m bench.run --quick    # a smoke run (about 3 minutes), smaller counts, no update

One run measures every system in interleaved rounds (the machine is shared and noisy, so the
table reports medians of per-round ratios against the bare pass-through, with the absolute
figures for the record): the proxy under test pinned to core 0, the upstream and the load
generators to core 1. Raw results, logs and profiles go to bench/results/<time>/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import loads, procs, report, systems
from bench.systems import LOAD_CORE, PERSONALIZED, SELFMODEL, System

RESULTS = systems.ROOT / "bench" / "results"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Plan:
    quick: bool
    rounds: int
    seconds: int
    concurrencies: tuple[int, ...] = (1, 10, 16, 64)
    stream_concurrency: int = 10
    leak_targets: tuple[int, int] = (50_000, 100_000)
    leak_cap: float = 90.0  # seconds per half of the leak check, per system
    leak_cap_litellm: float = 45.0
    drain_cap: float = 30.0
    warmup_seconds: int = 2
    startup_samples: int = 3
    lookup_users: int = 100_000
    freshness_samples: int = 40
    profile_seconds: int = 15

    @classmethod
    def make(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            plan = cls(quick=True, rounds=1, seconds=2, leak_targets=(5_000, 10_000),
                       leak_cap=6.0, leak_cap_litellm=3.0, drain_cap=6.0, warmup_seconds=1,
                       startup_samples=1, lookup_users=1_000, freshness_samples=8,
                       profile_seconds=3)
        else:
            # Five rounds: a personalized gateway's rate moves about 10% from one 4 s run to
            # the next (its worker's batches fall differently), so three medians were loose.
            plan = cls(quick=False, rounds=5, seconds=4)
        if args.rounds:
            plan.rounds = args.rounds
        if args.seconds:
            plan.seconds = args.seconds
        return plan


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure_tools() -> None:
    """wrk from Debian's packages; LiteLLM proxy and py-spy in .venv-bench (bench/setup.sh)."""
    if shutil.which("wrk") is None:
        log("installing wrk (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    if not systems.litellm_available():
        log("creating .venv-bench (LiteLLM proxy, py-spy): bench/setup.sh")
        subprocess.run(["bash", str(systems.ROOT / "bench" / "setup.sh")], check=True)


class Suite:
    def __init__(self, plan: Plan, out: Path, only: set[str] | None) -> None:
        self.plan = plan
        self.out = out
        self.results: dict[str, Any] = {
            "plan": asdict(plan), "machine": systems.machine(),
            "versions": systems.tool_versions(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "runs": [], "startup": {}, "leak": {}, "checks": {}, "extras": {}, "errors": [],
            "notes": [],
        }
        self.bodies = systems.write_bodies(out)
        self.upstream_port = free_port()
        self.upstream: procs.Proc | None = None
        self.redis_prefix = f"bench{secrets.token_hex(4)}:"
        self.litellm_key = systems.new_master_key()
        self.systems: dict[str, System] = {}
        self.served: dict[str, int] = {}
        keys = [k for k in systems.SYSTEMS if only is None or k in only or k in ("direct",
                                                                                   "bare")]
        if not systems.selfmodel_available():
            self.note("selfmodel serve is not available in this tree: its rows are skipped")
            keys = [k for k in keys if k not in SELFMODEL]
        if not systems.litellm_available():
            self.note("LiteLLM proxy is not installed (.venv-bench): its row is skipped")
            keys = [k for k in keys if k != "litellm"]
        if not redis_answers():
            self.note("no Redis on 127.0.0.1:6379: the Redis row is skipped")
            keys = [k for k in keys if k != "sm_redis"]
        for key in keys:
            api_key = {"litellm": self.litellm_key}.get(
                key, systems.TENANT_KEY if key in SELFMODEL else "sk-bench")
            personal = key in PERSONALIZED
            self.systems[key] = System(
                key=key, port=self.upstream_port if key == "direct" else free_port(),
                api_key=api_key, body=self.bodies["user" if personal else "plain"],
                stream_body=self.bodies["stream_user" if personal else "stream_plain"])
            self.served[key] = 0

    # -- bookkeeping ----------------------------------------------------------------------
    log = staticmethod(log)

    def lookup_stores(self) -> list[tuple[str, str]]:
        """Fresh, empty stores for the in-process figures: (label, url)."""
        tag = secrets.token_hex(3)
        out = [("SQLite", f"sqlite:///{self.out / f'extra-{tag}.db'}")]
        if redis_answers():
            out.append(("Redis", f"{REDIS_URL}?prefix=bench{tag}x:"))
        return out

    def cleanup_store(self, url: str) -> None:
        if url.startswith("redis://"):
            from bench import seed

            seed.redis_cleanup(REDIS_URL, url.split("prefix=", 1)[1])
        else:
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

    def note(self, text: str) -> None:
        log("NOTE " + text)
        self.results["notes"].append(text)

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1))

    current = ""

    def phase(self, name: str, fn: Callable[[], None]) -> None:
        log(f"== {name}")
        self.current = name
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # a phase that fails is reported, the others still run
            traceback.print_exc()
            self.results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
        self.results.setdefault("phase_seconds", {})[name] = round(time.perf_counter() - t0, 1)
        self.save()

    def store_url(self, key: str) -> str:
        if key == "sm_redis":
            return f"{REDIS_URL}?prefix={self.redis_prefix}"
        return f"sqlite:///{self.out / (key + '.db')}"

    # -- phases ---------------------------------------------------------------------------
    def start_all(self) -> None:
        self.upstream = systems.start_upstream(self.out, self.upstream_port)
        self.seed_stores()
        for key, system in list(self.systems.items()):
            if key == "direct":
                continue
            try:
                system.proc = systems.start_system(system, self.out, self.upstream_port,
                                                   self.store_url(key))
            except RuntimeError as exc:  # one system that cannot start must not sink the run
                self.results["errors"].append(f"start {key}: {exc}")
                self.note(f"{key} did not start ({exc}): its row is skipped")
                del self.systems[key]
                continue
            self.results["startup"].setdefault(key, []).append(system.proc.startup)
            log(f"{key}: served its first request {system.proc.startup:.2f} s after spawn")

    def seed_stores(self) -> None:
        from bench import seed

        async def go() -> None:
            for key in PERSONALIZED:
                if key not in self.systems:
                    continue
                store = await seed.open_started(self.store_url(key))
                try:
                    await seed.seed_user(store, systems.TENANT, systems.USER, 50)
                    model = await store.get_model(systems.TENANT, systems.USER)
                    count = len(model.beliefs) if model else 0
                    self.results["checks"][f"{key}_seeded_beliefs"] = count
                    log(f"{key}: seeded {systems.USER} with {count} beliefs")
                finally:
                    await store.close()

        if any(k in self.systems for k in PERSONALIZED):
            asyncio.run(go())

    def check_personalization(self) -> None:
        """Each system forwards 20 requests; count how many reached the upstream with a system
        message (only the gateway adds one)."""
        assert self.upstream is not None
        for key, system in self.systems.items():
            before = upstream_stats(self.upstream_port)
            payload = system.body.read_bytes()
            ok = sum(procs.post_ok(system.port, "/v1/chat/completions", payload, system.api_key)
                     for _ in range(20))
            after = upstream_stats(self.upstream_port)
            injected = after["with_system"] - before["with_system"]
            self.results["checks"][f"{key}_ok_of_20"] = ok
            self.results["checks"][f"{key}_personalized_of_20"] = injected
            self.served[key] += 20
            log(f"{key}: {ok}/20 answered, {injected}/20 reached the upstream personalized")
            if key in PERSONALIZED and injected < ok:
                self.note(f"{key}: only {injected} of {ok} requests were personalized")

    def warmup(self) -> None:
        for key, system in self.systems.items():
            res = loads.wrk(system.url, body=system.body, api_key=system.api_key,
                            connections=16, seconds=self.plan.warmup_seconds, core=LOAD_CORE)
            self.served[key] += res["requests"]
            self.drain(system)

    def drain(self, system: System, cap: float | None = None) -> tuple[float, float]:
        """Wait for the system's deferred work (applying queued observations) to finish;
        (seconds, CPU seconds). Past the cap, the process is paused (SIGSTOP) so its backlog
        cannot run beside the next system's measurement; it resumes when it is next used."""
        if system.proc is None:
            return 0.0, 0.0
        seconds, cpu, idle = procs.wait_idle(system.proc, cap=cap or self.plan.drain_cap)
        if not idle:
            system.proc.pause()
            self.results.setdefault("undrained", []).append(
                {"system": system.key, "after_s": round(seconds, 1), "phase": self.current})
            log(f"{system.key}: still busy {seconds:.0f} s after its load (observation "
                "backlog); paused until its next turn")
        return seconds, cpu

    def quiesce(self, cap: float) -> None:
        """Let every selfmodel process finish its backlog (up to ``cap`` each), else pause it."""
        for key in SELFMODEL:
            if key in self.systems:
                self.drain(self.systems[key], cap)

    def measure(self, system: System, kind: str, conc: int, round_no: int) -> None:
        proc = system.proc
        if proc is not None:
            proc.resume()
        rss0 = proc.rss_mib() if proc else 0.0
        cpu0 = proc.cpu() if proc else 0.0
        if kind == "wrk":
            res = loads.wrk(system.url, body=system.body, api_key=system.api_key,
                            connections=conc, seconds=self.plan.seconds, core=LOAD_CORE)
            count = res["requests"]
        else:
            res = loads.streams(system.url, body=system.stream_body, api_key=system.api_key,
                                concurrency=conc, seconds=self.plan.seconds, core=LOAD_CORE)
            count = res["streams"]
        cpu1 = proc.cpu() if proc else 0.0
        drain_s, drain_cpu = self.drain(system)
        self.served[system.key] += count
        window = res.get("seconds", res.get("wall", self.plan.seconds))
        res["foreign0"] = round(res["busy"].get("cpu0", 0.0) - (cpu1 - cpu0) / window, 3)
        res.update(system=system.key, kind=kind, conc=conc, round=round_no,
                   cpu_window=cpu1 - cpu0, cpu_drain=drain_cpu, drain_s=drain_s,
                   rss_mib=proc.rss_mib() if proc else 0.0, rss0_mib=rss0)
        self.results["runs"].append(res)
        errors = res.get("errors", 0) + res.get("bad", 0)
        rate = res.get("rps", res.get("streams_per_s", 0))
        log(f"r{round_no} {kind:6} c={conc:<3} {system.key:9} {rate:8.0f}/s"
            + (f" p50 {res['p50']:.2f} ms p99 {res['p99']:.2f} ms" if kind == "wrk" else
               f" ttfc p50 {res['ttfc_p50']:.2f} ms")
            + (f" cpu {1000 * (cpu1 - cpu0) / max(count, 1):.2f}+"
               f"{1000 * drain_cpu / max(count, 1):.2f} ms/req" if proc else "")
            + f" busy {res['busy']}" + (f" ERRORS {errors}" if errors else ""))

    def rounds(self) -> None:
        keys = list(self.systems)
        for r in range(self.plan.rounds):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for conc in self.plan.concurrencies:
                for key in order:
                    self.measure(self.systems[key], "wrk", conc, r)
            for key in order:
                self.measure(self.systems[key], "stream", self.plan.stream_concurrency, r)
            self.save()

    def leak(self) -> None:
        """RSS once the process has served at least the first target (counted since its last
        start: ``restarts`` runs before), then its growth over the next (second - first)
        requests."""
        first_t, second_t = self.plan.leak_targets
        order = sorted(self.systems, key=lambda k: k in PERSONALIZED)  # backlogs last
        for key in order:
            system = self.systems[key]
            if system.proc is None:
                continue
            system.proc.resume()
            cap = self.plan.leak_cap_litellm if key == "litellm" else self.plan.leak_cap
            marks: list[dict[str, float]] = []
            for step in (first_t, second_t - first_t):
                target = step if not marks else int(marks[0]["served"]) + step
                self.serve_until(system, target, cap)
                marks.append({"served": self.served[key], "rss_mib": system.proc.rss_mib(),
                              "peak_mib": system.proc.peak_rss_mib()})
            self.drain(system)
            first, second = marks
            growth = (second["rss_mib"] - first["rss_mib"]) / first["rss_mib"]
            self.results["leak"][key] = {"marks": marks, "growth": growth}
            log(f"{key}: RSS {first['rss_mib']:.0f} MiB at {first['served']} requests, "
                f"{second['rss_mib']:.0f} MiB at {second['served']} ({100 * growth:+.1f}%), "
                f"peak {second['peak_mib']:.0f} MiB")
            self.save()

    def serve_until(self, system: System, target: int, cap: float) -> None:
        t0 = time.perf_counter()
        while self.served[system.key] < target and time.perf_counter() - t0 < cap:
            recent = [r["rps"] for r in self.results["runs"]
                      if r["system"] == system.key and r["kind"] == "wrk" and r["conc"] == 16]
            rate = max(recent[-1] if recent else 100.0, 1.0)
            left = cap - (time.perf_counter() - t0)
            seconds = max(1, min(30, int((target - self.served[system.key]) / rate) + 1,
                                 int(left) + 1))
            res = loads.wrk(system.url, body=system.body, api_key=system.api_key,
                            connections=16, seconds=seconds, core=LOAD_CORE)
            self.served[system.key] += res["requests"]
            if res["errors"]:
                self.note(f"{system.key}: {res['errors']} errors during the leak check")

    def restarts(self) -> None:
        """More startup samples: stop each proxy and start it again (same store)."""
        for _ in range(self.plan.startup_samples - 1):
            for key, system in self.systems.items():
                if system.proc is None:
                    continue
                system.proc.stop()
                system.proc = systems.start_system(system, self.out, self.upstream_port,
                                                   self.store_url(key))
                self.results["startup"][key].append(system.proc.startup)
                # The leak check counts what this process has served: a fresh process's RSS
                # is not yet warm (its caches are empty), so counting the rounds' requests
                # served by its predecessor measured warm-up as growth.
                self.served[key] = 0
                log(f"{key}: restart served its first request after {system.proc.startup:.2f} s")
                self.drain(system)

    def extras(self) -> None:
        from bench import personalization

        personalization.run_all(self)

    def profile(self) -> None:
        from bench import profile

        profile.run(self)

    def stop_all(self) -> None:
        for system in self.systems.values():
            if system.proc is not None:
                system.proc.stop()
        if self.upstream is not None:
            self.upstream.stop()
        if redis_answers():  # the seeded keys exist even if the Redis gateway never started
            from bench import seed

            deleted = seed.redis_cleanup(REDIS_URL, self.redis_prefix)
            log(f"redis: deleted {deleted} keys under {self.redis_prefix}")


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def upstream_stats(port: int) -> dict[str, int]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/stats")
    data = json.loads(conn.getresponse().read())
    conn.close()
    return {k: int(v) for k, v in data.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="selfmodel benchmark suite (issue 8)")
    parser.add_argument("--quick", action="store_true", help="smoke run, smaller counts")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 1)")
    parser.add_argument("--seconds", type=int, help="seconds per load run (default 4)")
    parser.add_argument("--only", help="comma-separated systems besides direct and bare")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip the personalization-specific figures and the profile")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="update BENCHMARKS.md (default: on for a full run)")
    args = parser.parse_args()
    plan = Plan.make(args)
    os.sched_setaffinity(0, {LOAD_CORE})  # the harness is load side; pinned per step otherwise
    out = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    (out / "logs").mkdir(parents=True)
    ensure_tools()
    only = set(args.only.split(",")) if args.only else None
    suite = Suite(plan, out, only)
    log(f"results in {out}; systems: {', '.join(suite.systems)}")
    try:
        suite.phase("start", suite.start_all)
        suite.phase("check", suite.check_personalization)
        suite.phase("warmup", suite.warmup)
        suite.phase("rounds", suite.rounds)
        if not args.no_extras:
            suite.phase("profile", suite.profile)
            suite.phase("personalization", suite.extras)
        suite.phase("startup", suite.restarts)
        suite.phase("leak", suite.leak)  # last: it leaves the longest observation backlogs
    finally:
        suite.stop_all()
        suite.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        suite.save()
    command = "python -m bench.run" + (" --quick" if plan.quick else "")
    text = report.render(suite.results, command=command)
    (out / "report.md").write_text(text)
    print(text)
    write = (not plan.quick) if args.write is None else args.write
    if write:
        report.update_benchmarks_md(text)
        log("BENCHMARKS.md updated")
    log(f"done: {out / 'report.md'}")
    sys.exit(1 if suite.results["errors"] else 0)


if __name__ == "__main__":
    main()
