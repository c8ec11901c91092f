"""What each simulated service answers when no script says otherwise.

The catalog says which contract a request addresses and what shape the answer has; this module
gives each contract a plausible behaviour. A behaviour is chosen from the catalog's data, not
from a list of ids, where the data tells enough: a service with model prefixes is an LLM, a
vendor variant whose path ends in ``chat/completions`` speaks OpenAI's format (whichever service
it belongs to), and anything without its own behaviour gets an answer generated from its
response schema. Answers depend only on the seed and the request, so a run can be repeated.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cwlint.catalog import Catalog, Service, Variant
from cwtest.simulator import mcp
from cwtest.simulator.generate import from_schema, is_json_schema, paragraph, sentence, shaped_like, token
from cwtest.simulator.records import ServiceRequest
from cwtest.simulator.redis_server import INSTALL_HINT, RedisCredentials, RedisUnavailable
from cwtest.simulator.script import Answer, HttpError, Reply
from cwtest.simulator.state import KeyValueStore, Pages

#: A 1x1 transparent PNG: the smallest honest image for image-generation answers.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

#: Seconds since the epoch that generated ``created`` stamps start from (2025-01-01).
EPOCH = 1_735_689_600


@dataclass
class ServiceContext:
    """What behaviours may use of the runtime; built by the runtime, one per run."""

    seed: int
    pages: Pages
    kv: KeyValueStore
    connected_apps: frozenset[str]
    #: Blocking: starts redis-server on first use. Called in a worker thread.
    redis_credentials: Callable[[], RedisCredentials]
    #: Stores bytes (name, content, base URL) and returns the URL the simulator serves them at.
    store_file: Callable[[str, bytes, str], str]
    catalog: Catalog | None = None
    #: The scripted results of devx_mcp's tools.
    tools: mcp.ToolScripts = field(default_factory=mcp.ToolScripts)
    #: Runs a service call on behalf of another (devx_mcp's ``discover_library_services``):
    #: (the request it comes from, service id, inputs) -> (status, body); set by the app.
    execute: Callable[[ServiceRequest, str, Any], Awaitable[tuple[int | None, Any]]] | None = None

    def rng(self, request: ServiceRequest) -> random.Random:
        """The same generator for the same seed and request, whatever ran before.

        Whether the answer is streamed is not part of the request it answers: ``stream`` and
        ``stream_options`` are left out, so a streamed call gets the non-streamed call's answer.
        """
        inputs = request.inputs
        if isinstance(inputs, dict) and ("stream" in inputs or "stream_options" in inputs):
            inputs = {k: v for k, v in inputs.items() if k not in ("stream", "stream_options")}
        text = json.dumps(inputs, sort_keys=True, default=str)
        return random.Random(f"{self.seed}:{request.service}:{request.path}:{text}")


Behaviour = Callable[[ServiceRequest, Service, Variant, ServiceContext], Awaitable[Answer]]


def _inputs(request: ServiceRequest) -> dict[str, Any]:
    return request.inputs if isinstance(request.inputs, dict) else {}


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _text_of(content: Any) -> str:
    """The text of a chat message's content, which may be a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


# --- library LLMs: {"model", "prompt", "example_output"} -> {"response": ...} -------------------

