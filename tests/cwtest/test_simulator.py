"""The simulator in-process (ASGI): catalog checks, answers, auth, scripts, records, protocol details."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from cwtest_support import minimal_inputs
from needs import need_redis
from cwlint.catalog import default_catalog
from cwtest import Delay, DropConnection, HttpError, Reply, SimulatedRuntime
from cwtest.simulator import ToolError
from cwtest.simulator.app import ConnectionDropped
from cwtest.simulator.records import mask
from cwtest.simulator.state import KeyValueStore

KEY = "cwtest-0123456789abcdef"


def call(runtime: SimulatedRuntime, method: str, path: str, body: Any = None, *, headers: dict | None = None,
         auth: str | None = KEY) -> httpx.Response:
    """One request to the runtime's ASGI app, no server involved."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            sent = {**({"Authorization": auth} if auth else {}), **(headers or {})}
            return await client.request(method, path, json=body, headers=sent)

    return asyncio.run(go())


@pytest.fixture
def sim() -> SimulatedRuntime:
    return SimulatedRuntime(api_key=KEY, connected_apps={"slack"})


# --- every contract of the catalog answers in its declared shape ------------------------------

VENDOR_BODIES = {
    "chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    "responses": {"model": "gpt-4o-mini", "input": "hi"},
    "images/generations": {"prompt": "a cat", "response_format": "url"},
    "embeddings": {"model": "text-embedding-3-small", "input": ["a"]},
    "messages": {"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    "scrape": {"url": "https://example.com", "formats": ["markdown", "html"]},
    "mcp": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
}
def body_for(variant) -> Any:
    if variant.body is False:
        return None
    for suffix, body in VENDOR_BODIES.items():
        if variant.format == "vendor" and variant.path.endswith(suffix):
            return body
    return minimal_inputs(variant)


CONTRACTS = [(s.id, v.name) for s in default_catalog().services.values() for v in s.variants]


@pytest.mark.parametrize(("service_id", "variant_name"), CONTRACTS, ids=[f"{s}/{v}" for s, v in CONTRACTS])
def test_every_contract_answers_in_its_declared_shape(sim, service_id, variant_name):
    service = sim.catalog.get(service_id)
    variant = next(v for v in service.variants if v.name == variant_name)
    if service_id == "redis_coordinator" and variant.body is False:
        need_redis()
    body = body_for(variant)
    try:
        response = call(sim, "POST", f"/run/{service_id}/{variant.path}", body)
    finally:
        sim.stop()
    assert response.status_code == 200, response.text
    Draft202012Validator(variant.response.json_schema).validate(response.json())
    [recorded] = sim.calls(service_id)
    assert recorded.variant == variant_name and recorded.response == response.json()


def test_answers_depend_on_seed_and_request_only():
    ask = {"model": "gpt-4o", "prompt": "hello", "example_output": {"title": "t", "tags": ["a"], "n": 1}}
    one, again, other = (SimulatedRuntime(api_key=KEY, seed=s) for s in (7, 7, 8))
    first = call(one, "POST", "/run/openai", ask).json()
    call(again, "POST", "/run/anthropic", {"model": "claude-3-5-haiku-20241022", "prompt": "unrelated"})
    assert call(again, "POST", "/run/openai", ask).json() == first
    assert call(other, "POST", "/run/openai", ask).json() != first


def test_llm_answer_validates_against_a_pydantic_schema_for_many_seeds():
    schema = {
        "$defs": {
            "Step": {"type": "object", "properties": {"name": {"type": "string"}, "minutes": {"type": "integer",
                     "minimum": 1, "maximum": 30}}, "required": ["name", "minutes"]},
            "Level": {"enum": ["low", "high"], "type": "string"},
        },
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}, "minItems": 2},
            "level": {"$ref": "#/$defs/Level"},
            "note": {"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}], "default": None},
            "email": {"type": "string", "format": "email"},
            "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
        "required": ["steps", "level", "email", "score"],
    }
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for seed in range(25):
        answer = call(SimulatedRuntime(api_key=KEY, seed=seed), "POST", "/run/gemini",
                      {"model": "gemini-2.5-flash", "prompt": "plan", "example_output": schema}).json()
        validator.validate(answer["response"])


# --- the catalog check --------------------------------------------------------------------------

