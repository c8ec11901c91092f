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
"""Builds several clients, as workflows do per request: do they share one SSL context?"""

import time

from codewords_client import AsyncCodewordsClient
from fastapi import FastAPI

app = FastAPI(title="ssl reuse")


@app.get("/")
async def contexts() -> dict:
    started = time.perf_counter()
    clients = [AsyncCodewordsClient() for _ in range(5)]
    seconds = time.perf_counter() - started
    ids = {id(client.client._transport._pool._ssl_context) for client in clients}
    for client in clients:
        await client.close()
    return {"contexts": len(ids), "seconds": seconds}
