"""One workflow's process: its run directory, its sandboxed child, its events and its output.

The run directory (``mkdtemp``, mode 700) holds::

    ctl/    config.json, stage1.bpf, stage2.bpf and the sockets the parent listens on
            (events.sock, sim.sock, redis.sock); read-only inside the sandbox
    app/    app.sock, which the bootstrap binds (the only directory it may write besides HOME)
    home/   the workflow's HOME, TMPDIR and working directory (a private tmpfs under bubblewrap)

The child is started in a new session so that one ``killpg`` ends it; under bubblewrap,
``--die-with-parent`` and the PID namespace take everything inside down with bwrap. stdout and
stderr are drained into bounded tails, so 100 MB of output costs the parent 64 KiB.

Where the probe found memory cgroups (``Layer.memory_cgroup``), the child gets one of its own
(``cwtest.harness.cgroup``): it enters it between fork and exec, and RLIMIT_AS is left as inherited
because the cgroup is the limit. ``kill()`` reads whether the OOM killer fired (``oom_killed``) and
removes the cgroup; a cgroup that cannot be created leaves the process under RLIMIT_AS, with a
warning (``memory_warning``).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwtest.harness import cgroup, seccomp
from cwtest.harness.sandbox import Layer, Limits, bwrap_argv

BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap.py"
TAIL_BYTES = 64 * 1024


class RunDir:
    """The private directory of one workflow run; ``cleanup()`` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cwtest-run-")).resolve()
        self.ctl = self.root / "ctl"
        self.app = self.root / "app"
        self.home = self.root / "home"
        for path in (self.ctl, self.app, self.home):
            path.mkdir(mode=0o700)

    @property
    def app_socket(self) -> Path:
        return self.app / "app.sock"

    @property
    def events_socket(self) -> Path:
        return self.ctl / "events.sock"

    @property
    def sim_socket(self) -> Path:
        return self.ctl / "sim.sock"

    @property
    def redis_socket(self) -> Path:
        return self.ctl / "redis.sock"

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class OutputTail:
    """Drains a pipe, keeping the last bytes and the total count."""

    def __init__(self, pipe: Any, echo: Any = None) -> None:
        self.echo = echo
        self.total = 0
        self._tail: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True, name="cwtest-output")
        self._thread.start()

    def _drain(self, pipe: Any) -> None:
        while True:
            try:
                chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
            except (OSError, ValueError):
                break
            if not chunk:
                break
            self.total += len(chunk)
            if self.echo is not None:
                try:
                    self.echo.write(chunk)
                    self.echo.flush()
                except (OSError, ValueError):
                    self.echo = None
            self._tail.append(chunk)
            self._size += len(chunk)
            while self._size - len(self._tail[0]) >= TAIL_BYTES:
                self._size -= len(self._tail.popleft())
        try:
            pipe.close()
        except OSError:
            pass

    def join(self, timeout: float = 2.0) -> None:
        self._thread.join(timeout)

    def text(self, limit: int = 4000) -> str:
        data = b"".join(self._tail)[-limit:]
        return data.decode("utf-8", "replace")


@dataclass
class Events:
    """Everything the bootstrap sent, in order, with a condition to wait on."""

    items: list[dict[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    connected: bool = False
    closed: bool = False

    def add(self, event: dict[str, Any]) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.cond:
            return [e for e in self.items if e.get("type") == kind]

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, alive: Callable[[], bool],
             start: int = 0) -> dict[str, Any] | None:
        """The first event from index ``start`` on that matches, waiting while the child lives."""
        deadline = time.monotonic() + timeout
        index = start
        with self.cond:
            while True:
                while index < len(self.items):
                    if predicate(self.items[index]):
                        return self.items[index]
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.closed and not alive()):
                    return None
                self.cond.wait(min(remaining, 0.05))


