"""One workflow's process: its run directory, its sandboxed child, its events and its output.

The run directory (``mkdtemp``, mode 700) holds::

    ctl/    config.json, stage1.bpf, stage2.bpf and the sockets the parent listens on
            (events.sock, sim.sock, redis.sock); read-only inside the sandbox
    app/    app.sock, which the child binds (the only directory it may write besides HOME)
    home/   the workflow's HOME, TMPDIR and working directory (a private tmpfs under bubblewrap)

The child (``cwtest.harness.child``) runs under ``Policy.workflow`` (``cwtest.harness.sandbox``).
Its messages are decoded once, as they arrive (``Events``): every consumer reads typed
``protocol`` messages, and a line that breaks the protocol is counted as a violation (a
``protocol`` finding), never an error of the harness's.

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
from typing import Any, TypeVar

from cwtest.harness import cgroup, seccomp
from cwtest.harness.child import protocol
from cwtest.harness.sandbox import CHILD, Layer, Limits, Policy, command

#: The entry the parent execs in the sandbox: ``<env python> -I -B CHILD_MAIN CONFIG``.
CHILD_MAIN = CHILD / "__main__.py"
TAIL_BYTES = 64 * 1024
#: At most this many distinct protocol violations are kept (each with its count).
MAX_VIOLATIONS = 20
M = TypeVar("M", bound=protocol.Message)


#: A Unix socket's path holds at most 107 bytes; the run directory's longest is ``ctl/events.sock``
#: (and the relays' ``ctl/redis.sock``) below a ``cwtest-run-XXXXXXXX`` directory.
_SOCKET_PATH_MAX = 107
_LONGEST_SOCKET = len("/cwtest-run-XXXXXXXX/ctl/events.sock")


def run_base() -> str:
    """Where run directories go: the temporary directory, or ``/tmp`` when its path is so long that the
    sockets' paths would not fit (a deep ``TMPDIR``, as pytest's ``tmp_path`` under xdist gives)."""
    base = os.path.realpath(tempfile.gettempdir())
    return base if len(base) + _LONGEST_SOCKET <= _SOCKET_PATH_MAX else "/tmp"


class RunDir:
    """The private directory of one workflow run; ``cleanup()`` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cwtest-run-", dir=run_base())).resolve()
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
    """Every message the child sent, decoded, in order, with a condition to wait on.

    ``violations`` counts the lines that broke the protocol, by reason (``MAX_VIOLATIONS``
    distinct reasons at most; later new ones are counted together).
    """

    items: list[protocol.Message] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    connected: bool = False
    closed: bool = False
    violations: dict[str, int] = field(default_factory=dict)

    def add(self, message: protocol.Message) -> None:
        with self.cond:
            self.items.append(message)
            self.cond.notify_all()

    def violation(self, reason: str) -> None:
        with self.cond:
            if reason not in self.violations and len(self.violations) >= MAX_VIOLATIONS:
                reason = "more lines that break the protocol"
            self.violations[reason] = self.violations.get(reason, 0) + 1

    def of(self, kind: type[M], start: int = 0) -> list[M]:
        """The messages of type ``kind`` from index ``start`` on."""
        with self.cond:
            return [m for m in self.items[start:] if isinstance(m, kind)]

    def wait(self, kind: type[M], timeout: float, alive: Callable[[], bool], start: int = 0,
             where: Callable[[M], bool] | None = None) -> M | None:
        """The first message of type ``kind`` (that ``where`` accepts) from index ``start`` on,
        waiting while the child lives."""
        deadline = time.monotonic() + timeout
        index = start
        with self.cond:
            while True:
                while index < len(self.items):
                    message = self.items[index]
                    if isinstance(message, kind) and (where is None or where(message)):
                        return message
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.closed and not alive()):
                    return None
                self.cond.wait(min(remaining, 0.05))


