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
# env_vars = [
#     "CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "PORT=8000", "LOGLEVEL=INFO", "SLACK_BOT_TOKEN",
#     "PIPEDREAM_SLACK_ACCESS",
# ]
# ///
"""Reports what its process sees: the environment, HOME, the working directory."""

import os
import resource
import tempfile

from fastapi import FastAPI

app = FastAPI(title="env report")


@app.get("/")
async def report() -> dict:
    names = ("AS", "CPU", "NOFILE", "FSIZE")
    limits = {name: resource.getrlimit(getattr(resource, f"RLIMIT_{name}")) for name in names}
    return {"env": dict(os.environ), "cwd": os.getcwd(), "tmp": tempfile.gettempdir(), "limits": limits}
