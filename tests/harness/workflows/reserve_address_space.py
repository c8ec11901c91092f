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
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI"]
# ///
"""Reserves 8 GiB of address space at import and never touches it, as some libraries do (JIT code
heaps, wasm runtimes' guard regions, Go runtimes, allocators' arenas): no real memory is used."""

import mmap

from fastapi import FastAPI

RESERVED_GIB = 8
PROT_NONE = 0  # Linux's value; the mmap module names it from Python 3.13 on
#: PROT_NONE: address space only; nothing is resident, and Linux commits nothing for it.
RESERVED = mmap.mmap(-1, RESERVED_GIB << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=PROT_NONE)

app = FastAPI(title="reserve address space")


@app.post("/")
async def reserved() -> dict:
    return {"reserved_gib": len(RESERVED) >> 30}
