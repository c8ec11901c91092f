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
"""A route registered in a loop: collection cannot see it, the boot item says so."""

from codewords_client import run_service
from fastapi import FastAPI

app = FastAPI(title="Echoes")


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"pong": "ok"}


def make_echo(name: str):
    async def echo() -> dict[str, str]:
        return {"name": name}

    return echo


for name in ("alpha", "beta"):
    app.add_api_route(f"/echo/{name}", make_echo(name), methods=["GET"])


if __name__ == "__main__":
    run_service(app)
