"""Shared fixtures: real SQLite files, a real Redis server (namespaced per test), real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from tests.support.servers import serve
from tests.support.upstream import FakeUpstream

# No test may reach a real provider or the internet: litellm reads its price map locally.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REDIS_URL = os.environ.get("SELFMODEL_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session", autouse=True)
def _parser_loaded() -> None:
    """The grammar extractor's parser and embeddings, loaded once for the session (a second
    or more on a busy machine), so that no test's deadline pays for the first load."""
    from selfmodel.observer.extractors.grammar import GrammarExtractor

    GrammarExtractor.warm()


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    """Close the SDK clients a test handed to ``tests.support.clients.keep``."""
    yield
    from tests.support.clients import close_all

    close_all()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'selfmodel.db'}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL whose keys all start with a prefix unique to this test; cleaned after.

    Tests share one real server (several may run at once), so none may FLUSHDB.
    """
    import redis

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis server answers at {REDIS_URL}: .ci/run starts one")
    yield f"{REDIS_URL}?prefix={prefix}"
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a schema of this test's own (tests/store_pg.py)."""
    from tests.store_pg import postgres_schema

    with postgres_schema() as url:
        yield url


@pytest.fixture
def fake() -> Iterator[tuple[FakeUpstream, str]]:
    """A fake OpenAI/Anthropic-compatible provider served on loopback, and its URL."""
    upstream = FakeUpstream()
    with serve(upstream) as served:
        yield upstream, served.url


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """respx routes for providers litellm translates (litellm put on httpx so respx sees it)."""
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    with respx.mock(assert_all_called=False) as router:
        yield router
