"""Processes under test: start pinned to a core, time startup, read CPU and memory from /proc.

Every process here is one the benchmark started itself; it is stopped by its own pid (and
then any children it left, by theirs), never by name.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc/*/stat parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def core_busy() -> dict[str, tuple[int, int]]:
    """Per-core (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                nums = [int(v) for v in vals]
                idle = nums[3] + nums[4]
                out[name] = (sum(nums) - idle, sum(nums))
    return out


def busy_share(before: dict[str, tuple[int, int]],
               after: dict[str, tuple[int, int]]) -> dict[str, float]:
    share = {}
    for name, (busy, total) in after.items():
        b0, t0 = before.get(name, (0, 0))
        share[name] = round((busy - b0) / max(1, total - t0), 3)
    return share


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    startup: float = float("nan")

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        return [self.pid, *children_of(self.pid)]

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.tree())

    def rss_mib(self) -> float:
        return sum(status_kib(p, "VmRSS") for p in self.tree()) / 1024

    def peak_rss_mib(self) -> float:
        return sum(status_kib(p, "VmHWM") for p in self.tree()) / 1024

    paused: bool = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pause(self) -> None:
        """SIGSTOP the process tree: its leftover background work (a queue backlog) must not
        run on the proxy core while another system is measured."""
        self._signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self._signal(signal.SIGCONT)
            self.paused = False

    def _signal(self, sig: signal.Signals) -> None:
        for pid in self.tree():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, timeout: float = 45.0) -> None:
        self.resume()
        kids = children_of(self.pid) if self.alive() else []
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        for kid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(kid, signal.SIGKILL)


def start(name: str, argv: list[str], *, core: int, log: Path, env: dict[str, str] | None = None,
          unset: tuple[str, ...] = (), cwd: str | None = None,
          ready: Callable[[], bool] | None = None, timeout: float = 60.0) -> Proc:
    """Start ``argv`` pinned to ``core``; with ``ready``, wait for it and record the startup time
    (from spawn to the first request ``ready`` saw served)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    out = log.open("ab")
    t0 = time.perf_counter()
    popen = subprocess.Popen(["taskset", "-c", str(core), *argv], stdout=out,
                             stderr=subprocess.STDOUT, env=full_env, cwd=cwd)
    out.close()
    proc = Proc(name, popen, log)
    if ready is None:
        return proc
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{name} exited with {popen.returncode} while starting; see {log}")
        if ready():
            proc.startup = time.perf_counter() - t0
            return proc
        time.sleep(0.01)
    proc.stop()
    raise RuntimeError(f"{name} did not serve a request within {timeout:.0f} s; see {log}")


def post_ok(port: int, path: str, body: bytes, api_key: str, timeout: float = 5.0) -> bool:
    """True when a POST answers 200 (connection refused and errors are False)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_idle(proc: Proc, *, cap: float, threshold: float = 0.05,
              interval: float = 0.5) -> tuple[float, float, bool]:
    """Wait until ``proc`` uses less than ``threshold`` of a core over ``interval`` (its
    background work, e.g. applying queued observations, is done), at most ``cap`` seconds.
    Returns (seconds waited, CPU seconds used meanwhile, whether it went idle)."""
    proc.resume()
    t0, c0 = time.perf_counter(), proc.cpu()
    last_t, last_c = t0, c0
    idle = False
    while time.perf_counter() - t0 < cap:
        time.sleep(interval)
        now_t, now_c = time.perf_counter(), proc.cpu()
        if (now_c - last_c) / (now_t - last_t) < threshold:
            idle = True
            break
        last_t, last_c = now_t, now_c
    return time.perf_counter() - t0, proc.cpu() - c0, idle
