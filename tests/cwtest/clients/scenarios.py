"""Client-side scenarios: the real codewords-client (and vendor SDKs) against the simulator.

Run in a client environment's interpreter, never in the test process: one scenario with
``python scenarios.py NAME '{"param": ...}'``, or many with ``python scenarios.py --serve`` (see
:func:`serve`). The environment must hold CODEWORDS_RUNTIME_URI and CODEWORDS_API_KEY. The
result is printed as JSON after ``RESULT ``, for the test to assert on along with the
simulator's recorded calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from codewords_client import AsyncCodewordsClient

SCENARIOS: dict[str, Callable[..., Awaitable[Any]]] = {}


def scenario(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    SCENARIOS[function.__name__] = function
    return function


def failure(exc: BaseException) -> dict[str, Any]:
    info: dict[str, Any] = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    response = getattr(exc, "response", None)
    if isinstance(response, httpx.Response):
        info["status"] = response.status_code
        info["body"] = response.text
    return info


def answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    return {"ok": True, "status": response.status_code, "json": body, "text": response.text}


@scenario
async def run_many(calls: list[dict[str, Any]], client: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``client.run(**call)`` for each call, in order; each result or its exception."""
    results = []
    async with AsyncCodewordsClient(**(client or {})) as cw:
        for kwargs in calls:
            started = time.monotonic()
            try:
                result = answer(await cw.run(**kwargs))
            except Exception as exc:  # the point is to report what the client raised
                result = failure(exc)
            result["seconds"] = round(time.monotonic() - started, 3)
            results.append(result)
    return results


@scenario
async def correlation_from_context(service: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The client reads the correlation id that the inbound middleware binds in structlog."""
    from structlog.contextvars import bind_contextvars, clear_contextvars

    bind_contextvars(correlation_id="corr-from-context")
    try:
        async with AsyncCodewordsClient() as cw:
            return answer(await cw.run(service_id=service, inputs=inputs))
    finally:
        clear_contextvars()


@scenario
async def provisioned(service: str, inputs: dict[str, Any]) -> dict[str, Any]:
    async with AsyncCodewordsClient() as cw:
        request_id = await cw.provision_request()
        response = await cw.run(service_id=service, inputs=inputs, request_id=request_id)
        details = await cw.get_request_details(request_id)
        return {"request_id": request_id, "answer": answer(response), "details": details}


@scenario
async def background(service: str, inputs: dict[str, Any], timeout: int = 30) -> dict[str, Any]:
    async with AsyncCodewordsClient() as cw:
        handle = await cw.run(service_id=service, inputs=inputs, in_background=True)
        started = time.monotonic()
        try:
            record = (await handle.result(timeout_seconds=timeout)).json()
        except Exception as exc:
            return {"request_id": handle.request_id, "result": failure(exc),
                    "seconds": round(time.monotonic() - started, 3)}
        waited = round(time.monotonic() - started, 3)
        details = await handle.details()
        logs = [entry async for entry in handle.logs()]
        return {"request_id": handle.request_id, "record": record, "details": details, "logs": logs,
                "seconds": waited}


@scenario
async def start_service(service: str, inputs: dict[str, Any]) -> dict[str, Any]:
    async with AsyncCodewordsClient() as cw:
        handle = await cw.start_service(service, inputs=inputs)
        record = (await handle.result(timeout_seconds=30)).json()
        return {"request_id": handle.request_id, "record": record}


@scenario
async def print_logs(service: str, inputs: dict[str, Any]) -> dict[str, Any]:
    async with AsyncCodewordsClient() as cw:
        return answer(await cw.run(service_id=service, inputs=inputs, print_logs=True))


@scenario
async def files(content: str) -> dict[str, Any]:
    async with AsyncCodewordsClient() as cw:
        url = await cw.upload_file_content("report.txt", content.encode())
        path = os.path.join(os.getcwd(), "notes.md")
        with open(path, "w") as handle:
            handle.write("# notes\n")
        second = await cw.upload_file(path)
    async with httpx.AsyncClient() as plain:
        first = await plain.get(url)
        second_body = (await plain.get(second)).text
    return {"url": url, "body": first.text, "second_url": second, "second_body": second_body,
            "content_type": first.headers.get("content-type")}


@scenario
async def upload_once(filename: str, content: str) -> dict[str, Any]:
    """``upload_file_content`` through the client, then the file read back: its body and type."""
    async with AsyncCodewordsClient() as cw:
        try:
            url = await cw.upload_file_content(filename, content.encode())
        except Exception as exc:
            return failure(exc)
    async with httpx.AsyncClient() as plain:
        got = await plain.get(url)
    return {"ok": True, "url": url, "body": got.text, "content_type": got.headers.get("content-type")}


@scenario
async def presigned_puts(filename: str) -> dict[str, Any]:
    """The client's ``create_file_upload``, then PUTs by hand that leave out what it asked for."""
    async with AsyncCodewordsClient() as cw:
        info = await cw.create_file_upload(filename)
    asked = dict(info.get("upload_headers") or {})
    custom = [name for name in asked if name.lower() != "content-type"]
    statuses = {}
    async with httpx.AsyncClient() as plain:
        for case, headers in (("none", {}), ("without_custom", {k: v for k, v in asked.items() if k not in custom}),
                              ("wrong_type", {**asked, "Content-Type": "application/x-other"}),
                              ("asked", asked)):
            response = await plain.put(info["upload_uri"], content=b"by hand", headers=headers)
            statuses[case] = {"status": response.status_code, "body": response.text}
    return {"info": info, "statuses": statuses}


@scenario
async def redis(value: str) -> dict[str, Any]:
    from codewords_client import redis_client

    async with redis_client() as (r, ns):
        await r.set(f"{ns}:greeting", value, ex=60)
        got = await r.get(f"{ns}:greeting")
        await r.hset(f"{ns}:user:1", mapping={"name": "Ada"})
        try:
            await r.set("outside-the-namespace", "x")
            outside: dict[str, Any] = {"ok": True}
        except Exception as exc:
            outside = failure(exc)
    return {"namespace": ns, "got": got, "outside": outside}


@scenario
async def openai_sdk(sync: bool = False) -> dict[str, Any]:
    from openai import AsyncOpenAI, OpenAI
    from pydantic import BaseModel

    class Verdict(BaseModel):
        label: str
        score: float

    if sync:
        client = OpenAI()
        chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        return {"base_url": str(client.base_url), "chat": chat.choices[0].message.content}
    client = AsyncOpenAI()
    chat = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    parsed = await client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "judge"}], response_format=Verdict
    )
    response = await client.responses.create(model="gpt-4o-mini", input="Say hello")
    image = await client.images.generate(model="dall-e-3", prompt="a cat", response_format="url")
    image_b64 = await client.images.generate(model="gpt-image-1", prompt="a dog")
    embedding = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    async with httpx.AsyncClient() as plain:
        image_bytes = (await plain.get(image.data[0].url)).content
    return {
        "base_url": str(client.base_url),
        "chat": chat.choices[0].message.content,
        "parsed": parsed.choices[0].message.parsed.model_dump(),
        "response_text": response.output_text,
        "image_url": image.data[0].url,
        "image_is_png": image_bytes.startswith(b"\x89PNG"),
        "image_b64": bool(image_b64.data[0].b64_json),
        "embedding_sizes": [len(item.embedding) for item in embedding.data],
    }


