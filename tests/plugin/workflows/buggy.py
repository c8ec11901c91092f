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
"""Quotes and ticket triage with one bug per kind of item, for the plugin's tests.

* lint: ``QUOTE_CURRENCY`` is read but not declared in the header (CW403);
* fuzz[POST /quote]: the price table forgets the yearly plan (``KeyError: 'yearly'``);
* faults[POST /triage]: the LLM's optional ``labels`` key is read as if always there
  (``KeyError: 'labels'`` when an answer holds only the required keys).

Everything else is robust, so every other item passes.
"""

import os
from typing import Literal

import httpx
from codewords_client import AsyncCodewordsClient, run_service
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="Quotes and triage")

CURRENCY = os.environ.get("QUOTE_CURRENCY", "EUR")
PRICES = {"monthly": 12.0}  # the bug: no "yearly"


class QuoteRequest(BaseModel):
    plan: Literal["monthly", "yearly"]
    seats: int = Field(ge=1, le=50)


class Quote(BaseModel):
    total: float
    currency: str


class Ticket(BaseModel):
    title: str = Field(min_length=3, max_length=120)


class Triage(BaseModel):
    category: Literal["bug", "question"]
    labels: list[str] = Field(default_factory=list)


class TriageResult(BaseModel):
    category: str
    labels: list[str]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/quote", response_model=Quote)
async def quote(request: QuoteRequest) -> Quote:
    return Quote(total=PRICES[request.plan] * request.seats, currency=CURRENCY)


@app.post("/triage", response_model=TriageResult)
async def triage(ticket: Ticket) -> TriageResult:
    try:
        async with AsyncCodewordsClient() as client:
            response = await client.run(
                service_id="openai",
                inputs={"model": "gpt-4o-mini", "prompt": f"Triage: {ticket.title}",
                        "example_output": Triage.model_json_schema()},
            )
        response.raise_for_status()
        payload = response.json()
    except (httpx.HTTPError, ValueError):
        return TriageResult(category="question", labels=[])
    answer = payload.get("response") if isinstance(payload, dict) else None
    if not isinstance(answer, dict) or answer.get("category") not in ("bug", "question"):
        return TriageResult(category="question", labels=[])
    return TriageResult(category=answer["category"], labels=[str(label) for label in answer["labels"]])


if __name__ == "__main__":
    run_service(app)
