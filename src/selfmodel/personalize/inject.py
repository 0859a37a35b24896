"""Placement: add the personalization block to a request without touching anything else.

Two places, chosen by the tenant's ``policy.placement``:

- ``system`` (the default): after the app's system prompt (as a new text part when the
  content is a list of parts), or as a system prompt of its own when the request has none.
- ``last_user``: at the start of the last user turn, so the app's system prompt and every
  earlier turn go out exactly as the app sent them. Providers cache prompt prefixes: a block
  in the system prompt that changes (a new belief) makes the whole conversation after it a
  cache miss, a block in the last turn only that turn. The block goes *inside* the user turn
  (a leading text part, or a prefix of the string) rather than as a message of its own,
  because many providers refuse a system message after the first one or two user messages
  in a row (Anthropic's roles must alternate). The client never sees the block, so the next
  request's history holds the earlier turn as the user wrote it.

The app's messages are never modified in place (the observer reads the original turns:
the block never becomes something the user said). Tools, response_format, multimodal parts,
``n`` and stream options are not touched. A request without any user turn gets the block in
the system prompt whatever the placement.
"""

from __future__ import annotations

from typing import Any, Literal

Placement = Literal["system", "last_user"]
SYSTEM_ROLES = ("system", "developer")
# Anthropic requires a user turn's tool results to come before any other content.
_LEADING_PARTS = ("tool_result",)


def inject_chat(messages: list[dict[str, Any]], block: str,
                placement: Placement = "system") -> list[dict[str, Any]]:
    """A new chat messages list with ``block`` placed."""
    if placement == "last_user":
        placed = _into_last_user(messages, block, "text")
        if placed is not None:
            return placed
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in SYSTEM_ROLES:
            updated = dict(message)
            updated["content"] = append_text(message.get("content"), block)
            return [*messages[:index], updated, *messages[index + 1:]]
    return [{"role": "system", "content": block}, *messages]


def inject_responses(body: dict[str, Any], block: str, placement: Placement = "system") -> None:
    """``block`` placed in a Responses API body: ``instructions``, or the last user input item
    (a string ``input`` is the user's turn)."""
    if placement == "last_user":
        value = body.get("input")
        if isinstance(value, str):
            body["input"] = prepend_text(value, block)
            return
        if isinstance(value, list):
            placed = _into_last_user(value, block, "input_text")
            if placed is not None:
                body["input"] = placed
                return
    body["instructions"] = append_text(body.get("instructions"), block)


def inject_messages(body: dict[str, Any], block: str, placement: Placement = "system") -> None:
    """``block`` placed in an Anthropic Messages body: ``system``, or the last user message."""
    if placement == "last_user":
        value = body.get("messages")
        placed = _into_last_user(value, block, "text") if isinstance(value, list) else None
        if placed is not None:
            body["messages"] = placed
            return
    body["system"] = append_text(body.get("system"), block)


def _into_last_user(items: list[Any], block: str,
                    part_type: str) -> list[Any] | None:
    """A copy of ``items`` with ``block`` at the start of the last user message, or None when
    there is no user message to carry it."""
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if (isinstance(item, dict) and item.get("role") == "user"
                and (item.get("type") or "message") == "message"):
            updated = dict(item)
            updated["content"] = prepend_text(item.get("content"), block, part_type)
            return [*items[:index], updated, *items[index + 1:]]
    return None


def append_text(content: Any, block: str) -> Any:
    """``content`` (a string, a list of parts, or None) with ``block`` appended."""
    if content is None or content == "":
        return block
    if isinstance(content, str):
        return f"{content}\n\n{block}"
    if isinstance(content, list):
        return [*content, {"type": "text", "text": block}]
    return content


def prepend_text(content: Any, block: str, part_type: str = "text") -> Any:
    """``content`` (a string, a list of parts, or None) with ``block`` in front; in a list,
    after any leading tool results (which must stay first)."""
    if content is None or content == "":
        return block
    if isinstance(content, str):
        return f"{block}\n\n{content}"
    if isinstance(content, list):
        lead = 0
        while (lead < len(content) and isinstance(content[lead], dict)
               and content[lead].get("type") in _LEADING_PARTS):
            lead += 1
        return [*content[:lead], {"type": part_type, "text": block}, *content[lead:]]
    return content
