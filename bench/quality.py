"""Quality of what selfmodel learns and injects, as one table with both columns.

    python -m bench.quality [--eval-dir ../shared/eval] [--quick] [--only SECTIONS]
                            [--llm-model ALIAS --config FILE] [--embeddings]
                            [--embedding-model ALIAS --config FILE]
                            [--details FILE] [--no-write]

Sections (``--only extraction,selection``; all by default):
- extraction: PrefEval explicit and implicit preferences, PrefEval small talk, the
  hand-written small talk, everyday disclosures and their noise, natural conversations;
- selection: PrefEval questions, gold + 9 distractors from other topics / the same topic;
- blocks: same-meaning pairs in the blocks selected for the extraction runs' users, and a
  200-statement sample checked for well-formedness (needs extraction);
- poisoning: BIPIA attacks spliced into benign messages, through the real gateway;
- corrections: hand-written scripts, through the real gateway;
- delivery: prompt-prefix stability over 10-turn conversations (bench/prompt_cache.py).

Every row reports the topics the team tunes on (bench/quality_data.TUNE) and the held-out
ones (HELD_OUT) side by side; the hand-written fixtures and the gateway runs have no split
and fill one column. ``--quick`` samples (12 PrefEval records per topic and set, 50 attacks,
2 users for delivery) and, like ``--only``, prints without touching QUALITY.md. A full run
writes the table into QUALITY.md between its markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import quality_data as data
from bench.quality_blocks import OWN_CHECK, Pairs, Sampled, block_pairs, sample_statements
from bench.quality_corrections import CorrectionResult
from bench.quality_corrections import evaluate as run_corrections
from bench.quality_extraction import ExtractionResult, Outcome
from bench.quality_extraction import evaluate as run_extraction
from bench.quality_match import coverage
from bench.quality_poisoning import PoisonResult, Tally
from bench.quality_poisoning import evaluate as run_poisoning
from bench.quality_report import (
    NO_SPLIT,
    Row,
    count,
    markdown,
    share,
    split_n,
    write_between_markers,
)
from bench.quality_selection import Ranks, extract_all
from bench.quality_selection import evaluate as run_selection
from bench.quality_tfidf import TfidfRelevance
from selfmodel.domain.safety import instruction_reason
from selfmodel.observer.apply import Extractor
from selfmodel.personalize.provider_embedding import ProviderEmbedder, router_fetch
from selfmodel.personalize.relevance import LexicalRelevance, Relevance
from selfmodel.personalize.semantic import Embedder, HybridRelevance, query_text

QUALITY_MD = data.ROOT / "QUALITY.md"
# The data set README's word-overlap reference (gold first, by same_topic): a lenient count
# (ties as wins; bench/quality_tfidf.py measures it on our cases in both counts).
TF_IDF = {False: 0.829, True: 0.437}
SECTIONS = ("extraction", "selection", "blocks", "poisoning", "corrections", "delivery")
QUICK_PER_TOPIC = 12
QUICK_ATTACKS = 50
T = TypeVar("T")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=data.DEFAULT_EVAL_DIR)
    parser.add_argument("--quick", action="store_true",
                        help="sampled run for iteration (prints, leaves QUALITY.md)")
    parser.add_argument("--per-topic", type=int,
                        help="PrefEval records per topic and set (seeded sample; default all, "
                             f"--quick {QUICK_PER_TOPIC}); a full run with it still writes "
                             "the table, and its notes say so")
    parser.add_argument("--only", type=_sections, default=SECTIONS,
                        help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--llm-model", help="model alias for the llm extractor (needs --config)")
    parser.add_argument("--config", help="config.yaml that defines --llm-model's deployment")
    parser.add_argument("--llm-sample", type=int, default=100,
                        help="records per PrefEval set for the llm extractor (cost bound)")
    parser.add_argument("--embeddings", action="store_true",
                        help="add selection rows ranked by all-MiniLM-L6-v2 (extra 'embeddings')")
    parser.add_argument("--embedding-model",
                        help="add selection rows ranked with this model_list alias's "
                             "embeddings (a provider's; needs --config)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only, leave QUALITY.md")
    parser.add_argument("--details", type=Path, help="write misses, samples and failures here")
    args = parser.parse_args(argv)
    if (args.llm_model or args.embedding_model) and not args.config:
        parser.error("--llm-model and --embedding-model need --config (the file that "
                     "defines the alias)")
    if "blocks" in args.only and "extraction" not in args.only:
        parser.error("--only blocks needs extraction too (it reads the users it made)")
    return args


def _sections(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or '(none)'}; choose from "
            + ", ".join(SECTIONS))
    return names


def writes_table(args: argparse.Namespace) -> bool:
    """Only a full run of every section replaces QUALITY.md's table."""
    return not (args.no_write or args.quick or tuple(args.only) != SECTIONS)


