"""The quality table: rows of (measure, system, tuned, held-out, n, target), as markdown, and
its place in QUALITY.md between two marker lines.

Every row has both columns: the data the team tunes on, and the data it never looks at. A
measure with no split (a hand-written fixture, the gateway runs) fills one of them and says
so in the other; the gap column (tuned minus held-out) is filled where both are numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- quality:begin (written by python -m bench.quality) -->"
END = "<!-- quality:end -->"


NO_SPLIT = "(no split)"


@dataclass(frozen=True)
class Row:
    measure: str
    system: str
    tuned: str
    held_out: str
    n: str
    target: str

    @property
    def gap(self) -> str:
        """Tuned minus held-out, when both are plain numbers (or 'a / b' pairs: the first)."""
        try:
            tuned = float(self.tuned.split(" / ")[0])
            held = float(self.held_out.split(" / ")[0])
        except ValueError:
            return ""
        if math.isnan(tuned) or math.isnan(held):
            return ""
        return f"{tuned - held:+.3f}"


def share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def count(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.3f})" if total else "n/a"


def split_n(tuned: int, held_out: int) -> str:
    return f"{tuned} / {held_out}"


def markdown(rows: list[Row], notes: list[str]) -> str:
    head = ("| Measure | System | Tuned | Held-out | Gap | n (tuned / held-out) | Target |\n"
            "|---|---|---|---|---|---|---|")
    lines = [head]
    lines += [f"| {r.measure} | {r.system} | {r.tuned} | {r.held_out} | {r.gap} | {r.n} | "
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
