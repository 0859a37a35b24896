"""Why a user's other beliefs were not applied to a request: the decision record's account.

Reasons, in the order selection meets them (personalize/selection.py):
- ``gate``: not active, below the tenant's ``min_confidence``, or outranked by a more
  confident value of the same slot. Counted only: listing them would cost the record (and
  the request) as much as the user has beliefs; the console shows today's gate instead.
- ``relevance``: passed the gate but ranked below the cut once ``max_beliefs`` were chosen
  (score = relevance, confidence, recency).
- ``budget``: did not fit the ``token_budget``.
- ``refused``: the injection guard refused the statement at render time.

The counts cover every belief; the ids of those that passed the gate are kept, up to
``KEPT``, so a record stays small whatever the model's size.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfmodel.domain.models import Belief
from selfmodel.personalize.selection import Selection

KEPT = 16
OVER_BUDGET = "over the token budget"


def left_out(total: int, passed: Sequence[tuple[Belief, float]], selection: Selection,
             max_beliefs: int) -> tuple[dict[str, int], dict[str, str]]:
    """(reason -> how many, belief id -> reason for up to ``KEPT`` of them).

    On the request path: the counts are arithmetic and the walk over ``passed`` stops once
    ``KEPT`` ids are named, so the cost does not grow with the model.
    """
    counts: dict[str, int] = {}
    ids: dict[str, str] = {}
    if total > len(passed):
        counts["gate"] = total - len(passed)
    if not passed:
        return counts, ids
    for bid, why in selection.skipped:
        reason = "budget" if why == OVER_BUDGET else "refused"
        counts[reason] = counts.get(reason, 0) + 1
        if len(ids) < KEPT:
            ids[bid] = reason
    cut = len(passed) - len(selection.chosen) - len(selection.skipped)
    if cut <= 0:
        return counts, ids
    reason = "relevance" if len(selection.chosen) >= max_beliefs else "budget"
    counts[reason] = counts.get(reason, 0) + cut
    if len(ids) < KEPT:
        taken = {scored.belief.id for scored in selection.chosen}
        taken.update(bid for bid, _ in selection.skipped)
        for belief, _ in passed:
            if belief.id not in taken:
                ids[belief.id] = reason
                if len(ids) == KEPT:
                    break
    return counts, ids
