"""Which conversation a request belongs to, for delivering one block per conversation.

Clients resend the whole history on every turn, so a conversation's opening (the app's
system prompt and the first user message) is the same on each of its requests and tells
it apart from the user's other conversations. The key is a digest of that opening; the
Personalizer adds the tenant and the user (personalize/engine.py), so two users with the
same opening never share anything.

A request that carries no history (the Responses API with ``previous_response_id``) starts
a conversation of its own on every turn: its block is selected afresh each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

_SEPARATOR = b"\x1f"


def conversation_key(system: str, first_user: str) -> str:
    """A short, stable digest of a conversation's opening (no text of it is kept)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(system.encode("utf-8", "surrogatepass"))
    digest.update(_SEPARATOR)
    digest.update(first_user.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts
    (``text``, ``input_text``); images, audio and tool parts contribute nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content
                         if isinstance(p, dict) and p.get("type") in ("text", "input_text"))
    return ""


def opening(messages: Iterable[Any], system: Any = None) -> str:
    """The conversation key of chat-shaped ``messages`` (role and content), with the app's
    separate system prompt (``instructions``, Anthropic's ``system``) if it has one."""
    parts = [text_of(system)] if system is not None else []
    first_user = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            parts.append(text_of(message.get("content")))
        elif role == "user":
            first_user = text_of(message.get("content"))
            break
    return conversation_key("\n".join(parts), first_user)