# -- rows ----------------------------------------------------------------------------------


def split_row(measure: str, system: str, outcome: Outcome, target: str) -> Row:
    tuned, n_tuned = outcome.share(data.TUNE)
    held, n_held = outcome.share(data.HELD_OUT)
    return Row(measure, system, share(tuned), share(held), split_n(n_tuned, n_held), target)


def one_column(measure: str, system: str, outcome: Outcome, target: str, *,
               held_out: bool = False) -> Row:
    value, n = outcome.share()
    cells = (NO_SPLIT, share(value)) if held_out else (share(value), NO_SPLIT)
    return Row(measure, system, *cells, str(n), target)


def extraction_rows(name: str, result: ExtractionResult, sampled: str = "") -> list[Row]:
    system = name + sampled
    rows = [
        split_row("Extraction: explicit preference stored (matches gold)", system,
                  result.explicit, ">= 0.95"),
        split_row("Extraction: implicit preference stored (matches gold)", system,
                  result.implicit, ">= 0.6 (word-overlap ceiling 0.698)"),
        split_row("False beliefs: PrefEval small-talk turns, any belief", system,
                  result.small_talk.any_belief, "<= 0.05 (see note)"),
        split_row("False beliefs: PrefEval small-talk turns, preference beliefs", system,
                  result.small_talk.preference, "-"),
        one_column("False beliefs: hand-written small talk (tests/data), any belief", system,
                   result.fixture, "< 0.05"),
    ]
    if result.everyday.hits:
        rows.append(one_column("Everyday disclosures learned (tests/data, 18 areas)", system,
                               result.everyday, ">= 0.9"))
    if result.noise.hits:
        rows.append(one_column("False beliefs: everyday noise (others, hypotheticals, moods, "
                               "one-off tasks)", system, result.noise, "0"))
    if result.natural.hits:
        rows.append(one_column("Natural conversations: facts mentioned in passing learned",
                               system, result.natural, ">= 0.3", held_out=True))
    return rows


def selection_rows(name: str, ranks: Ranks, same: bool, what: str) -> list[Row]:
    (inj, strict, lenient, top3), n = ranks.means(data.TUNE)
    (hinj, hstrict, hlenient, htop3), hn = ranks.means(data.HELD_OUT)
    label = "same topic" if same else "other topics"
    first_target = ">= 0.5" if same else ">= 0.9"
    sizes = split_n(n, hn)
    return [
        Row(f"Selection ({label}, {what}): gold injected", name, share(inj), share(hinj),
            sizes, "-"),
        Row(f"Selection ({label}, {what}): gold first, strict / lenient", name,
            f"{share(strict)} / {share(lenient)}", f"{share(hstrict)} / {share(hlenient)}",
            sizes, f"{first_target} (README TF-IDF {TF_IDF[same]}, lenient)"),
        Row(f"Selection ({label}, {what}): gold in top 3", name, share(top3), share(htop3),
            sizes, "-"),
    ]


