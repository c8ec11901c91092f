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
"""Calls the runtime with the standard library's urllib instead of httpx, as SDKs built on
requests do (firecrawl-py 2.x's FirecrawlApp), and asks ``platform.platform()`` at import, as
the OpenAI SDK does for its headers (which runs ``uname -p``): neither is a finding.
"""

import asyncio
import json
import os
import platform
import urllib.request

from codewords_client import run_service
from fastapi import FastAPI
from pydantic import BaseModel

PLATFORM = platform.platform()
app = FastAPI(title="urllib to the runtime")


class Question(BaseModel):
    prompt: str


def ask(prompt: str) -> dict:
    request = urllib.request.Request(
        os.environ["CODEWORDS_RUNTIME_URI"].rstrip("/") + "/run/openai",
        data=json.dumps({"prompt": prompt, "model": "gpt-4o-mini"}).encode(),
        headers={"Authorization": f"Bearer {os.environ['CODEWORDS_API_KEY']}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@app.post("/")
async def answer(question: Question) -> dict:
    return {"answer": (await asyncio.to_thread(ask, question.prompt)).get("response"), "platform": PLATFORM}


if __name__ == "__main__":
    run_service(app)