@pytest.mark.parametrize(("service_id", "inputs", "message"), [
    ("redis_coordinator", {"action": "get", "key": "k"},
     '"action" is not an input of redis_coordinator; did you mean "operation"?'),
    ("pipedream", {"app_slug": "slack", "action": "send-message", "props": {}},
     '"app_slug" is not an input of pipedream; did you mean "app"?'),
    ("redis_coordinator", {"operation": "get", "key": "k", "tll": 5},
     '"tll" is not an input of redis_coordinator; did you mean "ttl"?'),
    ("redis_coordinator", {"operation": "set", "key": "k"}, '"value" is required by redis_coordinator'),
    ("redis_coordinator", {"operation": "gett", "key": "k"},
     '"operation" of redis_coordinator must be one of "get", "set", got "gett"; did you mean "get"?'),
    ("redis_coordinator", {"operation": "get", "key": "k", "ttl": "1h"},
     '"ttl" of redis_coordinator must be an integer, got string'),
    ("pipedream", {"app": "slack", "action": "send-message", "props": {}, "zzz": 1},
     '"zzz" is not an input of pipedream; its inputs are "app", "action", "props", "dynamic_props_id"'),
    ("chrome_extension", {"actions": [{"type": "navigate"}]},
     '"actions.0.url" is required by chrome_extension'),
    ("chrome_extension", {"actions": [{"type": "click"}]},
     '"actions.0.type" of chrome_extension must be one of "navigate", "wait", "extract_html", "extract", got "click"'),
    ("firecrawl", ["https://example.com"], "inputs of firecrawl must be a JSON object, got array"),
])
def test_a_request_that_breaks_the_catalog_gets_422_naming_the_key(sim, service_id, inputs, message):
    response = call(sim, "POST", f"/run/{service_id}", inputs)
    assert response.status_code == 422
    assert message in response.json()["detail"].splitlines()
    [recorded] = sim.calls(service_id)
    assert message in recorded.problems and recorded.fault is None


def test_scripts_do_not_bypass_the_catalog(sim):
    sim.script("redis_coordinator").respond({"success": True})
    assert call(sim, "POST", "/run/redis_coordinator", {"action": "get", "key": "k"}).status_code == 422


def test_unknown_service_and_path_get_404_with_a_guess(sim):
    service = call(sim, "POST", "/run/firecrawel", {"url": "x"})
    assert service.status_code == 404 and 'did you mean "firecrawl"?' in service.json()["detail"]
    path = call(sim, "POST", "/run/openai/v1/chat/completion", {})
    assert path.status_code == 404 and 'did you mean "v1/chat/completions"?' in path.json()["detail"]


def test_unknown_service_handler_answers_calls_to_other_workflows():
    seen = []

    def other_workflows(request):
        seen.append(request.service)
        return {"echo": request.inputs} if request.service.startswith("wf_") else None

    runtime = SimulatedRuntime(api_key=KEY, on_unknown_service=other_workflows)
    assert call(runtime, "POST", "/run/wf_enrich_1a2b", {"a": 1}).json() == {"echo": {"a": 1}}
    assert call(runtime, "POST", "/run/nope", {}).status_code == 404
    assert seen == ["wf_enrich_1a2b", "nope"]


# --- authentication -------------------------------------------------------------------------------

def test_the_key_is_accepted_raw_or_as_bearer_and_refused_otherwise(sim):
    ask = {"model": "gpt-4o", "prompt": "hi"}
    assert call(sim, "POST", "/run/openai", ask).status_code == 200
    assert call(sim, "POST", "/run/openai/", ask, auth=f"Bearer {KEY}").status_code == 200
    missing = call(sim, "POST", "/run/openai", ask, auth=None)
    assert missing.status_code == 401 and missing.json()["detail"].startswith("missing API key")
    assert call(sim, "POST", "/run/openai", ask, auth="Bearer cwtest-wrong").json() == {"detail": "invalid API key"}
    assert call(sim, "POST", "/provision-request", auth=None).status_code == 401
    assert sim.calls("openai")[0].headers["authorization"] == mask(KEY)


def test_x_api_key_works_on_the_anthropic_proxy_only(sim):
    message = VENDOR_BODIES["messages"]
    ok = call(sim, "POST", "/run/anthropic/v1/messages", message, auth=None, headers={"x-api-key": KEY})
    assert ok.status_code == 200 and ok.json()["type"] == "message"
    refused = call(sim, "POST", "/run/anthropic", {"model": "m", "prompt": "p"}, auth=None, headers={"x-api-key": KEY})
    assert refused.status_code == 401
    wrong = call(sim, "POST", "/run/anthropic/v1/messages", message, auth=None, headers={"x-api-key": "bad"})
    assert wrong.json()["type"] == "error" and wrong.json()["error"]["type"] == "authentication_error"