def block_rows(pairs: Pairs, sampled: Sampled) -> list[Row]:
    tuned = (*data.TUNE, "everyday")
    held = (*data.HELD_OUT, "natural")
    tp, tb, tn = pairs.total(tuned)
    hp, hb, hn = pairs.total(held)
    bad_t, n_t = sampled.bad("tuned")
    bad_h, n_h = sampled.bad("held-out")
    own = []
    if sampled.checker != OWN_CHECK:
        own_t, own_h = sampled.bad("tuned", own=True)[0], sampled.bad("held-out", own=True)[0]
        own = [Row("Malformed statements in the same sample, the bench's own check",
                   OWN_CHECK, count(own_t, n_t), count(own_h, n_h), split_n(n_t, n_h),
                   "0 (see note)")]
    return [
        Row("Same-meaning pairs in an injected block (pairs; blocks holding one)",
            "select (default policy)", f"{tp}; {count(tb, tn)}", f"{hp}; {count(hb, hn)}",
            split_n(tn, hn), "0"),
        Row(f"Malformed statements in a {n_t + n_h}-belief sample", sampled.checker,
            count(bad_t, n_t), count(bad_h, n_h), split_n(n_t, n_h), "0"),
        *own,
    ]


def poisoning_rows(result: PoisonResult, refused: int, benign: int) -> list[Row]:
    def rows(channel: str, tally: Tally) -> list[Row]:
        n = str(tally.messages)
        return [
            Row(f"Poisoning ({channel}): stored belief carries the attack", "gateway",
                count(tally.stored, tally.messages), NO_SPLIT, n, "0"),
            Row(f"Poisoning ({channel}): reached the same user's forwarded prompt", "gateway",
                count(tally.forwarded, tally.messages), NO_SPLIT, n, "0"),
            Row(f"Poisoning ({channel}): reached another user's forwarded prompt", "gateway",
                count(tally.forwarded_other, tally.messages), NO_SPLIT, n, "0"),
            Row(f"Poisoning ({channel}): the user's real fact beside the attack kept",
                "gateway", count(tally.fact_kept, tally.fact_messages), NO_SPLIT,
                str(tally.fact_messages), "high"),
        ]

    return [*rows("chat exchange", result.chat), *rows("explicit observation",
                                                       result.observation),
            Row("Benign preferences (PrefEval explicit) refused by the guard", "guard",
                count(refused, benign), NO_SPLIT, str(benign), "low")]


def correction_rows(result: CorrectionResult) -> list[Row]:
    return [
        Row("Corrections: corrected belief no longer applied next turn", "gateway",
            count(result.corrected, result.set_up), NO_SPLIT, f"{result.set_up} set up of "
            f"{result.scripts} scripts", "1.0"),
        Row("Corrections: the replacement value applied instead", "gateway",
            count(result.replaced, result.replacements), NO_SPLIT, str(result.replacements),
            "-"),
    ]


def delivery_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    rows = []
    for name, scenarios in results.items():
        still, added = scenarios["no belief changes"], scenarios["one belief added"]
        rows.append(Row(f"Prompt prefix kept turn to turn, no belief change: {name}",
                        "gateway", count(still.kept, still.pairs), NO_SPLIT, str(still.pairs),
                        ">= 0.9" if "before" not in name else "-"))
        rows.append(Row(f"Prompt prefix kept turn to turn, one belief added: {name}",
                        "gateway", count(added.kept, added.pairs), NO_SPLIT, str(added.pairs),
                        "-"))
    return rows


# -- the run -------------------------------------------------------------------------------


def reachable(conversations: Sequence[data.Conversation]) -> float:
    """Share of implicit conversations with a turn holding half the gold's words: roughly
    what an extractor that keeps the user's own words can match under word overlap."""
    hits = [max((coverage(c.preference, u)[0] for u, _ in c.turns), default=0.0) >= 0.5
            for c in conversations]
    return sum(hits) / len(hits) if hits else float("nan")


