# /// script
# requires-python = "==3.11.*"
# dependencies = [
#     "codewords-client==0.3.4",
#     "fastapi==0.116.1",
#     "uvicorn[standard]==0.35.0",
#     "pydantic==2.11.7",
#     "structlog==25.4.0",
# ]
# [tool.env-checker]
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "RUNTIME_URI", "PORT=8000", "LOGLEVEL=INFO"]
# ///
"""Every kind of outbound request, each answered or raised, as the workflow sees it (async and sync).

``GET /call?kind=K&sync=B``: ``relative`` (no scheme), ``ftp`` (another scheme), ``outside`` (an
outside host, unmocked), ``mocked`` (a URL under a mocked prefix), ``runtime`` (the runtime, through
the client; the sync ``CodewordsClient`` reads ``RUNTIME_URI``, declared here). The answer says
what the workflow got: ``{"raised": "<package>.<class>"}`` or ``{"status": ..., "unsent": ...,
"json": ...}``. ``GET /env``: the variables the header declares, as the workflow sees them.
"""

import os

import httpx
from codewords_client import AsyncCodewordsClient, CodewordsClient
from fastapi import FastAPI

app = FastAPI(title="outbound kinds")

URLS = {
    "relative": "/v1/price",
    "ftp": "ftp://files.example.com/price.csv",
    "outside": "https://api.example.com/v1/price",
    "mocked": "https://mocked.example.com/v1/price?symbol=ACME",
}


def seen(response: httpx.Response) -> dict:
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    unsent = isinstance(body, dict) and str(body.get("detail", "")).startswith("cwtest: the request to ")
    return {"status": response.status_code, "unsent": unsent, "json": None if unsent else body}


def raised(exc: Exception) -> dict:
    return {"raised": f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"}


@app.get("/call")
async def call(kind: str, sync: bool = False) -> dict:
    try:
        if kind == "runtime":
            inputs = {"model": "gpt-4o-mini", "prompt": "hi"}
            if sync:
                response = CodewordsClient().run(service_id="openai", inputs=inputs)
            else:
                async with AsyncCodewordsClient() as client:
                    response = await client.run(service_id="openai", inputs=inputs)
        elif sync:
            with httpx.Client() as client:
                response = client.get(URLS[kind])
        else:
            async with httpx.AsyncClient() as client:
                response = await client.get(URLS[kind])
    except Exception as exc:  # what the workflow would have to handle
        return raised(exc)
    return seen(response)


@app.get("/env")
async def env() -> dict:
    return {name: os.environ.get(name) for name in ("CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "RUNTIME_URI",
                                                    "PORT", "LOGLEVEL")}