def test_x_api_key_works_on_the_composio_proxy():
    # The client patches composio.Composio with api_key=CODEWORDS_API_KEY, base_url run/composio;
    # composio_client sends that key as x-api-key (found on a public Zoho sync workflow).
    sim = SimulatedRuntime(api_key=KEY)
    ok = call(sim, "POST", "/run/composio", {"q": 1}, auth=None, headers={"x-api-key": KEY})
    assert ok.status_code == 200, ok.text
    assert call(sim, "POST", "/run/composio", {"q": 1}, auth=None, headers={"x-api-key": "bad"}).status_code == 401


def test_mask_never_shows_more_than_four_characters_or_a_quarter():
    assert mask("cwtest-0123456789abcdef") == "cwte…"
    assert mask("Bearer sk-abcdefghijkl") == "Bearer sk-…"
    assert mask("short") == "s…" and mask("abc") == "…"


# --- scripts ---------------------------------------------------------------------------------

def test_script_order_queue_then_function_then_fixed_then_simulated(sim):
    ask = {"model": "gpt-4o", "prompt": "hi"}
    script = sim.script("openai")
    script.respond({"response": "fixed"})
    script.using(lambda request: {"response": "function"} if request.inputs["prompt"] == "fn" else None)
    script.queue({"response": "queued"})
    answers = [call(sim, "POST", "/run/openai", body).json()["response"]
               for body in (ask, {**ask, "prompt": "fn"}, ask)]
    assert answers == ["queued", "function", "fixed"]
    script.reset()
    assert call(sim, "POST", "/run/openai", ask).json()["response"] not in ("queued", "function", "fixed")


def test_a_path_script_wins_over_the_service_script(sim):
    sim.script("openai").fail(HttpError(500, "everything down"))
    sim.script("openai", path="v1/chat/completions").respond({"id": "x", "object": "chat.completion"})
    assert call(sim, "POST", "/run/openai/v1/chat/completions", VENDOR_BODIES["chat/completions"]).status_code == 200
    assert call(sim, "POST", "/run/openai", {"model": "m", "prompt": "p"}).status_code == 500


def test_fault_objects_refuse_nonsense():
    with pytest.raises(ValueError):
        HttpError(302)


def test_a_dropped_connection_raises_in_process(sim):
    sim.script("openai").fail(DropConnection())
    with pytest.raises(ConnectionDropped):
        call(sim, "POST", "/run/openai", {"model": "m", "prompt": "p"})


def test_delay_then_answer(sim):
    sim.script("openai").respond(answer=Delay(0.3, Reply({"response": "late"})))
    started = time.monotonic()
    assert call(sim, "POST", "/run/openai", {"model": "m", "prompt": "p"}).json() == {"response": "late"}
    assert time.monotonic() - started >= 0.3
    assert sim.calls("openai")[0].fault == "delay"


# --- state and protocol details ----------------------------------------------------------------

def test_key_value_ttl_expires_on_the_clock():
    now = [100.0]
    store = KeyValueStore(clock=lambda: now[0])
    store.set("a", "1", ttl=10)
    store.set("b", "2")
    now[0] = 109.9
    assert store.get("a") == "1"
    now[0] = 110.0
    assert store.get("a") is None and store.snapshot() == {"b": "2"}


def test_background_record_logs_and_after_filter(sim):
    async def go() -> tuple[dict, list[dict], list[dict], int, int]:
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"Authorization": KEY}) as c:
            rid = (await c.post("/run_async/openai/", json={"model": "m", "prompt": "p"})).json()["request_id"]
            record = (await c.get(f"/result/{rid}", params={"timeout": "5"})).json()
            lines = [json.loads(x) for x in (await c.get(f"/logs/{rid}")).text.splitlines()]
            later = [json.loads(x) for x in (await c.get(f"/logs/{rid}", params={"after": lines[0]["createdAt"]})).text.splitlines()]
            unknown = (await c.get("/result/req_nope")).status_code
            bad = (await c.get(f"/result/{rid}", params={"timeout": "soon"})).status_code
            return record, lines, later, unknown, bad

    record, lines, later, unknown, bad = asyncio.run(go())
    assert record["status"] == "completed" and record["responseStatus"] == 200
    assert set(record) >= {"requestId", "responseJson", "responseStatus", "createdAt", "completedAt"}
    assert [e["message"] for e in lines] == ["running openai/", "finished with status 200"]
    assert later == lines[1:]
    assert (unknown, bad) == (404, 400)


def test_uploads_need_the_signature(sim):
    slot = call(sim, "POST", "/file?filename=a.txt").json()
    assert call(sim, "PUT", slot["download_uri"].replace("http://sim", "") + "?signature=forged", auth=None).status_code == 403
    assert call(sim, "GET", "/files/nope/a.txt", auth=None).status_code == 404
    assert call(sim, "GET", slot["download_uri"].replace("http://sim", ""), auth=None).status_code == 404  # not yet PUT
    assert call(sim, "POST", "/file").status_code == 400


