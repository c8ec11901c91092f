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
"""Hangs on a large order: the smoke call (a minimal request) passes, only the search finds it."""

import asyncio

from codewords_client import run_service
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="Order desk")


class Order(BaseModel):
    item: str = Field(..., min_length=1)
    quantity: int = Field(1, ge=1)


@app.post("/")
async def place(order: Order) -> dict:
    if order.quantity > 1000:
        await asyncio.sleep(3600)  # waits for a stock check that never answers
    return {"item": order.item, "quantity": order.quantity}


if __name__ == "__main__":
    run_service(app)
