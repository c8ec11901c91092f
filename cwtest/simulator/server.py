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
        # The caller's signals stay the caller's: uvicorn (>=0.30, capture_signals) installs handlers
        # only on the main thread, and this server runs on a thread of its own.
        server = uvicorn.Server(config)
        self._server, self._socket = server, sock
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {where}")
            time.sleep(0.005)

    def stop(self, timeout: float = 5.0, wait: bool = True) -> None:
        """End the server. uvicorn notices within 0.1 s and then pauses 0.1 s more before it closes:
        ``wait=False`` lets a caller that has no request in flight go on meanwhile (the harness,
        once the workflow's process is gone, saves ~0.15 s a workflow), the join done in a thread."""
        server, thread, sock = self._server, self._thread, self._socket
        if server is None or thread is None:
            return
        self._server, self._thread, self._socket = None, None, None
        server.should_exit = True

        def finish() -> None:
            thread.join(timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout)
            if sock is not None:
                sock.close()

        if wait:
            finish()
        else:
            threading.Thread(target=finish, daemon=True, name=f"{thread.name}-stop").start()