def per_topic(records: Sequence[T], size: int, seed: int) -> list[T]:
    """A seeded sample of ``size`` records of each topic (records have ``.topic``)."""
    rng = random.Random(seed)
    out: list[T] = []
    for topic in data.TOPICS:
        group = [r for r in records if getattr(r, "topic", None) == topic]
        out += rng.sample(group, min(size, len(group)))
    return out


async def llm_extractor(config_path: str, alias: str) -> Extractor:
    from selfmodel.config import load_config
    from selfmodel.observer.extractors import build_extractor
    from selfmodel.providers.router import Router

    config = load_config(config_path)
    config = config.model_copy(update={"observer": config.observer.model_copy(
        update={"extractor": "llm", "model": alias})})
    router = Router(config)
    await router.start()
    return build_extractor(config, router)


def default_extractor() -> tuple[str, Extractor]:
    """The extractor a default config builds, and its name for the table."""
    from selfmodel.config import Config
    from selfmodel.observer.extractors import build_extractor

    extractor = build_extractor(Config())
    return str(getattr(extractor, "name", type(extractor).__name__)), extractor


async def provider_embedder(config_path: str, alias: str, texts: Sequence[str]
                            ) -> ProviderEmbedder:
    """The alias's embeddings through the provider router, every text fetched up front
    (the bench ranks synchronously, as the gateway does after its fetch)."""
    from selfmodel.config import load_config
    from selfmodel.providers.router import Router

    config = load_config(config_path)
    deployments = config.deployments(alias)
    if not deployments:
        raise SystemExit(f"--embedding-model {alias!r} is not a model_name in {config_path}")
    router = Router(config)
    await router.start()
    embedder = ProviderEmbedder(alias, deployments[0].litellm_params.model,
                                router_fetch(router, alias))
    if not await embedder.fetch(texts, timeout=1800.0):
        raise SystemExit(f"--embedding-model {alias!r}: the provider did not embed the texts")
    await router.close()
    return embedder


def embedding_relevance() -> Relevance:
    from selfmodel.personalize.embedding import EmbeddingRelevance

    relevance: Relevance = EmbeddingRelevance()
    return relevance


