"""An Anthropic Messages request as a chat completions request, for non-Anthropic providers.

``system`` (the app's, with the personalization block already appended) becomes the system
message; text, image and tool blocks become chat parts, tool calls and tool messages; tools,
tool choice, ``max_tokens``, ``stop_sequences`` and ``metadata.user_id`` keep their meaning.
Anthropic's server tools and blocks with no chat equivalent are a 400 naming the field rather
than silently dropped. Thinking blocks from earlier turns are the provider's own and skipped.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from selfmodel.errors import InvalidRequest

_SKIPPED_BLOCKS = ("thinking", "redacted_thinking")
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def chat_request(body: dict[str, Any], alias: str) -> dict[str, Any]:
    """The chat completions body with the same meaning as the Messages body ``body``."""
    messages: list[dict[str, Any]] = []
    system = system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(body.get("messages") or ()):
        messages += _message(message, index, alias)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages,
                            "max_tokens": body.get("max_tokens")}
    chat.update({k: body[k] for k in ("temperature", "top_p") if body.get(k) is not None})
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    _tools(body, chat, alias)
    if body.get("stream"):
        chat.update(stream=True, stream_options={"include_usage": True})
    return chat


def system_text(system: Any) -> str:
    """``system`` as one string: its text blocks joined by blank lines."""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        texts = (b.get("text") for b in system if isinstance(b, dict) and b.get("type") == "text")
        return "\n\n".join(t for t in texts if isinstance(t, str) and t)
    return ""


def _message(message: dict[str, Any], index: int, alias: str) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    blocks = [b for b in content or () if isinstance(b, dict)]
    if role == "assistant":
        return [_assistant(blocks, index, alias)]
    return _user(blocks, index, alias)


def _assistant(blocks: list[dict[str, Any]], index: int, alias: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({"id": block.get("id"), "type": "function", "function": {
                "name": block.get("name"), "arguments": to_json(block.get("input", {})).decode()}})
        elif kind not in _SKIPPED_BLOCKS:
            raise _unsupported(f"Content blocks of type '{kind}'", alias,
                               f"messages[{index}].content")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list[dict[str, Any]], index: int, alias: str) -> list[dict[str, Any]]:
    """Tool results first (chat wants them right after the assistant's calls), then the rest."""
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "tool_result":
            tools.append({"role": "tool", "tool_call_id": block.get("tool_use_id"),
                          "content": _result_text(block.get("content"))})
        elif block.get("type") not in _SKIPPED_BLOCKS:
            parts.append(_part(block, index, alias))
    return tools + ([{"role": "user", "content": parts}] if parts else [])


def _part(block: dict[str, Any], index: int, alias: str) -> dict[str, Any]:
    kind, source = block.get("type"), block.get("source")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    if kind == "image" and isinstance(source, dict):
        url = source.get("url") if source.get("type") == "url" else (
            f"data:{source.get('media_type')};base64,{source.get('data')}")
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document" and isinstance(source, dict) and source.get("type") == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    if kind == "document" and isinstance(source, dict) and source.get("type") == "base64":
        data = f"data:{source.get('media_type')};base64,{source.get('data')}"
        return {"type": "file", "file": {"file_data": data}}
    raise _unsupported(f"Content blocks of type '{kind}'", alias, f"messages[{index}].content")


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    return "" if content is None else str(content)


def _tools(body: dict[str, Any], chat: dict[str, Any], alias: str) -> None:
    tools = body.get("tools") or []
    if tools:
        chat["tools"] = [_tool(tool, i, alias) for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif choice.get("type") in _TOOL_CHOICES:
            chat["tool_choice"] = _TOOL_CHOICES[choice["type"]]
        if choice.get("disable_parallel_tool_use") and tools:
            chat["parallel_tool_calls"] = False


def _tool(tool: Any, index: int, alias: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type", "custom") not in ("custom", None):
        kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
        raise _unsupported(f"Tools of type '{kind}'", alias, f"tools[{index}]")
    function = {"name": tool.get("name"), "parameters": tool.get("input_schema") or {}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _unsupported(what: str, alias: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"{what} cannot be used with model '{alias}': its provider does not "
                          "serve Anthropic's Messages API, so the request is translated to chat "
                          "completions.", param=param)
