"""The ``selfmodel`` command: ``serve``, ``key hash`` (and the commands other modules add).

Each command is a function that adds its subparser and sets ``run`` (a function of the parsed
arguments returning an exit status). ``COMMANDS`` lists them; a new command (worker, user
show, doctor, insights) is one function in its own module plus one line here. A bad config
prints its message (field and line) to stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from selfmodel.config import Config, default_config, key_digest, load_config
from selfmodel.errors import ConfigError
from selfmodel.store.base import StoreError

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction

Registrar = Callable[[Commands], None]
USAGE_ERROR = 2


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config``, shared by every command that reads config.yaml."""
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config.yaml (default: the embedded defaults: echo model, "
                             "SQLite file selfmodel.db here, one open tenant)")


def config_from(args: argparse.Namespace) -> Config:
    """The config a command runs with; ConfigError on a bad file (handled by ``main``)."""
    path = getattr(args, "config", None)
    return load_config(path) if path else default_config()


def add_serve(commands: Commands) -> None:
    parser = commands.add_parser("serve", help="run the gateway")
    add_config_option(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: it costs CPU per request)")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from selfmodel.app import create_app

    config = config_from(args)
    app = create_app(config)
    print(f"selfmodel: OpenAI-compatible gateway on http://{args.host}:{args.port}/v1 "
          f"(models: {', '.join(config.aliases()) or 'none'})", file=sys.stderr)
    server = _server_class()(uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=int(config.server.graceful_timeout) or None))
    server.run()
    return 0 if server.started else 1


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


COMMANDS: list[Registrar] = [add_serve, add_key]


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
    return status


if __name__ == "__main__":
    raise SystemExit(main())
