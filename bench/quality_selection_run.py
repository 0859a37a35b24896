"""The selection part of bench.quality alone, for iterating on the ranking.

    python -m bench.quality_selection_run [--topics tune|held-out|all] [--relevance R]

Scores the same questions as ``python -m bench.quality`` (distractors drawn from all ten
topics with the same seed) but only those whose gold is on the chosen topics, and prints
gold-first strict / lenient and top-3 for other-topic and same-topic distractors. Misses
are not printed at all: look at them with ``--details`` of the full bench, for the tuning
topics only; the held-out half shows whether a change generalizes, read as figures.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from bench import quality_data as data
from bench.quality_selection import evaluate
from bench.quality_tfidf import TfidfRelevance
from selfmodel.personalize.relevance import LexicalRelevance

CHOICES = {"tune": data.TUNE, "held-out": data.HELD_OUT, "all": data.TOPICS}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quality_selection_run")
    parser.add_argument("--eval-dir", default=str(data.DEFAULT_EVAL_DIR))
    parser.add_argument("--topics", choices=sorted(CHOICES), default="tune")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--relevance", choices=("hybrid", "lexical", "tfidf"), default="hybrid",
                        help="the ranking: the default hybrid, the lexical one alone, or the "
                             "plain TF-IDF reference (bench/quality_tfidf.py)")
    args = parser.parse_args(argv)
    from pathlib import Path

    records = data.explicit(Path(args.eval_dir))
    topics = CHOICES[args.topics]
    started = time.monotonic()
    for same in (False, True):
        relevance = {"lexical": LexicalRelevance, "tfidf": TfidfRelevance}.get(args.relevance)
        ranks = evaluate(records, same_topic=same, seed=args.seed, topics=topics,
                         relevance=relevance() if relevance else None)
        label = "same topic " if same else "other topics"
        for name, half in (("tune", data.TUNE), ("held-out", data.HELD_OUT)):
            if not set(half) & set(topics):
                continue
            (injected, strict, lenient, top3), n = ranks.means(half)
            print(f"{label} {name:8} n={n:3} injected {injected:.3f}  first strict {strict:.3f}"
                  f" / lenient {lenient:.3f}  top-3 {top3:.3f}")
    print(f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
