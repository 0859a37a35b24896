"""The benchmark report's arithmetic: ratios are taken only where they mean something."""

from __future__ import annotations

import math

from bench.report import Table, figures, ratios, targets, ttfc_added


def stream(system: str, rnd: int, ttfc: float) -> dict[str, object]:
    return {"system": system, "kind": "stream", "conc": 10, "round": rnd, "ttfc_p50": ttfc,
            "streams_per_s": 100.0, "events_per_s": 2300.0}


def rounds(direct: list[float], bare: list[float], sm_on: list[float]) -> list[dict[str, object]]:
    return [run for rnd, (d, b, s) in enumerate(zip(direct, bare, sm_on, strict=True))
            for run in (stream("direct", rnd, d), stream("bare", rnd, b),
                        stream("sm_on", rnd, s))]


def ttfc_ratio(runs: list[dict[str, object]]) -> float:
    table = Table(runs)
    return table.ratio("sm_on", "stream", 10, ttfc_added,
                       noise=table.spread("stream", 10, "ttfc_p50"))


def test_a_bare_added_time_clear_of_the_noise_gives_the_median_of_per_round_ratios() -> None:
    runs = rounds(direct=[3.0, 3.05, 3.0], bare=[3.5, 3.45, 3.4], sm_on=[8.0, 7.05, 7.0])
    assert math.isclose(ttfc_ratio(runs), 10.0)  # per round: 10, 8.75, 10


def test_a_bare_added_time_within_the_direct_calls_spread_gives_no_ratio() -> None:
    """Bare 0.1 ms slower in some rounds, faster in others, while the direct call itself
    moves by 0.3 ms between rounds: no ratio, however large the system's own added time."""
    runs = rounds(direct=[3.0, 3.3, 3.1], bare=[3.1, 3.2, 3.25], sm_on=[7.0, 7.3, 7.1])
    assert math.isnan(ttfc_ratio(runs))


def test_an_added_time_of_zero_or_less_for_bare_gives_no_ratio() -> None:
    """One round where bare happens to be slower is not a ratio when its median is zero."""
    assert math.isnan(ttfc_ratio(rounds(direct=[3.0, 3.0, 3.0], bare=[2.9, 3.0, 3.5],
                                        sm_on=[7.0, 7.0, 8.0])))
    assert math.isnan(ttfc_ratio(rounds(direct=[3.0, 3.0], bare=[2.9, 3.0],
                                        sm_on=[7.0, 7.0])))


def test_the_report_says_why_a_first_chunk_target_is_undecided() -> None:
    runs = rounds(direct=[3.0, 3.3, 3.1], bare=[3.1, 3.2, 3.25], sm_on=[7.0, 7.3, 7.1])
    table = Table(runs)
    results = {"runs": runs, "startup": {}, "leak": {}, "extras": {}}
    rows = targets(results, table, figures(table, results, "sm_on"), ratios(table, "sm_on"),
                   "sm_on")
    line = next(x for x in rows if x.startswith("| stream added first-chunk"))
    assert "**undecided**" in line and "within the direct calls' own spread" in line
    assert "0.30 ms" in line  # the direct calls' spread, the noise bare's time is within
    assert "4.00 ms" in line  # the system's own added time is still reported


def test_the_ab_report_compares_each_tree_with_the_first_round_by_round() -> None:
    """Ratios are medians of per-round ratios: a round that is slow for both trees (the
    machine drifting) moves neither tree's ratio."""
    from pathlib import Path

    from bench.ab import Tree, report

    before, after = Tree("before", Path("a")), Tree("after", Path("b"))
    before.runs[1] = [(1.0, 5.0, 500.0, 1.0), (2.0, 9.0, 250.0, 2.0), (1.1, 5.0, 480.0, 1.1)]
    after.runs[1] = [(0.9, 4.0, 550.0, 0.9), (1.8, 8.0, 270.0, 1.8), (0.99, 4.0, 530.0, 0.99)]
    rows = report([before, after], [1]).splitlines()
    assert rows[2] == "| before | c=1 | 1.100 | 5.00 | 480 | 1.100 | 1.000 | 1.000 |"
    assert rows[3] == "| after | c=1 | 0.990 | 4.00 | 530 | 0.990 | 0.900 | 0.900 |"
