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
"""Probes the network stack at import as urllib3 does (bind ::1 port 0, close): not a finding.

A second socket bound the same way and then listening is a server of its own: a finding.
"""

import socket

from codewords_client import run_service
from fastapi import FastAPI


def _has_ipv6(host: str) -> bool:  # the shape of urllib3.util.connection._has_ipv6
    sock = None
    has_ipv6 = False
    if socket.has_ipv6:
        try:
            sock = socket.socket(socket.AF_INET6)
            sock.bind((host, 0))
            has_ipv6 = True
        except Exception:
            pass
    if sock:
        sock.close()
    return has_ipv6


HAS_IPV6 = _has_ipv6("::1")
app = FastAPI(title="IPv6 probe")
listeners: list[socket.socket] = []


@app.get("/")
async def status() -> dict:
    return {"ipv6": HAS_IPV6}


@app.post("/serve")
async def serve_on_loopback() -> dict:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    listeners.append(sock)
    return {"port": sock.getsockname()[1]}


if __name__ == "__main__":
    run_service(app)
