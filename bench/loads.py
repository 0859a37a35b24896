"""The load generators, pinned to the load core: wrk (non-streaming) and bench.streamload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.procs import busy_share, core_busy

LUA = Path(__file__).with_name("post.lua")


def _tagged_json(output: str, tag: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(tag + " "):
            return dict(json.loads(line[len(tag) + 1:]))
    raise RuntimeError(f"no {tag} line in output:\n{output[-2000:]}")


def wrk(url: str, *, body: Path, api_key: str, connections: int, seconds: float,
        core: int) -> dict[str, Any]:
    """One wrk run; latencies in milliseconds, plus the cores' busy shares meanwhile."""
    env = {**os.environ, "WRK_BODY_FILE": str(body), "WRK_API_KEY": api_key}
    argv = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}",
            f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA), url]
    before = core_busy()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    out = parse_wrk(done.stdout)
    out["busy"] = busy_share(before, core_busy())
    return out


def parse_wrk(output: str) -> dict[str, Any]:
    res = _tagged_json(output, "WRKJSON")
    secs = res["duration_us"] / 1e6
    errors = sum(v for k, v in res.items() if k.startswith("err_"))
    return {
        "requests": res["requests"], "seconds": secs, "rps": res["requests"] / secs,
        "p50": res["p50"] / 1000, "p90": res["p90"] / 1000, "p99": res["p99"] / 1000,
        "errors": errors, "err_status": res["err_status"],
    }


def streams(url: str, *, body: Path, api_key: str, concurrency: int, seconds: float,
            core: int) -> dict[str, Any]:
    """One bench.streamload run; times in milliseconds."""
    argv = ["taskset", "-c", str(core), sys.executable, "-m", "bench.streamload", "--url", url,
            "--body", str(body), "--concurrency", str(concurrency), "--duration", str(seconds),
            "--api-key", api_key]
    before = core_busy()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90,
                          check=False, cwd=Path(__file__).parent.parent)
    share = busy_share(before, core_busy())
    res = _tagged_json(done.stdout + done.stderr, "STREAMJSON")
    for key in ("ttfc_p50", "ttfc_p90", "ttfc_p99", "total_p50", "total_p99"):
        res[key] = res[key] * 1000
    res["busy"] = share
    return res
