"""``Recent``: the bounded memo the hot path keeps its per-user and per-text results in."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """A small memo that forgets the least recently used entry beyond ``size``. Not
    thread-safe: on the event loop as it is; elsewhere its owner holds a lock around it (the
    extraction process's parse-ahead and verdict memos)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def take(self, key: K) -> V | None:
        """The entry's value, removed: something handed out once."""
        return self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        """The keys, least recently used first."""
        return iter(self._items)


def same_objects(kept: Sequence[object], given: Sequence[object]) -> bool:
    """Whether ``given`` holds the very objects ``kept`` does, in order: how a memo of
    results derived from immutable models (a changed one is a new object) tells that its
    entry still applies, without comparing their contents."""
    return len(kept) == len(given) and all(a is b for a, b in zip(kept, given, strict=True))
