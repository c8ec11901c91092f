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
"""Fetches its settings from the internet while it is imported: the boot item reports it."""

import httpx
from codewords_client import run_service
from fastapi import FastAPI

app = FastAPI(title="Remote settings")

try:
    response = httpx.get("https://settings.example.com/greeting.json", timeout=5)
    response.raise_for_status()
    SETTINGS = response.json()
except (httpx.HTTPError, ValueError):
    SETTINGS = {}


@app.get("/greeting")
async def greeting() -> dict[str, str]:
    return {"greeting": str(SETTINGS.get("greeting", "hello"))}


if __name__ == "__main__":
    run_service(app)
