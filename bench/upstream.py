"""A fake OpenAI-compatible upstream with zero latency, for the benchmarks.

It answers ``POST .../chat/completions`` at once: a small completion with usage, or with
``"stream": true`` an SSE stream of 20 content chunks, a usage chunk and ``[DONE]``. Each chunk
is its own write, as a real provider's would be. It is deliberately plain aiohttp.web, and
bodies are built once per model name and cached: the upstream shares a core with the load
generator and must cost little CPU next to the systems under test.

``GET /stats`` tells how many chat requests arrived and how many carried a system message
(the benchmark's own bodies carry none, so a system message means the gateway personalized
the request). The harness uses it to check that "personalization ON" really was on.

    python -m bench.upstream --port 18001
"""

from __future__ import annotations

import argparse
import functools
import json
import time

from aiohttp import web

CHUNKS = 20
_COUNTS = {"requests": 0, "with_system": 0, "stream": 0}


@functools.cache
def completion_body(model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Sure. Here is a short answer."},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    }, separators=(",", ":")).encode()


@functools.cache
def stream_chunks(model: str) -> tuple[bytes, ...]:
    """The SSE events of one streamed answer, each ready to write."""
    created = int(time.time())
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created,
            "model": model}
    events = []
    for i in range(CHUNKS):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"w{i} "}
        events.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [],
                   "usage": {"prompt_tokens": 12, "completion_tokens": CHUNKS,
                             "total_tokens": 12 + CHUNKS}})
    out = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    out.append(b"data: [DONE]\n\n")
    return tuple(out)


async def chat(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    _COUNTS["requests"] += 1
    if b'"system"' in raw:
        _COUNTS["with_system"] += 1
    body = json.loads(raw or b"{}")
    model = str(body.get("model", "bench-model"))
    if not body.get("stream"):
        return web.Response(body=completion_body(model), content_type="application/json")
    _COUNTS["stream"] += 1
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    for event in stream_chunks(model):
        await response.write(event)
    await response.write_eof()
    return response


async def models(_: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [
        {"id": "bench-model", "object": "model", "created": 0, "owned_by": "bench"}]})


async def stats(_: web.Request) -> web.Response:
    return web.json_response(_COUNTS)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None,
                print=None, backlog=1024)


if __name__ == "__main__":
    main()
