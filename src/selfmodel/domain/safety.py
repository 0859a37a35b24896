"""Stored-prompt-injection guard: text that reads as instructions never becomes a belief.

PLACEHOLDER signature (owned by the delivery work): replace the body, keep the signature.
"""

from __future__ import annotations


def instruction_reason(text: str) -> str | None:
    """Why ``text`` may not be stored as a belief (it reads as instructions to the model,
    carries role markers or template syntax), or None when it is safe to store."""
    markers = ("ignore previous", "ignore all previous", "system:", "{{", "{%", "}}")
    lowered = text.lower()
    for marker in markers:
        if marker in lowered:
            return f"contains {marker!r}"
    return None
