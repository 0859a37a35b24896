"""Read a store's raw contents, bypassing the store, to check that an erasure left nothing.

``scan_user`` is written with the same knowledge as ``delete_model``, so a key or table that
both forget would pass it. These helpers look at every row of every table (SQLite,
PostgreSQL) and every value of every key under the test's prefix (Redis), whatever the store
thinks it wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
from redis.cluster import RedisCluster

from selfmodel.store._compact import is_packed, unpack


def raw_mentions(url: str, needle: str) -> list[str]:
    """Every table row / Redis key whose name or content contains ``needle``."""
    if url.startswith("sqlite:///"):
        return _sqlite_mentions(url[len("sqlite:///"):], needle)
    if url.startswith("postgresql://"):
        from tests.store_pg import postgres_mentions

        return postgres_mentions(url, needle)
    return _redis_mentions(url, needle.encode())


def _sqlite_mentions(path: str, needle: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [f"{table}:{row}" for table in tables
                for row in conn.execute(f"SELECT * FROM {table}") if needle in readable(row)]
    finally:
        conn.close()


def readable(row: Sequence[object]) -> str:
    """A row as text, with packed documents (store/_compact.py) unpacked, so a scan sees
    what they hold."""
    return repr([unpack(v) if is_packed(v) else v for v in row])  # type: ignore[arg-type]


def _redis_mentions(url: str, needle: bytes) -> list[str]:
    parts = urlsplit(url)
    prefix = parse_qs(parts.query)["prefix"][0]
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    client: Any = (RedisCluster(host=host, port=port) if parts.scheme == "redis+cluster"
                   else redis.Redis(host=host, port=port))
    try:
        return [key.decode() for key in client.scan_iter(match=prefix + "*", count=1000)
                if needle in key or needle in _value(client, key)]
    finally:
        client.close()


def _value(client: Any, key: bytes) -> bytes:
    kind = client.type(key).decode()
    read = {
        "string": lambda: [client.get(key)],
        "hash": lambda: [x for pair in client.hgetall(key).items() for x in pair],
        "set": lambda: list(client.smembers(key)),
        "zset": lambda: client.zrange(key, 0, -1),
        "list": lambda: client.lrange(key, 0, -1),
        "stream": lambda: client.xrange(key),
    }.get(kind, lambda: [])
    return readable(read()).encode()
