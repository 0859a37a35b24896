"""``selfmodel user show USER --tenant T``: one user's self-model, readable in a terminal.

An operator answering "why did the assistant say that to this user?" or a user's access
request wants the beliefs, how sure selfmodel is of each, and the words they came from. The
table shows every belief (rejected and superseded ones too, marked), most confident first,
each followed by its evidence, newest first; ``--json`` prints what
``GET /v1/self-models/{user}`` returns instead. Read-only: it opens the store, reads one
model and closes it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from selfmodel.api.schemas import model_json
from selfmodel.config import Config
from selfmodel.domain.confidence import alignment_score, confidence
from selfmodel.domain.identity import user_id_problem
from selfmodel.domain.models import Belief, Evidence, SelfModel
from selfmodel.store import open_store
from selfmodel.store.base import StoreError

__all__ = ["format_model", "show_user"]

_QUOTE_WIDTH = 70
_HEADER = ["CONFIDENCE", "STATUS", "KIND", "SLOT", "VALUE", "OBS", "LAST SEEN"]


def show_user(config: Config, tenant: str, user_id: str, *, as_json: bool = False) -> int:
    """Print the model; 0 when shown, 1 when there is none or the store fails, 2 for a tenant
    that is not configured."""
    names = [t.name for t in config.effective_tenants()]
    if tenant not in names:
        print(f"selfmodel: no tenant named {tenant!r} (configured: {', '.join(names)})",
              file=sys.stderr)
        return 2
    problem = user_id_problem(user_id)
    if problem:  # the rule every entry point applies: such an id was never stored
        print(f"selfmodel: the user id {problem}", file=sys.stderr)
        return 2
    try:
        model = asyncio.run(_load(config, tenant, user_id))
    except StoreError as exc:
        print(f"selfmodel: cannot read the store: {exc}", file=sys.stderr)
        return 1
    if model is None:
        print(f"selfmodel: no self-model for user {user_id!r} in tenant {tenant!r}",
              file=sys.stderr)
        return 1
    now = time.time()
    if as_json:
        print(json.dumps(model_json(model, model.beliefs, now), indent=2))
    else:
        print(format_model(model, now))
    return 0


async def _load(config: Config, tenant: str, user_id: str) -> SelfModel | None:
    store = open_store(config.store_url())
    await store.start()
    try:
        return await store.get_model(tenant, user_id)
    finally:
        await store.close()


def format_model(model: SelfModel, now: float) -> str:
    """The summary line, the belief table, and each belief's statement and evidence."""
    ranked = sorted(model.beliefs, key=lambda b: (-confidence(b, now), b.id))
    active = sum(1 for b in ranked if b.status.value == "active")
    lines = [f"User {model.user_id}, tenant {model.tenant}: {len(ranked)} beliefs "
             f"({active} active), alignment {alignment_score(model, now):.2f}, "
             f"version {model.version}, updated {_when(model.updated_at)}"]
    if not ranked:
        return "\n".join([*lines, "", "  No beliefs yet."])
    lines += ["", *_table([_HEADER, *(_row(b, now) for b in ranked)])]
    for belief in ranked:
        lines += ["", *_details(belief, now)]
    return "\n".join(lines)


def _row(belief: Belief, now: float) -> list[str]:
    return [f"{confidence(belief, now):.2f}", belief.status.value, belief.kind.value,
            f"{belief.domain}/{belief.key}", belief.value, str(belief.observations),
            _when(belief.last_seen)]


def _details(belief: Belief, now: float) -> list[str]:
    context = f" (context: {belief.context})" if belief.context else ""
    head = (f"  {belief.domain}/{belief.key} = {belief.value}  "
            f"[{confidence(belief, now):.2f}, {belief.status.value}]{context}")
    lines = [head, f"    {belief.statement}",
             f"    applied {belief.times_applied} times, accepted {belief.times_accepted}; "
             "evidence, newest first:"]
    lines += [_evidence(item) for item in reversed(belief.evidence)] or ["      (none kept)"]
    return lines


def _evidence(item: Evidence) -> str:
    sign = "+" if item.polarity > 0 else "-"
    quote = " ".join(item.quote.split())
    quote = quote if len(quote) <= _QUOTE_WIDTH else quote[:_QUOTE_WIDTH] + "..."
    return (f"      {sign} {item.source.value:<10} {_when(item.at)}  \"{quote}\"  "
            f"({item.observation_id})")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


def _when(ts: float) -> str:
    """UTC to the second: enough to read, short enough for a table."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts)) if ts > 0 else "never"
