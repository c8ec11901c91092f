"""Fixtures for the harness tests: a decoy listener, and a check that a test left the host as it was.

Every workflow under ``tests/harness/workflows`` and ``fixtures/hostile`` has the same header, so
a session builds one uv environment (cached under ``~/.cache/cwtest`` across sessions).
"""

from __future__ import annotations

import fcntl
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


#: One decoy per machine at a time: the hostile fixtures name its address, so two runs (two xdist
#: workers, another checkout's pytest) that listened at once would catch each other's escapes.
DECOY_LOCK = Path("/tmp/cwtest-decoy.lock")
DECOY_WAIT = 600.0


def _bind_decoy() -> tuple[socket.socket, socket.socket]:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(DECOY)
        tcp.listen(16)
        udp.bind(DECOY)
    except OSError:
        tcp.close()
        udp.close()
        raise
    return tcp, udp


@pytest.fixture
def decoy() -> Iterator[Decoy]:
    """Waits (up to 10 minutes) for the machine's decoy lock, then listens: an escape reaches this run only."""
    found = Decoy()
    with DECOY_LOCK.open("a") as lock:
        deadline = time.monotonic() + DECOY_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tcp, udp = _bind_decoy()  # a holder that takes no lock (an older checkout) may still be there
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    pytest.fail(f"the decoy {DECOY[0]}:{DECOY[1]} stayed taken for {DECOY_WAIT:.0f} s "
                                f"(another cwtest test run holds it): {exc}")
                fcntl.flock(lock, fcntl.LOCK_UN)
                time.sleep(0.5)
        yield from _serve(found, tcp, udp)


def _serve(found: Decoy, tcp: socket.socket, udp: socket.socket) -> Iterator[Decoy]:
    stop = threading.Event()

    def serve_tcp() -> None:
        while not stop.is_set():
            try:
                conn, address = tcp.accept()
            except OSError:
                return
            found.received.append(("tcp", address))
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
def short_tmp() -> Iterator[Path]:
    """A temp directory with a short path, removed afterwards, for a harness that is killed and leaves
    its run directory behind. Not ``tmp_path``: under xdist it can be long enough
    (``/tmp/pytest-of-root/pytest-100/popen-gw1/test_...``) that the run directory's Unix sockets pass
    the 108-byte limit and the harness cannot start at all."""
    root = Path(tempfile.mkdtemp(prefix="cwt-", dir="/tmp")).resolve()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clean_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fails the test if it leaves a marker file, a run directory or a process behind.

    The test gets a private temp directory (``TMPDIR`` and ``tempfile.tempdir``; yielded) where
    the harness, in this process or in a child, makes its run directories; the checks look only
    there and at this run's processes, so another cwtest run on the machine (a second pytest, a
    developer's ``cwtest run``) neither fails the test nor hides what it left. The name is short:
    a run directory holds Unix sockets, whose paths must fit in 108 bytes.
    """
    root = Path(tempfile.mkdtemp(prefix="cwt-")).resolve()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    before_markers = [m for m in MARKERS if m.exists()]
    assert not before_markers, f"marker files exist before the test: {before_markers}"
    yield root
    # Run directories are removed as their sandbox is reaped: give that a moment.
    deadline = time.monotonic() + 5
    changed = host_changes(root)
    while changed and time.monotonic() < deadline:
        time.sleep(0.2)
        changed = host_changes(root)
    assert not changed, f"the host changed: {changed}"
    deadline = time.monotonic() + 5  # SIGKILLed sandboxes take a moment to be reaped
    left = leftover_processes(root)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftover_processes(root)
    assert not left, f"processes left behind: {left}"
    shutil.rmtree(root, ignore_errors=True)
