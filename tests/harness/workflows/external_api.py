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
"""Calls an outside API with httpx: intercepted, answered by mock_external() or 599."""

import httpx
from fastapi import FastAPI

app = FastAPI(title="external api")


@app.post("/")
async def fetch() -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.get("https://api.example.com/v1/quote?symbol=ACME")
    return {"status": response.status_code, "body": response.text[:200]}
