"""Logging for the ``selfmodel`` processes: one JSON object per line, on stderr.

Every record becomes ``{"ts", "level", "logger", "msg", ...fields}``; a record logged with
``extra={"fields": {...}}`` (the per-request line of ``api/middleware.py``) has those fields
merged in, so log pipelines can filter on ``tenant``, ``status`` or ``request_id`` without
parsing text. uvicorn's own loggers propagate here (``serve`` passes ``log_config=None``), so
its startup and shutdown messages are JSON too. Called by the CLI only: nothing is configured
at import time, and an app built in a test logs wherever the test says.

uvicorn's access line (``serve --access-log``) prints the request path and query, which hold
user ids (``/v1/self-models/{user_id}/...``); ``RedactAccessPaths`` rewrites them to
``/v1/self-models/-/...`` and keeps only the names of query parameters.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

from pydantic_core import to_json

__all__ = ["JSONFormatter", "RedactAccessPaths", "configure_logging", "redact_path"]

# Loggers that say too much at INFO for a production stream.
_QUIET = {"LiteLLM": logging.WARNING, "LiteLLM Router": logging.WARNING,
          "LiteLLM Proxy": logging.WARNING, "httpx": logging.WARNING,
          "aiohttp.access": logging.WARNING}


_USER_PATH = re.compile(
    r"^(/v1/self-models/)(.+?)(/(?:export|observations|consent|portal-link|beliefs(?:/[^/]*)?))?$")
_QUERY_VALUE = re.compile(r"=[^&]*")


def redact_path(path: str) -> str:
    """A request path and query fit for a log: no user id, no query values."""
    path, mark, query = path.partition("?")
    path = _USER_PATH.sub(lambda m: m.group(1) + "-" + (m.group(3) or ""), path)
    return path + mark + _QUERY_VALUE.sub("=-", query)


class RedactAccessPaths(logging.Filter):
    """Rewrites the path argument of uvicorn's access records (client, method, path,
    HTTP version, status) with ``redact_path``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


class JSONFormatter(logging.Formatter):
    """A record as one line of JSON. Runs once per request, so it is kept cheap: the time's
    text is reused within a second, and pydantic-core encodes (``str`` for odd values, so a
    strange field never drops a line)."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._prefix = ""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__.get("fields")
        if isinstance(fields, dict):
            body.update(fields)
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return to_json(body, fallback=str).decode()

    def _timestamp(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds (``2026-01-02T03:04:05.678Z``)."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """JSON lines on ``stream`` (stderr) for the root logger at ``level``; returns the handler.

    Replaces handlers set earlier (a second call does not double every line).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The JSON line carries none of these, so records need not compute them (the logging
    # HOWTO's "Optimization" advice): a record per request is made on the hot path.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (file, line) for each record
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactAccessPaths) for f in access.filters):
        access.addFilter(RedactAccessPaths())
    for name, floor in _QUIET.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    logging.captureWarnings(True)
    return handler
