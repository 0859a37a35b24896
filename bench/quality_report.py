"""The quality table: rows of (measure, system, all topics, held-out topics, n, target), as
markdown, and its place in QUALITY.md between two marker lines."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- quality:begin (written by python -m bench.quality) -->"
END = "<!-- quality:end -->"


@dataclass(frozen=True)
class Row:
    measure: str
    system: str
    all_topics: str
    held_out: str
    n: str
    target: str


def share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def count(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.3f})" if total else "n/a"


def markdown(rows: list[Row], notes: list[str]) -> str:
    head = ("| Measure | System | All 10 topics | Held-out 5 | n | Target |\n"
            "|---|---|---|---|---|---|")
    lines = [head]
    lines += [f"| {r.measure} | {r.system} | {r.all_topics} | {r.held_out} | {r.n} | "
              f"{r.target} |" for r in rows]
    return "\n".join(lines) + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")


def write_between_markers(path: Path, table: str) -> None:
    """Replace what lies between the markers (or append them with the table)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")
