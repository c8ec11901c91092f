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
"""A workflow that hangs on one input and dies on another: its items fail and say so."""

import asyncio
import os
from typing import Literal

from codewords_client import run_service
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="Unstable")


class Wait(BaseModel):
    mode: Literal["now", "never"]


class Leave(BaseModel):
    mode: Literal["stay", "leave"]


@app.post("/wait")
async def wait(request: Wait) -> dict[str, str]:
    if request.mode == "never":
        await asyncio.sleep(3600)
    return {"mode": request.mode}


@app.post("/exit")
async def leave(request: Leave) -> dict[str, str]:
    if request.mode == "leave":
        os._exit(3)
    return {"mode": request.mode}


if __name__ == "__main__":
    run_service(app)
