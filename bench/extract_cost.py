"""CPU cost of learning from one message with the grammar extractor, on PrefEval turns.

Every user turn of PrefEval's implicit-preference conversations (read in place from
``--eval-dir``, see bench/quality_data.py) goes through ``extract_grammar`` once, with the
answer it follows as ``previous_assistant``, as the worker would see it. Reported: the share
of messages the pre-filter sends past the parser, the CPU per skipped message (target
<= 0.1 ms) and per parsed message (target <= 3 ms p50), plus the one-time load of the parser
and the embeddings. Run: ``python -m bench.extract_cost [--eval-dir ../shared/eval]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench import quality_data as data
from selfmodel.domain.models import Observation
from selfmodel.observer.extractors.grammar import GrammarExtractor, extract_grammar
from selfmodel.observer.extractors.own_words import own_words
from selfmodel.observer.extractors.prefilter import worth_parsing


def turns(eval_dir: Path) -> list[tuple[str, str]]:
    """(user turn, the answer it follows) for every turn of every implicit conversation."""
    out = []
    for conversation in data.implicit(eval_dir):
        previous = ""
        for user, answer in conversation.turns:
            if user:
                out.append((user, previous))
            previous = answer
    return out


def cpu_ms(func: object, *args: object) -> float:
    start = time.process_time_ns()
    func(*args)  # type: ignore[operator]
    return (time.process_time_ns() - start) / 1e6


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=data.DEFAULT_EVAL_DIR)
    parser.add_argument("--limit", type=int, default=0, help="at most this many turns (0: all)")
    args = parser.parse_args(argv)
    messages = turns(args.eval_dir)
    if args.limit:
        messages = messages[: args.limit]

    started = time.perf_counter()
    GrammarExtractor.warm()
    load_s = time.perf_counter() - started

    skipped: list[float] = []
    parsed: list[float] = []
    for n, (text, previous) in enumerate(messages):
        observation = Observation(id=f"obs_{n}", tenant="bench", user_id="u", content=text,
                                  previous_assistant=previous, at=0.0)
        spent = cpu_ms(extract_grammar, observation, None)
        mine = own_words(text, previous)
        (parsed if mine and worth_parsing(mine) else skipped).append(spent)

    total = len(skipped) + len(parsed)
    print(f"messages: {total} PrefEval user turns; parser and embeddings loaded in "
          f"{load_s:.2f} s")
    for name, values, target in (("skipped by the pre-filter", skipped, "<= 0.1 ms"),
                                 ("parsed", parsed, "<= 3 ms p50")):
        share = len(values) / total if total else 0.0
        print(f"{name}: {len(values)} ({share:.1%}), CPU per message p50 "
              f"{statistics.median(values) if values else float('nan'):.3f} ms, p90 "
              f"{percentile(values, 0.9):.3f} ms (target {target})")


if __name__ == "__main__":
    main()
