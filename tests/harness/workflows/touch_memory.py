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
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI"]
# ///
"""Allocates and touches (writes every page of) as many MiB as it is asked for: real memory."""

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="touch memory")


class Request(BaseModel):
    #: The smoke call sends the minimum: 600 MB. The search tries up to 4 GB.
    mb: int = Field(..., ge=600, le=4096)


@app.post("/")
async def touch(request: Request) -> dict:
    held = b"x" * (request.mb << 20)  # a memset: every page is written, so every page is resident
    return {"touched_mb": len(held) >> 20}
