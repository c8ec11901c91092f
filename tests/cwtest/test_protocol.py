"""The real codewords-client, once per pinned version, against the served simulator.

Each test runs client code in a subprocess of a uv-built environment (``client_env``) and then
asserts on two sides: what the client got (printed by the scenario) and what the simulator
recorded. Select them with ``-m protocol``; they run in CI like every other test.
"""

from __future__ import annotations

import json
import time

import pytest
from jsonschema import Draft202012Validator

from cwtest_support import minimal_inputs, run_scenario
from needs import need_redis
from cwtest import Delay, DropConnection, HttpError, Malformed, Reply, SimulatedRuntime, Unsuccessful
from cwtest.simulator.mcp import PROTOCOL_VERSIONS, TOOLS
from cwtest.simulator.state import SLOT_HEADER

pytestmark = pytest.mark.protocol

OPENAI_ASK = {"model": "gpt-4o", "prompt": "Summarise the ticket"}


def run(env, runtime, tmp_path, *calls, client=None):
    return run_scenario(env, runtime, tmp_path, "run_many", calls=list(calls), client=client)


def test_run_posts_inputs_and_records_the_call(client_env, runtime, tmp_path):
    [result] = run(client_env, runtime, tmp_path, {"service_id": "openai", "inputs": OPENAI_ASK,
                                                   "correlation_id": "corr-42"})
    assert result["ok"] and isinstance(result["json"]["response"], str)
    [call] = runtime.calls("openai")
    assert (call.method, call.path, call.inputs, call.status) == ("POST", "", OPENAI_ASK, 200)
    assert call.correlation_id == "corr-42"
    assert call.response == result["json"]
    # the client sends the raw key; the record keeps only a masked prefix of it
    assert call.headers["authorization"] != runtime.api_key and runtime.api_key not in str(call)
    assert call.headers["content-type"] == "application/json"
    assert call.latency is not None and call.latency >= 0


def test_answers_are_deterministic_for_a_seed(client_env, runtime, tmp_path):
    first, second = run(client_env, runtime, tmp_path, *[{"service_id": "openai", "inputs": OPENAI_ASK}] * 2)
    assert first["json"] == second["json"]


def test_correlation_id_comes_from_the_structlog_context(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "correlation_from_context",
                          service="gemini", inputs={"model": "gemini-2.5-flash", "prompt": "hi"})
    assert result["ok"]
    assert runtime.calls("gemini")[0].correlation_id == "corr-from-context"


def test_llm_answer_follows_a_json_schema_or_an_example(client_env, runtime, tmp_path):
    schema = {
        "type": "object",
        "properties": {
            "category": {"$ref": "#/$defs/Category"},
            "items": {"type": "array", "items": {"type": "string"}},
            "urgent": {"type": "boolean"},
        },
        "required": ["category", "items", "urgent"],
        "$defs": {"Category": {"enum": ["billing", "technical"], "type": "string"}},
    }
    example = {"changes_detected": True, "summary": "Price went up", "score": 3}
    by_schema, by_example = run(
        client_env, runtime, tmp_path,
        {"service_id": "openai", "inputs": {**OPENAI_ASK, "example_output": schema}},
        {"service_id": "anthropic", "inputs": {"model": "claude-3-5-haiku-20241022", "prompt": "diff",
                                               "example_output": example}},
    )
    Draft202012Validator(schema).validate(by_schema["json"]["response"])
    answer = by_example["json"]["response"]
    assert set(answer) == set(example)
    assert isinstance(answer["changes_detected"], bool) and isinstance(answer["summary"], str)
    assert isinstance(answer["score"], int)


def test_renamed_key_gets_a_422_naming_the_right_key(client_env, runtime, tmp_path):
    [result] = run(client_env, runtime, tmp_path,
                   {"service_id": "redis_coordinator", "inputs": {"action": "get", "key": "k"}})
    expected = '"action" is not an input of redis_coordinator; did you mean "operation"?'
    assert not result["ok"] and result["error"] == "HTTPStatusError" and result["status"] == 422
    assert json.loads(result["body"])["detail"] == expected
    if client_env.at_least_0_4:
        assert result["message"] == f"422: {expected}"  # 0.4.11 puts "detail" in the message
    [call] = runtime.calls("redis_coordinator")
    assert call.problems == (expected,)


