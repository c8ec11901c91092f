"""One workflow's process: its run directory, its sandboxed child, its events and its output.

The run directory (``mkdtemp``, mode 700) holds::

    ctl/    config.json, stage1.bpf, stage2.bpf and the sockets the parent listens on
            (events.sock, sim.sock, outside.sock, redis.sock); read-only inside the sandbox
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from cwtest.harness import cgroup, seccomp
from cwtest.harness.child import protocol
from cwtest.harness.observe import Observer
from cwtest.harness.policy import CHILD, Policy, command, unreachable
from cwtest.harness.sandbox import Layer, Limits
from cwtest.results import printable

#: The entry the parent execs in the sandbox: ``<env python> -I -B CHILD_MAIN CONFIG``.
CHILD_MAIN = CHILD / "__main__.py"
TAIL_BYTES = 64 * 1024
#: At most this many distinct protocol violations are kept (each with its count).
MAX_VIOLATIONS = 20
#: What the parent keeps of the child's messages: past ``MAX_EVENTS`` messages or ``MAX_EVENT_BYTES``
#: bytes only the control messages it waits for are kept (a ``protocol`` finding says so), past
#: ``HARD_EVENT_BYTES`` nothing. The child's own traffic is far below: a finding is sent at most
#: 64 times per place, an exception once per request.
MAX_EVENTS = 20_000
MAX_EVENT_BYTES = 32 << 20
HARD_EVENT_BYTES = 64 << 20
#: The most files the workflow's directory may hold outside bubblewrap (a tmpfs has its own limit).
DISK_ENTRIES = 20_000
MIB = 1 << 20
#: Seconds the app's socket must accept connections, with no ``ready`` message, to count as serving.
SILENT_READY = 1.0
#: The messages the parent waits on (boot, stacks, counts): kept up to the hard cap.
_CONTROL = (protocol.Hello, protocol.Ready, protocol.BootFailure, protocol.Stacks, protocol.Counts)
#: The violation recorded once the caps are reached.
OVER_CAP = (f"more than {MAX_EVENTS} messages or {MAX_EVENT_BYTES >> 20} MiB from the workflow's process: the "
            f"later ones were not kept")
M = TypeVar("M", bound=protocol.Message)


#: A Unix socket's path holds at most 107 bytes; the run directory's longest is ``ctl/events.sock``
#: (and the relays' ``ctl/redis.sock``, the observer's ``ctl/notify.sock``) below a
#: ``cwtest-run-XXXXXXXX`` directory.
_SOCKET_PATH_MAX = 107
_LONGEST_SOCKET = len("/cwtest-run-XXXXXXXX/ctl/outside.sock")


def run_base() -> str:
    """Where run directories go: the temporary directory, or ``/tmp`` when its path is so long that the
    sockets' paths would not fit (a deep ``TMPDIR``, as pytest's ``tmp_path`` under xdist gives)."""
    base = os.path.realpath(tempfile.gettempdir())
    return base if len(base) + _LONGEST_SOCKET <= _SOCKET_PATH_MAX else "/tmp"


class IdentityUnavailable(RuntimeError):
    """As root, outside bubblewrap, the workflow's unprivileged identity cannot reach what it must read."""


