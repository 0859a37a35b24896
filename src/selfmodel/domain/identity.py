"""The one rule for user ids, whatever the entry point: what can be written can be read,
exported and erased.

A user id arrives in a chat body (``user``, ``safety_identifier``, ``metadata.user_id``), a
header (``x-selfmodel-user``), a self-model API path or body, or an outcome. Each entry point
applies this rule, so an id accepted by one is accepted by all (and the same id everywhere):

- a string of 1 to ``MAX_USER_ID`` characters;
- no control, surrogate or line-separator characters (ids end up in store keys, in headers
  and in logs, where ``a\\r\\nX-Injected: 1`` would forge a line);
- no whitespace at either end (HTTP strips it from header values, so ``" alice"`` sent as a
  header would be another user than the same id sent in a body);
- not ``.`` or ``..`` (HTTP clients resolve those path segments away before sending, so
  ``GET /v1/self-models/..`` could never reach the user).

Everything else is accepted, ``/``, ``@``, ``%``, ``?``, spaces inside and any script included
(``team/alice`` and e-mail addresses are common ids): in API paths such characters are
percent-encoded by the client and decoded by the gateway (``api/user_ids.py``).
"""

from __future__ import annotations

import unicodedata

MAX_USER_ID = 256
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_DOT_SEGMENTS = frozenset({".", ".."})


def user_id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid user id (a phrase to follow "it"), or None when it is."""
    if not isinstance(value, str):
        return "is not a string"
    if not value:
        return "is empty"
    if len(value) > MAX_USER_ID:
        return f"is longer than {MAX_USER_ID} characters"
    if value != value.strip():
        return "starts or ends with whitespace"
    if value in _DOT_SEGMENTS:
        return "is a path segment ('.' or '..') that HTTP clients rewrite"
    if value.isprintable():  # the common case, in C: no Cc, Cs, Zl or Zp in it
        return None
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"contains a control character (U+{ord(char):04X})"
    return None
