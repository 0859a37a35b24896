"""The ``selfmodel`` command: ``serve``, ``worker``, ``key hash``, ``user show``, ``doctor``,
``insights``, ``migrate``.

Each command is a function that adds its subparser and sets ``run`` (a function of the parsed
arguments returning an exit status). ``COMMANDS`` lists them; a new command (worker, user
show, doctor, insights) is one function in its own module plus one line here. A bad config
prints its message (field and line) to stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from selfmodel.config import Config, default_config, discover_config, key_digest, load_config
from selfmodel.errors import ConfigError
from selfmodel.logging_setup import configure_logging
from selfmodel.store.base import StoreError
from selfmodel.tenants import open_bind_refusal

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction

Registrar = Callable[[Commands], None]
USAGE_ERROR = 2
_CONFIG_ENV = "SELFMODEL_CONFIG"  # serve --workers: the config file each worker loads
_LOG_LEVEL_ENV = "SELFMODEL_LOG_LEVEL"

log = logging.getLogger("selfmodel")


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config``, shared by every command that reads config.yaml."""
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config.yaml (default: ./config.yaml when there is one, else the "
                             "embedded defaults: echo model, SQLite file selfmodel.db here, "
                             "one open tenant)")


def config_from(args: argparse.Namespace) -> Config:
    """The config a command runs with; ConfigError on a bad file (handled by ``main``)."""
    return config_and_source(args)[0]


def config_and_source(args: argparse.Namespace) -> tuple[Config, str]:
    """The config and where it came from (``--config``, ./config.yaml, or the defaults);
    the path found is put back on ``args`` so child processes load the same file."""
    config, source = discover_config(getattr(args, "config", None))
    if getattr(args, "config", None) is None and not source.startswith("embedded"):
        args.config = source
    return config, source


def add_serve(commands: Commands) -> None:
    parser = commands.add_parser("serve", help="run the gateway")
    add_config_option(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true",
                        help="uvicorn's own access line too (selfmodel already logs one JSON "
                             "line per request at info)")
    parser.add_argument("--allow-open", action="store_true",
                        help="serve open mode (no tenants: no API keys) on a non-loopback "
                             "address anyway (server.allow_open in config)")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (default 1; metrics are per process, "
                             "so prefer more replicas to more workers)")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    config, source = config_and_source(args)  # a bad file fails before the heavy imports
    refusal = open_bind_refusal(config, args.host, args.allow_open)
    if refusal:
        print(f"selfmodel: {refusal}", file=sys.stderr)
        return USAGE_ERROR

    import uvicorn

    from selfmodel.app import create_app

    configure_logging(args.log_level)
    log.info("config: %s", source)
    log.info("OpenAI-compatible gateway on http://%s:%d/v1 (models: %s)",
             args.host, args.port, ", ".join(config.aliases()) or "none")
    if args.workers > 1:
        return _serve_workers(args, config)
    app = create_app(config)
    freeze_startup_objects()
    server = _server_class()(uvicorn.Config(app, **_uvicorn_options(args, config)))
    server.run()
    return 0 if server.started else 1