def test_key_value_redis_round_trip_with_ttl(client_env, runtime, tmp_path):
    results = run(
        client_env, runtime, tmp_path,
        {"service_id": "redis_coordinator", "inputs": {"operation": "get", "key": "snap"}},
        {"service_id": "redis_coordinator", "inputs": {"operation": "set", "key": "snap", "value": "v1", "ttl": 3600}},
        {"service_id": "redis_coordinator", "inputs": {"operation": "get", "key": "snap"}},
    )
    assert [r["json"] for r in results] == [
        {"success": True, "value": None}, {"success": True}, {"success": True, "value": "v1"}]
    assert runtime.kv.snapshot() == {"snap": "v1"} and 3590 < runtime.kv.ttl("snap") <= 3600


def test_firecrawl_returns_the_registered_page(client_env, runtime, tmp_path):
    runtime.pages.add("https://shop.example/pricing", "# Pricing\n\nPremium: $99")
    page, generated = run(
        client_env, runtime, tmp_path,
        {"service_id": "firecrawl", "inputs": {"url": "https://shop.example/pricing", "formats": ["markdown"],
                                               "onlyMainContent": True}},
        {"service_id": "firecrawl", "inputs": {"url": "https://other.example/"}},
    )
    assert page["json"]["success"] is True
    assert page["json"]["data"]["markdown"] == "# Pricing\n\nPremium: $99"
    assert generated["json"]["data"]["markdown"].startswith("# ")


def test_pipedream_needs_the_app_connected(client_env, runtime, tmp_path):
    props = {"channel": "#alerts", "text": "hi"}
    connected, unconnected = run(
        client_env, runtime, tmp_path,
        {"service_id": "pipedream", "inputs": {"app": "slack", "action": "send-message", "props": props}},
        {"service_id": "pipedream", "inputs": {"app": "google_sheets", "action": "add-row", "props": {}}},
    )
    assert connected["ok"] and connected["json"]["success"] is True
    assert unconnected["status"] == 403 and "PIPEDREAM_GOOGLE_SHEETS_ACCESS" in unconnected["body"]
    sent = runtime.calls("pipedream")[0]
    assert sent.inputs["props"] == props


def test_every_catalog_service_answers_in_its_declared_shape(client_env, runtime, tmp_path):
    calls = []
    for service in runtime.catalog.services.values():
        for variant in service.variants:
            if variant.format == "vendor":
                continue  # the SDK tests cover the vendor formats
            inputs = minimal_inputs(variant) if variant.body is not False else None
            calls.append({"service_id": service.id, "path": variant.path, "inputs": inputs})
    results = run(client_env, runtime, tmp_path, *calls)
    failures = [(c["service_id"], r) for c, r in zip(calls, results, strict=True) if not r["ok"] and r.get("status") != 503]
    assert not failures
    for call in runtime.calls():
        service = runtime.catalog.get(call.service)
        variant = service.variant(call.path, call.inputs is not None)
        if call.status == 200:
            Draft202012Validator(variant.response.json_schema).validate(call.response)


def test_unknown_service_is_404_unless_scripted(client_env, runtime, tmp_path):
    runtime.script("csv_processor_1a2b3c4d").respond({"rows": 3})
    missing, scripted = run(client_env, runtime, tmp_path,
                            {"service_id": "opneai", "inputs": OPENAI_ASK},
                            {"service_id": "csv_processor_1a2b3c4d", "inputs": {"csv": "a,b"}})
    assert missing["status"] == 404 and 'did you mean "openai"?' in json.loads(missing["body"])["detail"]
    assert scripted["json"] == {"rows": 3}


def test_wrong_key_gets_401(client_env, runtime, tmp_path):
    [result] = run(client_env, runtime, tmp_path, {"service_id": "openai", "inputs": OPENAI_ASK},
                   client={"api_key": "cwtest-wrong"})
    assert result["status"] == 401 and "invalid API key" in result["body"]


