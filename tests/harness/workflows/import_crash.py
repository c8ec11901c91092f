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
"""Crashes while it is imported: reads a setting it never declared."""

import os

from fastapi import FastAPI


def load_settings() -> dict:
    return {"token": os.environ["NOTION_TOKEN"]}


SETTINGS = load_settings()
app = FastAPI(title="import crash")
