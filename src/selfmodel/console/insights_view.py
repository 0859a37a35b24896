"""The insights page's content: ``GET /v1/insights``'s figures, and rates over days.

The figures come from ``insights_report.collect_insights``, the one function behind the JSON
endpoint and the CLI, so the page cannot disagree with them. The charts are geometry for
inline SVG (``charts``); every chart has its table on the page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from selfmodel.config import Tenant
from selfmodel.console import series
from selfmodel.console.charts import (
    BarChart,
    IntervalChart,
    LineChart,
    bar_chart,
    interval_chart,
    line_chart,
)
from selfmodel.domain.experiments import CONTROL, PERSONALIZED
from selfmodel.domain.insights import Insights
from selfmodel.domain.lift import Experiment, Metric
from selfmodel.insights_report import MODEL_LIMIT, PROPORTIONS, collect_insights
from selfmodel.services import Services

DAYS = 14
ARMS = (CONTROL, PERSONALIZED)


@dataclass
class ExperimentView:
    experiment: Experiment
    lifts: IntervalChart  # the difference personalized - control, with its 95% interval
    means: BarChart  # the primary metric's mean per arm


@dataclass
class InsightsView:
    insights: Insights
    experiments: list[ExperimentView] = field(default_factory=list)
    alignment: BarChart = field(default_factory=BarChart)
    days: list[series.Day] = field(default_factory=list)
    rates: LineChart = field(default_factory=LineChart)


def figure(metric: Metric, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if metric.name in PROPORTIONS else f"{value:,.3g}"


def relative_rows(experiment: Experiment) -> list[tuple[str, float, float, float, str]]:
    """Each metric's lift and interval relative to the control arm's mean, so metrics of
    different units (rates, tokens) share one axis; metrics without a lift or with a zero
    control mean are left to the table."""
    rows = []
    for m in experiment.metrics:
        control = m.arms.get(CONTROL)
        base = control.mean if control is not None else None
        if m.lift is None or not base:
            continue
        base = abs(base)
        rows.append((m.name, m.lift.low / base, m.lift.difference / base, m.lift.high / base,
                     f"{m.lift.difference / base:+.0%} ({m.lift.result})"))
    return rows


def _experiment(experiment: Experiment) -> ExperimentView:
    rows = relative_rows(experiment)
    primary = experiment.metrics[0] if experiment.metrics else None
    bars = []
    if primary is not None:
        for arm in ARMS:
            estimate = primary.arms.get(arm)
            mean = estimate.mean if estimate is not None else None
            users = estimate.users if estimate is not None else 0
            bars.append((arm, mean or 0.0, f"{figure(primary, mean)} (n={users})"))
    return ExperimentView(experiment, interval_chart(rows), bar_chart(bars))


async def insights_view(services: Services, tenant: Tenant, now: float) -> InsightsView:
    store = services.store
    insights = await collect_insights(store, tenant, since=0.0, now=now)
    decisions, models = await asyncio.gather(
        store.list_decisions(tenant.name, since=now - DAYS * series.DAY),
        store.list_models(tenant.name, limit=MODEL_LIMIT))
    days = await asyncio.to_thread(series.daily, decisions, models, now=now, days=DAYS)
    view = InsightsView(insights, [_experiment(e) for e in insights.experiments])
    view.alignment = bar_chart([(k, float(v), f"{v:,}")
                                for k, v in insights.alignment_histogram.items()])
    view.days = days
    view.rates = line_chart([d.day[5:] for d in days], [
        ("correction rate", "line-a", [d.correction_rate for d in days]),
        ("alignment", "line-b", [d.alignment for d in days]),
    ])
    return view
