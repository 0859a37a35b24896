"""Real servers for tests: any ASGI app served by uvicorn on a free loopback port, in a thread.

The gateway under test and fake upstream providers both run this way, so tests talk to them
over real sockets with real clients (the openai SDK, httpx), as users do.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedApp:
    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self.server = server
        self.thread = thread
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def bound_socket(port: int = 0) -> socket.socket:
    """A listening-ready socket on 127.0.0.1, bound here and handed to uvicorn: picking a
    free port, closing it and letting the server bind it later races with every other
    process on the machine that wants a port (seen as "did not start" under parallel load)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def serve(app: Any, *, port: int | None = None, **config: Any) -> Iterator[ServedApp]:
    """Serve ``app`` on 127.0.0.1 until the block ends; lifespan events run as in production."""
    sock = bound_socket(port or 0)
    port = int(sock.getsockname()[1])
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                         lifespan="on", **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a liveness bound, not a timing: loaded CI machines are slow
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    served = ServedApp(server, thread, port)
    try:
        yield served
    finally:
        served.stop()
        sock.close()
