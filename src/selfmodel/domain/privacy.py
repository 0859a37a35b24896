"""PII redaction and sensitive categories.

PLACEHOLDER bodies (owned by the observation work): replace the bodies, keep the signatures.
"""

from __future__ import annotations


def redact(text: str) -> str:
    """Text with e-mail addresses, phone, card and account numbers replaced by markers."""
    return text


def sensitive_category(text: str, categories: list[str]) -> str | None:
    """The first of ``categories`` (e.g. religion, politics, health) that ``text`` falls in."""
    return None
