"""Open mode (no tenants) is for one machine: refuse to serve it to a network by accident.

Without tenants any caller can create, read, export and erase every user's self-model. That
is what a developer wants on their laptop and never what a server wants, so ``serve`` on an
address other than loopback refuses open mode unless told otherwise (``--allow-open`` or
``server.allow_open: true``), and open mode always logs a warning at startup.
"""

from __future__ import annotations

import ipaddress

from selfmodel.config import Config

OPEN_WARNING = ("open mode: no tenants are configured, so any caller can read, export and "
                "erase every user's self-model; configure tenants with api_keys before "
                "exposing this gateway")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the gateway on this machine (a name other than
    ``localhost`` could resolve anywhere, so it counts as a network address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_bind_refusal(config: Config, host: str, allow_open: bool = False) -> str | None:
    """Why ``serve`` must not start on ``host`` with ``config``, or None."""
    if not config.open_mode or is_loopback(host) or allow_open or config.server.allow_open:
        return None
    return (f"refusing to serve open mode (no tenants) on {host}: any caller could read and "
            "erase every user's data. Configure tenants with api_keys, bind 127.0.0.1, or "
            "pass --allow-open (server.allow_open: true) if this network is trusted.")
