"""The fake provider's answers on the Responses (/v1/responses) and Messages (/v1/messages) APIs.

Shapes are OpenAI's and Anthropic's own, so what the gateway passes through natively is what
the official SDKs would get from the real providers. The stream carries the same text pieces
as the chat stream of the same behaviour (``stream_texts``); ``die`` stops after them.
"""

from __future__ import annotations

import json
from typing import Any

SURFACE_PATHS = ("/responses", "/messages")
USAGE = {"input_tokens": 10, "output_tokens": 5}


def surface_answer(path: str, body: dict[str, Any], b: Any) -> dict[str, Any]:
    return _response(body, b) if path.endswith("/responses") else _message(body, b)


def surface_events(path: str, body: dict[str, Any], b: Any, texts: list[str]) -> list[bytes]:
    if path.endswith("/responses"):
        return _response_events(body, b, texts)
    return _message_events(body, b, texts)


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _response(body: dict[str, Any], b: Any, status: str = "completed") -> dict[str, Any]:
    if b.tool_call:
        name, arguments = b.tool_call
        output = [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name,
                   "arguments": arguments, "status": "completed"}]
    else:
        output = [_output_message(b.text)]
    return {"id": "resp_fake", "object": "response", "created_at": 1, "status": status,
            "model": body.get("model"), "output": output if status == "completed" else [],
            "instructions": body.get("instructions"), "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"), "tool_choice": "auto",
            "tools": body.get("tools") or [], "error": None, "incomplete_details": None,
            "usage": {**USAGE, "total_tokens": 15, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}}


def _output_message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _response_events(body: dict[str, Any], b: Any, texts: list[str]) -> list[bytes]:
    ids = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    events = [_event("response.created", {"sequence_number": 0,
                                          "response": _response(body, b, "in_progress")}),
              _event("response.output_item.added", {
                  "sequence_number": 1, "output_index": 0,
                  "item": {**_output_message(""), "status": "in_progress", "content": []}}),
              _event("response.content_part.added", {"sequence_number": 2, **ids, "part": part})]
    events += [_event("response.output_text.delta", {"sequence_number": 3 + i, **ids,
                                                     "delta": t, "logprobs": []})
               for i, t in enumerate(texts)]
    if b.kind == "die":
        return events
    text, n = "".join(texts), 3 + len(texts)
    done = {**_response(body, b), "output": [_output_message(text)]}
    return [
        *events,
        _event("response.output_text.done", {"sequence_number": n, **ids, "text": text,
                                             "logprobs": []}),
        _event("response.content_part.done", {"sequence_number": n + 1, **ids,
                                              "part": {**part, "text": text}}),
        _event("response.output_item.done", {"sequence_number": n + 2, "output_index": 0,
                                             "item": _output_message(text)}),
        _event("response.completed", {"sequence_number": n + 3, "response": done}),
    ]


def _message(body: dict[str, Any], b: Any) -> dict[str, Any]:
    if b.tool_call:
        name, arguments = b.tool_call
        content = [{"type": "tool_use", "id": "toolu_1", "name": name,
                    "input": json.loads(arguments)}]
    else:
        content = [{"type": "text", "text": b.text}]
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": content, "stop_reason": "tool_use" if b.tool_call else "end_turn",
            "stop_sequence": None, "usage": USAGE}


def _message_events(body: dict[str, Any], b: Any, texts: list[str]) -> list[bytes]:
    start = {**_message(body, b), "content": [], "stop_reason": None,
             "usage": {"input_tokens": 10, "output_tokens": 1}}
    events = [_event("message_start", {"message": start}),
              _event("content_block_start", {"index": 0,
                                             "content_block": {"type": "text", "text": ""}}),
              _event("ping", {})]
    events += [_event("content_block_delta", {"index": 0,
                                              "delta": {"type": "text_delta", "text": t}})
               for t in texts]
    if b.kind == "die":
        return events
    return [
        *events,
        _event("content_block_stop", {"index": 0}),
        _event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": 5}}),
        _event("message_stop", {}),
    ]