class RunDir:
    """The private directory of one workflow run; ``cleanup()`` removes it.

    With an ``identity`` (cwtest runs as root: the workflow runs as that unprivileged uid and gid,
    one per run), the run's group may enter the root (``0710``) and read ``ctl/`` (``0750``),
    and ``app/`` and ``home/`` belong to the identity (``0700``); nobody else, another run's
    workflow included, may enter. Without one, everything is cwtest's user's alone (``0700``).
    """

    def __init__(self, identity: tuple[int, int] | None = None) -> None:
        base = run_base()
        if identity is not None and unreachable([Path(base)], identity) is not None:
            base = "/tmp"  # the identity must reach its run directory (outside bubblewrap's mounts)
        self.root = Path(tempfile.mkdtemp(prefix="cwtest-run-", dir=base)).resolve()
        self.identity = identity
        self.ctl = self.root / "ctl"
        self.app = self.root / "app"
        self.home = self.root / "home"
        for path in (self.ctl, self.app, self.home):
            path.mkdir(mode=0o700)
        if identity is not None:
            uid, gid = identity
            os.chown(self.root, 0, gid)
            os.chmod(self.root, 0o710)
            os.chown(self.ctl, 0, gid)
            os.chmod(self.ctl, 0o750)
            for path in (self.app, self.home):
                os.chown(path, uid, gid)

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
    def outside_socket(self) -> Path:
        return self.ctl / "outside.sock"

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
                    # shown, never obeyed: no escape sequence of the workflow's reaches the terminal
                    self.echo.write(printable(chunk.decode("utf-8", "replace"), newlines=True).encode())
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
    #: The bytes of the lines kept (``items``).
    size: int = 0

    def add(self, message: protocol.Message, size: int = 0) -> None:
        """Keep ``message`` (a line of ``size`` bytes), unless the caps say otherwise."""
        with self.cond:
            over = len(self.items) >= MAX_EVENTS or self.size + size > MAX_EVENT_BYTES
            if over and (not isinstance(message, _CONTROL) or self.size + size > HARD_EVENT_BYTES):
                self.violations[OVER_CAP] = self.violations.get(OVER_CAP, 0) + 1
                return
            self.items.append(message)
            self.size += size
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
                 run_dir: RunDir, sim_base: str, redis_port: int | None, module: str, echo: Any = None,
                 placeholders: dict[str, str] | None = None, watching: dict[str, float] | None = None) -> None:
        #: The unprivileged uid and gid the workflow runs as (cwtest runs as root), or None.
        self.identity = run_dir.identity
        self.python = python
        self.workflow = workflow
        self.env = env
        self.layer = layer
        self.limits = limits
        self.run_dir = run_dir
        self.sim_base = sim_base
        self.redis_port = redis_port
        #: Placeholder env values (name -> value): a failure that shows one is cwtest's doing.
        self.placeholders = dict(placeholders or {})
        self.module = module
        #: What the child's watch does (``block_threshold``, ``wait``: cwtest.harness.child.watch).
        self.watching = dict(watching or {})
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
        #: What the process tried, seen from outside it (``cwtest.harness.observe``); None without seccomp.
        self.observer: Observer | None = None
        #: The app served although the process never said so (its reports were silenced).
        self.ready_unannounced = False
        #: Set when the workflow's directory outgrew its cap outside bubblewrap (the process was stopped).
        self.disk_exceeded: str | None = None

    # --- start ---------------------------------------------------------------------------------

    def _policy(self, seccomp_path: Path | None) -> Policy:
        run = self.run_dir
        rlimits = dict(self.limits.rlimits(address_space=self.cgroup is None))
        rlimits["NPROC"] = self._tasks_limit()
        etc = {}
        if self.identity is not None and self.layer.name == "bubblewrap":
            etc = {"/etc/passwd": run.ctl / "passwd", "/etc/group": run.ctl / "group"}
        # The command (bwrap, or python itself) runs with no variable at all: the child sets the
        # workflow's (its config's "env") in its own process, so that no value a header chose is
        # ever in the environment of bwrap or of the loader of any program but the workflow's.
        policy = Policy.workflow(home=run.home, app=run.app, readable=[p for p in self._readable() if p.exists()],
                                 env={}, limits=self.limits, address_space=self.cgroup is None,
                                 seccomp=seccomp_path, redis_port=self.redis_port, identity=self.identity, etc=etc)
        return replace(policy, rlimits=rlimits)

    def _tasks_limit(self) -> int | None:
        """RLIMIT_NPROC for ``Limits.tasks`` processes and threads: counted per uid, and per user
        namespace. Exact with the run's own identity (root) or in bubblewrap's user namespace; as
        cwtest's own user outside a namespace the user's other tasks count too, so they are added."""
        if self.identity is not None or self.layer.name == "bubblewrap":
            return self.limits.tasks
        return self.limits.tasks + _tasks_of(os.geteuid())

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
            "outside_socket": str(run.outside_socket),
            "unix_allowed": [str(p) for p in self._sockets()],
            "tcp_allowed": list(policy.connect_ports),
            "redis": {"port": self.redis_port, "socket": str(run.redis_socket), "relay": uses_bwrap}
            if self.redis_port else None,
            "env": dict(self.env),
            # the child applies it itself: seccomp's stage 2 (stage 1 and execve) once python runs
            "confine": policy.confinement(self.layer, seccomp=stage2),
            "datagrams_denied": stage2 is not None and not uses_bwrap,
            "placeholders": self.placeholders,
            "watch": self.watching,
            # Landlock allows no TCP bind: the runtime's loopback relay cannot listen there
            "runtime_relay": self.layer.name != "landlock",
        }

    def start(self) -> None:
        run = self.run_dir
        self._check_identity()
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
        if self.identity is not None:
            _write_identity_files(run, self.identity)
        self._reader = threading.Thread(target=self._read_events, daemon=True, name="cwtest-events")
        self._reader.start()
        stage1 = stage2 = None
        observer = None
        if self.layer.seccomp:
            outside = self.layer.name != "bubblewrap"
            programs = seccomp.programs(outside_namespaces=outside, ownership=outside and self.identity is None,
                                        notify=True)
            stage1, stage2 = run.ctl / "stage1.bpf", run.ctl / "stage2.bpf"
            stage1.write_bytes(programs.stage1)
            stage2.write_bytes(programs.stage2)
            assert programs.notify is not None and programs.processes is not None
            (run.ctl / "notify.bpf").write_bytes(programs.notify)
            (run.ctl / "processes.bpf").write_bytes(programs.processes)
        policy = self._policy(stage1)
        if self.layer.seccomp:
            self.observer = Observer(run.ctl / "notify.sock", unix=self._sockets(), app_socket=run.app_socket,
                                     writable=policy.writable, tcp_ports=policy.connect_ports,
                                     layer=self.layer.name).start()
            observer = {"socket": str(run.ctl / "notify.sock"), "program": str(run.ctl / "notify.bpf"),
                        "fallback": str(run.ctl / "processes.bpf")}
        config = run.ctl / "config.json"
        config.write_text(json.dumps({**self._config(policy, stage2), "observer": observer}))
        # -S: no site-packages at start, so no dependency's .pth file runs before the confinement;
        # the child adds them (``site.main()``) once it is confined.
        argv: list[str | os.PathLike[str]] = [self.python, "-I", "-B", "-S", CHILD_MAIN, config]
        with command(self.layer, policy, argv, applies_itself=True) as cmd:
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
        if self.layer.name != "bubblewrap":  # HOME is a host directory: no tmpfs caps its size
            threading.Thread(target=self._watch_disk, daemon=True, name="cwtest-disk").start()

    def _watch_disk(self) -> None:
        """Outside bubblewrap HOME is on the host's disk, where only RLIMIT_FSIZE (per file) applies:
        twenty times a second, its size; past ``Limits.tmpfs`` (what the tmpfs would hold) or
        ``DISK_ENTRIES`` files, the process is stopped (``disk_exceeded``)."""
        while self.alive() and not self.killed_by_harness:
            size, entries = _disk_use(self.run_dir.home, DISK_ENTRIES + 1)
            if size > self.limits.tmpfs or entries > DISK_ENTRIES:
                self.disk_exceeded = (f"{size / MIB:.0f} MiB in {entries} files" if entries <= DISK_ENTRIES
                                      else f"more than {DISK_ENTRIES} files")
                self.killed_by_harness = True
                process = self.process
                if process is not None:
                    try:
                        os.killpg(process.pid, signal.SIGKILL)  # the session's kill() reaps and cleans up
                    except ProcessLookupError:
                        pass
                return
            time.sleep(0.05)

    def _sockets(self) -> list[Path]:
        """The run's Unix sockets the child connects to."""
        run = self.run_dir
        return [run.sim_socket, run.outside_socket, run.redis_socket, run.events_socket, run.ctl / "notify.sock"]

    def _check_identity(self) -> None:
        """Outside bubblewrap the identity must reach what the child reads once it has switched
        (there is no mount namespace to show it). When it cannot (an environment cache or a Python
        under root's 0700 home), the workflow does not run: as root, it would keep root's files."""
        if self.identity is None or self.layer.name == "bubblewrap":
            return
        blocked = unreachable([*self._readable(), self.run_dir.app, self.run_dir.home], self.identity)
        if blocked is not None:
            raise IdentityUnavailable(
                f"cwtest runs as root, and under the {self.layer.name} layer the workflow must run as an unprivileged "
                f"user, who cannot reach {blocked}: put the environment cache (CWTEST_CACHE_DIR; as root the default "
                f"is {'/var/cache/cwtest'}) and the Python the header asks for where every user may enter, or use "
                f"bubblewrap")

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
                        self.events.add(protocol.decode(line, protocol.CHILD), len(line))
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
        """The ``ready`` or ``boot-failure`` message; None on timeout or when the child died first.

        The message is the workflow's process's word, which it can silence: when the app's socket
        has accepted connections for ``SILENT_READY`` seconds without either message, the app
        serves (``ready_unannounced`` is set, and a synthetic ``ready`` names no app).
        """
        kinds = (protocol.Ready, protocol.BootFailure)
        deadline = time.monotonic() + timeout
        listening_since: float | None = None
        event = None
        while event is None and time.monotonic() < deadline and (self.alive() or not self.events.closed):
            event = self.events.wait(protocol.Message, 0.1, self.alive, where=lambda m: isinstance(m, kinds))
            if isinstance(event, protocol.Ready):  # the process's word: it serves once its socket accepts
                while self.alive() and not _accepts(self.run_dir.app_socket) and time.monotonic() < deadline:
                    time.sleep(0.02)
            if event is not None or not self.alive():
                break
            if listening_since is None and _accepts(self.run_dir.app_socket):
                listening_since = time.monotonic()
            if listening_since is not None and time.monotonic() - listening_since > SILENT_READY:
                self.ready_unannounced = True
                return protocol.Ready(app="?", apps=())
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
        if self.observer is not None:
            self.observer.stop()
        self.release_cgroup()

    def release_cgroup(self) -> None:
        """Once the process is gone: whether the OOM killer ended it, then remove its cgroup."""
        if self.cgroup is None:
            return
        self.cgroup.release()
        self.oom_killed = self.cgroup.oom_killed(self.returncode)


