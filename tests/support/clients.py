"""SDK clients made by tests, closed after each test by an autouse fixture in conftest.

An SDK client keeps pooled sockets; left to the garbage collector they raise a
ResourceWarning at some unrelated later moment, which is an error under ``-W error`` and
fails whichever test happens to be running then. ``keep`` hands them to the fixture instead.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

_open: list[Any] = []


def keep(client: T) -> T:
    """``client``, to be closed when the current test ends."""
    _open.append(client)
    return client


def close_all() -> None:
    while _open:
        _open.pop().close()