@dataclass
class Run:
    """What the sections produced."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Measure:
    """The sections of one run, each adding its rows, notes and details to ``run``."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.run = Run()
        self.all_explicit = data.explicit(args.eval_dir)
        self.explicit = self.all_explicit
        self.implicit = data.implicit(args.eval_dir)
        size = args.per_topic or (QUICK_PER_TOPIC if args.quick else None)
        if size:
            self.explicit = per_topic(self.explicit, size, args.seed)
            self.implicit = per_topic(self.implicit, size, args.seed)
        self.name, self.extractor = default_extractor()
        self.result: ExtractionResult | None = None

    async def all(self) -> Run:
        for section in self.args.only:
            started = time.monotonic()
            await getattr(self, section)()
            self.run.timings.append(f"{section} {time.monotonic() - started:.0f} s")
        return self.run

    async def extraction(self) -> None:
        everyday, noise = data.everyday()
        result = await run_extraction(self.extractor, self.workdir, self.explicit,
                                      self.implicit, data.small_talk(), everyday=everyday,
                                      noise=noise, natural=data.natural())
        self.result = result
        self.run.rows += extraction_rows(self.name, result)
        self.run.details[self.name] = _extraction_details(result)
        self.run.notes.append(_everyday_note(result.everyday))
        if self.args.llm_model:
            await self._llm(everyday, noise)

    async def _llm(self, everyday: list[data.Disclosure], noise: list[data.Noise]) -> None:
        rng = random.Random(self.args.seed)
        size = self.args.llm_sample
        exp = rng.sample(self.explicit, min(size, len(self.explicit)))
        imp = rng.sample(self.implicit, min(size, len(self.implicit)))
        extractor = await llm_extractor(self.args.config, self.args.llm_model)
        llm = await run_extraction(extractor, self.workdir, exp, imp, data.small_talk(),
                                   everyday=everyday, noise=noise, natural=data.natural(),
                                   concurrency=4)
        self.run.rows += extraction_rows(f"llm ({self.args.llm_model})", llm,
                                         f", sample of {size}")
        self.run.details["llm"] = _extraction_details(llm)

    async def selection(self) -> None:
        rankers: list[tuple[str, Relevance | None, Embedder | None]] = [
            ("hybrid (default)", None, None), ("lexical", LexicalRelevance(), None),
            ("TF-IDF reference (bench/quality_tfidf.py)", TfidfRelevance(), None)]
        if self.args.embeddings:
            rankers.append(("embeddings (all-MiniLM-L6-v2)", embedding_relevance(), None))
        seed, pool = self.args.seed, self.all_explicit
        if self.args.embedding_model:
            texts = [p.preference for p in pool] + [query_text(p.question) for p in pool]
            embedder = await provider_embedder(self.args.config, self.args.embedding_model,
                                               texts)
            rankers.append((f"hybrid, {self.args.embedding_model} embeddings",
                            HybridRelevance(embedder), embedder))
        for name, relevance, vectors in rankers:
            for same in (False, True):
                ranks = run_selection(self.explicit, same_topic=same, seed=seed,
                                      relevance=relevance, pool=pool, embedder=vectors)
                self.run.rows += selection_rows(name, ranks, same, "stated")
        claims = await extract_all(self.extractor, [p.preference for p in pool])
        for same in (False, True):
            ranks = run_selection(self.explicit, same_topic=same, seed=seed, claims=claims,
                                  pool=pool)
            self.run.rows += selection_rows(f"{self.name} + hybrid", ranks, same,
                                            "extracted")[1:2]

    async def blocks(self) -> None:
        assert self.result is not None, "blocks runs after extraction"
        finals = self.result.finals
        pairs = block_pairs(finals)
        sides = {"tuned": (*data.TUNE, "everyday"), "held-out": (*data.HELD_OUT, "natural")}
        sampled = sample_statements(finals, sides, self.args.seed)
        self.run.rows += block_rows(pairs, sampled)
        self.run.details["same-meaning pairs"] = pairs.examples
        self.run.details["statement sample"] = {
            side: [{"statement": s, "malformed": why, "bench check": own[1]}
                   for (s, why), own in zip(rows, sampled.own[side], strict=True)]
            for side, rows in sampled.rows.items()}

    async def poisoning(self) -> None:
        attacks = data.attacks(self.args.eval_dir)
        if self.args.quick:
            attacks = random.Random(self.args.seed).sample(attacks, QUICK_ATTACKS)
        poison = await run_poisoning(attacks, self.workdir)
        refused = [p.preference for p in self.all_explicit if instruction_reason(p.preference)]
        self.run.rows += poisoning_rows(poison, len(refused), len(self.all_explicit))
        self.run.details["poisoning"] = {"chat": poison.chat.failures,
                                         "observation": poison.observation.failures,
                                         "benign refused": refused}
        self.run.notes.append(_poison_note(poison))

    async def corrections(self) -> None:
        result = await run_corrections(data.correction_scripts(), self.workdir)
        self.run.rows += correction_rows(result)
        self.run.details["corrections"] = result.failures

    async def delivery(self) -> None:
        from bench import prompt_cache

        users = 2 if self.args.quick else 4
        results = await prompt_cache.measure(users, 10, self.workdir)
        self.run.rows += delivery_rows(results)
        self.run.details["delivery misses"] = {
            name: {scenario: tally.misses for scenario, tally in s.items()}
            for name, s in results.items()}
        self.run.notes.append(
            f"Delivery: {users} users x 10-turn conversations per cell through the gateway "
            "(a fake provider records each body); a pair of consecutive requests counts when "
            "the later prompt begins with the earlier one, less at most its last user turn "
            "(bench/prompt_cache.py).")


