"""The faults injected into the library services a route calls, and how they are scripted.

For every (service, path) a valid request reached, the same request is sent again with that
service failing, one fault at a time:

* ``http_error``: a 500 ``{"detail"}``; on vendor routes the vendor's error shape, with
  ``x-should-retry: false`` so that the SDK does not retry with back-off. Every call.
* ``timeout``: the client's own ``httpx.ReadTimeout``, raised at once by the target's transport (a
  504 carrying ``x-cwtest-fault: timeout``). Every call.
* ``unsuccessful``: ``{"success": false, "error"}`` with 200. Runtime-format calls (``client.run``).
* ``malformed``: a 200 whose JSON is cut short. Runtime-format calls.
* ``llm_minimal``: an LLM answer that fits the requested schema with only its required keys
  (nullable ones null, arrays at their minimum). LLM calls with a JSON Schema (``example_output``,
  ``response_format``).
* ``llm_empty_strings``: every string of the answer empty, every key present. LLM calls.
* ``llm_long_strings``: every string 10,000 characters, non-ASCII included (cut at a ``maxLength``).

Vendor SDK routes skip ``unsuccessful`` and ``malformed``: the real vendors never answer so,
and the SDK's reaction would be noise. An LLM call is a library call of a service with model
prefixes (``openai``, ``anthropic``, ``gemini``: ``{"response": ...}``) or a vendor route for
chat completions, messages or responses; the LLM answers keep the envelope the caller reads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cwtest.fuzz.target import timeout_fault
from cwtest.simulator.generate import is_json_schema
from cwtest.simulator.records import Call, ServiceRequest
from cwtest.simulator.script import Answer, HttpError, Malformed, Reply, Unsuccessful

if TYPE_CHECKING:
    from cwtest.simulator.runtime import SimulatedRuntime

FAILURE_DETAIL = "cwtest: simulated failure"
LONG_LENGTH = 10_000
_LONG_UNIT = "Lorem ipsum dolor sit amet, naïve café 日本語 🙂 "
LLM_FAULTS = ("llm_minimal", "llm_empty_strings", "llm_long_strings")
ALL_FAULTS = ("http_error", "timeout", "unsuccessful", "malformed", *LLM_FAULTS)


@dataclass(frozen=True)
class Fault:
    """One fault of one service endpoint."""

    kind: str
    service: str
    path: str
    #: The vendor's error style on vendor routes (``openai``, ``anthropic``...), else ``runtime``.
    style: str = "runtime"

    @property
    def label(self) -> str:
        where = f"{self.service}/{self.path}" if self.path else self.service
        return f"{where}: {self.kind}"

    def answer(self, request: ServiceRequest) -> Answer | None:
        """What the service answers to ``request`` under this fault (None: no opinion)."""
        if self.kind == "http_error":
            if self.style == "runtime":
                return HttpError(500, FAILURE_DETAIL)
            from cwtest.simulator.app import error_body

            return Reply(error_body(self.style, 500, FAILURE_DETAIL), 500, headers={"x-should-retry": "false"})
        if self.kind == "timeout":
            return timeout_fault()
        if self.kind == "unsuccessful":
            return Unsuccessful(FAILURE_DETAIL)
        if self.kind == "malformed":
            return Malformed()
        body = llm_answer(self.kind, request.path, request.inputs)
        return Reply(body) if body is not None else None

    def script_code(self, recorded_answer: Any = None) -> str:
        """The line of a regression test that scripts this fault on ``runtime``."""
        head = f"runtime.script({self.service!r}, {self.path!r})"
        if self.kind == "http_error":
            if self.style == "runtime":
                return f"{head}.fail(HttpError(500, {FAILURE_DETAIL!r}))"
            from cwtest.simulator.app import error_body

            body = error_body(self.style, 500, FAILURE_DETAIL)
            return f"{head}.respond(answer=Reply({body!r}, 500, headers={{'x-should-retry': 'false'}}))"
        if self.kind == "timeout":
            return f"{head}.respond(answer=timeout_fault())"
        if self.kind == "unsuccessful":
            return f"{head}.fail(Unsuccessful({FAILURE_DETAIL!r}))"
        if self.kind == "malformed":
            return f"{head}.fail(Malformed())"
        return f"{head}.respond({recorded_answer!r})"

    def imports(self) -> set[str]:
        """Names the regression test imports for :meth:`script_code`."""
        return {"http_error": {"HttpError"} if self.style == "runtime" else {"Reply"}, "timeout": {"timeout_fault"},
                "unsuccessful": {"Unsuccessful"}, "malformed": {"Malformed"}}.get(self.kind, set())


def faults_for(runtime: SimulatedRuntime, call: Call, kinds: tuple[str, ...] = ALL_FAULTS) -> list[Fault]:
    """The faults that apply to the endpoint of ``call`` (a call a valid request made)."""
    from cwtest.simulator.app import error_style

    service = runtime.catalog.get(call.service)
    variant = service.variant(call.path, call.inputs is not None) if service is not None else None
    style = error_style(service, variant)
    vendor = variant is not None and variant.format == "vendor"
    out = [Fault("http_error", call.service, call.path, style), Fault("timeout", call.service, call.path, style)]
    if not vendor:
        out += [Fault("unsuccessful", call.service, call.path), Fault("malformed", call.service, call.path)]
    is_llm = (service is not None and service.models is not None and variant is not None
              and "prompt" in variant.inputs) or (vendor and _vendor_llm(call.path))
    if is_llm and call.inputs is not None:
        for kind in LLM_FAULTS:
            if llm_answer(kind, call.path, call.inputs) is not None and not _same_as_previous(kind, call):
                out.append(Fault(kind, call.service, call.path, style))
    return [f for f in out if f.kind in kinds]


def _same_as_previous(kind: str, call: Call) -> bool:
    """For a plain-text answer "minimal" and "empty strings" are the same answer: keep one."""
    return kind == "llm_minimal" and llm_answer("llm_minimal", call.path, call.inputs) == \
        llm_answer("llm_empty_strings", call.path, call.inputs)


def _vendor_llm(path: str) -> bool:
    return path.endswith(("chat/completions", "messages", "responses"))


@contextmanager
def injected(runtime: SimulatedRuntime, fault: Fault) -> Iterator[None]:
    """Make ``fault.service`` (at ``fault.path``) fail for every call while inside the block.

    The endpoint's script is saved and restored around it, so a test's own script survives.
    """
    script = runtime.script(fault.service, fault.path)
    saved = script.snapshot()
    script.reset()
    script.using(fault.answer)
    try:
        yield
    finally:
        script.restore(saved)


# --- LLM answers -----------------------------------------------------------------------------------

def llm_answer(kind: str, path: str, inputs: Any) -> Any:
    """The answer of an LLM endpoint under an LLM fault, shaped like the normal answer, or None."""
    if not isinstance(inputs, dict):
        return None
    model = str(inputs.get("model") or "cwtest-model")
    if path.endswith("chat/completions"):
        fmt = inputs.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        content = _content(kind, schema)
        if content is None:
            return None
        return {"id": "chatcmpl-cwtest", "object": "chat.completion", "created": 1735689600, "model": model,
                "choices": [{"index": i, "message": {"role": "assistant", "content": content, "refusal": None},
                             "finish_reason": "stop", "logprobs": None} for i in range(int(inputs.get("n") or 1))],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    if path.endswith("messages"):
        content = _content(kind, None)
        return {"id": "msg_cwtest", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": content}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1}}
    if path.endswith("responses"):
        fmt = (inputs.get("text") or {}).get("format") or {}
        content = _content(kind, fmt.get("schema") if fmt.get("type") == "json_schema" else None)
        if content is None:
            return None
        return {"id": "resp_cwtest", "object": "response", "created_at": 1735689600, "model": model,
                "status": "completed", "output": [{"type": "message", "id": "msg_cwtest", "role": "assistant",
                                                   "status": "completed", "content": [
                                                       {"type": "output_text", "text": content, "annotations": []}]}],
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
    if path == "" and "prompt" in inputs:
        example = inputs.get("example_output")
        if example is None:
            return {"response": _text(kind)}
        if is_json_schema(example):
            return {"response": Shaper(example, kind).value(example)}
        if kind == "llm_minimal":
            return None  # a sample says nothing of which keys are optional
        return {"response": _from_sample(example, kind)}
    return None


def _content(kind: str, schema: Any) -> str | None:
    if isinstance(schema, dict) and schema:
        return json.dumps(Shaper(schema, kind).value(schema), ensure_ascii=False)
    return _text(kind)


def _text(kind: str) -> str:
    return _long() if kind == "llm_long_strings" else ""


def _long(limit: int | None = None) -> str:
    size = LONG_LENGTH if limit is None else min(LONG_LENGTH, limit)
    return (_LONG_UNIT * (size // len(_LONG_UNIT) + 1))[:size]


def _from_sample(example: Any, kind: str) -> Any:
    if isinstance(example, dict):
        return {k: _from_sample(v, kind) for k, v in example.items()}
    if isinstance(example, list):
        return [_from_sample(v, kind) for v in example[:1]]
    if isinstance(example, str):
        return _text(kind)
    return copy.deepcopy(example)


class Shaper:
    """An instance of a JSON Schema for one LLM fault: minimal, empty strings, or long strings."""

    def __init__(self, root: dict[str, Any], kind: str) -> None:
        self.root = root
        self.kind = kind

    def resolve(self, schema: Any) -> Any:
        for _ in range(32):
            if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)
                    and schema["$ref"].startswith("#/")):
                break
            node: Any = self.root
            for part in schema["$ref"][2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**node, **extra} if isinstance(node, dict) else node
        return schema

    def value(self, schema: Any, depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if depth > 12 or not isinstance(schema, dict) or not schema:
            return None if self.kind == "llm_minimal" else self._string({})
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if schema.get("enum"):
            return copy.deepcopy(schema["enum"][0])
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self.resolve(part)
                for key, val in part.items():
                    if key == "properties":
                        merged.setdefault("properties", {}).update(val)
                    elif key == "required":
                        merged["required"] = sorted(set(merged.get("required", [])) | set(val))
                    else:
                        merged.setdefault(key, val)
            return self.value(merged, depth + 1)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.resolve(b) for b in schema[key]]
                nullable = any(isinstance(b, dict) and b.get("type") == "null" for b in branches)
                if nullable and self.kind == "llm_minimal":
                    return None
                others = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
                return self.value(others[0] if others else {"type": "null"}, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            if "null" in kind and self.kind == "llm_minimal":
                return None
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            properties = schema.get("properties") or {}
            required = set(schema.get("required", []))
            keep = [k for k in properties if k in required] if self.kind == "llm_minimal" else list(properties)
            return {k: self.value(properties[k], depth + 1) for k in keep}
        if kind == "array":
            low = int(schema.get("minItems", 0))
            count = low if self.kind == "llm_minimal" else max(low, 1)
            return [self.value(schema.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "string":
            return self._string(schema)
        if kind in ("integer", "number"):
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            value = low if isinstance(low, (int, float)) and not isinstance(low, bool) else 0
            if schema.get("exclusiveMinimum") is not None and value == schema.get("exclusiveMinimum"):
                value += 1
            return int(value) if kind == "integer" else float(value)
        if kind == "boolean":
            return False
        return None

    def _string(self, schema: dict[str, Any]) -> str:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        fmt = schema.get("format")
        if schema.get("pattern") or fmt in ("email", "uri", "date", "date-time", "uuid", "time"):
            # An empty or padded string would not fit: the format's plain value.
            return {"email": "user@example.com", "uri": "https://example.com/", "date": "2024-01-01",
                    "date-time": "2024-01-01T00:00:00Z", "uuid": "00000000-0000-4000-8000-000000000000",
                    "time": "00:00:00"}.get(fmt or "", "a" * max(low, 1))
        if self.kind == "llm_long_strings":
            return _long(int(high) if high is not None else None)
        if self.kind == "llm_empty_strings":
            return "a" * low
        return "x" * max(low, 1) if high is None or int(high) >= max(low, 1) else "x" * low
