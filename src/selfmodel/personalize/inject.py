"""Placement: add the personalization block to a request without touching anything else.

The app's own system prompt is kept verbatim; the block is appended after it (as a new text
part when the content is a list of parts), or a system message is added in front when the
request has none. Tools, response_format, multimodal parts, ``n`` and stream options are not
touched: only the messages list is replaced, and only its first system message.
"""

from __future__ import annotations

from typing import Any

SYSTEM_ROLES = ("system", "developer")


def inject_chat(messages: list[dict[str, Any]], block: str) -> list[dict[str, Any]]:
    """A new messages list with ``block`` added to the app's system prompt."""
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in SYSTEM_ROLES:
            updated = dict(message)
            updated["content"] = append_text(message.get("content"), block)
            return [*messages[:index], updated, *messages[index + 1:]]
    return [{"role": "system", "content": block}, *messages]


def append_text(content: Any, block: str) -> Any:
    """``content`` (a string, a list of parts, or None) with ``block`` appended."""
    if content is None or content == "":
        return block
    if isinstance(content, str):
        return f"{content}\n\n{block}"
    if isinstance(content, list):
        return [*content, {"type": "text", "text": block}]
    return content
