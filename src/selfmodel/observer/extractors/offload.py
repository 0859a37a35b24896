"""The grammar extractor's work in a process of its own, at a lower priority.

Parsing costs milliseconds of CPU a message (spaCy's tagger and parser, in Python): run on
the event loop that serves requests, each parse held the loop for its whole length, and a
gateway with in-process workers answered several times slower under load (bench.ab:
p50 3.7x at c=10). One child process, started with ``spawn`` (never ``fork`` from a process
with threads and an event loop), loads the parser once and does every extraction; it lowers
its own priority, so on a shared core the operating system serves the gateway's requests
first and learning takes the time left over: it stays off the request path, as designed.

A child that dies (killed, out of memory) is replaced on the next call; the call that saw
it die raises, and the worker retries that observation as it retries any failure.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")
NICENESS = 10  # added to the child's priority: background work yields to requests
PARENT_CHECK_SECONDS = 1.0

_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None


def _start_child(warm: Callable[[], None]) -> None:
    """In the child: follow the parent out, lower its priority, load the models once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this one stops
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True,
                     name="selfmodel-parent-watch").start()
    with contextlib.suppress(OSError):  # not permitted: it runs, only not deprioritised
        os.nice(NICENESS)
    warm()


def _exit_with(parent: int) -> None:
    """A parent killed outright (SIGKILL, OOM) closes nothing the child waits on: the child
    would live on, holding its models' memory. It checks once a second and leaves."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def pool(warm: Callable[[], None]) -> ProcessPoolExecutor:
    """The process's one extraction child (created on first use)."""
    global _POOL
    with _LOCK:
        if _POOL is None:
            atexit.register(shutdown)  # once per child started; a second call finds none
            _POOL = ProcessPoolExecutor(max_workers=1,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_child, initargs=(warm,))
        return _POOL


def _replace(broken: ProcessPoolExecutor) -> None:
    global _POOL
    with _LOCK:
        if _POOL is broken:
            _POOL = None
    broken.shutdown(wait=False, cancel_futures=True)


async def run(warm: Callable[[], None], fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in the child; a broken child is replaced before the error goes up."""
    executor = pool(warm)
    try:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    except BrokenProcessPool:
        _replace(executor)
        raise


def shutdown() -> None:
    """Stop the child and release its queues, at the process's exit (registered with
    ``atexit`` when the child starts): left to the interpreter's teardown, its semaphores
    may be reported by the resource tracker on stderr."""
    global _POOL
    with _LOCK:
        executor, _POOL = _POOL, None
    if executor is not None:
        executor.shutdown(wait=True)


def ready() -> bool:
    """Run in the child by ``prepare``: the initializer has loaded the models."""
    return True
