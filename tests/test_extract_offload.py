"""The grammar extractor's work runs in a child process, never on the gateway's event loop."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from selfmodel.domain.models import Observation
from selfmodel.observer.extractors import GrammarExtractor, offload


async def test_extraction_runs_in_another_process_and_a_killed_one_is_replaced() -> None:
    extractor = GrammarExtractor()
    await extractor.prepare()
    child = await offload.run(extractor.warm, os.getpid)
    assert child != os.getpid()
    said = Observation(id="obs_1", tenant="t", user_id="u", at=1.0,
                       content="I'm a nurse and I prefer short answers.")
    statements = {c.statement for c in (await extractor.extract(said, None)).claims}
    assert any("nurse" in s.lower() for s in statements), statements

    os.kill(child, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        await offload.run(extractor.warm, os.getpid)
    replaced = await offload.run(extractor.warm, os.getpid)  # a new child, models loaded
    assert replaced not in (child, os.getpid())
    assert (await extractor.extract(said, None)).claims
