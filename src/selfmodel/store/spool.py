"""The spool: exchange records the store could not take, kept until it can.

An answered exchange has a durable record (its decision record and its observation,
``Store.record_exchange``). When the store is down, frozen or locked, the gateway answers
anyway (store/guard.py) and keeps the record here; the guard replays it, oldest first, once
the store answers again. Replaying is safe to repeat: a decision record is keyed by its
request id, an observation is applied and logged at most once by its id, and both are
dropped by the store when they predate the user's erasure.

Bounded: at most ``limit`` records; past it new records are refused (the caller counts them
as dropped), so a long outage costs a known amount of disk and memory. With a ``path`` the
records are also appended to a JSON-lines file, one fsynced line per record, so they survive
a restart of the process (a torn last line from a crash is skipped when the file is read).
Without one they live in memory only and die with the process. One process owns a file at
a time (an exclusive ``flock`` on ``<path>.lock``); a second process on the same path keeps
its records in memory and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from selfmodel.domain.models import DecisionRecord, Observation

log = logging.getLogger("selfmodel.store.spool")


@dataclass(frozen=True)
class Spooled:
    """One exchange's record, as ``Store.record_exchange`` takes it."""

    decision: DecisionRecord | None
    observation: Observation | None
    ttl: float

    def to_line(self) -> str:
        doc: dict[str, Any] = {
            "decision": self.decision.model_dump(mode="json") if self.decision else None,
            "observation": (self.observation.model_dump(mode="json")
                            if self.observation else None),
            "ttl": self.ttl,
        }
        return json.dumps(doc, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Spooled:
        doc = json.loads(line)
        return cls(
            decision=DecisionRecord.model_validate(doc["decision"]) if doc["decision"] else None,
            observation=(Observation.model_validate(doc["observation"])
                         if doc["observation"] else None),
            ttl=float(doc["ttl"]),
        )


class Spool:
    """A bounded FIFO of ``Spooled`` records, optionally backed by an append-only file.

    The queue in memory is the truth for this process; file writes run in order on one
    thread of their own (an fsync must not stall the event loop), each append as one line,
    and after a replay the file is rewritten with what is left (write, fsync, rename).
    """

    def __init__(self, path: Path | None, limit: int) -> None:
        self.path = path
        self.limit = limit
        self._items: deque[Spooled] = deque()
        self._io: ThreadPoolExecutor | None = None
        self._lock: IO[bytes] | None = None

    def open(self) -> None:
        """Take the file (if any) and load what an earlier process left in it."""
        if self.path is None or self._io is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock").open("ab")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            log.warning("spool %s is held by another process; this one keeps its spool in "
                        "memory", self.path)
            self.path = None
            return
        self._lock = lock
        self._io = ThreadPoolExecutor(1, thread_name_prefix="selfmodel-spool")
        self._items.extend(_read(self.path))
        if self._items:
            log.info("spool %s holds %d exchange record(s) to replay", self.path,
                     len(self._items))

    def close(self) -> None:
        if self._io is not None:
            self._io.shutdown(wait=True)
            self._io = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __len__(self) -> int:
        return len(self._items)

    def head(self) -> Spooled | None:
        return self._items[0] if self._items else None

    async def append(self, item: Spooled) -> bool:
        """Keep ``item`` (durably, with a file); False when the spool is full."""
        if len(self._items) >= self.limit:
            return False
        self._items.append(item)
        if self._io is not None and self.path is not None:
            line = item.to_line().encode()
            await asyncio.get_running_loop().run_in_executor(self._io, _append, self.path, line)
        return True

    def pop(self) -> None:
        """Forget the head (it was recorded); ``flush`` makes that durable."""
        self._items.popleft()

    def drop_head(self) -> Spooled:
        return self._items.popleft()

    async def flush(self) -> None:
        """Rewrite the file with what is left (after a replay)."""
        if self._io is None or self.path is None:
            return
        lines = b"".join(item.to_line().encode() for item in self._items)
        await asyncio.get_running_loop().run_in_executor(self._io, _rewrite, self.path, lines)


def _read(path: Path) -> list[Spooled]:
    if not path.exists():
        return []
    items: list[Spooled] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            try:
                items.append(Spooled.from_line(line))
            except (ValueError, KeyError, TypeError, ValidationError):
                log.warning("spool %s: line %d is unreadable (torn by a crash?); skipped",
                            path, number)
    return items


def _append(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