def test_scripted_answers_queue_and_function(client_env, runtime, tmp_path):
    runtime.script("openai").queue({"response": "first"}, Reply({"response": "second"}))
    runtime.script("anthropic").using(lambda request: {"response": request.inputs["prompt"].upper()})
    results = run(client_env, runtime, tmp_path,
                  *[{"service_id": "openai", "inputs": OPENAI_ASK}] * 3,
                  {"service_id": "anthropic", "inputs": {"model": "claude-sonnet-4-20250514", "prompt": "echo"}})
    assert [r["json"]["response"] for r in results[:2]] == ["first", "second"]
    assert isinstance(results[2]["json"]["response"], str) and results[2]["json"]["response"] not in ("first", "second")
    assert results[3]["json"] == {"response": "ECHO"}


def test_faults_reach_the_client_as_the_real_failures_would(client_env, runtime, tmp_path):
    runtime.script("openai").queue(
        HttpError(429, "slow down"), Malformed(), Unsuccessful("quota"), DropConnection(), Delay(3))
    results = run(client_env, runtime, tmp_path, *[{"service_id": "openai", "inputs": OPENAI_ASK}] * 5,
                  client={"default_timeout": 0.5})
    http_error, malformed, unsuccessful, dropped, delayed = results
    assert http_error["error"] == "HTTPStatusError" and http_error["status"] == 429
    assert ("429: slow down" if client_env.at_least_0_4 else "429 Too Many Requests") in http_error["message"]
    assert malformed["ok"] and malformed["json"] is None and malformed["text"].startswith('{"response"')
    assert unsuccessful["json"] == {"success": False, "error": "quota"}
    assert dropped["error"] in ("RemoteProtocolError", "ReadError")
    assert delayed["error"] == "ReadTimeout" and delayed["seconds"] < 2.5
    faults = [c.fault for c in runtime.calls("openai")]
    assert faults == ["http_error", "malformed", "unsuccessful", "drop", "delay"]
    deadline = time.monotonic() + 5
    while runtime.calls("openai")[-1].latency is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.calls("openai")[-1].client_disconnected


def test_provisioned_request_id_is_honoured(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "provisioned", service="openai", inputs=OPENAI_ASK)
    [call] = runtime.calls("openai")
    assert call.request_id == result["request_id"] == call.headers["x-provisioned-request-id"]
    details = result["details"]
    assert details["requestId"] == result["request_id"] and details["status"] == "completed"
    assert details["responseJson"] == result["answer"]["json"] and details["responseStatus"] == 200


def test_background_run_long_polls_then_reads_details_and_logs(client_env, runtime, tmp_path):
    runtime.script("openai").respond(answer=Delay(1.5, Reply({"response": "late"})))
    result = run_scenario(client_env, runtime, tmp_path, "background", service="openai", inputs=OPENAI_ASK)
    record = result["record"]
    assert record["status"] == "completed" and record["responseJson"] == {"response": "late"}
    assert 1.0 < result["seconds"] < 10
    assert result["details"]["requestId"] == result["request_id"]
    messages = [entry["message"] for entry in result["logs"]]
    assert messages == ["running openai/", "finished with status 200"]
    [call] = runtime.calls("openai")
    assert call.in_background and call.request_id == result["request_id"]
    # the long poll carried the client's timeout and was answered once the run finished
    polls = [e for e in runtime.exchanges() if e.path.startswith("/result/")]
    assert polls and polls[-1].status == 200


def test_result_answers_408_while_running_and_the_client_gives_up(client_env, runtime, tmp_path):
    runtime.script("openai").respond(answer=Delay(30))
    result = run_scenario(client_env, runtime, tmp_path, "background", service="openai", inputs=OPENAI_ASK,
                          timeout=2)
    assert result["result"]["error"] == "TimeoutException"
    assert 408 in {e.status for e in runtime.exchanges() if e.path.startswith("/result/")}