@scenario
async def streaming() -> dict[str, Any]:
    """``stream=True`` with both SDKs: the text arrives in pieces that add up to the answer."""
    from anthropic import AsyncAnthropic
    from openai import AsyncOpenAI

    pieces = []
    usage = None
    stream = await AsyncOpenAI().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream it"}], stream=True,
        stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    async with AsyncAnthropic().messages.stream(
        model="claude-3-5-haiku-20241022", max_tokens=100, messages=[{"role": "user", "content": "stream it"}]
    ) as claude:
        claude_pieces = [text async for text in claude.text_stream]
        final = await claude.get_final_message()
    return {"openai_pieces": pieces, "openai_usage": usage.total_tokens if usage else None,
            "claude_pieces": claude_pieces, "claude_final": final.content[0].text, "claude_stop": final.stop_reason}


@scenario
async def responses_streaming(sync: bool = False) -> dict[str, Any]:
    """The Responses API streamed two ways (raw events, and the ``stream()`` helper) and not at all."""
    from openai import AsyncOpenAI, OpenAI

    kwargs = {"model": "gpt-4o-mini", "input": "Stream a short answer"}
    if sync:
        client = OpenAI()
        plain = client.responses.create(**kwargs)
        with client.responses.stream(**kwargs) as helper:
            helper_deltas = [e.delta for e in helper if e.type == "response.output_text.delta"]
            final = helper.get_final_response()
        return {"plain_text": plain.output_text, "helper_deltas": helper_deltas, "final_text": final.output_text,
                "final_id": final.id, "plain_id": plain.id}
    client = AsyncOpenAI()
    plain = await client.responses.create(**kwargs)
    events: list[str] = []
    deltas: list[str] = []
    done_text = completed = None
    stream = await client.responses.create(**kwargs, stream=True)
    async for event in stream:
        events.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.output_text.done":
            done_text = event.text
        elif event.type == "response.completed":
            completed = event.response.model_dump(mode="json", exclude_none=True)
    async with client.responses.stream(**kwargs) as helper:
        helper_deltas = [e.delta async for e in helper if e.type == "response.output_text.delta"]
        final = await helper.get_final_response()
    return {
        "plain": plain.model_dump(mode="json", exclude_none=True), "plain_text": plain.output_text,
        "events": events, "deltas": deltas, "done_text": done_text, "completed": completed,
        "helper_deltas": helper_deltas, "final_text": final.output_text, "final_id": final.id,
        "final_output_types": [item.type for item in final.output],
        "final_calls": [{"name": i.name, "arguments": i.arguments} for i in final.output if i.type == "function_call"],
        "final_usage": final.usage.model_dump(mode="json") if final.usage else None,
    }


