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
"""Phones home while it is imported (telemetry at import time), then serves normally."""

import socket

from fastapi import FastAPI

try:
    socket.create_connection(("127.0.0.2", 47291), timeout=1).close()
except OSError:
    pass

app = FastAPI(title="import-time attack")


@app.get("/")
async def root() -> dict:
    return {"ok": True}
