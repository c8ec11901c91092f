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
"""A headline writer that survives every fault of its LLM: the plugin's clean workflow."""

from typing import Literal

import httpx
from codewords_client import AsyncCodewordsClient, logger, run_service
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="Headline writer")

FALLBACK = "Read all about it"


class HeadlineRequest(BaseModel):
    article: str = Field(min_length=1, max_length=2000)
    tone: Literal["plain", "playful"] = "plain"
    max_words: int = Field(default=8, ge=3, le=20)


class Headline(BaseModel):
    headline: str
    words: int
    source: Literal["llm", "fallback"]


def fallback(reason: str) -> Headline:
    logger.warning("headline fallback", reason=reason)
    return Headline(headline=FALLBACK, words=len(FALLBACK.split()), source="fallback")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/", response_model=Headline)
async def write_headline(request: HeadlineRequest) -> Headline:
    try:
        async with AsyncCodewordsClient() as client:
            response = await client.run(
                service_id="openai",
                inputs={
                    "model": "gpt-4o-mini",
                    "prompt": f"Write a {request.tone} headline of at most {request.max_words} words for:\n"
                              f"{request.article}",
                    "example_output": {"headline": "Local cat elected mayor"},
                },
            )
        response.raise_for_status()
        payload = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return fallback(f"{type(exc).__name__}: {exc}")
    answer = payload.get("response") if isinstance(payload, dict) else None
    text = answer.get("headline") if isinstance(answer, dict) else None
    if not isinstance(text, str) or not text.split():
        return fallback("no headline in the answer")
    words = text.split()[: request.max_words]
    return Headline(headline=" ".join(words), words=len(words), source="llm")


if __name__ == "__main__":
    run_service(app)
