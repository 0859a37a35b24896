"""A PostgreSQL schema of its own for each test, on the shared server, dropped afterwards.

Several engineers (and CI jobs) run tests against one server at once: each test creates a
schema with a random name, migrates it with the project's own migrations and drops only that
schema when it ends, never anything it did not create.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg

from tests.store_raw import readable

T = TypeVar("T")

POSTGRES_URL = os.environ.get("SELFMODEL_TEST_POSTGRES",
                              "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A migrated store URL (``?schema=sm_t<random>``); the schema is dropped on exit."""
    from selfmodel.store.postgres import migrate_database

    schema = f"sm_t{uuid.uuid4().hex[:12]}"
    url = f"{POSTGRES_URL}?schema={schema}"
    _run(migrate_database(url))
    try:
        yield url
    finally:
        _run(_drop(schema))


async def _drop(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def postgres_mentions(url: str, needle: str) -> list[str]:
    """Every row of every table in the test's schema whose text contains ``needle``."""
    return _run(_mentions(url, needle))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end on a thread of its own: callers may be inside a running loop
    (an async test asking for a fixture by name)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coro).result()


async def _mentions(url: str, needle: str) -> list[str]:
    schema = url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)]
        found: list[str] = []
        for table in tables:
            rows = await conn.fetch(f'SELECT * FROM "{schema}"."{table}"')
            found += [f"{table}:{row!r}" for row in rows if needle in readable(list(row))]
        return found
    finally:
        await conn.close()
