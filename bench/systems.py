"""The systems under test, how each is configured and started, and the request bodies.

- ``direct``: the fake upstream itself (no proxy): the reference every "added" figure
  subtracts.
- ``bare``: bench/passthrough.py, the floor.
- ``sm_off`` / ``sm_on``: ``selfmodel serve`` on SQLite, without a user / with the seeded
  user (50 beliefs; an observation is enqueued per request). Two processes, two files, so
  one's background work never lands in the other's CPU time.
- ``sm_redis``: ``selfmodel serve`` on Redis under a random ``bench...:`` prefix, with the user.
- ``litellm``: LiteLLM proxy (its own venv, .venv-bench), no database, callbacks off.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import procs

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".venv-bench"
PROXY_CORE, LOAD_CORE = 0, 1
TENANT = "bench"
TENANT_KEY = "sk-bench-tenant-key"
USER = "bench-user-50"
MODEL = "bench-model"

CONVERSATION = [
    {"role": "user", "content": "What is a good way to learn Rust if I already know Python?"},
    {"role": "assistant", "content": "Start with the Rust book, then port a small Python "
                                     "script of yours, and lean on the compiler's messages."},
    {"role": "user", "content": "Can you give me a plan for the first week, with one small "
                                "exercise per day?"},
]

SYSTEMS = ("direct", "bare", "sm_off", "sm_on", "sm_redis", "litellm")
LABELS = {
    "direct": "direct to upstream (reference)",
    "bare": "bare pass-through (starlette + aiohttp)",
    "sm_off": "selfmodel, personalization OFF (SQLite)",
    "sm_on": "selfmodel, personalization ON (SQLite)",
    "sm_redis": "selfmodel, personalization ON (Redis)",
    "litellm": "LiteLLM proxy",
}
SELFMODEL = ("sm_off", "sm_on", "sm_redis")
PERSONALIZED = ("sm_on", "sm_redis")


@dataclass
class System:
    key: str
    port: int
    api_key: str
    body: Path
    stream_body: Path
    proc: procs.Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    @property
    def label(self) -> str:
        return LABELS[self.key]


# The load generators replace this token in every request with the request's number, so no
# two requests carry the same text (real traffic does not; caches keyed by text must miss).
REQUEST_NUMBER = "REQNO"


def varied_conversation() -> list[dict[str, str]]:
    """CONVERSATION whose last user message ends with the request-number token."""
    *head, last = CONVERSATION
    return [*head, {**last, "content": f"{last['content']} (ref {REQUEST_NUMBER})"}]


def numbered(body: bytes, number: int) -> bytes:
    """A body with its request-number token replaced (same length for every number)."""
    return body.replace(REQUEST_NUMBER.encode(), b"%08d" % (number % 100_000_000))


def write_bodies(out: Path) -> dict[str, Path]:
    """The four request bodies (plain / with user, non-stream / stream), each with the
    request-number token that the load generators fill in."""
    paths = {}
    for name, extra in {
        "plain": {}, "user": {"user": USER},
        "stream_plain": {"stream": True, "stream_options": {"include_usage": True}},
        "stream_user": {"stream": True, "stream_options": {"include_usage": True},
                        "user": USER},
    }.items():
        path = out / f"body_{name}.json"
        path.write_text(json.dumps({"model": MODEL, "messages": varied_conversation(),
                                    "max_tokens": 200, **extra}))
        paths[name] = path
    return paths


def selfmodel_available() -> bool:
    exe = Path(sys.executable).with_name("selfmodel")
    if not exe.exists():
        return False
    done = subprocess.run([str(exe), "serve", "--help"], capture_output=True, timeout=60,
                          check=False)
    return done.returncode == 0


def selfmodel_config(out: Path, name: str, upstream: int, store_url: str) -> Path:
    digest = hashlib.sha256(TENANT_KEY.encode()).hexdigest()
    path = out / f"{name}.yaml"
    path.write_text(f"""# written by bench/systems.py
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-upstream
store:
  url: "{store_url}"
observer:
  extractor: rules
