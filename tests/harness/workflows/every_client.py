# /// script
# requires-python = "==3.11.*"
# dependencies = [
#     "codewords-client==0.3.4",
#     "fastapi==0.116.1",
#     "uvicorn[standard]==0.35.0",
#     "pydantic==2.11.7",
#     "structlog==25.4.0",
#     "requests==2.32.3",
#     "aiohttp==3.10.10",
# ]
# [tool.env-checker]
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "PORT=8000", "LOGLEVEL=INFO"]
# ///
"""One outside API called with each HTTP client the sandbox forwards (httpx, requests, urllib,
aiohttp): ``GET /call?client=C`` answers what the workflow got, the body or the error it raised;
``POST /raise?client=C`` lets the client's error escape (a failure that is cwtest's doing)."""

import json
import urllib.request

import aiohttp
import httpx
import requests
from fastapi import FastAPI

app = FastAPI(title="every client")
URL = "https://api.example.com/v1/price?symbol=ACME"


async def fetch(client: str) -> dict:
    if client == "httpx":
        async with httpx.AsyncClient() as http:
            response = await http.get(URL)
        return {"status": response.status_code, "body": response.json()}
    if client == "httpx-sync":
        response = httpx.get(URL)
        return {"status": response.status_code, "body": response.json()}
    if client == "requests":
        response = requests.get(URL, timeout=5)
        return {"status": response.status_code, "body": response.json()}
    if client == "urllib":
        with urllib.request.urlopen(URL, timeout=5) as response:
            return {"status": response.status, "body": json.loads(response.read())}
    async with aiohttp.ClientSession() as session:
        async with session.get(URL) as response:
            return {"status": response.status, "body": await response.json()}


@app.get("/call")
async def call(client: str) -> dict:
    try:
        return await fetch(client)
    except Exception as exc:  # what the workflow got
        return {"raised": f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"}


@app.post("/raise")
async def fail(client: str) -> dict:
    return await fetch(client)
