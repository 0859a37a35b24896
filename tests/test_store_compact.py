"""The compact encoding of decision records and logged observations (store/_compact.py):
what goes in comes out unchanged, it is several times smaller, and a record written as plain
JSON by an older version is still read by every store."""

from __future__ import annotations

import sqlite3
import time

from selfmodel.domain.models import AppliedBelief, DecisionRecord, Kind, Observation
from selfmodel.store import open_store
from selfmodel.store._compact import is_packed, pack, unpack


def fat_record() -> DecisionRecord:
    beliefs = [AppliedBelief(id=f"b_{i:024x}", statement=f"Prefers jazz examples with short "
                             f"explanations when discussing style (item {i})",
                             kind=Kind.PREFERENCE, domain="style", key=f"jazz_{i}",
                             value=f"jazz-{i}", confidence=0.81234 + i / 1000,
                             evidence_ids=[f"seed-{i}-0", f"seed-{i}-1"]) for i in range(8)]
    prompt = "<user_profile>\n" + "\n".join(f"- {b.statement}" for b in beliefs) + \
        "\n</user_profile>"
    return DecisionRecord(request_id="req_" + "ab" * 16, tenant="acme", user_id="u-42",
                          at=time.time(), model="gpt-4o-mini", personalized=True,
                          template="default.j2", template_version="f" * 64, beliefs=beliefs,
                          system_prompt=prompt)


def test_pack_round_trips_and_is_several_times_smaller() -> None:
    record = fat_record()
    doc = record.model_dump_json()
    packed = pack(doc)
    assert is_packed(packed) and not is_packed(doc.encode())
    assert DecisionRecord.model_validate_json(unpack(packed)) == record
    assert len(packed) * 3 < len(doc), (len(packed), len(doc))
    obs = Observation(id="obs_1", tenant="acme", user_id="u-42", content="I am vegetarian.",
                      at=time.time(), source="gateway", assistant="Noted.")
    assert Observation.model_validate_json(unpack(pack(obs.model_dump_json()))) == obs
    assert unpack(doc) == doc and unpack(doc.encode()) == doc.encode()  # plain JSON as is


async def test_sqlite_reads_records_written_as_plain_json(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    await store.start()
    try:
        old, new = fat_record(), fat_record().model_copy(update={"request_id": "req_new"})
        conn = sqlite3.connect(sqlite_url[len("sqlite:///"):])
        with conn:
            conn.execute("INSERT INTO decisions (tenant, request_id, user_id, at, expires_at, "
                         "doc) VALUES (?, ?, ?, ?, ?, ?)", (old.tenant, old.request_id,
                         old.user_id, old.at, time.time() + 60, old.model_dump_json()))
        conn.close()
        await store.put_decision(new, 60)
        assert await store.get_decision("acme", old.request_id) == old
        assert await store.get_decision("acme", new.request_id) == new
        assert {d.request_id for d in await store.list_decisions("acme")} == {
            old.request_id, new.request_id}
    finally:
        await store.close()