tenants:
  - name: {TENANT}
    api_keys: ["sha256:{digest}"]
""")
    return path


def litellm_config(out: Path, upstream: int) -> Path:
    path = out / "litellm.yaml"
    path.write_text(f"""# written by bench/systems.py: no database, callbacks off, no retries
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-upstream
litellm_settings:
  callbacks: []
  success_callback: []
  failure_callback: []
  telemetry: false
  set_verbose: false
  drop_params: true
  num_retries: 0
general_settings:
  disable_spend_logs: true
""")
    return path


def ready_check(port: int, body: Path, api_key: str) -> Callable[[], bool]:
    payload = body.read_bytes()
    return lambda: procs.post_ok(port, "/v1/chat/completions", payload, api_key, timeout=30)


def start_upstream(out: Path, port: int) -> procs.Proc:
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    body = json.dumps({"model": MODEL, "messages": CONVERSATION}).encode()
    return procs.start("upstream", argv, core=LOAD_CORE, log=out / "logs" / "upstream.log",
                       cwd=str(ROOT),
                       ready=lambda: procs.post_ok(port, "/v1/chat/completions", body, "x"))


def start_system(system: System, out: Path, upstream: int, store_url: str = "") -> procs.Proc:
    """Start one proxy pinned to the proxy core; its startup time is recorded on the Proc."""
    log = out / "logs" / f"{system.key}.log"
    ready = ready_check(system.port, system.body, system.api_key)
    if system.key == "bare":
        argv = [sys.executable, "-m", "bench.passthrough", "--port", str(system.port),
                "--upstream", f"http://127.0.0.1:{upstream}"]
        return procs.start("bare", argv, core=PROXY_CORE, log=log, cwd=str(ROOT), ready=ready)
    if system.key in SELFMODEL:
        config = selfmodel_config(out, system.key, upstream, store_url)
        exe = str(Path(sys.executable).with_name("selfmodel"))
        argv = [exe, "serve", "--config", str(config), "--host", "127.0.0.1",
                "--port", str(system.port)]
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        return procs.start(system.key, argv, core=PROXY_CORE, log=log, env=env, cwd=str(out),
                           ready=ready, timeout=90)
    if system.key == "litellm":
        config = litellm_config(out, upstream)
        argv = [str(BENCH_VENV / "bin" / "litellm"), "--config", str(config),
                "--host", "127.0.0.1", "--port", str(system.port), "--num_workers", "1"]
        env = {"LITELLM_MASTER_KEY": system.api_key, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
               "DISABLE_SCHEMA_UPDATE": "True"}
        return procs.start("litellm", argv, core=PROXY_CORE, log=log, env=env, cwd=str(out),
                           unset=("DATABASE_URL", "REDIS_URL", "REDIS_HOST"), ready=ready,
                           timeout=120)
    raise ValueError(system.key)


def litellm_available() -> bool:
    return (BENCH_VENV / "bin" / "litellm").exists()


def new_master_key() -> str:
    return "sk-" + secrets.token_hex(32)


def tool_versions() -> dict[str, str]:
    """Versions of what was measured, for BENCHMARKS.md."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("uvicorn", "aiohttp", "starlette", "fastapi", "uvloop", "httptools"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                           capture_output=True, text=True, check=False).stdout.strip()
    out["selfmodel"] = sha + (" + uncommitted src changes" if dirty else "")
    if litellm_available():
        out["litellm"] = subprocess.run(
            [str(BENCH_VENV / "bin" / "python"), "-c",
             "from importlib.metadata import version; print(version('litellm'))"],
            capture_output=True, text=True, check=False).stdout.strip()
    wrk = shutil.which("wrk")
    if wrk:
        line = subprocess.run([wrk, "--version"], capture_output=True, text=True,
                              check=False).stdout.splitlines()
        out["wrk"] = line[0].split()[1] if line else "?"
    return out


def machine() -> dict[str, str]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {"nproc": str(os.cpu_count()), "cpu": model, "kernel": os.uname().release,
            "memory": f"{mem_kib / 1024 / 1024:.0f} GiB"}
