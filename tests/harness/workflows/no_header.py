"""No PEP 723 header at all, so its dependencies are unknown."""

from fastapi import FastAPI

app = FastAPI()