def test_start_service_and_print_logs(client_env, runtime, tmp_path):
    started = run_scenario(client_env, runtime, tmp_path, "start_service", service="openai", inputs=OPENAI_ASK)
    assert started["record"]["status"] == "completed"
    assert runtime.calls("openai")[0].request_id == started["request_id"]
    printed = run_scenario(client_env, runtime, tmp_path, "print_logs", service="openai", inputs=OPENAI_ASK)
    assert printed["ok"] and runtime.calls("openai")[1].request_id is not None


def test_get_method(client_env, runtime, tmp_path):
    [result] = run(client_env, runtime, tmp_path, {"service_id": "searchapi", "method": "GET"})
    if not client_env.at_least_0_4:
        assert result["error"] == "TypeError"  # 0.3.4's run() has no method=
        return
    assert result["ok"] and "organic_results" in result["json"]
    [call] = runtime.calls("searchapi")
    assert call.method == "GET" and call.inputs is None


def test_file_upload_and_download(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "files", content="hello, file")
    assert result["body"] == "hello, file" and result["second_body"] == "# notes\n"
    assert result["url"].startswith(runtime.url + "/files/")
    first, second = runtime.uploads()
    assert (first.filename, first.content) == ("report.txt", b"hello, file")
    assert second.filename == "notes.md"
    assert first.upload_headers["Content-Type"] == "text/plain" and set(first.upload_headers) == {"Content-Type", SLOT_HEADER}
    if client_env.at_least_0_4:
        # 0.4.11 sends the upload_headers it was given, and no longer the legacy ACL header
        assert not first.legacy and first.missing_headers == ()
        assert first.headers["content-type"] == "text/plain"
        assert first.headers[SLOT_HEADER] == first.upload_headers[SLOT_HEADER] and "x-amz-acl" not in first.headers
        assert result["content_type"].startswith("text/plain")  # served with the PUT's type, like S3
    else:
        # 0.3.4 ignores upload_headers and sends its fixed pair: accepted, and recorded as legacy
        assert first.legacy and first.missing_headers == ("Content-Type", SLOT_HEADER)
        assert first.headers["content-type"] == "application/octet-stream"
        assert first.headers["x-amz-acl"] == "public-read" and SLOT_HEADER not in first.headers
        assert result["content_type"] == "application/octet-stream"


def test_a_presigned_put_without_the_asked_headers_gets_403(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "presigned_puts", filename="data.json")
    asked = result["info"]["upload_headers"]
    assert asked["Content-Type"] == "application/json" and set(asked) == {"Content-Type", SLOT_HEADER}
    statuses = result["statuses"]
    assert [statuses[case]["status"] for case in ("none", "without_custom", "wrong_type", "asked")] == [403, 403, 403, 200]
    assert json.loads(statuses["without_custom"]["body"])["detail"] == (
        f"the PUT lacks or changes signed upload_headers: {SLOT_HEADER}: {asked[SLOT_HEADER]}")
    [upload] = runtime.uploads()
    assert upload.content == b"by hand" and not upload.legacy


def test_legacy_uploads_refused_when_the_runtime_says_so(client_env, tmp_path):
    with SimulatedRuntime(legacy_uploads=False) as strict:
        result = run_scenario(client_env, strict, tmp_path, "upload_once", filename="r.txt", content="strict")
        uploads = strict.uploads()
    if client_env.at_least_0_4:
        assert result["ok"] and result["body"] == "strict" and not uploads[0].legacy
    else:
        assert result["error"] == "HTTPStatusError" and result["status"] == 403
        assert "legacy upload refused" in json.loads(result["body"])["detail"] and uploads == []


@pytest.mark.redis
def test_redis_client_gets_a_real_tls_redis_limited_to_its_namespace(client_env, runtime, tmp_path):
    need_redis()
    result = run_scenario(client_env, runtime, tmp_path, "redis", value="hi")
    assert result["namespace"] == runtime.namespace and result["got"] == "hi"
    assert result["outside"]["ok"] is False and "permission" in result["outside"]["message"].lower()
    assert runtime.redis_keys() == {f"{runtime.namespace}:greeting": "hi", f"{runtime.namespace}:user:1": "<hash>"}
    [violation] = runtime.redis_violations()
    assert (violation.reason, violation.object, violation.command) == ("key", "outside-the-namespace", "set")
    [call] = runtime.calls("redis_coordinator")
    assert call.inputs is None and call.variant == "credentials"
    assert runtime.redis_credentials().password not in str(call.headers)