@scenario
async def sub_agent(task: str, tools_filter: list[str] | None = None, max_turns: int = 4) -> dict[str, Any]:
    """0.4.11's ``SubAgent``: the OpenAI Agents SDK on devx_mcp's tools and the openai proxy."""
    try:
        from codewords_client.agent import SubAgent
    except ImportError as exc:
        return failure(exc)
    return await SubAgent(task=task, tools_filter=tools_filter, max_turns=max_turns).run()


@scenario
async def mcp_session(calls: list[list[Any]]) -> dict[str, Any]:
    """``SubAgent``'s own MCP connection (its ``_build_mcp_server``), driven by hand: list, then call."""
    from codewords_client.agent import SubAgent

    server = SubAgent(task="direct")._build_mcp_server()
    await server.connect()
    try:
        tools = await server.list_tools()
        results = []
        for name, arguments in calls:
            try:
                result = (await server.call_tool(name, arguments)).model_dump(mode="json", by_alias=True)
                results.append({"ok": True, "is_error": bool(result.get("isError")),
                                "text": [part.get("text") for part in result["content"]],
                                "structured": result.get("structuredContent")})
            except Exception as exc:
                results.append(failure(exc))
        listed = [tool.model_dump(mode="json", by_alias=True) for tool in tools]
        initialized = server.server_initialize_result
        initialized = initialized.model_dump(mode="json", by_alias=True) if initialized is not None else {}
        return {"tools": [tool["name"] for tool in listed], "schemas": {t["name"]: t["inputSchema"] for t in listed},
                "protocol": initialized.get("protocolVersion"), "server": (initialized.get("serverInfo") or {}).get("name"),
                "results": results}
    finally:
        await server.cleanup()


@scenario
async def openai_sdk_error() -> dict[str, Any]:
    from openai import AsyncOpenAI

    try:
        await AsyncOpenAI(max_retries=0).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    except Exception as exc:
        return {"error": type(exc).__name__, "status": getattr(exc, "status_code", None), "message": str(exc)}
    return {"error": None}


@scenario
async def anthropic_sdk(sync: bool = False) -> dict[str, Any]:
    from anthropic import Anthropic, AsyncAnthropic

    kwargs = {"model": "claude-3-5-haiku-20241022", "max_tokens": 100,
              "messages": [{"role": "user", "content": "hello"}]}
    if sync:
        client = Anthropic()
        message = client.messages.create(**kwargs)
    else:
        client = AsyncAnthropic()
        message = await client.messages.create(**kwargs)
    return {"base_url": str(client.base_url), "text": message.content[0].text, "stop": message.stop_reason}


@scenario
async def anthropic_sdk_error() -> dict[str, Any]:
    from anthropic import AsyncAnthropic

    try:
        await AsyncAnthropic(max_retries=0).messages.create(model="claude-3-5-haiku-20241022", max_tokens=10,
                                               messages=[{"role": "user", "content": "hi"}])
    except Exception as exc:
        return {"error": type(exc).__name__, "status": getattr(exc, "status_code", None), "message": str(exc)}
    return {"error": None}


@scenario
async def firecrawl_sdk(url: str) -> dict[str, Any]:
    from firecrawl import FirecrawlApp

    app = FirecrawlApp()
    page = await asyncio.to_thread(app.scrape_url, url, formats=["markdown", "html"])
    return {"api_url": app.api_url, "markdown": page.markdown, "html": page.html,
            "title": (page.metadata or {}).get("title")}


def serve() -> None:
    """Run scenarios read from stdin, one JSON request a line, each in its own event loop.

    Importing the client and the SDKs costs seconds; a worker pays it once per environment.
    Each request brings the environment variables and working directory of its scenario, and
    whatever the scenario prints goes to stderr, so stdout carries only ``RESULT`` lines.
    """
    base_env = dict(os.environ)
    protocol = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update({**base_env, **request["env"]})
        os.chdir(request["cwd"])
        try:
            outcome = {"result": asyncio.run(SCENARIOS[request["name"]](**request["params"]))}
        except BaseException as exc:  # reported to the test, which fails with it
            import traceback

            outcome = {"crash": "".join(traceback.format_exception(exc))}
        protocol.write("RESULT " + json.dumps(outcome, default=str) + "\n")
        protocol.flush()


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve()
    else:
        params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
        print("RESULT " + json.dumps({"result": asyncio.run(SCENARIOS[sys.argv[1]](**params))}, default=str))