class WorkflowProcess:
    """The sandboxed child serving one workflow on ``run_dir.app_socket``."""

    def __init__(self, *, python: Path, workflow: Path, env: dict[str, str], layer: Layer, limits: Limits,
                 run_dir: RunDir, sim_base: str, redis_port: int | None, mocks: list[dict[str, Any]],
                 module: str, echo: Any = None) -> None:
        self.python = python
        self.workflow = workflow
        self.env = env
        self.layer = layer
        self.limits = limits
        self.run_dir = run_dir
        self.sim_base = sim_base
        self.redis_port = redis_port
        self.mocks = mocks
        self.module = module
        self.echo = echo
        self.events = Events()
        self.process: subprocess.Popen[bytes] | None = None
        self.stdout: OutputTail | None = None
        self.stderr: OutputTail | None = None
        self.started_at = 0.0
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._reader: threading.Thread | None = None
        #: True when the harness ended the process (so its SIGKILL status is not a crash).
        self.killed_by_harness = False
        #: The process's memory cgroup (None: RLIMIT_AS is the memory limit).
        self.cgroup: cgroup.MemoryCgroup | None = None
        #: Why the probe's cgroups could not be used for this process (it runs under RLIMIT_AS).
        self.memory_warning: str | None = None
        #: Set by ``kill()``: the kernel's OOM killer ended the process (its cgroup counted a kill).
        self.oom_killed = False

    # --- start ---------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        run = self.run_dir
        landlock = None
        if self.layer.name == "landlock":
            landlock = {"writable": [str(run.home), str(run.app), "/dev/null"],
                        "connect_ports": [self.redis_port] if self.redis_port else [], "required": True}
        uses_bwrap = self.layer.name == "bubblewrap"
        seccomp_path = None
        if self.layer.seccomp:
            programs = seccomp.programs(outside_namespaces=not uses_bwrap)
            (run.ctl / "stage1.bpf").write_bytes(programs.stage1)
            (run.ctl / "stage2.bpf").write_bytes(programs.stage2)
            seccomp_path = str(run.ctl / "stage2.bpf")
        writable = [str(run.home), str(run.app)]
        return {
            "workflow": str(self.workflow),
            "module": self.module,
            "home": str(run.home),
            "writable": writable,
            "app_socket": str(run.app_socket),
            "events_socket": str(run.events_socket),
            "sim_socket": str(run.sim_socket),
            "sim_base": self.sim_base,
            "unix_allowed": [str(run.sim_socket), str(run.redis_socket), str(run.events_socket)],
            "tcp_allowed": [self.redis_port] if self.redis_port else [],
            "redis": {"port": self.redis_port, "socket": str(run.redis_socket), "relay": uses_bwrap}
            if self.redis_port else None,
            "env": self.env,
            "limits": self.limits.rlimits(address_space=self.cgroup is None),
            "landlock": landlock,
            "seccomp": seccomp_path,
            "datagrams_denied": bool(seccomp_path) and not uses_bwrap,
            "mocks": self.mocks,
        }

    def start(self) -> None:
        run = self.run_dir
        support = self.layer.memory_cgroup
        if support is not None:
            try:
                self.cgroup = cgroup.MemoryCgroup.create(support, self.limits.memory)
            except cgroup.CgroupError as exc:
                self.memory_warning = (f"no memory cgroup for this workflow ({exc}): its memory limit is the "
                                       f"address space (RLIMIT_AS)")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(run.events_socket))
        self._listener.listen(1)
        self._reader = threading.Thread(target=self._read_events, daemon=True, name="cwtest-events")
        self._reader.start()
        config = run.ctl / "config.json"
        config.write_text(json.dumps(self._config()))
        pass_fds: tuple[int, ...] = ()
        stage1_fd = None
        if self.layer.name == "bubblewrap":
            if self.layer.seccomp:
                stage1_fd = os.open(run.ctl / "stage1.bpf", os.O_RDONLY)
                pass_fds = (stage1_fd,)
            readable = [p for p in self._readable() if p.exists()]
            argv = bwrap_argv(self.layer.probe, python=self.python, bootstrap=BOOTSTRAP, config=config,
                              home=run.home, writable=[run.app], readable=readable, seccomp_fd=stage1_fd,
                              limits=self.limits)
        else:
            argv = [str(self.python), "-I", "-B", str(BOOTSTRAP), str(config)]
        try:
            self.process = subprocess.Popen(
                argv, env=self.env, cwd=run.home, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, pass_fds=pass_fds,
                preexec_fn=self.cgroup.attach if self.cgroup is not None else None,
            )
        except subprocess.SubprocessError as exc:  # only the preexec_fn raises this
            raise RuntimeError(f"the workflow process could not enter its memory cgroup "
                               f"{self.cgroup.path if self.cgroup else ''}: {exc}") from None
        finally:
            if stage1_fd is not None:
                os.close(stage1_fd)
        self.started_at = time.monotonic()
        self.stdout = OutputTail(self.process.stdout, self.echo)
        self.stderr = OutputTail(self.process.stderr, self.echo)

    def _readable(self) -> list[Path]:
        """Paths the child reads that may sit under a directory bwrap hides (/tmp, /run, /var/tmp)."""
        paths = {self.run_dir.ctl, BOOTSTRAP.parent, self.workflow}
        python = self.python
        paths.add(python.parent.parent)  # the environment
        try:
            paths.add(python.resolve().parent.parent)  # the base interpreter's prefix
        except OSError:
            pass
        return sorted(paths)

    def _read_events(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except OSError:
            self.events.closed = True
            return
        self._conn = conn
        self.events.connected = True
        buffer = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        self.events.add(event)
                if len(buffer) > 1 << 20:
                    buffer = b""  # a line that large is not ours
        except OSError:
            pass
        finally:
            with self.events.cond:
                self.events.closed = True
                self.events.cond.notify_all()

    # --- while it runs ---------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float) -> dict[str, Any] | None:
        """The ``ready`` or ``boot-failure`` event; None on timeout or when the child died first."""
        event = self.events.wait(lambda e: e.get("type") in ("ready", "boot-failure"), timeout, self.alive)
        if event is None and self.process is not None and self.process.poll() is not None:
            # The child is gone: give the reader a moment for the last events.
            if self._reader is not None:
                self._reader.join(0.5)
            event = next((e for e in self.events.items if e.get("type") in ("ready", "boot-failure")), None)
        return event

    def request_stacks(self, reason: str, timeout: float = 1.5) -> dict[str, Any] | None:
        """Ask the bootstrap for the stacks of its threads and tasks (before a timeout kill)."""
        return self._ask({"cmd": "stacks", "reason": reason},
                         lambda e: e.get("type") == "stacks" and e.get("reason") == reason, timeout)

    def request_counts(self, timeout: float = 0.5) -> dict[str, Any] | None:
        """Ask for the exact number of attempts of each finding (the stream sends powers of two)."""
        return self._ask({"cmd": "counts"}, lambda e: e.get("type") == "counts", timeout)

    def add_mock(self, mock: dict[str, Any], timeout: float = 1.0) -> bool:
        """Answer outbound requests matching ``mock`` (``ExternalResponse.as_config``) from now on."""
        self.mocks.append(mock)
        answer = self._ask({"cmd": "mock", "mock": mock},
                           lambda e: e.get("type") == "mocked" and e.get("url") == mock["url"], timeout)
        return answer is not None

    def _ask(self, command: dict[str, Any], answer: Callable[[dict[str, Any]], bool],
             timeout: float) -> dict[str, Any] | None:
        if self._conn is None or not self.alive():
            return None
        start = len(self.events.items)
        try:
            self._conn.sendall((json.dumps(command) + "\n").encode())
        except OSError:
            return None
        return self.events.wait(answer, timeout, self.alive, start=start)

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    # --- stop ---------------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL the whole process group; under bwrap the sandbox dies with it."""
        if self.process is not None:
            if self.process.poll() is None:
                self.killed_by_harness = True
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            # Anything left in the group (there should be nothing: no fork is allowed).
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for tail in (self.stdout, self.stderr):
            if tail is not None:
                tail.join()
        for sock in (self._conn, self._listener):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() or recv()
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
        if self._reader is not None:
            self._reader.join(2)
        self.release_cgroup()

    def release_cgroup(self) -> None:
        """Once the process is gone: whether the OOM killer ended it, then remove its cgroup."""
        if self.cgroup is None:
            return
        self.cgroup.release()
        self.oom_killed = self.cgroup.oom_killed(self.returncode)
