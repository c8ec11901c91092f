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
"""Several routes for the smoke run: parameters of every kind, a crash, and a lying response model."""

from enum import Enum
from typing import Literal

from fastapi import FastAPI, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

app = FastAPI(title="routes")


class Colour(str, Enum):
    red = "red"
    green = "green"


class Address(BaseModel):
    city: str = Field(min_length=2)
    zip_code: str = Field(pattern=r"^\d{5}$")


class Order(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d{4}$")
    quantity: int = Field(ge=1, le=10)
    price: float = Field(gt=0, multiple_of=0.5)
    colour: Colour
    mode: Literal["fast", "cheap"]
    tags: list[str] = Field(min_length=2)
    address: Address
    note: str | None = None
    gift: bool = False


class Echo(BaseModel):
    order: Order
    total: float


class Out(BaseModel):
    value: int


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.get("/items/{item_id}", response_model=Out)
async def item(item_id: int = Path(ge=3), scale: int = Query(..., ge=2, le=5)) -> Out:
    return Out(value=item_id * scale)


@app.post("/orders", response_model=Echo)
async def order(body: Order) -> Echo:
    return Echo(order=body, total=body.price * body.quantity)


@app.post("/crash")
async def crash(body: Out) -> dict:
    return {"ratio": body.value / (body.value - body.value)}


@app.post("/lies", response_model=Out)
async def lies() -> JSONResponse:
    return JSONResponse({"value": "not a number"})
