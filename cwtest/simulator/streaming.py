"""Server-sent events for SDK calls made with ``stream=True``.

A streamed answer is a rendering of the non-streamed one: the behaviour (or the test's script)
produces the whole chat completion, Responses API response or message, and this module cuts its
text into the vendor's event sequence. So a script never needs to know whether the workflow
streams, and the call is recorded with the whole answer either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from cwlint.catalog import Variant


def _pieces(text: str) -> list[str]:
    """The text in word-sized pieces whose concatenation is the text, whitespace included."""
    return re.findall(r"\s*\S+|\s+$", text) or [""]


def _data(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


def chat_completion_chunks(completion: dict[str, Any], include_usage: bool) -> Iterator[bytes]:
    """OpenAI ``chat.completion.chunk`` events, then ``[DONE]``."""
    base = {k: completion.get(k) for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    for choice in completion.get("choices", []):
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        yield _data(base | {"choices": [{"index": index, "delta": {"role": "assistant", "content": ""},
                                         "finish_reason": None}]})
        for piece in _pieces(message.get("content") or ""):
            yield _data(base | {"choices": [{"index": index, "delta": {"content": piece}, "finish_reason": None}]})
        yield _data(base | {"choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}]})
    if include_usage and completion.get("usage"):
        yield _data(base | {"choices": [], "usage": completion["usage"]})
    yield b"data: [DONE]\n\n"


def anthropic_message_events(message: dict[str, Any]) -> Iterator[bytes]:
    """Anthropic's ``message_start`` ... ``message_stop`` events for text blocks."""
    usage = message.get("usage") or {}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": usage.get("input_tokens", 0), "output_tokens": 1}}
    yield _data({"type": "message_start", "message": start}, "message_start")
    for index, block in enumerate(message.get("content", [])):
        yield _data({"type": "content_block_start", "index": index,
                     "content_block": {"type": "text", "text": ""}}, "content_block_start")
        for piece in _pieces(block.get("text", "")):
            yield _data({"type": "content_block_delta", "index": index,
                         "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
        yield _data({"type": "content_block_stop", "index": index}, "content_block_stop")
    yield _data({"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason"),
                                                    "stop_sequence": message.get("stop_sequence")},
                 "usage": {"output_tokens": usage.get("output_tokens", 0)}}, "message_delta")
    yield _data({"type": "message_stop"}, "message_stop")


def _event(kind: str, seq: list[int], **fields: Any) -> bytes:
    """One Responses API event: ``event:`` names it, ``data`` repeats it as ``type``, numbered."""
    seq[0] += 1
    return _data({"type": kind, "sequence_number": seq[0] - 1, **fields}, kind)


def _content_events(item_id: str, out: int, index: int, part: dict[str, Any], seq: list[int]) -> Iterator[bytes]:
    """The events of one content part of a message: added, its text in deltas, done."""
    where = {"item_id": item_id, "output_index": out, "content_index": index}
    kind = part.get("type")
    if kind == "output_text":
        text = part.get("text") or ""
        yield _event("response.content_part.added", seq, **where,
                     part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        for piece in _pieces(text):
            yield _event("response.output_text.delta", seq, **where, delta=piece, logprobs=[])
        yield _event("response.output_text.done", seq, **where, text=text, logprobs=[])
    elif kind == "refusal":
        refusal = part.get("refusal") or ""
        yield _event("response.content_part.added", seq, **where, part={"type": "refusal", "refusal": ""})
        for piece in _pieces(refusal):
            yield _event("response.refusal.delta", seq, **where, delta=piece)
        yield _event("response.refusal.done", seq, **where, refusal=refusal)
    else:
        yield _event("response.content_part.added", seq, **where, part=part)
    yield _event("response.content_part.done", seq, **where, part=part)


def response_events(response: dict[str, Any]) -> Iterator[bytes]:
    """The Responses API's events: ``response.created`` ... ``response.completed``.

    Each output item is announced empty (``response.output_item.added``), filled (a message's
    text in ``response.output_text.delta`` pieces, a function call's arguments in one
    ``response.function_call_arguments.delta``) and closed with the whole item; the last event
    carries the whole response, so the SDK's ``get_final_response()`` is the non-streamed answer.
    """
    seq = [0]
    outputs = [item for item in response.get("output") or [] if isinstance(item, dict)]
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    yield _event("response.created", seq, response=started)
    yield _event("response.in_progress", seq, response=started)
    for out, item in enumerate(outputs):
        item_id = str(item.get("id") or "")
        kind = item.get("type")
        if kind == "message":
            yield _event("response.output_item.added", seq, output_index=out,
                         item={**item, "status": "in_progress", "content": []})
            for index, part in enumerate(item.get("content") or []):
                if isinstance(part, dict):
                    yield from _content_events(item_id, out, index, part, seq)
        elif kind == "function_call":
            arguments = str(item.get("arguments") or "")
            yield _event("response.output_item.added", seq, output_index=out,
                         item={**item, "status": "in_progress", "arguments": ""})
            yield _event("response.function_call_arguments.delta", seq, item_id=item_id, output_index=out,
                         delta=arguments)
            yield _event("response.function_call_arguments.done", seq, item_id=item_id, output_index=out,
                         arguments=arguments)
        else:
            yield _event("response.output_item.added", seq, output_index=out, item=item)
        yield _event("response.output_item.done", seq, output_index=out, item=item)
    final = {"failed": "response.failed", "incomplete": "response.incomplete"}.get(str(response.get("status")))
    yield _event(final or "response.completed", seq, response=response)


def stream_of(variant: Variant | None, inputs: Any, answer: Any) -> Iterator[bytes] | None:
    """The event stream for this answer, when the request asked for one on a streamable route."""
    if variant is None or variant.format != "vendor" or not isinstance(inputs, dict) or not inputs.get("stream"):
        return None
    if not isinstance(answer, dict):
        return None
    if variant.path.endswith("chat/completions"):
        include_usage = bool((inputs.get("stream_options") or {}).get("include_usage"))
        return chat_completion_chunks(answer, include_usage)
    if variant.path.endswith("messages"):
        return anthropic_message_events(answer)
    if variant.path.endswith("responses"):
        return response_events(answer)
    return None
