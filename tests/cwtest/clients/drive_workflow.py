"""Import a workflow script, take its FastAPI app and send it requests in-process.

Run in the workflow's own environment: ``python drive_workflow.py SCRIPT '[{"json": ...}, ...]'``.
The workflow's outbound client calls go to the simulator named by CODEWORDS_RUNTIME_URI. Its
``__main__`` block never runs (the module is imported, not executed as a script). Prints
``RESULT`` and a JSON list with each response's status, headers and body.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from typing import Any

import httpx


def load_app(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("workflow_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


async def drive(app: Any, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # raise_app_exceptions=False: answer a crash with the 500 a server would send.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    results = []
    async with httpx.AsyncClient(transport=transport, base_url="http://workflow") as client:
        for request in requests:
            response = await client.request(request.get("method", "POST"), request.get("path", "/"),
                                            json=request.get("json"), headers=request.get("headers"))
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            results.append({"status": response.status_code, "headers": dict(response.headers), "json": body})
    return results


if __name__ == "__main__":
    outcome = asyncio.run(drive(load_app(sys.argv[1]), json.loads(sys.argv[2])))
    print("RESULT " + json.dumps(outcome))
