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
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "PORT=8000", "LOGLEVEL=INFO"]
# ///
"""Writes lines that break cwtest's protocol on its event socket (it shares the process), then serves.

An unknown message type (twice), a finding without a kind, a line that is not JSON, a ``ready``
whose ``apps`` is not a list, and a line of 2 MiB. None of this is cwtest's doing, and none of it
may stop the run: each is a ``protocol`` finding, and the real messages after them still count.
"""

import sys

from fastapi import FastAPI

events = sys.modules["_cwtest_child.channel"]._sock
for line in (b'{"type": "nope"}', b'{"type": "nope", "x": 1}',
             b'{"type": "finding", "detail": "a forged finding without a kind", "count": 1, "key": ["a", "b"]}',
             b"not json at all", b'{"type": "ready", "app": "app", "apps": "app"}', b"x" * (2 << 20)):
    events.sendall(line + b"\n")

app = FastAPI(title="forged events")


@app.post("/")
async def run() -> dict:
    return {"ok": True}
