"""A memory cgroup per workflow process, where the host lets cwtest create one.

The platform limits a workflow's *real* memory (its VM has 2 GB); ``RLIMIT_AS`` limits address
space instead, which breaks libraries that reserve large ranges they never touch. When the host
allows it, each workflow process gets its own cgroup with a memory limit, and the address-space
limit is lifted (the cgroup is the limit); elsewhere ``RLIMIT_AS`` stays the limit.

Probe (``probe()``), in this order; nothing is assumed, every step is checked:

cgroup v2
    The unified hierarchy (``cgroup2`` in ``/proc/self/mountinfo``, wherever it is mounted), and on
    the path from its root down to cwtest's own cgroup the first directory that is *delegated to
    us*: writable, its ``cgroup.procs`` writable (moving a process needs write access to the common
    ancestor) and ``memory`` already in its ``cgroup.subtree_control``. cwtest never enables a
    controller on a cgroup it did not create: only on its own ``cwtest`` directory there.
cgroup v1
    The hierarchy holding the ``memory`` controller, and on the same path the first directory that
    is writable (as root: the hierarchy's root).

Either way the parent is ``<that directory>/cwtest`` (created once, kept, empty between runs),
and each workflow process gets ``cwtest/<pid>-<start>-<random>``: the harness's pid and start
time (clock ticks since boot) name the owner. The probe also sweeps: a cgroup under ``cwtest``
whose owner is no longer alive (a harness killed with SIGKILL cannot clean up) and that holds
no process is removed.

Per workflow (``MemoryCgroup``): v2 ``memory.max`` = the limit, ``memory.swap.max`` = 0 and
``memory.oom.group`` = 1 (the OOM killer takes bwrap and python together); v1
``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes`` (no swap) when the kernel
accounts swap. The child enters its cgroup between fork and exec (``attach``, the ``preexec_fn``
of ``subprocess.Popen``: only ``os.open``/``os.write``), so bwrap and everything under it are
inside from their first instruction. After the process is gone, ``release()`` reads whether the
OOM killer fired (v2 ``memory.events`` ``oom_kill``; v1 ``memory.oom_control`` ``oom_kill``, or
``memory.failcnt`` on kernels before 4.13), kills whatever is still inside, and removes the cgroup.
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PARENT = "cwtest"
_NAME = re.compile(r"^(\d+)-(\d+)-[0-9a-f]+$")


class CgroupError(RuntimeError):
    """A cgroup could not be created or configured."""


@dataclass(frozen=True)
class CgroupSupport:
    """What the probe found: a ``version`` (1 or 2) and the ``parent`` directory, or why not."""

    version: int | None
    parent: str | None
    reason: str | None = None
    #: Stale cgroups (dead owner, no process) the probe removed.
    swept: int = 0

    @property
    def available(self) -> bool:
        return self.version is not None and self.parent is not None

    @property
    def mode(self) -> str:
        """How the memory limit is applied, as the report says it."""
        return f"cgroup memory (v{self.version})" if self.available else "address space (RLIMIT_AS)"

    def as_json(self) -> dict[str, object]:
        return {"version": self.version, "parent": self.parent, "reason": self.reason, "swept": self.swept}


UNAVAILABLE = CgroupSupport(None, None, "not probed")


# --- reading the host ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mount:
    root: str  # the hierarchy path mounted (mountinfo's 4th field)
    point: Path
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[_Mount]:
    found = []
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3:
            continue
        found.append(_Mount(_unescape(fields[3]), Path(_unescape(fields[4])), rest[0], tuple(rest[2].split(","))))
    return found


def _own_cgroups(path: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """Controller list ("" for v2) -> this process's cgroup path."""
    own = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            own[parts[1]] = parts[2]
    return own


def _path_down(mount: _Mount, own: str | None) -> list[Path]:
    """The mount point, then each directory down to this process's cgroup (top down)."""
    paths = [mount.point]
    if own is None:
        return paths
    root = mount.root.rstrip("/")
    if root and not (own == root or own.startswith(root + "/")):
        return paths  # our cgroup is not under this mount (another namespace's view)
    relative = own[len(root):].strip("/")
    current = mount.point
    for part in [p for p in relative.split("/") if p and p not in (".", "..")]:
        current = current / part
        paths.append(current)
    return paths


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK) and os.access(directory / "cgroup.procs", os.W_OK)


