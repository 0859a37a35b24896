"""``selfmodel worker``: observation workers alone, for scale-out (any number, any machine that
reaches the store).

Also runnable as ``python -m selfmodel.observer.process --config config.yaml``. SIGTERM or
SIGINT stops claiming; the batches in flight are finished and acknowledged (within
``server.graceful_timeout``), then the process exits 0. Past the grace period the leftovers
stay leased and are delivered again to another worker; a second signal stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from selfmodel.config import Config, load_config
from selfmodel.errors import ConfigError
from selfmodel.metrics import Metrics
from selfmodel.observer.worker import Observing, default_name, run_workers, short_error
from selfmodel.store import open_store

if TYPE_CHECKING:
    from selfmodel.providers.router import Router

log = logging.getLogger("selfmodel.observer")


def run_worker_process(config: Config, *, name: str | None, concurrency: int,
                       metrics: Metrics | None = None) -> int:
    """Run ``concurrency`` workers until SIGTERM / SIGINT; the process exit code.
    ``metrics``: the registry the caller exports (``selfmodel worker --metrics-port``)."""
    return asyncio.run(_main(config, name or default_name(), max(1, concurrency),
                             metrics or Metrics()))


async def _main(config: Config, name: str, concurrency: int, metrics: Metrics) -> int:
    stop = asyncio.Event()
    _install_signals(stop)
    store = open_store(config.store_url())
    router = _router(config, metrics)
    services = Observing(config, store, metrics, router)
    try:
        await store.start()
        if router is not None:
            await router.start()
        log.info("selfmodel worker %s: %d worker(s) on %s", name, concurrency,
                 config.store.url.split("?", 1)[0])
        return await _run_until_stopped(services, stop, name, concurrency)
    except Exception as exc:
        log.error("selfmodel worker %s failed: %s", name, short_error(exc))
        return 1
    finally:
        if router is not None:
            await router.close()
        await store.close()


def _router(config: Config, metrics: Metrics) -> Router | None:
    """The provider router, only when the llm extractor or a provider's embedding model
    needs one."""
    embeds = any(config.embedding_alias(t) for t in config.effective_tenants())
    if config.observer.extractor != "llm" and not embeds:
        return None
    from selfmodel.providers.router import Router

    return Router(config, metrics)


async def _run_until_stopped(services: Observing, stop: asyncio.Event, name: str,
                             concurrency: int) -> int:
    task = asyncio.create_task(run_workers(services, stop, concurrency, name=name))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        task.result()  # workers only return after stop; an error is raised here
        return 0
    grace = services.config.server.graceful_timeout
    try:
        await asyncio.wait_for(task, grace)
    except TimeoutError:
        log.warning("batches still in flight after %.0fs: left leased for another worker", grace)
    return 0


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():  # second signal: do not wait for the batch
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("signal %d: finishing the batches in flight", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # not on Windows' default loop
            loop.add_signal_handler(sig, on_signal, sig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="selfmodel worker",
                                     description="Run selfmodel observation workers.")
    parser.add_argument("--config", default=None, help="config.yaml (default: embedded)")
    parser.add_argument("--name", default=None, help="consumer name (default: host-pid)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="workers in this process (default: observer.workers or 1)")
    parser.add_argument("--log-level", default=os.environ.get("SELFMODEL_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"selfmodel worker: {exc}", file=sys.stderr)
        return 2
    concurrency = args.concurrency or config.observer.workers or 1
    return run_worker_process(config, name=args.name, concurrency=concurrency)


if __name__ == "__main__":
    sys.exit(main())
