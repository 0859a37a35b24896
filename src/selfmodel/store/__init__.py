"""Stores: the interface (base) and its backends, chosen by URL."""

from __future__ import annotations

from selfmodel.store.base import Store, StoreError


def open_store(url: str) -> Store:
    """A store for ``sqlite:///path`` (the embedded default), ``redis://host:port/db`` or
    ``postgresql://user@host:port/db`` (the production system of record).

    Backends are imported here, lazily, so a SQLite user never imports redis and vice versa.
    """
    if url.startswith("sqlite://"):
        from selfmodel.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("redis://", "rediss://", "redis+cluster://")):
        from selfmodel.store.redis import RedisStore

        return RedisStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from selfmodel.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(f"unsupported store url {url!r}: use sqlite:///path, "
                     "redis://host:port/db or postgresql://user@host:port/db")


__all__ = ["Store", "StoreError", "open_store"]
