"""Reading ``/metrics`` in tests: the exposition text parsed by prometheus_client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def series(name: str, **labels: str) -> str:
    """The key ``scrape`` uses for one series: ``name{a="1",b="2"}`` (labels sorted)."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def scrape(base_url: str) -> dict[str, float]:
    """Every sample of ``GET /metrics`` as {series: value}."""
    text = httpx.get(base_url + "/metrics", timeout=5).text
    return {series(s.name, **s.labels): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def moved(before: dict[str, float], after: dict[str, float], key: str) -> float:
    """How much one series grew between two scrapes (absent counts as 0)."""
    return after.get(key, 0.0) - before.get(key, 0.0)