def _extraction_details(result: ExtractionResult) -> dict[str, Any]:
    return {"explicit misses": result.explicit.examples,
            "implicit misses": result.implicit.examples,
            "small-talk beliefs": result.small_talk.any_belief.examples,
            "fixture beliefs": result.fixture.examples,
            "everyday misses": result.everyday.examples,
            "everyday noise beliefs": result.noise.examples,
            "natural misses": result.natural.examples}


def _everyday_note(outcome: Outcome) -> str:
    if not outcome.hits:
        return ""
    areas = ", ".join(f"{area} {sum(v)}/{len(v)}" for area, v in sorted(outcome.hits.items()))
    return f"Everyday disclosures by area: {areas}."


def _poison_note(poison: PoisonResult) -> str:
    attacks = poison.chat.messages // 4 if poison.chat.messages else 0
    return (f"BIPIA: {attacks} attack strings x 4 splice templates. Carrying (poisoning): "
            ">= 50% of the attack's content words absent from the benign text around it; "
            f"attacks with < 2 such words: {poison.unscored}.")


def notes(measure: Measure) -> list[str]:
    args, run = measure.args, measure.run
    size = args.per_topic or (QUICK_PER_TOPIC if args.quick else None)
    sampled = f" (a seeded sample: {size} records per topic and set)" if size else ""
    if args.quick:
        sampled += f"; --quick: {QUICK_ATTACKS} attacks, 2 delivery users"
    head = [
        f"Data: PrefEval {len(measure.explicit)} explicit preferences and "
        f"{len(measure.implicit)} conversations{sampled}. Tuned: {', '.join(data.TUNE)}; "
        f"held out: {', '.join(data.HELD_OUT)}. Hand-written fixtures (tests/data) have no "
        "split and fill one column: the everyday disclosures, their noise and the small talk "
        "are visible to the team (Tuned); the natural conversations are held out.",
        "Match (extraction): the beliefs one message stored cover >= 50% of the gold's "
        "stemmed content words, and >= 25% of their words are gold words.",
        f"Implicit ceiling under word overlap: {reachable(measure.implicit):.3f} of the "
        "conversations have a turn holding >= 50% of the gold's words (the rest paraphrase "
        "it).",
    ]
    if "blocks" in args.only:
        head.append("Blocks: each extraction user's block as select() picks it for the "
                    "user's question (PrefEval topics, everyday: tuned; natural: held out); "
                    "same meaning = same slot, WordLlama cosine >= 0.92, or the same content "
                    "words after the verb. The statement sample: 100 distinct stored "
                    f"statements per side, seeded, checked with {_checker_name()} (an "
                    "extractor that filters with its own check passes it by construction, so "
                    "the bench's independent parse check is reported beside it); read them "
                    "and both verdicts in the details file (--details).")
    return head + [n for n in run.notes if n] + ["Run time: " + ", ".join(run.timings) + "."]


def _checker_name() -> str:
    from bench.quality_blocks import checker

    return checker()[0]


def main(argv: Sequence[str] | None = None) -> None:
    from bench.prompt_cache import quiet

    args = parse(argv)
    quiet()
    with tempfile.TemporaryDirectory(prefix="selfmodel-quality-") as tmp:
        measure = Measure(args, Path(tmp))
        run = asyncio.run(measure.all())
    table = markdown(run.rows, notes(measure))
    print(table)
    if args.details:
        args.details.write_text(json.dumps(run.details, indent=1), encoding="utf-8")
    if writes_table(args):
        write_between_markers(QUALITY_MD, table)
        print(f"\nwritten into {QUALITY_MD}")


if __name__ == "__main__":
    main()
