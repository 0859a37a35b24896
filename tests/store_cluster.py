"""A throwaway 3-master Redis Cluster on loopback ports, for the store contract suite.

Started once per test session (about two seconds) with ``redis-server --cluster-enabled`` and
``redis-cli --cluster create``; the test is skipped, with the reason, only when this machine's
redis-server cannot run a cluster. Nothing is persisted: the nodes live in a temp directory.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis

NODES = 3
READY_TIMEOUT = 30.0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Ports whose cluster bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(21000, 29000)
        if port not in ports and _port_free(port) and _port_free(port + 10000):
            ports.append(port)
    return ports


@dataclass
class RedisClusterProcess:
    ports: list[int]
    workdir: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, prefix: str) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/?prefix={prefix}"

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _spawn(port: int, workdir: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
         "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
         "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no",
         "--protected-mode", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"redis cluster: {what} not ready after {READY_TIMEOUT}s")


def _ping(port: int) -> bool:
    client = redis.Redis(port=port)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _cluster_ok(port: int) -> bool:
    client = redis.Redis(port=port)
    try:
        info = client.execute_command("CLUSTER INFO")
    finally:
        client.close()
    return bool(info.get("cluster_state") == "ok" and info.get("cluster_slots_ok") == "16384")


def start_cluster() -> RedisClusterProcess:
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        pytest.skip("redis-server / redis-cli not installed: cannot start a Redis Cluster")
    cluster = RedisClusterProcess(_free_ports(NODES), tempfile.mkdtemp(prefix="sm-cluster-"))
    try:
        cluster.procs = [_spawn(p, cluster.workdir) for p in cluster.ports]
        for port in cluster.ports:
            _wait(lambda port=port: _ping(port), f"node {port}")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{p}" for p in cluster.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, timeout=60, check=False,
        )
        if created.returncode != 0:
            pytest.skip(f"redis-server cannot form a cluster here: {created.stderr[-300:]!r}")
        for port in cluster.ports:
            _wait(lambda port=port: _cluster_ok(port), f"cluster state on {port}")
    except BaseException:
        cluster.stop()
        raise
    return cluster
