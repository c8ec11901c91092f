"""The parent's client for the workflow's app: a deadline per request, and a cap on what it reads.

httpx's timeouts apply to each read: a response that sends one byte a second never trips a read
timeout and runs as long as it likes. ``DeadlineBackend`` is an httpcore network backend whose
streams clamp every connect, read and write to what is left of the current request's deadline
(``deadline(seconds)``, per thread), so the whole request, headers and body, ends by it:
httpcore raises ``ReadTimeout``, which httpx turns into ``httpx.ReadTimeout``.

``read_capped`` reads a streamed response's body up to ``limit`` bytes and says whether there was
more: the parent never holds more than that of what the workflow sends (a 512 MiB response once
cost it 1.6 GiB).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

#: The largest response body the parent reads from the workflow (beyond: an ``oversized-response``).
MAX_BODY = 32 << 20


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own synchronous backend, every operation bounded by the thread's deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self._local = threading.local()

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Within the block, this thread's requests end ``seconds`` from now at the latest."""
        previous = getattr(self._local, "at", None)
        self._local.at = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.at = previous

    def clamp(self, timeout: float | None) -> float | None:
        at = getattr(self._local, "at", None)
        if at is None:
            return timeout
        remaining = at - time.monotonic()
        if remaining <= 0:
            raise httpcore.ReadTimeout("the request's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, self.clamp(timeout), local_address, socket_options), self)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, self.clamp(timeout), socket_options), self)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: DeadlineBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._backend.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, self._backend.clamp(timeout)),
                       self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def uds_transport(path: str, backend: DeadlineBackend) -> httpx.HTTPTransport:
    """An httpx transport over the Unix socket ``path`` whose connections use ``backend``."""
    transport = httpx.HTTPTransport(uds=path)
    # httpx does not take a network backend; its pool is httpcore's, built the same way, with ours.
    transport._pool = httpcore.ConnectionPool(uds=path, network_backend=backend)
    return transport


def read_capped(response: httpx.Response, limit: int = MAX_BODY) -> tuple[bytes, bool]:
    """The body of a streamed ``response``, up to ``limit`` bytes, and whether it went on beyond."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if size + len(chunk) > limit:
            chunks.append(chunk[:limit - size])
            response.close()
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False
