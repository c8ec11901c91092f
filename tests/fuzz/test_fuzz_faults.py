"""Which faults apply to which call, and the LLM answers they script."""

from __future__ import annotations

import json

from cwtest.fuzz import faults_for
from cwtest.fuzz.faults import Fault, llm_answer
from cwtest.simulator import Reply, SimulatedRuntime
from cwtest.simulator.records import Call, ServiceRequest

SCHEMA = {
    "$defs": {"Tag": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                                        "score": {"type": "number"}}, "required": ["name"]}},
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
        "owner": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "severity": {"enum": ["low", "high"]},
    },
    "required": ["summary", "owner", "severity"],
}


def call(service: str, path: str, inputs: object) -> Call:
    return Call(seq=0, service=service, path=path, method="POST", inputs=inputs, headers={}, correlation_id=None,
                request_id=None, in_background=False, status=200)


def kinds(runtime: SimulatedRuntime, made: Call) -> list[str]:
    return [f.kind for f in faults_for(runtime, made)]


def test_library_llm_calls_get_every_fault_and_vendor_routes_no_runtime_shaped_ones() -> None:
    runtime = SimulatedRuntime()
    library = call("openai", "", {"model": "gpt-4o", "prompt": "p", "example_output": SCHEMA})
    assert kinds(runtime, library) == ["http_error", "timeout", "unsuccessful", "malformed", "llm_minimal",
                                       "llm_empty_strings", "llm_long_strings"]
    text_only = call("anthropic", "", {"model": "claude-3-5-haiku", "prompt": "p"})
    assert kinds(runtime, text_only) == ["http_error", "timeout", "unsuccessful", "malformed", "llm_empty_strings",
                                         "llm_long_strings"]  # "minimal" would be the same empty text
    chat = call("openai", "v1/chat/completions", {"model": "gpt-4o", "messages": []})
    assert kinds(runtime, chat) == ["http_error", "timeout", "llm_empty_strings", "llm_long_strings"]
    scrape = call("firecrawl", "", {"url": "https://example.com"})
    assert kinds(runtime, scrape) == ["http_error", "timeout", "unsuccessful", "malformed"]


def test_the_llm_answers_fit_the_schema_with_the_fault_they_name() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SCHEMA)
    inputs = {"model": "gpt-4o", "prompt": "p", "example_output": SCHEMA}
    minimal = llm_answer("llm_minimal", "", inputs)["response"]
    assert minimal == {"summary": "x", "owner": None, "severity": "low"}
    empty = llm_answer("llm_empty_strings", "", inputs)["response"]
    assert empty["summary"] == "" and empty["tags"] == [{"name": "", "score": 0.0}] and empty["owner"] == ""
    long = llm_answer("llm_long_strings", "", inputs)["response"]
    assert len(long["summary"]) == 10_000 and not long["summary"].isascii() and len(long["tags"][0]["name"]) == 20
    for answer in (minimal, empty, long):
        assert validator.is_valid(answer)


def test_vendor_answers_keep_their_envelope() -> None:
    chat = llm_answer("llm_minimal", "v1/chat/completions", {
        "model": "gpt-4o", "n": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA}}})
    assert chat["object"] == "chat.completion" and len(chat["choices"]) == 2
    assert json.loads(chat["choices"][0]["message"]["content"]) == {"summary": "x", "owner": None, "severity": "low"}
    message = llm_answer("llm_long_strings", "v1/messages", {"model": "claude", "messages": []})
    assert message["type"] == "message" and len(message["content"][0]["text"]) == 10_000


def test_the_vendor_http_error_asks_the_sdk_not_to_retry() -> None:
    fault = Fault("http_error", "openai", "v1/chat/completions", "openai")
    request = ServiceRequest("openai", "v1/chat/completions", "POST", {}, {}, True)
    answer = fault.answer(request)
    assert isinstance(answer, Reply) and answer.status == 500 and answer.headers == {"x-should-retry": "false"}
    assert answer.json["error"]["type"] == "server_error"
    assert "Reply(" in fault.script_code() and fault.imports() == {"Reply"}
