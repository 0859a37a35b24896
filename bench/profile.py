"""Where selfmodel's time goes: py-spy samples the served process during a wrk run.

py-spy runs non-blocking (it does not pause the process to sample) at 250 Hz on the load
core; the stacks are aggregated by function. "self" is the share of samples in which the
function was the innermost Python frame, "inclusive" the share in which it was anywhere on
the stack. Idle samples (the event loop waiting) are not counted.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import loads
from bench.systems import BENCH_VENV, LOAD_CORE

if TYPE_CHECKING:
    from bench.run import Suite

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


def short_file(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def package_of(file: str) -> str:
    head = file.split("/", 1)[0]
    return head.removesuffix(".py") if head else "?"


def aggregate(raw: Path) -> dict[str, Any]:
    """Self and inclusive shares per function, and self share per top-level package."""
    self_c: Counter[tuple[str, str]] = Counter()
    incl_c: Counter[tuple[str, str]] = Counter()
    pkg_c: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = []
        for part in stack.split(";"):
            m = FRAME.match(part.strip())
            if m:
                frames.append((m["func"], short_file(m["file"])))
        if not frames:
            continue
        total += count
        self_c[frames[-1]] += count
        pkg_c[package_of(frames[-1][1])] += count
        for frame in set(frames):
            incl_c[frame] += count
    return {"total": total, "self": self_c, "incl": incl_c, "pkg": pkg_c}


def top_rows(agg: dict[str, Any], limit_own: int = 22, limit_all: int = 12) -> list[dict[str, Any]]:
    """selfmodel's own functions by inclusive share, then the heaviest leaves overall."""
    total = max(agg["total"], 1)
    rows: list[dict[str, Any]] = []
    own = [(f, c) for f, c in agg["incl"].most_common() if f[1].startswith("selfmodel/")]
    seen = set()
    for frame, count in own[:limit_own]:
        seen.add(frame)
        rows.append({"func": frame[0], "file": frame[1], "incl": 100 * count / total,
                     "self": 100 * agg["self"][frame] / total})
    for frame, count in agg["self"].most_common():
        if len([r for r in rows if not r["file"].startswith("selfmodel/")]) >= limit_all:
            break
        if frame in seen:
            continue
        rows.append({"func": frame[0], "file": frame[1], "incl": 100 * agg["incl"][frame] / total,
                     "self": 100 * count / total})
    return rows


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    spy = str(BENCH_VENV / "bin" / "py-spy")
    return subprocess.Popen(
        ["taskset", "-c", str(LOAD_CORE), spy, "record", "-p", str(pid), "-d", str(seconds),
         "-r", "250", "--nonblocking", "--function", "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(suite: Suite) -> None:
    key = "sm_on" if "sm_on" in suite.systems else "bare"
    system = suite.systems[key]
    assert system.proc is not None
    seconds = suite.plan.profile_seconds
    raw = suite.out / f"profile-{key}.txt"
    spy = record(system.proc.pid, seconds, raw)
    result: dict[str, Any] = {}

    def load() -> None:
        result.update(loads.wrk(system.url, body=system.body, api_key=system.api_key,
                                connections=16, seconds=seconds, core=LOAD_CORE))

    thread = threading.Thread(target=load)
    thread.start()
    thread.join()
    spy.wait(timeout=seconds + 60)
    suite.served[key] += result.get("requests", 0)
    suite.drain(system)
    agg = aggregate(raw)
    total = max(agg["total"], 1)
    pkgs = ", ".join(f"{pkg} {100 * c / total:.0f}%" for pkg, c in agg["pkg"].most_common(10))
    summary = (f"{agg['total']:,} non-idle samples of `{system.label}` under wrk c=16 for "
               f"{seconds} s ({result.get('rps', 0):.0f} req/s while sampled; py-spy "
               f"--nonblocking at 250 Hz). Innermost frame by package: {pkgs}. Raw stacks: "
               f"bench/results/<run>/{raw.name}.")
    suite.results["extras"]["profile"] = {"title": system.label, "summary": summary,
                                          "top": top_rows(agg)}
