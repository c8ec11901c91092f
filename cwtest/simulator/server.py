"""Serving an ASGI app with uvicorn on a free loopback port, in a background thread.

The socket is bound here (port 0, so the kernel picks a free port) and handed to uvicorn, so
there is no window between choosing a port and listening on it. A thread rather than a process
keeps start-up in the tens of milliseconds and lets a test read the recorded calls directly.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp


class ServerThread:
    """``start()`` returns the base URL once uvicorn accepts connections; ``stop()`` ends it."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        if self._thread is not None:
            return self.url
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.serve(sock, f"cwtest-sim-{self.port}", self.url, timeout)
        return self.url

    def serve(self, sock: socket.socket, name: str, where: str, timeout: float) -> None:
        """Serve the app on a bound socket in a thread; return once uvicorn accepts connections."""
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False,
            # A delayed answer nobody waits for must not hold up shutdown.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the caller's signals
        self._server, self._socket = server, sock
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {where}")
            time.sleep(0.005)

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None
