# /// script
# requires-python = ">=3.11"
# dependencies = ["fastapi>=0.100", "pydantic>=2", "uvicorn", "httpx"]
# [tool.env-checker]
# env_vars = ["CODEWORDS_API_KEY"]
# ///
"""Loose pins that cwtest's own interpreter satisfies, for --env current."""

import sys

from fastapi import FastAPI

app = FastAPI(title="current env")


@app.get("/")
async def which() -> dict:
    return {"executable": sys.executable, "prefix": sys.prefix}
