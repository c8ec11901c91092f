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
"""Reads an outside API with httpx: its items pass only when a test answers that API."""

from typing import Literal

import httpx
from codewords_client import run_service
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI(title="Exchange rates")

RATES_URL = "https://rates.example.com/v1/latest"


class Rate(BaseModel):
    currency: str
    rate: float


@app.get("/rate", response_model=Rate)
async def rate(currency: Literal["EUR", "GBP"] = "EUR") -> Rate:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(RATES_URL, params={"base": "USD", "symbols": currency})
    if response.status_code != 200:
        raise HTTPException(status_code=502, detail="the rates service is unavailable")
    value = response.json().get("rates", {}).get(currency)
    if not isinstance(value, (int, float)):
        raise HTTPException(status_code=502, detail="the rates service sent no rate")
    return Rate(currency=currency, rate=float(value))


if __name__ == "__main__":
    run_service(app)