def test_upload_headers_are_checked_like_signed_headers(sim):
    slot = call(sim, "POST", "/file?filename=a.bin").json()
    put = slot["upload_uri"].replace("http://sim", "")
    asked = slot["upload_headers"]
    assert asked["Content-Type"] == "application/octet-stream" and len(asked) == 2
    legacy = {"Content-Type": "application/octet-stream", "x-amz-acl": "public-read"}
    # the legacy pair with a changed value is no legacy client: refused like any wrong header
    assert call(sim, "PUT", put, auth=None, headers={**legacy, "x-amz-acl": "private"}).status_code == 403
    assert call(sim, "PUT", put, auth=None, headers=legacy).status_code == 200
    assert call(sim, "PUT", put, auth=None, headers={**asked, "x-extra": "fine"}).status_code == 200
    first, second = sim.uploads()
    assert first.legacy and first.missing_headers == ("x-amz-meta-cwtest-upload",)
    assert not second.legacy and second.headers["x-extra"] == "fine"
    strict = SimulatedRuntime(api_key=KEY, legacy_uploads=False)
    slot = call(strict, "POST", "/file?filename=a.bin").json()
    refused = call(strict, "PUT", slot["upload_uri"].replace("http://sim", ""), auth=None, headers=legacy)
    assert refused.status_code == 403 and refused.json()["detail"].startswith("legacy upload refused")


def test_devx_mcp_answers_json_rpc(sim):
    def rpc(message, **kwargs):
        return call(sim, "POST", "/run/devx_mcp/mcp/", message, **kwargs)

    init = rpc({"jsonrpc": "2.0", "id": "a", "method": "initialize", "params": {"protocolVersion": "1999-01-01"}})
    assert init.json()["id"] == "a" and init.json()["result"]["protocolVersion"] == "2025-11-25"
    assert "mcp-session-id" not in init.headers  # stateless
    accepted = rpc({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (accepted.status_code, accepted.content) == (202, b"")
    assert rpc({"jsonrpc": "2.0", "id": 2, "method": "ping"}).json()["result"] == {}
    assert rpc({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}).json()["error"]["code"] == -32601
    bad = rpc({"method": "tools/list"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32600
    assert call(sim, "GET", "/run/devx_mcp/mcp/").status_code == 405
    denied = rpc({"jsonrpc": "2.0", "id": 4, "method": "ping"}, auth="Bearer wrong")
    assert denied.status_code == 401 and denied.json()["error"]["message"] == "invalid API key"
    with pytest.raises(ValueError, match='did you mean "run_workflow"'):
        sim.tool("run_workflw")
    sim.tool("run_workflow").using(lambda arguments: ToolError(f"no workflow {arguments['workflow_id']}")
                                   if arguments.get("workflow_id") != "w_1" else None).respond("ran")
    results = [rpc({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                    "params": {"name": "run_workflow", "arguments": {"workflow_id": w}}}).json()["result"]
               for n, w in ((5, "w_2"), (6, "w_1"))]
    assert results == [{"content": [{"type": "text", "text": "no workflow w_2"}], "isError": True},
                       {"content": [{"type": "text", "text": "ran"}], "isError": False}]


def test_a_streamed_response_ends_as_its_status_says(sim):
    sim.script("openai", path="v1/responses").respond({
        "id": "resp_1", "object": "response", "created_at": 1, "model": "m", "status": "incomplete",
        "output": [{"type": "reasoning", "id": "rs_1", "summary": []}]})
    streamed = call(sim, "POST", "/run/openai/v1/responses", {"model": "m", "input": "x", "stream": True})
    kinds = [line[len("event: "):] for line in streamed.text.splitlines() if line.startswith("event: ")]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.output_item.done", "response.incomplete"]
    numbers = [json.loads(line[6:])["sequence_number"] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert numbers == list(range(len(kinds)))


def test_starts_well_under_a_second():
    runtime = SimulatedRuntime()
    started = time.monotonic()
    with runtime:
        elapsed = time.monotonic() - started
        assert httpx.get(runtime.url + "/").status_code == 200
    assert elapsed < 1.0, f"start took {elapsed:.2f} s"


def test_reset_forgets_the_run(sim):
    sim.pages.add("https://a.example", "# A")
    sim.script("openai").respond({"response": "x"})
    call(sim, "POST", "/run/redis_coordinator", {"operation": "set", "key": "k", "value": "v"})
    sim.reset()
    assert sim.calls() == [] and sim.kv.snapshot() == {} and sim.pages.registered("https://a.example") is None
    assert call(sim, "POST", "/run/openai", {"model": "m", "prompt": "p"}).json()["response"] != "x"
