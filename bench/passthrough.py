"""The floor: a bare pass-through proxy (starlette on uvicorn, one shared aiohttp session).

It forwards the request body byte for byte to the upstream and passes the answer back, as
one body or, for an event stream, chunk by chunk as it arrives (bare ASGI messages). No
parsing, no auth, no logging: what any Python proxy on this stack costs at least. Served
the way selfmodel is served (uvicorn with uvloop and httptools, access log off).

    python -m bench.passthrough --port 18002 --upstream http://127.0.0.1:18001
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

FORWARDED = ("authorization", "content-type", "accept")


class Relay:
    """Stream the upstream's bytes to the client as they arrive, with bare ASGI messages
    (starlette's StreamingResponse starts a task group per response to watch for a
    disconnect, which costs more than the relaying itself)."""

    def __init__(self, upstream_resp: aiohttp.ClientResponse, ctype: str) -> None:
        self.upstream_resp = upstream_resp
        self.ctype = ctype

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.upstream_resp.status,
                    "headers": [(b"content-type", self.ctype.encode())]})
        try:
            async for chunk in self.upstream_resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.upstream_resp.release()


def make_app(upstream: str) -> Starlette:
    state: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            state["session"] = session
            yield

    async def forward(request: Request) -> Response | Relay:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in FORWARDED}
        url = upstream + request.url.path
        upstream_resp = await state["session"].post(url, data=body, headers=headers)
        ctype = upstream_resp.headers.get("content-type", "application/json")
        if not ctype.startswith("text/event-stream"):
            data = await upstream_resp.read()
            upstream_resp.release()
            return Response(data, status_code=upstream_resp.status, media_type=ctype)
        return Relay(upstream_resp, ctype)

    return Starlette(routes=[Route("/v1/chat/completions", forward, methods=["POST"])],
                     lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port,
                loop="uvloop", http="httptools", access_log=False, log_level="warning",
                backlog=1024)


if __name__ == "__main__":
    main()
