# /// script
# requires-python = "==3.11.*"
# dependencies = [
#     "codewords-client==0.3.4",
#     "fastapi==0.116.1",
#     "uvicorn[standard]==0.35.0",
#     "pydantic==2.11.7",
#     "structlog==25.4.0",
#     "requests==2.32.3",
# ]
# [tool.env-checker]
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "PRICES_URL", "PRICES_TOKEN"]
# ///
"""Quotes a price from an outside API (httpx and requests, a token in a header and in the query)
and asks the openai library service to comment on it: what `cwtest record` records and `cwtest
run` replays offline."""

import os

import httpx
import requests
from codewords_client import AsyncCodewordsClient, run_service
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="recorded quote")


class Quote(BaseModel):
    symbol: str


@app.post("/")
async def quote(request: Quote) -> dict:
    base, token = os.environ["PRICES_URL"], os.environ["PRICES_TOKEN"]
    async with httpx.AsyncClient() as client:
        price = await client.get(f"{base}/v1/quote", params={"symbol": request.symbol, "api_key": token},
                                 headers={"Authorization": f"Bearer {token}"})
    price.raise_for_status()
    volume = requests.get(f"{base}/v1/volume", params={"symbol": request.symbol}, timeout=5,
                          headers={"X-Api-Key": token})
    volume.raise_for_status()
    async with AsyncCodewordsClient() as client:
        comment = await client.run(service_id="openai", inputs={
            "model": "gpt-4o-mini", "prompt": f"Comment on {request.symbol} at {price.json()['price']}"})
    comment.raise_for_status()
    return {"price": price.json()["price"], "volume": volume.json()["volume"], "comment": comment.json()["response"]}


if __name__ == "__main__":
    run_service(app)
