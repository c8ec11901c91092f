"""The parent's side of the sandbox boundary: the simulator on a Unix socket, and byte relays.

The simulator (``cwtest.simulator``) serves itself on a loopback TCP port; a workflow in its own
network namespace cannot reach that. This adapter serves the same ASGI app (``runtime.app``) with
uvicorn on a Unix socket in the run's ``ctl/`` directory, which is bind-mounted into the sandbox
(pathname Unix sockets ignore network namespaces). Nothing of the simulator is changed.

Relays copy bytes both ways between a listening socket and a connector:

* ``ctl/redis.sock`` -> the simulator's TLS redis-server on 127.0.0.1 (the child relays a
  loopback port inside the sandbox to this socket, so TLS runs end to end, unchanged);
* for ``cwtest boot``: a free 127.0.0.1 port -> the app's socket, for trying the workflow by hand.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp

from cwtest.simulator.server import ServerThread


class UnixServer(ServerThread):
    """uvicorn serving an ASGI app on a Unix socket, in a background thread."""

    def __init__(self, app: ASGIApp, path: Path) -> None:
        super().__init__(app)
        self.path = path

    def start(self, timeout: float = 10.0) -> None:  # type: ignore[override]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        self.path.chmod(0o666)  # the sandbox's uid may differ from ours
        self.serve(sock, f"cwtest-sim-{self.path.parent.parent.name}", str(self.path), timeout)


class Relay:
    """Accepts on ``listener`` and copies bytes to a new ``connect()`` per connection."""

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket], name: str) -> None:
        self.listener = listener
        self.connect = connect
        self.name = name
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"cwtest-relay-{name}")

    @classmethod
    def unix_to_tcp(cls, path: Path, host: str, port: int) -> Relay:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        path.chmod(0o666)
        listener.listen(16)
        return cls(listener, lambda: socket.create_connection((host, port), timeout=10), f"{path.name}->{port}")

    @classmethod
    def tcp_to_unix(cls, path: Path, host: str = "127.0.0.1", port: int = 0) -> Relay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(64)

        def connect() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            return sock

        return cls(listener, connect, f"{port}->{path.name}")

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()

    def start(self) -> Relay:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = self.connect()
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True, name=f"cwtest-pump-{self.name}").start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                for sock in (source, target):
                    if sock in self._conns:
                        self._conns.discard(sock)
                        sock.close()

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            conns = list(self._conns)
            self._conns.clear()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._thread.join(2)
