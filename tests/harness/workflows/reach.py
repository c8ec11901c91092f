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
"""Reaches both the simulated runtime (a library call) and Redis (redis_client), as a workflow would."""

from codewords_client import AsyncCodewordsClient, redis_client, run_service
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="reach")


class Request(BaseModel):
    text: str


class Response(BaseModel):
    llm: str
    stored: str | None


@app.post("/", response_model=Response)
async def reach(request: Request) -> Response:
    async with AsyncCodewordsClient() as client:
        answer = await client.run(service_id="openai", inputs={"prompt": request.text, "model": "gpt-4o-mini"})
    answer.raise_for_status()
    async with redis_client() as (redis, namespace):
        await redis.set(f"{namespace}:last", request.text, ex=60)
        stored = await redis.get(f"{namespace}:last")
    return Response(llm=str(answer.json()["response"]), stored=stored)


if __name__ == "__main__":
    run_service(app)