def _uvicorn_options(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    """``log_config=None``: uvicorn's loggers propagate to our JSON handler. The grace period
    bounds how long in-flight requests and streams may run on after SIGTERM."""
    return {"host": args.host, "port": args.port, "log_level": args.log_level,
            "log_config": None, "access_log": args.access_log,
            "timeout_graceful_shutdown": math.ceil(config.server.graceful_timeout)}


def _serve_workers(args: argparse.Namespace, config: Config) -> int:
    """Several uvicorn workers on one port: each process builds its app from the config file
    named in the environment (uvicorn spawns them fresh)."""
    import uvicorn

    os.environ[_CONFIG_ENV] = os.path.abspath(args.config) if args.config else ""
    os.environ[_LOG_LEVEL_ENV] = args.log_level
    uvicorn.run("selfmodel.cli:app_from_environment", factory=True, workers=args.workers,
                **_uvicorn_options(args, config))
    return 0


def app_from_environment() -> object:
    """The app of one ``serve --workers N`` process (uvicorn's factory)."""
    from selfmodel.app import create_app

    configure_logging(os.environ.get(_LOG_LEVEL_ENV, "info"))
    path = os.environ.get(_CONFIG_ENV)
    return create_app(load_config(path) if path else default_config())


def freeze_startup_objects() -> None:
    """Move what exists after startup (lexicons, compiled rules, templates, pydantic schemas:
    alive as long as the process) out of the garbage collector's reach, so that the full
    collections a busy process runs walk only the objects requests create (gc.freeze, as
    its documentation suggests for long-running servers)."""
    gc.collect()
    gc.freeze()


def _server_class() -> type:
    import uvicorn

    class GatewayServer(uvicorn.Server):
        """A SIGTERM that ended in a graceful shutdown is a normal exit (status 0).

        uvicorn re-raises the captured signal after shutting down, which ends the process
        "killed by SIGTERM"; process managers and RELIABILITY.md expect 0 after a clean drain.
        """

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            captured: list[int] = getattr(self, "_captured_signals", [])
            if sig == signal.SIGTERM and sig in captured:
                captured.remove(sig)

    return GatewayServer


def add_key(commands: Commands) -> None:
    parser = commands.add_parser("key", help="API key helpers")
    sub = parser.add_subparsers(dest="key_command", required=True, metavar="COMMAND")
    hasher = sub.add_parser("hash", help="print the sha256 entry for config.yaml's api_keys")
    hasher.add_argument("key", help="the key to hash ('-' reads it from stdin)")
    hasher.set_defaults(run=run_key_hash)


def run_key_hash(args: argparse.Namespace) -> int:
    key = sys.stdin.readline().strip() if args.key == "-" else args.key
    if not key:
        print("selfmodel: an empty key cannot be hashed", file=sys.stderr)
        return USAGE_ERROR
    print(f"sha256:{key_digest(key)}")
    return 0


def add_worker(commands: Commands) -> None:
    parser = commands.add_parser("worker", help="run observation workers only (scale-out)")
    add_config_option(parser)
    parser.add_argument("--name", default=None,
                        help="consumer name (default: host-pid); reuse it after a restart to "
                             "take back this worker's unacknowledged entries at once")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="workers in this process (default: observer.workers, at least 1)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve this worker's Prometheus metrics (extractor calls, "
                             "observations applied, freshness, queue) on this port")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address for --metrics-port (0.0.0.0 in a container)")
    parser.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from selfmodel.metrics import Metrics
    from selfmodel.observer.process import run_worker_process

    config = config_from(args)
    configure_logging(args.log_level)
    metrics = Metrics()
    if args.metrics_port:  # a thread: scrapes never wait behind the worker's event loop
        start_http_server(args.metrics_port, addr=args.metrics_host, registry=metrics.registry)
    concurrency = args.concurrency or config.observer.workers or 1
    freeze_startup_objects()
    return run_worker_process(config, name=args.name, concurrency=concurrency, metrics=metrics)


def add_user(commands: Commands) -> None:
    parser = commands.add_parser("user", help="inspect a user's self-model")
    sub = parser.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    show = sub.add_parser("show", help="print a user's beliefs with confidence and evidence")
    show.add_argument("user", help="the user id, as the app sends it")
    show.add_argument("--tenant", default="default", help="tenant name (default: default)")
    show.add_argument("--json", action="store_true", help="the API's JSON instead of a table")
    add_config_option(show)
    show.set_defaults(run=run_user_show)


def run_user_show(args: argparse.Namespace) -> int:
    from selfmodel.admin import show_user

    return show_user(config_from(args), args.tenant, args.user, as_json=args.json)


def add_doctor(commands: Commands) -> None:
    parser = commands.add_parser(
        "doctor", help="check config, templates, store and providers; exit 1 if any is wrong")
    add_config_option(parser)
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds per network check (default 3)")
    parser.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from selfmodel.doctor import doctor

    return doctor(args.config, timeout=args.timeout)


def add_migrate(commands: Commands) -> None:
    parser = commands.add_parser(
        "migrate", help="create or upgrade the PostgreSQL schema (run before starting a new "
                        "version)")
    add_config_option(parser)
    parser.set_defaults(run=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from selfmodel.migrate import run_migrate as migrate

    return migrate(config_from(args))


def add_insights(commands: Commands) -> None:
    parser = commands.add_parser("insights", help="a tenant's insights: models, experiments, "
                                                  "readiness")
    add_config_option(parser)
    parser.add_argument("--tenant", default="default", help="tenant name (default: default)")
    parser.add_argument("--json", action="store_true", help="JSON as GET /v1/insights gives")
    parser.set_defaults(run=run_insights_command)


def run_insights_command(args: argparse.Namespace) -> int:
    from selfmodel.insights_report import run_insights

    return run_insights(config_from(args), args.tenant, args.json)


COMMANDS: list[Registrar] = [add_serve, add_worker, add_key, add_user, add_doctor, add_insights,
                             add_migrate]


def build_parser(commands: Sequence[Registrar] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfmodel", description="A personalization gateway for LLM apps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (ConfigError, StoreError) as exc:
        print(f"selfmodel: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        return _reader_went_away()
    return status


def _reader_went_away() -> int:
    """The output was piped into a reader that stopped early (``| head``): end quietly, as
    Unix tools do. stdout is pointed at /dev/null so the interpreter's final flush does not
    raise the same error again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
