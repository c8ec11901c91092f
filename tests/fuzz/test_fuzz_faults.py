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


NETWORK = ["http_error", "rate_limited", "timeout", "connection_error"]
CONTENT = ["llm_missing_key", "llm_wrong_type", "llm_truncated", "llm_fenced", "llm_empty"]


def test_the_default_faults_are_what_the_platform_produces_and_malformed_is_opt_in() -> None:
    runtime = SimulatedRuntime()
    library = call("openai", "", {"model": "gpt-4o", "prompt": "p", "example_output": SCHEMA})
    assert kinds(runtime, library) == [*NETWORK, "unsuccessful", *CONTENT]  # no malformed
    assert "malformed" in [f.kind for f in faults_for(runtime, library, (*NETWORK, "malformed"))]
    text_only = call("anthropic", "", {"model": "claude-3-5-haiku", "prompt": "p"})
    assert kinds(runtime, text_only) == [*NETWORK, "unsuccessful", "llm_empty"]  # free text: only emptiness
    chat = call("openai", "v1/chat/completions", {"model": "gpt-4o", "messages": []})
    assert kinds(runtime, chat) == [*NETWORK, "llm_empty"]  # a vendor route: no runtime-shaped answers
    structured = call("openai", "v1/chat/completions", {"model": "gpt-4o", "messages": [], "response_format": {
        "type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA}}})
    assert kinds(runtime, structured) == [*NETWORK, *CONTENT]
    strict = call("openai", "v1/chat/completions", {"model": "gpt-4o", "messages": [], "response_format": {
        "type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA, "strict": True}}})
    assert kinds(runtime, strict) == [*NETWORK, "llm_truncated"]  # the API guarantees the shape
    scrape = call("firecrawl", "", {"url": "https://example.com"})
    assert kinds(runtime, scrape) == [*NETWORK, "unsuccessful"]


def test_the_llm_content_faults_break_a_well_formed_answer_the_way_their_names_say() -> None:
    inputs = {"model": "gpt-4o", "prompt": "p", "example_output": SCHEMA}
    missing = llm_answer("llm_missing_key", "", inputs)["response"]
    assert missing == {"summary": "x", "owner": None, "severity": "low"}  # the optional keys left out first
    wrong = llm_answer("llm_wrong_type", "", inputs)["response"]
    assert wrong["summary"] == 12345
    truncated = llm_answer("llm_truncated", "", inputs)["response"]
    fenced = llm_answer("llm_fenced", "", inputs)["response"]
    assert isinstance(truncated, str) and truncated.startswith("{")
    try:
        json.loads(truncated)
        raise AssertionError("the truncated JSON parsed")
    except ValueError:
        pass
    assert fenced.startswith("```json\n{") and fenced.endswith("\n```")
    assert json.loads(fenced[len("```json\n"):-len("\n```")])["severity"] == "low"
    assert llm_answer("llm_empty", "", inputs) == {"response": ""}


def test_vendor_answers_keep_their_envelope() -> None:
    chat = llm_answer("llm_truncated", "v1/chat/completions", {
        "model": "gpt-4o", "n": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA, "strict": True}}})
    assert chat["object"] == "chat.completion" and len(chat["choices"]) == 2
    assert chat["choices"][0]["finish_reason"] == "length"
    message = llm_answer("llm_empty", "v1/messages", {"model": "claude", "messages": []})
    assert message["type"] == "message" and message["content"][0]["text"] == ""


def test_the_vendor_http_error_asks_the_sdk_not_to_retry() -> None:
    fault = Fault("http_error", "openai", "v1/chat/completions", "openai")
    request = ServiceRequest("openai", "v1/chat/completions", "POST", {}, {}, True)
    answer = fault.answer(request)
    assert isinstance(answer, Reply) and answer.status == 500 and answer.headers == {"x-should-retry": "false"}
    assert answer.json["error"]["type"] == "server_error"
    assert "Reply(" in fault.script_code() and fault.imports() == {"Reply"}
