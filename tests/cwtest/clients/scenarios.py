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
        first_body = (await plain.get(url)).text
        second_body = (await plain.get(second)).text
    return {"url": url, "body": first_body, "second_url": second, "second_body": second_body}


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
