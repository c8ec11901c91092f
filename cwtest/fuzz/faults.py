"""The faults injected into the library services a route calls, and how they are scripted.

For every (service, path) a valid request reached, the same request is sent again with that
service failing, one fault at a time. The default set is what the platform really produces:

* ``http_error``: a 500 with the platform's error body (``{"detail"}``; on vendor routes the
  vendor's error shape, with ``x-should-retry: false`` so that the SDK does not retry). Every call.
* ``rate_limited``: a 429, the same bodies. Every call.
* ``timeout``: the client's own ``httpx.ReadTimeout``, raised at once by the target's transport (a
  504 carrying ``x-cwtest-fault: timeout``). Every call.
* ``connection_error``: the client's own ``httpx.ConnectError``, raised at once (``x-cwtest-fault:
  connect``). Every call.
* ``unsuccessful``: ``{"success": false, "error"}`` with 200. Runtime-format calls (``client.run``).
* LLM content faults, inside a well-formed answer (the envelope the caller reads is kept):
  ``llm_missing_key`` (a JSON reply without one of its keys), ``llm_wrong_type`` (one value of
  another type), ``llm_truncated`` (the JSON text cut short), ``llm_fenced`` (the JSON wrapped in a
  Markdown code fence), for calls that ask for JSON (a ``response_format`` or ``example_output``);
  ``llm_empty`` (an empty reply) for every LLM call. A strict ``json_schema`` (the API guarantees
  the shape; the SDK's ``parse`` sends one) gets only ``llm_truncated`` (``finish_reason: length``).

``malformed`` (a 200 whose JSON is cut short, at the transport level) is opt-in, with ``--checks
...,malformed``: the runtime never sends broken JSON, and a workflow calling ``resp.json()`` on a
library answer is the documented pattern.

Vendor SDK routes skip ``unsuccessful`` and ``malformed``: the real vendors never answer so. An
LLM call is a library call of a service with model prefixes (``openai``, ``anthropic``,
``gemini``: ``{"response": ...}``) or a vendor route for chat completions, messages or responses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cwtest.fuzz.target import connection_fault, timeout_fault
from cwtest.simulator.generate import is_json_schema
from cwtest.simulator.records import Call, ServiceRequest
from cwtest.simulator.script import Answer, HttpError, Malformed, Reply, Unsuccessful

if TYPE_CHECKING:
    from cwtest.simulator.runtime import SimulatedRuntime

FAILURE_DETAIL = "cwtest: simulated failure"
LLM_FAULTS = ("llm_missing_key", "llm_wrong_type", "llm_truncated", "llm_fenced", "llm_empty")
DEFAULT_FAULTS = ("http_error", "rate_limited", "timeout", "connection_error", "unsuccessful", *LLM_FAULTS)
ALL_FAULTS = (*DEFAULT_FAULTS, "malformed")


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
        if self.kind in ("http_error", "rate_limited"):
            status = 500 if self.kind == "http_error" else 429
            if self.style == "runtime":
                return HttpError(status, FAILURE_DETAIL)
            from cwtest.simulator.app import error_body

            return Reply(error_body(self.style, status, FAILURE_DETAIL), status, headers={"x-should-retry": "false"})
        if self.kind == "timeout":
            return timeout_fault()
        if self.kind == "connection_error":
            return connection_fault()
        if self.kind == "unsuccessful":
            return Unsuccessful(FAILURE_DETAIL)
        if self.kind == "malformed":
            return Malformed()
        body = llm_answer(self.kind, request.path, request.inputs)
        return Reply(body) if body is not None else None

    def script_code(self, recorded_answer: Any = None) -> str:
        """The line of a regression test that scripts this fault on ``runtime``."""
        head = f"runtime.script({self.service!r}, {self.path!r})"
        if self.kind in ("http_error", "rate_limited"):
            status = 500 if self.kind == "http_error" else 429
            if self.style == "runtime":
                return f"{head}.fail(HttpError({status}, {FAILURE_DETAIL!r}))"
            from cwtest.simulator.app import error_body

            body = error_body(self.style, status, FAILURE_DETAIL)
            return f"{head}.respond(answer=Reply({body!r}, {status}, headers={{'x-should-retry': 'false'}}))"
        if self.kind == "timeout":
            return f"{head}.respond(answer=timeout_fault())"
        if self.kind == "connection_error":
            return f"{head}.respond(answer=connection_fault())"
        if self.kind == "unsuccessful":
            return f"{head}.fail(Unsuccessful({FAILURE_DETAIL!r}))"
        if self.kind == "malformed":
            return f"{head}.fail(Malformed())"
        return f"{head}.respond({recorded_answer!r})"

    def imports(self) -> set[str]:
        """Names the regression test imports for :meth:`script_code`."""
        errors = {"HttpError"} if self.style == "runtime" else {"Reply"}
        return {"http_error": errors, "rate_limited": errors, "timeout": {"timeout_fault"},
                "connection_error": {"connection_fault"}, "unsuccessful": {"Unsuccessful"},
                "malformed": {"Malformed"}}.get(self.kind, set())


def faults_for(runtime: SimulatedRuntime, call: Call, kinds: tuple[str, ...] = DEFAULT_FAULTS) -> list[Fault]:
    """The faults that apply to the endpoint of ``call`` (a call a valid request made)."""
    from cwtest.simulator.app import error_style

    service = runtime.catalog.get(call.service)
    variant = service.variant(call.path, call.inputs is not None) if service is not None else None
    style = error_style(service, variant)
    vendor = variant is not None and variant.format == "vendor"
    out = [Fault(kind, call.service, call.path, style)
           for kind in ("http_error", "rate_limited", "timeout", "connection_error")]
    if not vendor:
        out += [Fault("unsuccessful", call.service, call.path), Fault("malformed", call.service, call.path)]
    is_llm = (service is not None and service.models is not None and variant is not None
              and "prompt" in variant.inputs) or (vendor and _vendor_llm(call.path))
    if is_llm and call.inputs is not None:
        for kind in LLM_FAULTS:
            if llm_answer(kind, call.path, call.inputs) is not None:
                out.append(Fault(kind, call.service, call.path, style))
    return [f for f in out if f.kind in kinds]


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
    """The answer of an LLM endpoint under an LLM fault, shaped like the normal answer, or None
    when the fault does not apply to this call."""
    if not isinstance(inputs, dict):
        return None
    model = str(inputs.get("model") or "cwtest-model")
    if path.endswith("chat/completions"):
        fmt = inputs.get("response_format") or {}
        spec = fmt.get("json_schema") or {} if fmt.get("type") == "json_schema" else {}
        schema = spec.get("schema") if spec else ({} if fmt.get("type") == "json_object" else None)
        text, finish = _content(kind, schema, bool(spec.get("strict")))
        if text is None:
            return None
        return {"id": "chatcmpl-cwtest", "object": "chat.completion", "created": 1735689600, "model": model,
                "choices": [{"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                             "finish_reason": finish, "logprobs": None} for i in range(int(inputs.get("n") or 1))],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    if path.endswith("messages"):
        text, finish = _content(kind, None, False)
        if text is None:
            return None
        return {"id": "msg_cwtest", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1}}
    if path.endswith("responses"):
        fmt = (inputs.get("text") or {}).get("format") or {}
        schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
        text, finish = _content(kind, schema, bool(fmt.get("strict")))
        if text is None:
            return None
        return {"id": "resp_cwtest", "object": "response", "created_at": 1735689600, "model": model,
                "status": "completed" if finish == "stop" else "incomplete",
                "output": [{"type": "message", "id": "msg_cwtest", "role": "assistant",
                            "status": "completed", "content": [
                                {"type": "output_text", "text": text, "annotations": []}]}],
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
    if path == "" and "prompt" in inputs:
        example = inputs.get("example_output")
        if example is None:
            return {"response": ""} if kind == "llm_empty" else None
        schema = example if is_json_schema(example) else None
        value = Shaper(schema, "normal").value(schema) if schema else _from_sample(example)
        if kind == "llm_empty":
            return {"response": ""}
        if kind in ("llm_missing_key", "llm_wrong_type"):
            changed = _mutate(kind, value, schema)
            return {"response": changed} if changed is not None else None
        text = json.dumps(value, ensure_ascii=False)
        return {"response": text[: max(1, len(text) // 2)] if kind == "llm_truncated" else _fence(text)}
    return None


def _content(kind: str, schema: Any, strict: bool) -> tuple[str | None, str]:
    """(the reply's text, its finish reason) under ``kind``; None when the fault does not apply."""
    if kind == "llm_empty":
        return (None if strict else ""), "stop"  # a strict schema: the API guarantees a fitting reply
    if schema is None:
        return None, "stop"  # free text: nothing to break but emptiness
    value = Shaper(schema, "normal").value(schema) if schema else {"answer": "x"}
    text = json.dumps(value, ensure_ascii=False)
    if kind == "llm_truncated":
        return text[: max(1, len(text) // 2)], "length"
    if strict:
        return None, "stop"  # the API guarantees the shape
    if kind == "llm_fenced":
        return _fence(text), "stop"
    changed = _mutate(kind, value, schema or None)
    return (json.dumps(changed, ensure_ascii=False) if changed is not None else None), "stop"


def _fence(text: str) -> str:
    return f"```json\n{text}\n```"


def _mutate(kind: str, value: Any, schema: Any = None) -> Any:
    """A JSON object without keys (``llm_missing_key``: the schema's optional ones, the keys a model
    leaves out first; without any, the first key) or with its first key's value of another type
    (``llm_wrong_type``); None when ``value`` is not an object with keys."""
    if not isinstance(value, dict) or not value:
        return None
    first = next(iter(value))
    if kind == "llm_missing_key":
        if isinstance(schema, dict):
            minimal = Shaper(schema, "llm_minimal").value(schema)
            if isinstance(minimal, dict) and set(minimal) != set(value):
                return minimal
        return {k: v for k, v in value.items() if k != first}
    old = value[first]
    other: Any = 12345 if isinstance(old, str) else ["x"] if isinstance(old, dict) else "x"
    return {**value, first: other}


def _from_sample(example: Any) -> Any:
    return copy.deepcopy(example)


class Shaper:
    """A small instance of a JSON Schema (``kind`` ``normal``: every property; ``llm_minimal``: only
    the required ones, nullable ones null), which the LLM faults then break."""

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
            minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
            value = minimum if isinstance(minimum, (int, float)) and not isinstance(minimum, bool) else 0
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
        return "x" * max(low, 1) if high is None or int(high) >= max(low, 1) else "x" * low
