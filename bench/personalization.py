"""Personalization-specific figures (selfmodel only); filled in as the modules land."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.run import Suite


def run_all(suite: Suite) -> None:
    suite.note("personalization-specific figures: not implemented yet")
