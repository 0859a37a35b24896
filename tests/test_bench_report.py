"""The benchmark report's arithmetic: ratios are taken only where they mean something."""

from __future__ import annotations

import math

from bench.report import Table, ttfc_added


def stream(system: str, rnd: int, ttfc: float) -> dict[str, object]:
    return {"system": system, "kind": "stream", "conc": 10, "round": rnd, "ttfc_p50": ttfc}


def test_an_added_time_of_zero_or_less_for_bare_gives_no_ratio() -> None:
    runs = [
        stream("direct", 0, 3.0), stream("bare", 0, 2.9), stream("sm_on", 0, 7.0),  # bare < 0
        stream("direct", 1, 3.0), stream("bare", 1, 3.0), stream("sm_on", 1, 7.0),  # bare = 0
        stream("direct", 2, 3.0), stream("bare", 2, 3.5), stream("sm_on", 2, 8.0),  # bare 0.5
    ]
    table = Table(runs)
    assert table.ratio("sm_on", "stream", 10, ttfc_added) == 10.0  # round 2 only
    assert math.isnan(Table(runs[:6]).ratio("sm_on", "stream", 10, ttfc_added))
