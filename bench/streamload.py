"""Streaming load: ``concurrency`` keep-alive connections each open streams back to back for
``duration`` seconds (or until ``max_streams``), timing the first ``data:`` event and the
whole stream.

The client is a bare asyncio protocol with httptools' C parser rather than aiohttp: an
aiohttp client capped at about 1,600 streams/s on one core here, no faster than the direct
upstream, so it would have measured itself instead of the proxies. Run it pinned beside the
upstream (bench/run.py starts it with taskset); it prints one JSON line.

    python -m bench.streamload --url http://127.0.0.1:18002/v1/chat/completions \
        --body body.json --concurrency 10 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from bench.systems import numbered


@dataclass
class Tally:
    ttfc: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    events: int = 0
    errors: int = 0
    bad: int = 0  # streams that ended without [DONE] or with a status other than 200
    sent: int = 0  # requests started: each one's number goes into its body


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class StreamConnection(asyncio.Protocol):
    """One keep-alive connection that runs one stream at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.done: asyncio.Future[None] | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.start = 0.0
        self.first = 0.0
        self.events = 0
        self.tail = b""

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc or ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- httptools callbacks
    def on_body(self, body: bytes) -> None:
        if not self.first and b"data:" in body:
            self.first = time.perf_counter()
        self.events += body.count(b"data:")
        self.tail = (self.tail + body)[-32:]

    def on_message_complete(self) -> None:
        self._finish(None)

    def _finish(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)

    async def request(self, payload: bytes) -> tuple[int, float, float, int, bool]:
        """Send one request; return (status, first-event time, end time, events, saw DONE)."""
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.first, self.events, self.tail = 0.0, 0, b""
        self.transport.write(payload)
        await self.done
        end = time.perf_counter()
        return (self.parser.get_status_code(), self.first, end, self.events,
                b"[DONE]" in self.tail)


def build_request(url: str, body: bytes, api_key: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {api_key}\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n")
    return host, port, head.encode() + body


async def client(host: str, port: int, url: str, body: bytes, api_key: str, deadline: float,
                 budget: list[int], tally: Tally) -> None:
    loop = asyncio.get_running_loop()
    conn: StreamConnection | None = None
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        tally.sent += 1
        _, _, payload = build_request(url, numbered(body, tally.sent), api_key)
        try:
            if conn is None or conn.closed.done():
                _, conn = await loop.create_connection(StreamConnection, host, port)
            start = time.perf_counter()
            status, first, end, events, saw_done = await asyncio.wait_for(
                conn.request(payload), timeout=30)
        except (TimeoutError, OSError, httptools.HttpParserError):
            tally.errors += 1
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            conn = None
            continue
        if status != 200 or not first or not saw_done:
            tally.bad += 1
            continue
        tally.ttfc.append(first - start)
        tally.total.append(end - start)
        tally.events += events
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def run(args: argparse.Namespace) -> dict[str, float]:
    with open(args.body, "rb") as f:
        body = f.read()
    host, port, _ = build_request(args.url, body, args.api_key)
    tally = Tally()
    budget = [args.max_streams]
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(*(client(host, port, args.url, body, args.api_key, deadline, budget,
                                  tally) for _ in range(args.concurrency)))
    wall = time.perf_counter() - started
    done = len(tally.ttfc)
    return {
        "streams": done, "errors": tally.errors, "bad": tally.bad, "wall": wall,
        "streams_per_s": done / wall, "events_per_s": tally.events / wall,
        "ttfc_p50": percentile(tally.ttfc, 50), "ttfc_p90": percentile(tally.ttfc, 90),
        "ttfc_p99": percentile(tally.ttfc, 99),
        "total_p50": percentile(tally.total, 50), "total_p99": percentile(tally.total, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-streams", type=int, default=1_000_000)
    parser.add_argument("--api-key", default="sk-bench")
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    print("STREAMJSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
