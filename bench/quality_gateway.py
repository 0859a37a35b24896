"""The real gateway for the poisoning and correction measures: served on loopback, the
openai SDK as the client, the in-process observation worker, the echo model.

``selfmodel/echo`` answers with the messages it received, system message first, so the text
of an answer is exactly what a provider would have been sent: the personalization block the
gateway forwarded can be read back from it (``injected_items``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
from tests.support.servers import serve

from selfmodel.app import create_app
from selfmodel.config import Config, default_config
from selfmodel.domain.models import SelfModel
from selfmodel.store import open_store
from selfmodel.store.base import Store

TENANT = "default"  # the open local tenant of the default config
MODEL = "echo"
_ITEM = re.compile(r'^- "(.*)"$', re.M)
# The echo answer opens with a header line, then the system message if there is one (only
# there: earlier answers quoted in the history hold "[system]" sections of their own).
_SECTION = re.compile(
    r"\A[^\n]*\n\n\[system\]\n(.*?)(?=\n\n\[(?:user|assistant|developer|tool)\]|\Z)", re.S)


@dataclass(frozen=True)
class Answer:
    text: str
    request_id: str

    @property
    def system(self) -> str:
        """The system message the provider received (the personalization block), or ''."""
        found = _SECTION.match(self.text)
        return found.group(1) if found else ""

    @property
    def items(self) -> list[str]:
        """The belief statements injected, as the template quoted them."""
        return _ITEM.findall(self.system)


class Gateway:
    """A served gateway and clients for it; ``store`` is a second connection for reading."""

    def __init__(self, url: str, store: Store, concurrency: int) -> None:
        self.url = url
        self.store = store
        self.chat_client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="quality",
                                              max_retries=2, timeout=60)
        self.http = httpx.AsyncClient(base_url=url, timeout=60)
        self.gate = asyncio.Semaphore(concurrency)

    async def chat(self, user: str, messages: list[dict[str, str]]) -> Answer:
        async with self.gate:
            raw = await self.chat_client.chat.completions.with_raw_response.create(
                model=MODEL, messages=messages, user=user)  # type: ignore[arg-type]
        completion = raw.parse()
        return Answer(completion.choices[0].message.content or "",
                      raw.headers.get("x-selfmodel-request-id", ""))

    async def observe(self, user: str, content: str, kind: str = "preference") -> dict[str, Any]:
        """POST an explicit observation and apply it now (``?wait=true``); the user's model is
        created first, as an app does."""
        async with self.gate:
            created = await self.http.post("/v1/self-models", json={"user_id": user})
            created.raise_for_status()
            response = await self.http.post(f"/v1/self-models/{user}/observations",
                                            params={"wait": "true"},
                                            json={"type": kind, "content": content})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def decision(self, request_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/decisions/{request_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def drain(self, timeout: float = 300.0) -> None:
        """Wait until the worker has applied every queued observation."""
        deadline = time.monotonic() + timeout
        while (await self.store.queue_stats()).depth:
            if time.monotonic() > deadline:
                raise TimeoutError("the observation queue did not drain")
            await asyncio.sleep(0.05)

    async def applied(self, user: str, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` observations of ``user`` have been applied and logged."""
        deadline = time.monotonic() + timeout
        while len(await self.store.list_observations(TENANT, user)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"observations of {user} were not applied")
            await asyncio.sleep(0.02)

    async def model(self, user: str) -> SelfModel | None:
        return await self.store.get_model(TENANT, user)

    async def close(self) -> None:
        await self.chat_client.close()
        await self.http.aclose()


def gateway_config(workdir: Path) -> Config:
    config = default_config(str(workdir))
    config.store.url = f"sqlite:///{workdir / 'gateway.db'}"
    return config


@asynccontextmanager
async def running(workdir: Path, concurrency: int = 16) -> AsyncIterator[Gateway]:
    """The gateway served on loopback (its own thread and loop) for the block."""
    config = gateway_config(workdir)
    with serve(create_app(config)) as served:
        store = open_store(config.store_url())
        await store.start()
        gateway = Gateway(served.url, store, concurrency)
        try:
            yield gateway
        finally:
            await gateway.close()
            await store.close()
