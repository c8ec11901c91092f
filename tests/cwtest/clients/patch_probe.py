"""Drive the simulator with a fixed set of requests, optionally after ``import codewords_client``.

``python patch_probe.py patched|plain``, with the repository on PYTHONPATH, in a client
environment. Prints ``RESULT`` and what every request got (statuses, bodies without time
stamps, header names), in-process over ASGI and served by uvicorn, so a test can compare a
process where the client patched ``FastAPI.__init__`` with one where it did not.
"""

from __future__ import annotations

import asyncio
import json
import sys

if sys.argv[1] == "patched":
    import codewords_client  # noqa: F401  (patches FastAPI.__init__ for the whole process)

import fastapi
import httpx

from cwtest import HttpError, SimulatedRuntime

KEY = "cwtest-probe-key-0000"
TIMES = {"createdAt", "startedAt", "completedAt"}
REQUESTS = [
    ("POST", "/run/openai", {"model": "gpt-4o", "prompt": "hi"}, KEY),
    ("POST", "/run/openai", {"model": "gpt-4o", "prompt": "hi"}, "wrong"),
    ("POST", "/run/redis_coordinator", {"action": "get", "key": "k"}, KEY),
    ("POST", "/run/opneai", {}, KEY),
    ("POST", "/run/pipedream", {"app": "hubspot", "action": "a", "props": {}}, KEY),
    ("POST", "/run/searchapi", {"q": "x"}, KEY),
    ("POST", "/run/openai/v1/chat/completions", {"model": "m", "messages": []}, KEY),
    ("POST", "/run_async/openai", {"model": "gpt-4o", "prompt": "later"}, KEY),
    ("GET", "/result/req_sim000001?timeout=5", None, KEY),
    ("GET", "/result/req_nope", None, KEY),
]


def shape(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in TIMES}
    names = sorted(h for h in response.headers if h not in ("date", "server"))
    return {"status": response.status_code, "body": body, "headers": names}


async def drive(client: httpx.AsyncClient) -> list[dict]:
    results = []
    for method, path, body, key in REQUESTS:
        results.append(shape(await client.request(method, path, json=body, headers={"Authorization": key})))
    return results


async def main() -> dict:
    in_process = SimulatedRuntime(api_key=KEY, connected_apps=["slack"])
    in_process.script("searchapi").fail(HttpError(503, "maintenance"))
    transport = httpx.ASGITransport(app=in_process.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        asgi = await drive(client)
    with SimulatedRuntime(api_key=KEY, connected_apps=["slack"]) as served:
        served.script("searchapi").fail(HttpError(503, "maintenance"))
        async with httpx.AsyncClient(base_url=served.url) as client:
            http = await drive(client)
    return {"fastapi_patched": bool(getattr(fastapi.FastAPI, "_codewords_patched", False)),
            "asgi": asgi, "http": http}


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main())))