async def llm_library(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    rng = ctx.rng(request)
    example = _inputs(request).get("example_output")
    if example is None:
        return Reply({"response": paragraph(rng, 2)})
    if is_json_schema(example):
        return Reply({"response": from_schema(example, rng)})
    return Reply({"response": shaped_like(example, rng)})


# --- OpenAI wire format ----------------------------------------------------------------------

def _structured_text(schema: dict[str, Any] | None, rng: random.Random) -> str:
    return json.dumps(from_schema(schema, rng)) if schema is not None else paragraph(rng, 2)


def _chat_content(body: dict[str, Any], rng: random.Random) -> str:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return _structured_text((fmt.get("json_schema") or {}).get("schema", {}), rng)
    if fmt.get("type") == "json_object":
        return json.dumps({"answer": sentence(rng)})
    return paragraph(rng, 2)


def _chosen_tool(tools: list[Any], choice: Any, name_of: Callable[[Any], str]) -> Any:
    """The tool a request's tool choice names, else the first one."""
    wanted = None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") or choice.get("name")
    return next((t for t in tools if name_of(t) == wanted), tools[0]) if tools else None


def _openai_tool_call(body: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """A tool call fitted to the requested function's parameters, when the request offers tools (or
    legacy functions), does not forbid them, and is not answering a tool result already."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    if messages and messages[-1].get("role") in ("tool", "function"):
        return None
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type", "function") == "function"]
    choice = body.get("tool_choice")
    if not tools and body.get("functions"):
        tools = [{"type": "function", "function": f} for f in body["functions"] if isinstance(f, dict)]
        choice = body.get("function_call")
    if not tools or choice == "none":
        return None
    tool = _chosen_tool(tools, choice, lambda t: str((t.get("function") or {}).get("name", "")))
    function = tool.get("function") or {}
    arguments = from_schema(function.get("parameters") or {"type": "object"}, rng)
    return {"id": token(rng, "call_"), "type": "function",
            "function": {"name": function.get("name", "tool"), "arguments": json.dumps(arguments)}}


async def openai_chat(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body, rng = _inputs(request), ctx.rng(request)
    prompt = " ".join(_text_of(m.get("content")) for m in body.get("messages", []) if isinstance(m, dict))
    choices: list[dict[str, Any]] = []
    for index in range(int(body.get("n") or 1)):
        call = _openai_tool_call(body, rng)
        if call is not None:
            choices.append({"index": index, "message": {"role": "assistant", "content": None, "refusal": None,
                                                        "tool_calls": [call]},
                            "finish_reason": "tool_calls", "logprobs": None})
            continue
        content = _chat_content(body, rng)
        choices.append({
            "index": index,
            "message": {"role": "assistant", "content": content, "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        })
    completion = sum(_words(c["message"]["content"] or "") for c in choices)
    return Reply({
        "id": token(rng, "chatcmpl-"),
        "object": "chat.completion",
        "created": EPOCH + rng.randint(0, 10**7),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": choices,
        "usage": {"prompt_tokens": _words(prompt), "completion_tokens": completion,
                  "total_tokens": _words(prompt) + completion},
    })


async def openai_responses(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body, rng = _inputs(request), ctx.rng(request)
    fmt = (body.get("text") or {}).get("format") or {}
    text = _structured_text(fmt.get("schema", {}), rng) if fmt.get("type") == "json_schema" else paragraph(rng, 2)
    prompt = body.get("input") if isinstance(body.get("input"), str) else json.dumps(body.get("input"))
    return Reply({
        "id": token(rng, "resp_"),
        "object": "response",
        "created_at": EPOCH + rng.randint(0, 10**7),
        "model": body.get("model", "gpt-4o-mini"),
        "status": "completed",
        "output": [{
            "type": "message",
            "id": token(rng, "msg_"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": _words(prompt or ""), "output_tokens": _words(text),
                  "total_tokens": _words(prompt or "") + _words(text)},
    })


async def openai_images(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body, rng = _inputs(request), ctx.rng(request)
    as_url = body.get("response_format") == "url"
    data = []
    for _ in range(int(body.get("n") or 1)):
        if as_url:
            data.append({"url": ctx.store_file(f"{token(rng, 'img-', 12)}.png", TINY_PNG, request.base_url)})
        else:
            data.append({"b64_json": base64.b64encode(TINY_PNG).decode()})
    return Reply({"created": EPOCH + rng.randint(0, 10**7), "data": data})


async def openai_embeddings(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body = _inputs(request)
    texts = body.get("input")
    texts = texts if isinstance(texts, list) else [texts]
    size = int(body.get("dimensions") or 16)
    data = []
    for index, text in enumerate(texts):
        rng = random.Random(f"{ctx.seed}:embedding:{json.dumps(text, default=str)}")
        vector = [round(rng.uniform(-1, 1), 6) for _ in range(size)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return Reply({"object": "list", "data": data, "model": body.get("model", "text-embedding-3-small"),
                  "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})


# --- Anthropic wire format -------------------------------------------------------------------

async def anthropic_messages(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body, rng = _inputs(request), ctx.rng(request)
    text = paragraph(rng, 2)
    prompt = " ".join(_text_of(m.get("content")) for m in body.get("messages", []) if isinstance(m, dict))
    use = _anthropic_tool_use(body, rng)
    return Reply({
        "id": token(rng, "msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-3-5-haiku-20241022"),
        "content": [use] if use is not None else [{"type": "text", "text": text}],
        "stop_reason": "tool_use" if use is not None else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": _words(prompt), "output_tokens": _words(text)},
    })


def _anthropic_tool_use(body: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """A ``tool_use`` block fitted to the chosen tool's ``input_schema``, when the request offers
    tools, does not forbid them, and its last message is not a tool result already."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    choice = body.get("tool_choice") or {}
    if not tools or (isinstance(choice, dict) and choice.get("type") == "none"):
        return None
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    last = messages[-1].get("content") if messages else None
    if isinstance(last, list) and any(isinstance(p, dict) and p.get("type") == "tool_result" for p in last):
        return None
    tool = _chosen_tool(tools, choice, lambda t: str(t.get("name", "")))
    return {"type": "tool_use", "id": token(rng, "toolu_"), "name": tool.get("name", "tool"),
            "input": from_schema(tool.get("input_schema") or {"type": "object"}, rng)}


# --- Firecrawl and the Chrome extension: pages a test registers ------------------------------

def _scraped(url: str, formats: list[str], ctx: ServiceContext) -> dict[str, Any]:
    page = ctx.pages.get(url)
    data: dict[str, Any] = {}
    for fmt in formats or ["markdown"]:
        if fmt == "markdown":
            data["markdown"] = page.markdown
        elif fmt in ("html", "rawHtml"):
            data[fmt] = page.html
        elif fmt == "links":
            data["links"] = []
    data["metadata"] = {"title": page.title, "sourceURL": url, "statusCode": page.status_code}
    return data


async def firecrawl_scrape(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body = _inputs(request)
    return Reply({"success": True, "data": _scraped(str(body.get("url", "")), body.get("formats") or [], ctx)})


async def chrome_actions(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    url = ""
    for step in _inputs(request).get("actions") or []:
        if isinstance(step, dict) and step.get("type") == "navigate":
            url = str(step.get("url", ""))
    return Reply({"success": True, "data": {"html": ctx.pages.get(url).html if url else "<html></html>"}})


# --- redis_coordinator: the key-value form and the credentials of redis_client() --------------

async def redis_key_value(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body = _inputs(request)
    if body.get("operation") == "set":
        ctx.kv.set(body["key"], body["value"], body.get("ttl"))
        return Reply({"success": True})
    return Reply({"success": True, "value": ctx.kv.get(body["key"])})


async def redis_credentials(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    try:
        credentials = await asyncio.to_thread(ctx.redis_credentials)
    except RedisUnavailable as exc:
        return HttpError(503, f"redis_client() cannot be simulated: {exc}. "
                              f"The key-value form of redis_coordinator works without it ({INSTALL_HINT}).")
    return Reply(credentials.as_response())


# --- pipedream: the app must be connected (its env var declared) -----------------------------

async def pipedream_action(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    body = _inputs(request)
    app = str(body.get("app", ""))
    rule = variant.env_from_input
    if rule is not None:
        wanted = rule.env_var(app)
        if wanted not in {rule.env_var(a) for a in ctx.connected_apps}:
            return HttpError(403, f'pipedream app "{app}" is not connected: the workflow must declare '
                                  f"{wanted} in its env_vars (cwtest: connected_apps / --connected-apps {app})")
    rng = ctx.rng(request)
    return Reply({"success": True, "app": app, "action": body.get("action"),
                  "data": {"id": token(rng, "", 12), "summary": f"{body.get('action')} ran on {app}"}})


# --- devx_mcp: MCP over streamable HTTP (see mcp.py for what is documented) ------------------

async def mcp_server(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    if request.method != "POST":
        return HttpError(405, f"{service.id} takes JSON-RPC messages by POST; it offers no {request.method} "
                              "(no server-to-client stream, no sessions to end)")
    message = request.inputs
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return Reply(mcp.rpc_error(None, mcp.INVALID_REQUEST, "not a JSON-RPC 2.0 message"), 400)
    method = message.get("method")
    if method is None or "id" not in message:
        return Reply(None, 202)  # a notification, or a response to a server request: accepted, no body
    message_id = message["id"]
    raw_params = message.get("params")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    if method == "initialize":
        return Reply(mcp.rpc_result(message_id, mcp.initialize_result(params)))
    if method == "ping":
        return Reply(mcp.rpc_result(message_id, {}))
    if method == "tools/list":
        return Reply(mcp.rpc_result(message_id, {"tools": [tool.as_json() for tool in mcp.TOOLS]}))
    if method == "tools/call":
        name = params.get("name")
        if name not in mcp.TOOLS_BY_NAME:
            return Reply(mcp.rpc_error(message_id, mcp.INVALID_PARAMS, mcp.unknown_tool_message(name)))
        raw_arguments = params.get("arguments")
        arguments: dict[str, Any] = raw_arguments if isinstance(raw_arguments, dict) else {}
        result = await _tool_call(request, name, arguments, ctx)
        return Reply(mcp.rpc_result(message_id, result))
    return Reply(mcp.rpc_error(message_id, mcp.METHOD_NOT_FOUND, f"method not found: {method}"))


async def _tool_call(request: ServiceRequest, name: str, arguments: dict[str, Any], ctx: ServiceContext) -> dict[str, Any]:
    scripted = ctx.tools.answer(name, arguments)
    if isinstance(scripted, mcp.ToolError):
        return mcp.tool_result(scripted.message, is_error=True)
    if scripted is not mcp.NOT_SCRIPTED:
        return mcp.tool_result(scripted)
    if name != "discover_library_services":
        return mcp.tool_result(mcp.not_simulated_message(name), is_error=True)
    operation = arguments.get("operation")
    if operation == "list":
        services = ctx.catalog.services.values() if ctx.catalog else ()
        return mcp.tool_result({"services": [{"service_id": s.id, "summary": s.summary} for s in services]})
    if operation != "execute":
        return mcp.tool_result(f'"operation" must be "list" or "execute", got {json.dumps(operation)}', is_error=True)
    service_id = arguments.get("service_id")
    if not isinstance(service_id, str) or not service_id or ctx.execute is None:
        return mcp.tool_result('"service_id" is required by the "execute" operation', is_error=True)
    status, body = await ctx.execute(request, service_id, arguments.get("inputs"))
    if status is None or status >= 400:
        detail = body.get("detail", body) if isinstance(body, dict) else body
        return mcp.tool_result(f"{status}: {detail if isinstance(detail, str) else json.dumps(detail)}", is_error=True)
    return mcp.tool_result(body)


# --- everything else: an answer generated from the catalog's response schema -----------------

async def search_results(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    rng = ctx.rng(request)
    query = str(_inputs(request).get("q") or _inputs(request).get("query") or sentence(rng, 3))
    results = [{"position": i + 1, "title": sentence(rng, 5).rstrip("."),
                "link": f"https://example.com/result-{i + 1}", "snippet": paragraph(rng, 1)} for i in range(3)]
    return Reply({"search_parameters": {"q": query}, "organic_results": results})


async def from_response_schema(request: ServiceRequest, service: Service, variant: Variant, ctx: ServiceContext) -> Answer:
    schema = variant.response.json_schema if variant.response else {"type": "object"}
    answer = from_schema(schema, ctx.rng(request))
    if isinstance(answer, dict) and not schema.get("properties"):
        # An undocumented shape: say the one thing every caller of a library service checks.
        answer = {"success": True, **answer}
    return Reply(answer)


def behaviour_for(service: Service, variant: Variant) -> Behaviour:
    """The behaviour of one catalog contract; see the module docstring for how it is chosen."""
    path = variant.path
    if variant.format == "vendor":
        for suffix, behaviour in (
            ("chat/completions", openai_chat), ("responses", openai_responses),
            ("images/generations", openai_images), ("embeddings", openai_embeddings),
            ("messages", anthropic_messages), ("scrape", firecrawl_scrape), ("mcp", mcp_server),
        ):
            if path.endswith(suffix):
                return behaviour
        return from_response_schema
    if service.models is not None and "prompt" in variant.inputs:
        return llm_library
    if variant.env_from_input is not None:
        return pipedream_action
    if service.id == "redis_coordinator":
        return redis_key_value if variant.body else redis_credentials
    return _BY_ID.get(service.id, from_response_schema)


#: Services whose catalog entry does not say enough to choose a behaviour from its data.
_BY_ID: dict[str, Behaviour] = {
    "firecrawl": firecrawl_scrape,
    "chrome_extension": chrome_actions,
    "searchapi": search_results,
}
