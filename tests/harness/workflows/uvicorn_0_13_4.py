# /// script
# requires-python = "==3.11.*"
# dependencies = [
#     "fastapi==0.116.1",
#     "uvicorn==0.13.4",
#     "pydantic==2.11.7",
# ]
# [tool.env-checker]
# env_vars = ["PORT=8000"]
# ///
"""A plain FastAPI app pinning uvicorn 0.13.4: the child serves it with that version's own options."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="adds two numbers")


class Pair(BaseModel):
    a: int
    b: int


@app.post("/")
async def add(pair: Pair) -> dict:
    return {"sum": pair.a + pair.b}
