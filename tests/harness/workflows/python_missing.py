# /// script
# requires-python = "==3.99.*"
# dependencies = ["fastapi==0.116.1"]
# ///
"""Asks for a Python that does not exist: a finding, never a download."""

from fastapi import FastAPI

app = FastAPI()
