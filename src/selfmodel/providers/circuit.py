"""A per-deployment circuit breaker (closed -> open -> half-open -> closed).

After ``failures`` consecutive failures the deployment gets no traffic for ``cooldown``
seconds; then exactly one request probes it. A successful probe closes the circuit, a failed
one opens it for another cooldown. The router decides what to do when every circuit of an
alias is open (it tries anyway: a slow answer beats a certain failure).
"""

from __future__ import annotations

import time


class Circuit:
    __slots__ = ("_cooldown", "_failures", "_limit", "_open_until", "_probing")

    def __init__(self, failures: int, cooldown: float) -> None:
        self._limit = failures
        self._cooldown = cooldown
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Refusing traffic right now (open, or half-open with its probe in flight)."""
        if self._failures < self._limit:
            return False
        return self._probing or time.monotonic() < self._open_until

    def admit(self) -> bool:
        """Whether to send this request; the first request after a cooldown is the probe."""
        if self._failures < self._limit:
            return True
        if self._probing or time.monotonic() < self._open_until:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        self._probing = False
        if self._failures >= self._limit:
            self._open_until = time.monotonic() + self._cooldown

    def abandoned(self) -> None:
        """The request was cancelled before an outcome: free the probe slot, count nothing."""
        self._probing = False