def test_openai_sdk_through_the_proxy(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "openai_sdk")
    assert result["base_url"] == runtime.url + "/run/openai/v1/"
    assert result["chat"] and set(result["parsed"]) == {"label", "score"}
    assert result["response_text"] and result["image_is_png"] and result["image_b64"]
    assert result["embedding_sizes"] == [16, 16]
    paths = {c.path for c in runtime.calls("openai")}
    assert paths == {"v1/chat/completions", "v1/responses", "v1/images/generations", "v1/embeddings"}
    assert all(c.headers["authorization"].startswith("Bearer ") for c in runtime.calls("openai"))
    if client_env.at_least_0_4:
        sync = run_scenario(client_env, runtime, tmp_path, "openai_sdk", sync=True)
        assert sync["chat"] and sync["base_url"] == result["base_url"]


def test_vendor_errors_surface_as_the_sdk_exceptions(client_env, runtime, tmp_path):
    runtime.script("openai", path="v1/chat/completions").fail(HttpError(429, "rate limited"))
    runtime.script("anthropic", path="v1/messages").fail(HttpError(529, "overloaded"))
    openai = run_scenario(client_env, runtime, tmp_path, "openai_sdk_error")
    assert openai["error"] == "RateLimitError" and "rate limited" in openai["message"]
    anthropic = run_scenario(client_env, runtime, tmp_path, "anthropic_sdk_error")
    assert anthropic["status"] == 529 and "overloaded" in anthropic["message"]


def test_anthropic_sdk_through_the_proxy(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "anthropic_sdk")
    assert result["base_url"] == runtime.url + "/run/anthropic/"
    assert result["text"] and result["stop"] == "end_turn"
    [call] = runtime.calls("anthropic")
    # older SDKs send x-api-key, anthropic 2.x sends a Bearer token: the simulator takes both
    assert call.path == "v1/messages" and ("x-api-key" in call.headers or "authorization" in call.headers)
    if client_env.at_least_0_4:
        assert run_scenario(client_env, runtime, tmp_path, "anthropic_sdk", sync=True)["text"]


def test_firecrawl_sdk_scrapes_a_registered_page(client_env, runtime, tmp_path):
    runtime.pages.add("https://news.example/today", "# Today\n\nAll quiet.")
    result = run_scenario(client_env, runtime, tmp_path, "firecrawl_sdk", url="https://news.example/today")
    assert result["api_url"] == runtime.url + "/run/firecrawl"
    assert result["markdown"] == "# Today\n\nAll quiet." and result["title"] == "Today"
    assert "<h1>Today</h1>" in result["html"]
    [call] = runtime.calls("firecrawl")
    assert call.path == "v1/scrape" and call.inputs["formats"] == ["markdown", "html"]


def test_streamed_sdk_calls_get_server_sent_events(client_env, runtime, tmp_path):
    runtime.script("anthropic", path="v1/messages").respond({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": "Three small words"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 2, "output_tokens": 3}})
    result = run_scenario(client_env, runtime, tmp_path, "streaming")
    chat = runtime.calls("openai")[0].response["choices"][0]["message"]["content"]
    assert len(result["openai_pieces"]) > 1 and "".join(result["openai_pieces"]) == chat
    assert result["openai_usage"] == runtime.calls("openai")[0].response["usage"]["total_tokens"]
    assert result["claude_pieces"] == ["Three", " small", " words"]
    assert (result["claude_final"], result["claude_stop"]) == ("Three small words", "end_turn")


RESPONSE_WITH_A_TOOL_CALL = {
    "id": "resp_scripted", "object": "response", "created_at": 1735689600, "model": "gpt-4o-mini",
    "status": "completed", "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    "output": [
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": '{"q": "x"}',
         "status": "completed"},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Two words", "annotations": []}]},
    ],
    "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
}