def _write_identity_files(run: RunDir, identity: tuple[int, int]) -> None:
    """The /etc/passwd and /etc/group the sandbox shows (bubblewrap): root, nobody and the run's
    identity, named ``cwtest`` with the run's HOME; the events socket open to the run's group."""
    uid, gid = identity
    (run.ctl / "passwd").write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                                    f"cwtest:x:{uid}:{gid}:cwtest workflow:{run.home}:/usr/sbin/nologin\n"
                                    f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (run.ctl / "group").write_text(f"root:x:0:\ncwtest:x:{gid}:\nnogroup:x:65534:\n")
    for name in ("passwd", "group"):
        os.chmod(run.ctl / name, 0o644)
    os.chmod(run.events_socket, 0o660)
    os.chown(run.events_socket, 0, gid)


def _tasks_of(uid: int) -> int:
    """How many tasks (threads included) ``uid`` runs now: what RLIMIT_NPROC counts outside a user
    namespace."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _accepts(path: Path) -> bool:
    """Something listens on the Unix socket ``path``."""
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.2)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _disk_use(root: Path, limit: int) -> tuple[int, int]:
    """(bytes allocated, entries) under ``root``, counting at most ``limit`` entries."""
    size = entries = 0
    stack = [str(root)]
    while stack and entries < limit:
        try:
            with os.scandir(stack.pop()) as found:
                for entry in found:
                    entries += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    size += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return size, entries
