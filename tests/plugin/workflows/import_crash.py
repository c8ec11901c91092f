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
"""A workflow whose import fails: its boot item fails, its route items are skipped."""

from codewords_client import run_service
from fastapi import FastAPI

app = FastAPI(title="Broken settings")

SETTINGS = {"retries": "3"}
RETRIES = int(SETTINGS["retry_count"])


@app.post("/")
async def run() -> dict[str, int]:
    return {"retries": RETRIES}


if __name__ == "__main__":
    run_service(app)
