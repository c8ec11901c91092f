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
"""A well-behaved workflow: asks the simulated OpenAI service to summarise its input."""

from typing import Literal

from codewords_client import AsyncCodewordsClient, logger, run_service
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="Echo summary", description="Summarises a text with the openai library service")


class Request(BaseModel):
    text: str = Field(..., min_length=3, description="The text to summarise")
    tone: Literal["plain", "formal"] = "plain"
    max_words: int = Field(50, ge=5, le=200)


class Response(BaseModel):
    summary: str
    words: int


@app.post("/", response_model=Response)
async def summarise(request: Request) -> Response:
    async with AsyncCodewordsClient() as client:
        result = await client.run(
            service_id="openai",
            inputs={"prompt": f"Summarise in a {request.tone} tone: {request.text}", "model": "gpt-4o-mini"},
        )
    result.raise_for_status()
    summary = str(result.json().get("response", ""))
    logger.info("summarised", words=len(summary.split()))
    return Response(summary=summary, words=len(summary.split()))


if __name__ == "__main__":
    run_service(app)
