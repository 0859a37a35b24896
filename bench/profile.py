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
from bench.systems import BENCH_VENV, LOAD_CORE, PERSONALIZED

if TYPE_CHECKING:
    from bench.run import Suite
    from bench.systems import System

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


def summarize(raw: Path, what: str) -> dict[str, Any]:
    agg = aggregate(raw)
    total = max(agg["total"], 1)
    pkgs = ", ".join(f"{pkg} {100 * c / total:.0f}%" for pkg, c in agg["pkg"].most_common(8))
    summary = (f"{agg['total']:,} non-idle samples, {what}. Innermost frame by package: "
               f"{pkgs}. Raw stacks: bench/results/<run>/{raw.name}.")
    return {"summary": summary, "top": top_rows(agg)}


def run(suite: Suite) -> None:
    """Two profiles of the ON gateway: the request path under wrk, then the in-process
    observation worker applying the backlog that load left behind."""
    key = "sm_on" if "sm_on" in suite.systems else "bare"
    system = suite.systems[key]
    assert system.proc is not None
    system.proc.resume()
    seconds = suite.plan.profile_seconds
    raw = suite.out / f"profile-{key}-requests.txt"
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
    profiles = [{"title": f"{system.label}, request path",
                 **summarize(raw, f"wrk c=16 for {seconds} s ({result.get('rps', 0):.0f} req/s "
                                  "while sampled; py-spy --nonblocking at 250 Hz)")}]
    if key in PERSONALIZED:
        raw2 = suite.out / f"profile-{key}-worker.txt"
        spy = record(system.proc.pid, max(3, seconds // 2), raw2)
        spy.wait(timeout=seconds + 60)
        profiles.append({"title": f"{system.label}, observation worker draining the backlog",
                         **summarize(raw2, f"the {max(3, seconds // 2)} s right after that "
                                           "load, no requests arriving")})
    suite.drain(system)
    if "sm_off" in suite.systems and key == "sm_on":
        profiles.append(request_profile(suite, suite.systems["sm_off"], max(3, seconds // 2)))
    suite.results["extras"]["profile"] = profiles


def request_profile(suite: Suite, system: System, seconds: int) -> dict[str, Any]:
    assert system.proc is not None
    system.proc.resume()
    raw = suite.out / f"profile-{system.key}-requests.txt"
    spy = record(system.proc.pid, seconds, raw)
    res = loads.wrk(system.url, body=system.body, api_key=system.api_key, connections=16,
                    seconds=seconds, core=LOAD_CORE)
    spy.wait(timeout=seconds + 60)
    suite.served[system.key] += res["requests"]
    suite.drain(system)
    return {"title": f"{system.label}, request path",
            **summarize(raw, f"wrk c=16 for {seconds} s ({res['rps']:.0f} req/s while sampled)")}
