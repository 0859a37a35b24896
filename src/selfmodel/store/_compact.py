"""The compact encoding of what the stores keep per request: decision records and logged
observations, as raw DEFLATE with a preset dictionary, behind one format byte.

Why: every personalized request writes a decision record (3.7 KB of JSON with a 50-belief
user: the rendered block and a copy of each injected belief, which is what the explanation
API must show) and an observation (0.8 KB). Most of those bytes are field names and text
repeated between the block and the belief copies. DEFLATE finds the repeats inside a record;
the dictionary (field names and the usual values) gives even a short document its field
names for a few bits each. Measured on the bench's 50-belief user: a record 3,695 -> 833
bytes, an observation 792 -> 345. A record is still read back whole, so the explanation
endpoint returns exactly what was written.

Format: ``b"\\x01" + deflate(json, zdict=_ZDICT_1)``. A value that starts with ``{`` (text or
bytes) is plain JSON, written by an older version, and is read as it is. The dictionary of
format 1 must never change: a new dictionary is a new format byte.
"""

from __future__ import annotations

import zlib

FORMAT_1 = b"\x01"
_LEVEL = 6
_ZDICT_1 = (
    b'{"request_id":"req_","tenant":"default","user_id":"","at":,"model":"","surface":"chat",'
    b'"personalized":true,"reason":"","cold_start":false,"arm":null,"template":"default",'
    b'"template_version":"","beliefs":[{"id":"b_","statement":"","kind":"preference",'
    b'"domain":"communication","key":"","value":"","confidence":0.,"evidence_ids":["ev_"]}],'
    b'"defaults":[],"system_prompt":"<user_profile>'
    b'{"id":"obs_","tenant":"","user_id":"","type":"interaction","content":"","context":null,'
    b'"at":,"source":"gateway","key":null,"value":null,"kind":null,"domain":null,'
    b'"evidence":null,"assistant":"","model":"","request_id":"req_","applied_belief_ids":'
    b'["b_"],"previous_assistant":"","truncated":false,"surface":"chat"}'
)


def pack(doc: str) -> bytes:
    """A JSON document in the compact form."""
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT_1)
    return FORMAT_1 + deflate.compress(doc.encode()) + deflate.flush()


def unpack(raw: str | bytes) -> str | bytes:
    """The JSON document of a stored value, packed or plain (a value written before packing
    existed); ready for ``model_validate_json``."""
    if isinstance(raw, str) or not raw.startswith(FORMAT_1):
        return raw
    inflate = zlib.decompressobj(-15, _ZDICT_1)
    return inflate.decompress(raw[1:]) + inflate.flush()


def is_packed(raw: object) -> bool:
    return isinstance(raw, bytes | bytearray | memoryview) and bytes(raw[:1]) == FORMAT_1
