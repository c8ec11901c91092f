"""Fixtures for the harness tests: a decoy listener, and a check that a test left the host as it was.

Every workflow under ``tests/harness/workflows`` and ``fixtures/hostile`` has the same header, so
a session builds one uv environment (cached under ``~/.cache/cwtest`` across sessions).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness_support import DECOY, MARKERS, Decoy, host_changes, leftover_processes


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox: boots workflows in the cwtest sandbox (bwrap, uv)")


@pytest.fixture
def decoy() -> Iterator[Decoy]:
    found = Decoy()
    # One decoy at a time on this machine: another test (an xdist worker) may hold it; wait for it.
    deadline = time.monotonic() + 300
    while True:
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind(DECOY)
            udp.bind(DECOY)
            break
        except OSError:
            tcp.close()
            udp.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    tcp.listen(16)
    stop = threading.Event()

    def serve_tcp() -> None:
        while not stop.is_set():
            try:
                conn, address = tcp.accept()
            except OSError:
                return
            data = b""
            try:  # what was sent, for the tests that check what got out (at most 256 KiB, 2 s)
                conn.settimeout(2)
                while len(data) < 256 << 10:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            found.received.append(("tcp", (address, data)))
            conn.close()

    def serve_udp() -> None:
        while not stop.is_set():
            try:
                data, address = udp.recvfrom(4096)
            except OSError:
                return
            found.received.append(("udp", (address, data)))

    threads = [threading.Thread(target=serve_tcp, daemon=True), threading.Thread(target=serve_udp, daemon=True)]
    for thread in threads:
        thread.start()
    yield found
    stop.set()
    for sock in (tcp, udp):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    for thread in threads:
        thread.join(2)


@pytest.fixture
def clean_host() -> Iterator[None]:
    """Fails the test if it leaves a marker file, a run directory or a process behind.

    The test gets a temporary directory of its own (short: Unix socket paths have a limit), so
    that another test running beside it (an xdist worker) never counts as this one's leftovers.
    """
    own = Path(tempfile.mkdtemp(prefix="t", dir=tempfile.gettempdir()))
    own.chmod(0o755)  # the workflow's unprivileged identity (cwtest as root) reaches its run directory
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(own)
    tempfile.tempdir = None
    try:
        yield from _clean_host()
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
        shutil.rmtree(own, ignore_errors=True)


def _clean_host() -> Iterator[None]:
    before_runs = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("cwtest-run-*"))
    before_markers = [m for m in MARKERS if m.exists()]
    assert not before_markers, f"marker files exist before the test: {before_markers}"
    yield
    # Run directories are removed as their sandbox is reaped: give that a moment (another
    # harness run on the same machine, such as a developer's, also comes and goes here).
    deadline = time.monotonic() + 5
    changed = [c for c in host_changes() if Path(c) not in before_runs]
    while changed and time.monotonic() < deadline:
        time.sleep(0.2)
        changed = [c for c in host_changes() if Path(c) not in before_runs]
    assert not changed, f"the host changed: {changed}"
    deadline = time.monotonic() + 5  # SIGKILLed sandboxes take a moment to be reaped
    left = leftover_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftover_processes()
    assert not left, f"processes left behind: {left}"
