"""A Responses API request as a chat completions request, for providers without /responses.

``instructions`` (the app's, with the personalization block already appended) becomes the
system message; ``input`` (a string or items) becomes the messages; function tools, tool
choice, output limits, structured output and reasoning effort keep their meaning. What needs
state kept by OpenAI (``previous_response_id``, conversations, stored prompts, item
references) or OpenAI's hosted tools cannot be translated: that is a 400 naming the field,
never a silent change of meaning.
"""

from __future__ import annotations

from typing import Any

from selfmodel.errors import InvalidRequest

_COPIED = ("temperature", "top_p", "parallel_tool_calls")
_STATEFUL = ("previous_response_id", "conversation", "prompt")
_SYSTEM = ("system", "developer")


def chat_request(body: dict[str, Any], alias: str) -> dict[str, Any]:
    """The chat completions body with the same meaning as the Responses body ``body``."""
    for key in _STATEFUL:
        if body.get(key) is not None:
            raise _unsupported(f"'{key}'", alias, key)
    messages = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    messages += input_messages(body.get("input"), alias)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    chat.update({key: body[key] for key in _COPIED if body.get(key) is not None})
    _limits_and_formats(body, chat)
    if body.get("tools"):
        chat["tools"] = [_tool(tool, i, alias) for i, tool in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"], alias)
    if body.get("stream"):
        chat.update(stream=True, stream_options={"include_usage": True})
    return chat


def _limits_and_formats(body: dict[str, Any], chat: dict[str, Any]) -> None:
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str):
        chat["user"] = user
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}


def input_messages(value: Any, alias: str) -> list[dict[str, Any]]:
    """``input`` (a string or a list of items) as chat messages."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(value or ()):
        _add_item(messages, item, index, alias)
    return messages


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], index: int,
              alias: str) -> None:
    kind = item.get("type") or "message"
    if kind == "message":
        messages.append(_message(item, index, alias))
    elif kind == "function_call":
        call = {"id": item.get("call_id"), "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")}}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else parts_text(output)
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
    elif kind != "reasoning":  # reasoning items are the provider's own; nothing to replay
        raise _unsupported(f"Input items of type '{kind}'", alias, f"input[{index}]")


def _message(item: dict[str, Any], index: int, alias: str) -> dict[str, Any]:
    role, content = item.get("role"), item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if role in _SYSTEM or role == "assistant":
        return {"role": role, "content": parts_text(content)}
    parts = [_part(p, index, alias) for p in content or () if isinstance(p, dict)]
    return {"role": role, "content": parts}


def _part(part: dict[str, Any], index: int, alias: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "input_image" and part.get("image_url"):
        image = {"url": part["image_url"], "detail": part.get("detail", "auto")}
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and (part.get("file_data") or part.get("file_id")):
        keys = ("file_data", "file_id", "filename")
        return {"type": "file", "file": {k: part[k] for k in keys if part.get(k)}}
    raise _unsupported(f"Content parts of type '{kind}'", alias, f"input[{index}].content")


def parts_text(parts: Any) -> str:
    """The text of a list of content parts (input_text, output_text, refusal)."""
    if not isinstance(parts, list):
        return "" if parts is None else str(parts)
    texts = [p.get("text") or p.get("refusal") or "" for p in parts if isinstance(p, dict)]
    return "".join(str(t) for t in texts)


def _tool(tool: Any, index: int, alias: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
        raise _unsupported(f"Tools of type '{kind}'", alias, f"tools[{index}]")
    keys = ("name", "description", "parameters", "strict")
    return {"type": "function", "function": {k: tool[k] for k in keys if tool.get(k) is not None}}


def _tool_choice(choice: Any, alias: str) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    raise _unsupported("This 'tool_choice'", alias, "tool_choice")


def _unsupported(what: str, alias: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"{what} cannot be used with model '{alias}': its provider does not "
                          "serve the Responses API, so the request is translated to chat "
                          "completions.", param=param)