def _start_ticks(pid: int) -> int | None:
    """A process's start time (clock ticks since boot): with the pid, it names a process for good."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _owner_alive(name: str) -> bool:
    match = _NAME.match(name)
    if match is None:
        return True  # not named by cwtest: never ours to remove
    return _start_ticks(int(match.group(1))) == int(match.group(2))


# --- probing -----------------------------------------------------------------------------------------


def _parent_v2(mount: _Mount, own: str | None) -> tuple[Path | None, str]:
    root_controllers = (_read(mount.point / "cgroup.controllers") or "").split()
    if "memory" not in root_controllers:
        return None, f"cgroup v2 at {mount.point} has no memory controller (a v1 hierarchy holds it)"
    for directory in _path_down(mount, own):
        if "memory" not in (_read(directory / "cgroup.subtree_control") or "").split():
            continue
        if not _writable(directory):
            continue
        parent = directory / PARENT
        try:
            parent.mkdir(exist_ok=True)
            if "memory" not in (_read(parent / "cgroup.subtree_control") or "").split():
                _write(parent / "cgroup.subtree_control", "+memory")
        except OSError as exc:
            return None, f"cgroup v2: cannot set up {parent}: {exc.strerror or exc}"
        return parent, ""
    return None, (f"cgroup v2 at {mount.point}: no cgroup from its root down to cwtest's own "
                  f"({own or '?'}) is delegated to this user with the memory controller enabled")


def _parent_v1(mount: _Mount, own: str | None) -> tuple[Path | None, str]:
    for directory in _path_down(mount, own):
        if not _writable(directory):
            continue
        parent = directory / PARENT
        try:
            parent.mkdir(exist_ok=True)
        except OSError as exc:
            return None, f"cgroup v1: cannot create {parent}: {exc.strerror or exc}"
        if not os.access(parent / "memory.limit_in_bytes", os.W_OK):
            return None, f"cgroup v1: {parent}/memory.limit_in_bytes is not writable"
        return parent, ""
    return None, f"cgroup v1 memory hierarchy at {mount.point} is not writable by this user"


def probe(sweep: bool = True) -> CgroupSupport:
    """Find where memory cgroups can be created here (v2 first, then v1), sweeping stale ones."""
    mounts = _mounts()
    own = _own_cgroups()
    reasons = []
    for mount in mounts:
        if mount.fstype != "cgroup2":
            continue
        parent, why = _parent_v2(mount, own.get(""))
        if parent is not None:
            return CgroupSupport(2, str(parent), None, sweep_stale(parent) if sweep else 0)
        reasons.append(why)
        break
    for mount in mounts:
        if mount.fstype != "cgroup" or "memory" not in mount.options:
            continue
        own_v1 = next((path for controllers, path in own.items() if "memory" in controllers.split(",")), None)
        parent, why = _parent_v1(mount, own_v1)
        if parent is not None:
            return CgroupSupport(1, str(parent), None, sweep_stale(parent) if sweep else 0)
        reasons.append(why)
        break
    if not reasons:
        reasons.append("no cgroup hierarchy with the memory controller is mounted")
    return CgroupSupport(None, None, "; ".join(reasons))


def sweep_stale(parent: Path) -> int:
    """Remove the cgroups under ``parent`` whose owning harness is dead and that hold no process."""
    removed = 0
    try:
        children = [p for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return 0
    for child in children:
        if _owner_alive(child.name):
            continue
        if (_read(child / "cgroup.procs") or "").strip():
            continue  # still running: the next probe, once it has ended
        try:
            child.rmdir()
            removed += 1
        except OSError:
            pass
    return removed


# --- one workflow's cgroup ------------------------------------------------------------------------------

_LIVE: set[MemoryCgroup] = set()
_LIVE_LOCK = threading.Lock()


class MemoryCgroup:
    """The cgroup of one workflow process: ``create``, ``attach`` (in the child), ``release``."""

    def __init__(self, path: Path, version: int, limit: int) -> None:
        self.path = path
        self.version = version
        self.limit = limit
        self._procs = str(path / "cgroup.procs")
        self._lock = threading.Lock()
        self.released = False
        #: Filled by ``release()``: the OOM killer's kills (None: this kernel does not count them).
        self.oom_kills: int | None = None
        #: v1: how often the limit was hit (``failcnt``, reclaim or OOM); v2: ``memory.events`` ``max``.
        self.limit_hits = 0
        #: The highest usage seen, when the kernel records it.
        self.peak: int | None = None

    @classmethod
    def create(cls, support: CgroupSupport, limit: int) -> MemoryCgroup:
        if not support.available:
            raise CgroupError(support.reason or "memory cgroups are not available")
        assert support.parent is not None and support.version is not None
        pid = os.getpid()
        name = f"{pid}-{_start_ticks(pid) or 0}-{secrets.token_hex(4)}"
        path = Path(support.parent) / name
        try:
            path.mkdir()
        except OSError as exc:
            raise CgroupError(f"cannot create {path}: {exc.strerror or exc}") from None
        group = cls(path, support.version, limit)
        with _LIVE_LOCK:
            _LIVE.add(group)
        try:
            if support.version == 2:
                _write(path / "memory.max", str(limit))
                for setting, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    if (path / setting).exists():
                        _write(path / setting, value)
            else:
                _write(path / "memory.limit_in_bytes", str(limit))
                if (path / "memory.memsw.limit_in_bytes").exists():
                    _write(path / "memory.memsw.limit_in_bytes", str(limit))
        except OSError as exc:
            group.release()
            raise CgroupError(f"cannot set the memory limit of {path}: {exc.strerror or exc}") from None
        return group

    def attach(self) -> None:
        """Move the calling process into this cgroup: the ``preexec_fn`` of the workflow's Popen.

        Runs in the forked child before exec, so it uses nothing but system calls.
        """
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        text = _read(self.path / "cgroup.procs") or ""
        return [int(line) for line in text.split() if line.isdigit()]

    def _read_counters(self) -> None:
        if self.version == 2:
            events = dict(_pairs(_read(self.path / "memory.events") or ""))
            self.oom_kills = events.get("oom_kill")
            self.limit_hits = events.get("max", 0) or 0
            peak = (_read(self.path / "memory.peak") or "").strip()
        else:
            control = dict(_pairs(_read(self.path / "memory.oom_control") or ""))
            self.oom_kills = control.get("oom_kill")
            # With swap accounted, the memory+swap counter is charged (and fails) first.
            counts = [(_read(self.path / name) or "0").strip() for name in ("memory.failcnt", "memory.memsw.failcnt")]
            self.limit_hits = max(int(c) if c.isdigit() else 0 for c in counts)
            peak = (_read(self.path / "memory.max_usage_in_bytes") or "").strip()
        self.peak = int(peak) if peak.isdigit() else None

    def oom_killed(self, returncode: int | None) -> bool:
        """Whether the kernel's OOM killer ended the workflow (call after ``release()``)."""
        if self.oom_kills is not None:
            return self.oom_kills > 0
        # Kernels before 4.13 (v1) do not count OOM kills: the limit was hit and SIGKILL ended it
        # (bwrap reports its child's SIGKILL as status 137).
        return self.limit_hits > 0 and returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)

    def release(self, timeout: float = 5.0) -> bool:
        """Read the counters, kill whatever is left inside, remove the cgroup; True once it is gone.

        Call it after the workflow's process has been waited for. Idempotent and thread-safe.
        """
        with self._lock:
            if self.released:
                return True
            if self.path.exists():
                self._read_counters()
            gone = self._remove(timeout)
            if gone:
                self.released = True
                with _LIVE_LOCK:
                    _LIVE.discard(self)
            return gone

    def _remove(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    return False
            if not killed:  # the workflow is over: anything still inside is its leftover
                killed = True
                self._kill_inside()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _kill_inside(self) -> None:
        if self.version == 2 and (self.path / "cgroup.kill").exists():
            try:
                _write(self.path / "cgroup.kill", "1")
                return
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _pairs(text: str) -> list[tuple[str, int]]:
    pairs = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            pairs.append((parts[0], int(parts[1])))
    return pairs


@atexit.register
def _release_all() -> None:
    """A cgroup whose workflow cleanup never ran (an exception in the harness): removed at exit."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for group in live:
        group.release(timeout=2.0)
