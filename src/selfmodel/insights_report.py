"""``selfmodel insights --tenant T``: the tenant's insights as a readable terminal report.

Also the one place insights are read from a store (``collect_insights``), so the CLI and
``GET /v1/insights`` cannot drift apart, and their JSON form (``insights_json``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from selfmodel.config import Config, Tenant
from selfmodel.domain.experiments import CONTROL, PERSONALIZED
from selfmodel.domain.insights import Insights, Summary, compute_insights
from selfmodel.domain.lift import Experiment, Metric
from selfmodel.store import open_store
from selfmodel.store.base import Store, StoreError

MODEL_LIMIT = 10_000  # users read per report; more and the report says it covers a subset
DECISION_LIMIT = 100_000
PROPORTIONS = ("correction_rate", "feedback_up_share", "follow_up_rate")


async def collect_insights(store: Store, tenant: Tenant, *, since: float, now: float) -> Insights:
    """Read the tenant's models, decisions and outcomes, and compute off the event loop (a
    large tenant takes a moment of CPU that chat requests should not wait behind)."""
    models, decisions, outcomes = await asyncio.gather(
        store.list_models(tenant.name, limit=MODEL_LIMIT),
        store.list_decisions(tenant.name, since=since, limit=DECISION_LIMIT),
        store.list_outcomes(tenant.name, since=since),
    )
    result = await asyncio.to_thread(
        compute_insights, tenant.name, models, decisions, outcomes, now=now,
        experiment=tenant.experiment, min_confidence=tenant.policy.min_confidence, since=since)
    result.truncated = len(models) >= MODEL_LIMIT or len(decisions) >= DECISION_LIMIT
    return result


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def insights_json(result: Insights) -> dict[str, Any]:
    """The JSON form: domain times (UNIX seconds) rendered as ISO 8601, as everywhere else."""
    body: dict[str, Any] = {"object": "insights", **result.model_dump(mode="json")}
    body["generated_at"] = iso(result.generated_at)
    body["since"] = iso(result.since) if result.since > 0 else None
    return body


def run_insights(config: Config, tenant: str, as_json: bool) -> int:
    """Print the tenant's insights; 0 on success, 1 if the store fails, 2 for an unknown tenant."""
    match = next((t for t in config.effective_tenants() if t.name == tenant), None)
    if match is None:
        names = ", ".join(t.name for t in config.effective_tenants())
        print(f"selfmodel: no tenant named {tenant!r} (configured: {names})", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_load(config, match))
    except StoreError as exc:
        print(f"selfmodel: cannot read the store: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(insights_json(result), indent=2) if as_json else format_report(result))
    return 0


async def _load(config: Config, tenant: Tenant) -> Insights:
    store = open_store(config.store_url())
    await store.start()
    try:
        return await collect_insights(store, tenant, since=0.0, now=time.time())
    finally:
        await store.close()


# -- the report ------------------------------------------------------------------------------


def format_report(result: Insights) -> str:
    """The whole report as text: verdict first, then the models, experiments and readiness."""
    lines = [f"selfmodel insights: tenant {result.tenant}, {iso(result.generated_at)}", "",
             f"Verdict: {result.verdict}"]
    if result.truncated:
        lines.append(f"(Figures cover the first {MODEL_LIMIT:,} users or {DECISION_LIMIT:,} "
                     "requests only.)")
    lines += ["", "Self-models", *_indent(_table(_overview(result)))]
    for experiment in result.experiments:
        lines += ["", *_experiment(experiment, shown=result.verdict)]
    lines += ["", "Readiness", *_indent(_table(_readiness(result)))]
    lines += [f"  - {note}" for note in result.readiness.notes]
    return "\n".join(lines)


def _overview(r: Insights) -> list[list[str]]:
    req = r.requests
    reasons = ", ".join(f"{k} {v:,}" for k, v in req.not_personalized.items()) or "none"
    return [
        ["users with a model", f"{r.users:,}"],
        ["beliefs per user", _summary(r.beliefs_per_user, "{:.1f}")],
        ["confident beliefs per user", _summary(r.confident_beliefs_per_user, "{:.1f}")],
        ["requests personalized", f"{_pct(req.share_personalized)} of {req.total:,}"],
        ["not personalized, why", reasons],
        ["belief kinds", _counts(r.kinds)],
        ["belief domains", _counts(r.domains)],
        ["alignment score", _summary(r.alignment, "{:.2f}")],
        ["alignment histogram", "  ".join(f"{k}: {v}" for k, v in
                                          r.alignment_histogram.items())],
        ["since last update", _summary(r.freshness_seconds, None)],
        *([f"outcome {name}", f"{o.events:,} events, {o.users:,} users, mean {o.mean:.3g}"]
          for name, o in r.outcomes.items()),
    ]


def _experiment(e: Experiment, shown: str) -> list[str]:
    share = f"control share {e.control_share:.0%}" if e.control_share is not None else "ended"
    header = ["", "control", "personalized", "difference (95% CI)", "result"]
    users = ["users", f"{e.arms[CONTROL].users:,}", f"{e.arms[PERSONALIZED].users:,}", "", ""]
    rows = [header, users, *(_metric_row(m) for m in e.metrics)]
    verdict = [] if e.verdict == shown else [f"  {e.verdict}"]
    return [f"Experiment {e.name} ({share})", *_indent(_table(rows)), *verdict]


def _metric_row(m: Metric) -> list[str]:
    fmt = _pct if m.name in PROPORTIONS else _num
    arms = [f"{fmt(m.arms[arm].mean)} (n={m.arms[arm].users})" for arm in (CONTROL, PERSONALIZED)]
    if m.lift is None:
        return [m.name, *arms, "n/a", "too few users"]
    diff = _points if m.name in PROPORTIONS else _signed
    low, high = diff(m.lift.low), diff(m.lift.high)
    span = f"{diff(m.lift.difference)} ({low}..{high})"
    if m.name in PROPORTIONS:
        span = f"{span} pts"
    return [m.name, *arms, span, m.lift.result]


def _readiness(r: Insights) -> list[list[str]]:
    ready = r.readiness
    diversity = "n/a" if ready.profile_diversity is None else f"{ready.profile_diversity:.2f}"
    return [
        ["active users (7d / 30d)", f"{ready.active_users_7d:,} / {ready.active_users_30d:,}"],
        ["users with a profile", f"{ready.users_with_profile:,}"],
        ["profile diversity (0..1)", diversity],
        ["generic answers corrected", f"{_pct(ready.generic_correction_rate)} "
                                      f"({ready.generic_correction_source})"],
        ["users for a 5-point test", f"~{ready.users_needed:,}"],
    ]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


def _indent(lines: list[str]) -> list[str]:
    return [f"  {line}" for line in lines]


def _summary(s: Summary, fmt: str | None) -> str:
    if s.count == 0 or s.mean is None or s.median is None:
        return "n/a"
    show = (lambda v: fmt.format(v)) if fmt else _duration
    spread = f", p10..p90 {show(s.p10)}..{show(s.p90)}" if s.p10 is not None else ""
    return f"mean {show(s.mean)}, median {show(s.median)}{spread}"


def _counts(counts: dict[str, int], top: int = 6) -> str:
    shown = ", ".join(f"{k} {v:,}" for k, v in list(counts.items())[:top])
    more = len(counts) - top
    return (shown + (f", +{more} more" if more > 0 else "")) or "none"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.3g}"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _signed(value: float) -> str:
    return f"{value:+,.3g}"
