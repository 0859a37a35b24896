"""Corrections: scripted conversations in which the user corrects a personalized answer.

Each script (tests/data/quality_corrections.json) runs as one user's real chat through the
gateway, the full message history resent each turn as chat apps do:
1. the user states a preference;
2. asks a question: the decision record (``GET /v1/decisions/{request_id}``) must show the
   belief applied ("set up"; a script whose belief never got applied cannot test a
   correction and is reported as such);
3. corrects that answer ("too long", "no, I'm not a beginner", "stop using bullet points");
4. asks the next question: the corrected belief must not be applied any more, neither in the
   decision record nor in the block the echo model received. When the script names a
   replacement, whether it is applied instead is reported too.
The worker applies each turn's observation before the next turn is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.quality_gateway import Answer, Gateway, running


@dataclass
class CorrectionResult:
    scripts: int = 0
    set_up: int = 0
    corrected: int = 0
    replacements: int = 0
    replaced: int = 0
    failures: list[str] = field(default_factory=list)
    by_area: dict[str, list[bool]] = field(default_factory=dict)


def _holds(beliefs: Sequence[dict[str, Any]], slot: dict[str, str]) -> dict[str, Any] | None:
    for belief in beliefs:
        if (str(belief.get("key", "")).lower() == slot["key"].lower()
                and str(belief.get("value", "")).lower() == slot["value"].lower()):
            return belief
    return None


async def _turn(gateway: Gateway, user: str, history: list[dict[str, str]], text: str,
                count: int) -> tuple[Answer, list[dict[str, Any]]]:
    history.append({"role": "user", "content": text})
    answer = await gateway.chat(user, list(history))
    history.append({"role": "assistant", "content": answer.text})
    decision = await gateway.decision(answer.request_id)
    await gateway.applied(user, count)
    return answer, list(decision.get("beliefs") or [])


async def run_script(gateway: Gateway, n: int, script: dict[str, Any],
                     result: CorrectionResult) -> None:
    user, history = f"c{n}", list[dict[str, str]]()
    turns: list[str] = script["turns"]
    target: dict[str, str] = script["corrected"]
    applied: list[list[dict[str, Any]]] = []
    answers: list[Answer] = []
    for i, text in enumerate(turns):
        answer, beliefs = await _turn(gateway, user, history, text, i + 1)
        applied.append(beliefs)
        answers.append(answer)
    result.scripts += 1
    before = _holds(applied[1], target)
    if before is None:
        result.failures.append(f"{script['name']}: never applied ({_show(applied[1])})")
        result.by_area.setdefault(script["area"], []).append(False)
        return
    result.set_up += 1
    still = _holds(applied[3], target) is not None or before["statement"] in answers[3].items
    result.corrected += not still
    result.by_area.setdefault(script["area"], []).append(not still)
    if still:
        result.failures.append(f"{script['name']}: still applied ({_show(applied[3])})")
    if script.get("replacement"):
        result.replacements += 1
        result.replaced += _holds(applied[3], script["replacement"]) is not None


def _show(beliefs: Sequence[dict[str, Any]]) -> str:
    return "; ".join(f"{b.get('key')}={b.get('value')}" for b in beliefs) or "nothing applied"


async def evaluate(scripts: Sequence[dict[str, Any]], workdir: Path) -> CorrectionResult:
    result = CorrectionResult()
    async with running(workdir) as gateway:
        await asyncio.gather(*(run_script(gateway, n, s, result)
                               for n, s in enumerate(scripts)))
    return result