def test_openai_responses_stream_is_the_non_streamed_answer(client_env, runtime, tmp_path):
    result = run_scenario(client_env, runtime, tmp_path, "responses_streaming")
    events = result["events"]
    assert events[:2] == ["response.created", "response.in_progress"] and events[-1] == "response.completed"
    assert {"response.output_item.added", "response.content_part.added", "response.output_text.done",
            "response.content_part.done", "response.output_item.done"} <= set(events)
    assert len(result["deltas"]) > 1 and "".join(result["deltas"]) == result["plain_text"] == result["done_text"]
    assert result["completed"] == result["plain"]  # the last event carries the whole non-streamed answer
    # the SDK's stream() helper accumulates the same events into the same final response
    assert result["helper_deltas"] == result["deltas"] and result["final_text"] == result["plain_text"]
    assert result["final_id"] == result["plain"]["id"] and result["final_usage"]["total_tokens"] == result["plain"]["usage"]["total_tokens"]
    plain, *streamed = runtime.calls("openai", "v1/responses")
    assert [c.inputs.get("stream") for c in (plain, *streamed)] == [None, True, True]
    assert all(c.response == plain.response for c in streamed)  # recorded whole, and the same answer
    if client_env.at_least_0_4:
        sync = run_scenario(client_env, runtime, tmp_path, "responses_streaming", sync=True)
        assert "".join(sync["helper_deltas"]) == sync["final_text"] == sync["plain_text"]
        assert sync["final_id"] == sync["plain_id"]


def test_a_scripted_responses_answer_streams_as_scripted(client_env, runtime, tmp_path):
    runtime.script("openai", path="v1/responses").respond(RESPONSE_WITH_A_TOOL_CALL)
    result = run_scenario(client_env, runtime, tmp_path, "responses_streaming")
    assert result["deltas"] == ["Two", " words"] and result["final_text"] == result["plain_text"] == "Two words"
    assert result["final_output_types"] == ["function_call", "message"]
    assert result["final_calls"] == [{"name": "lookup", "arguments": '{"q": "x"}'}]
    assert "response.function_call_arguments.done" in result["events"]
    assert result["completed"] == result["plain"]


def _calls_one_tool(name: str, arguments: dict) -> dict:
    """A Responses answer in which the model calls one tool (what the agent then runs over MCP)."""
    return {**RESPONSE_WITH_A_TOOL_CALL, "id": "resp_tool", "model": "gpt-4.1-mini", "output": [
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name,
         "arguments": json.dumps(arguments), "status": "completed"}]}


def test_sub_agent_speaks_mcp_to_devx_mcp(client_env, runtime, tmp_path):
    execute = {"operation": "execute", "service_id": "redis_coordinator", "inputs": {"operation": "get", "key": "k"}}
    runtime.kv.set("k", "stored value")
    runtime.script("openai", path="v1/responses").queue(_calls_one_tool("discover_library_services", execute))
    # (no tools_filter: SubAgent's filter replaces list_tools with a function of no arguments, and
    # openai-agents 0.24 calls it with two, so a filtered SubAgent fails with a TypeError)
    result = run_scenario(client_env, runtime, tmp_path, "sub_agent", task="What is stored under k?", deadline=120)
    if not client_env.at_least_0_4:
        assert result["error"] == "ModuleNotFoundError"  # 0.3.4 has no codewords_client.agent
        assert runtime.calls() == []
        return
    mcp_calls = runtime.calls("devx_mcp")
    methods = [c.inputs.get("method") for c in mcp_calls]
    # (the mcp client first probes "server/discover"; a handshake-era server answers -32601 and
    # the client falls back to initialize, as the MCP spec's older revisions have it)
    for first, then in (("initialize", "notifications/initialized"), ("notifications/initialized", "tools/list"),
                        ("tools/list", "tools/call")):
        assert methods.index(first) < methods.index(then)
    assert all(c.path == "mcp" and c.headers["authorization"].startswith("Bearer ") for c in mcp_calls)
    initialize = mcp_calls[methods.index("initialize")]
    assert initialize.response["result"]["protocolVersion"] == initialize.inputs["params"]["protocolVersion"]
    # the model was offered the MCP tools, called one, and got its result back
    asked, answered = runtime.calls("openai", "v1/responses")
    assert [t["name"] for t in asked.inputs["tools"]] == [tool.name for tool in TOOLS]
    [tool_call] = [c for c in mcp_calls if c.inputs.get("method") == "tools/call"]
    assert tool_call.inputs["params"] == {"name": "discover_library_services", "arguments": execute}
    assert tool_call.response["result"]["structuredContent"] == {"success": True, "value": "stored value"}
    [nested] = runtime.calls("redis_coordinator")
    assert nested.inputs == execute["inputs"] and nested.status == 200
    [output] = [item for item in answered.inputs["input"] if item.get("type") == "function_call_output"]
    assert output["call_id"] == "call_1" and "stored value" in json.dumps(output)
    final_text = answered.response["output"][0]["content"][0]["text"]
    assert result == {"status": "completed", "output": final_text}