class WorkflowProcess:
    """The sandboxed child serving one workflow on ``run_dir.app_socket``."""

    def __init__(self, *, python: Path, workflow: Path, env: dict[str, str], layer: Layer, limits: Limits,
                 run_dir: RunDir, sim_base: str, redis_port: int | None, mocks: list[protocol.Mock],
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

    def _policy(self, seccomp_path: Path | None) -> Policy:
        run = self.run_dir
        return Policy.workflow(home=run.home, app=run.app, readable=[p for p in self._readable() if p.exists()],
                               env=self.env, limits=self.limits, address_space=self.cgroup is None,
                               seccomp=seccomp_path, redis_port=self.redis_port)

    def _config(self, policy: Policy, stage2: Path | None) -> dict[str, Any]:
        run = self.run_dir
        uses_bwrap = self.layer.name == "bubblewrap"
        return {
            "workflow": str(self.workflow),
            "module": self.module,
            "home": str(run.home),
            "writable": [str(p) for p in policy.writable],
            "app_socket": str(run.app_socket),
            "events_socket": str(run.events_socket),
            "sim_socket": str(run.sim_socket),
            "sim_base": self.sim_base,
            "unix_allowed": [str(run.sim_socket), str(run.redis_socket), str(run.events_socket)],
            "tcp_allowed": list(policy.connect_ports),
            "redis": {"port": self.redis_port, "socket": str(run.redis_socket), "relay": uses_bwrap}
            if self.redis_port else None,
            "env": dict(policy.env),
            # the child applies it itself: seccomp's stage 2 (stage 1 and execve) once python runs
            "confine": policy.confinement(self.layer, seccomp=stage2),
            "datagrams_denied": stage2 is not None and not uses_bwrap,
            "mocks": [m.as_json() for m in self.mocks],
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
        stage1 = stage2 = None
        if self.layer.seccomp:
            programs = seccomp.programs(outside_namespaces=self.layer.name != "bubblewrap")
            stage1, stage2 = run.ctl / "stage1.bpf", run.ctl / "stage2.bpf"
            stage1.write_bytes(programs.stage1)
            stage2.write_bytes(programs.stage2)
        policy = self._policy(stage1)
        config = run.ctl / "config.json"
        config.write_text(json.dumps(self._config(policy, stage2)))
        with command(self.layer, policy, [self.python, "-I", "-B", CHILD_MAIN, config], applies_itself=True) as cmd:
            try:
                self.process = subprocess.Popen(
                    cmd.argv, env=cmd.env, cwd=cmd.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True, pass_fds=cmd.pass_fds,
                    preexec_fn=self.cgroup.attach if self.cgroup is not None else None,
                )
            except subprocess.SubprocessError as exc:  # only the preexec_fn raises this
                raise RuntimeError(f"the workflow process could not enter its memory cgroup "
                                   f"{self.cgroup.path if self.cgroup else ''}: {exc}") from None
        self.started_at = time.monotonic()
        self.stdout = OutputTail(self.process.stdout, self.echo)
        self.stderr = OutputTail(self.process.stderr, self.echo)

    def _readable(self) -> list[Path]:
        """Paths the child reads that may sit under a directory bwrap hides (/tmp, /run, /var/tmp)."""
        paths = {self.run_dir.ctl, CHILD, self.workflow}
        python = self.python
        paths.add(python.parent.parent)  # the environment
        try:
            paths.add(python.resolve().parent.parent)  # the base interpreter's prefix
        except OSError:
            pass
        return sorted(paths)

    def _read_events(self) -> None:
        """Decode each line once, as it arrives; a line that breaks the protocol is a violation."""
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except OSError:
            self.events.closed = True
            return
        self._conn = conn
        self.events.connected = True
        buffer = b""
        skipping = False  # inside a line over the limit: up to its end
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if skipping:
                        skipping = False
                        continue
                    try:
                        self.events.add(protocol.decode(line, protocol.CHILD))
                    except protocol.ProtocolError as exc:
                        self.events.violation(str(exc))
                if len(buffer) > protocol.MAX_LINE and not skipping:
                    self.events.violation(protocol.TOO_LONG)
                    skipping = True
                if skipping:
                    buffer = b""
        except OSError:
            pass
        finally:
            with self.events.cond:
                self.events.closed = True
                self.events.cond.notify_all()

    # --- while it runs ---------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float) -> protocol.Ready | protocol.BootFailure | None:
        """The ``ready`` or ``boot-failure`` message; None on timeout or when the child died first."""
        kinds = (protocol.Ready, protocol.BootFailure)
        event = self.events.wait(protocol.Message, timeout, self.alive, where=lambda m: isinstance(m, kinds))
        if event is None and self.process is not None and self.process.poll() is not None:
            # The child is gone: give the reader a moment for the last messages.
            if self._reader is not None:
                self._reader.join(0.5)
            event = next((m for m in self.events.of(protocol.Message) if isinstance(m, kinds)), None)
        assert event is None or isinstance(event, kinds)
        return event

    def request_stacks(self, reason: str, timeout: float = 1.5) -> protocol.Stacks | None:
        """Ask the child for the stacks of its threads and tasks (before a timeout kill)."""
        return self._ask(protocol.StacksCommand(reason=reason), protocol.Stacks, timeout,
                         where=lambda m: m.reason == reason)

    def request_counts(self, timeout: float = 0.5) -> protocol.Counts | None:
        """Ask for the exact number of attempts of each finding (the stream sends powers of two)."""
        return self._ask(protocol.CountsCommand(), protocol.Counts, timeout)

    def add_mock(self, mock: protocol.Mock, timeout: float = 1.0) -> bool:
        """Answer outbound requests matching ``mock`` (``ExternalResponse.as_mock``) from now on."""
        self.mocks.append(mock)
        answer = self._ask(protocol.MockCommand(mock=mock), protocol.Mocked, timeout,
                           where=lambda m: m.url == mock.url)
        return answer is not None

    def _ask(self, command: protocol.Message, answer: type[M], timeout: float,
             where: Callable[[M], bool] | None = None) -> M | None:
        if self._conn is None or not self.alive():
            return None
        start = len(self.events.items)
        try:
            self._conn.sendall(protocol.encode(command))
        except OSError:
            return None
        return self.events.wait(answer, timeout, self.alive, start=start, where=where)

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
