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
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "WEATHER_API_KEY", "SERVICE_TOKEN"]
# ///
"""Leaks every secret it has into cwtest's view (tests/harness/test_redaction.py): an API key in the
query string and a token in a header of an outbound request whose failure message quotes the URL,
a known-format token in a request body (an example payload) that becomes a repro input, an --env
value echoed in an exception message and in stderr before the process dies."""

import os
import sys

import httpx
from fastapi import FastAPI, Header, Request
from pydantic import BaseModel, Field

app = FastAPI(title="leaky")
WEATHER_API_KEY = os.environ["WEATHER_API_KEY"]
SERVICE_TOKEN = os.environ["SERVICE_TOKEN"]


class City(BaseModel):
    city: str = Field(min_length=1, max_length=20)


@app.post("/weather")
async def weather(body: City, x_api_key: str = Header(pattern="^sk-proj-[A-Za-z0-9]{24}$")) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"https://api.weather.example/v1/now?city={body.city}&api_key={WEATHER_API_KEY}",
                                    headers={"X-API-Key": SERVICE_TOKEN, "Authorization": f"Bearer {SERVICE_TOKEN}"})
        response.raise_for_status()  # the mock answers 503: the error quotes the URL, key and all
    return {"city": body.city, "temperature": response.json()["temp"]}


@app.post("/echo")
async def echo(request: Request) -> dict:
    note = (await request.json())["note"]
    raise ValueError(f"cannot use the note {note!r}")


@app.post("/env")
async def env(body: City) -> dict:
    raise RuntimeError(f"the service refused {body.city} with token {SERVICE_TOKEN}")


@app.post("/zexit")
async def zexit(body: City) -> dict:
    print(f"fatal: SERVICE_TOKEN={SERVICE_TOKEN} WEATHER_API_KEY={WEATHER_API_KEY}", file=sys.stderr, flush=True)
    os._exit(3)