# 0.3.4 has no SubAgent, so no MCP client (test_sub_agent_speaks_mcp_to_devx_mcp checks that): 0.4.11 only.
@pytest.mark.parametrize("client_env", ["0.4.11"], indirect=True, ids=lambda v: f"client-{v}")
def test_devx_mcp_tools_scripted_simulated_and_unknown(client_env, runtime, tmp_path):
    assert client_env.at_least_0_4
    runtime.tool("run_workflow").respond({"status": "completed", "output": {"rows": 3}})
    runtime.tool("manage_user_secrets").fail("no secret named X")
    runtime.tool("get_workflow_output").using(lambda arguments: {"request_id": arguments["request_id"], "done": True})
    calls = [
        ["discover_library_services", {"operation": "list"}],
        ["discover_library_services", {"operation": "execute", "service_id": "openai",
                                       "inputs": {"model": "gpt-4o", "prompt": "hi"}}],
        ["discover_library_services", {"operation": "execute", "service_id": "redis_coordinator",
                                       "inputs": {"action": "get", "key": "k"}}],
        ["run_workflow", {"workflow_id": "w_1"}],
        ["manage_user_secrets", {"operation": "get", "name": "X"}],
        ["get_workflow_output", {"request_id": "req_1"}],
        ["deploy_workflow", {}],
        ["run_workflw", {}],
    ]
    result = run_scenario(client_env, runtime, tmp_path, "mcp_session", calls=calls, deadline=120)
    assert result["protocol"] in PROTOCOL_VERSIONS and result["server"].startswith("devx-mcp")
    assert result["tools"] == [tool.name for tool in TOOLS]
    assert result["schemas"]["discover_library_services"]["properties"]["operation"]["enum"] == ["list", "execute"]
    listed, executed, rejected, scripted, failed, computed, unsimulated, unknown = result["results"]
    assert {s["service_id"] for s in listed["structured"]["services"]} == set(runtime.catalog.ids)
    [nested] = runtime.calls("openai")
    assert executed["structured"] == nested.response and isinstance(nested.response["response"], str)
    assert nested.headers["authorization"].startswith("Bearer ")  # made with the MCP request's credentials
    assert rejected["is_error"] and rejected["text"] == [
        '422: "action" is not an input of redis_coordinator; did you mean "operation"?']
    assert scripted == {"ok": True, "is_error": False, "text": ['{"status": "completed", "output": {"rows": 3}}'],
                        "structured": {"status": "completed", "output": {"rows": 3}}}
    assert failed["is_error"] and failed["text"] == ["no secret named X"]
    assert computed["structured"] == {"request_id": "req_1", "done": True}
    assert unsimulated["is_error"] and 'runtime.tool("deploy_workflow")' in unsimulated["text"][0]
    assert not unknown["ok"] and 'unknown tool "run_workflw"; did you mean "run_workflow"?' in unknown["message"]
