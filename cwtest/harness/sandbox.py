"""Which sandbox layer contains a workflow here, and a policy turned into the command that applies it.

Layers, strongest first; a probe picks the first that works on this machine:

``bubblewrap``
    Every namespace unshared (``--unshare-all``; network, PID, IPC, UTS, user and cgroup), never
    ``--share-net``; a read-only root, private ``/tmp``, ``/run`` and ``/var/tmp`` (tmpfs, size-limited),
    the workflow's private directory as a size-limited tmpfs, and only the socket directory written
    by the child bound read-write. Every capability dropped, ``--new-session``,
    ``--die-with-parent``. Stage 1 of seccomp is loaded by bwrap (``--seccomp FD``).
``landlock``
    Where user namespaces are not allowed (Docker, Ubuntu 24.04's AppArmor default): the child
    restricts writes to the private and socket directories and, on ABI 4 and later, TCP to the
    Redis port only (no TCP bind); on ABI 6 and later signals and abstract Unix sockets stay
    inside. UDP and pathname Unix sockets are not covered.
``audit``
    Neither works (macOS is not supported at all): only the audit hook reports, nothing is
    contained but what seccomp and the rlimits contain. cwtest warns loudly.

Always, whatever the layer: a memory limit, rlimits (CPU seconds, open files, file size), seccomp
denying new processes (and, once python runs, ``execve``), and a wall-clock timeout that kills the
whole process group. The memory limit is a cgroup of the workflow's own where the host lets cwtest
create one (``cwtest.harness.cgroup``: real memory, as on the platform; the address-space rlimit is
then lifted), else ``RLIMIT_AS``; ``Layer.memory_mode`` says which.

What a sandboxed command may do is a ``Policy`` (reads, writes, private tmpfs mounts, network,
seccomp, environment, cwd, rlimits); ``command(layer, policy, argv)`` turns it into the command to
exec, for any command: ``Policy.workflow`` is the workflow's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from cwtest.harness import cgroup, seccomp

LAYERS = ("bubblewrap", "landlock", "audit")
MODES = ("auto", "strict", "off")
GIB = 1 << 30
MIB = 1 << 20


class SandboxUnavailable(RuntimeError):
    """The requested sandbox cannot run here (``--sandbox strict`` without an OS-level layer)."""


@dataclass(frozen=True)
class Probe:
    """What works on this machine; each ``*_error`` says why a layer does not."""

    bwrap: str | None
    bwrap_error: str | None
    landlock_abi: int
    seccomp_error: str | None
    #: Where memory cgroups can be created; None or unavailable: ``RLIMIT_AS`` is the memory limit.
    cgroup: cgroup.CgroupSupport | None = None

    @property
    def available(self) -> tuple[str, ...]:
        found = []
        if self.bwrap:
            found.append("bubblewrap")
        if self.landlock_abi >= 1:
            found.append("landlock")
        found.append("audit")
        return tuple(found)

    def as_json(self) -> dict[str, object]:
        return {"bwrap": self.bwrap, "bwrap_error": self.bwrap_error, "landlock_abi": self.landlock_abi,
                "seccomp_error": self.seccomp_error, "available": list(self.available),
                "cgroup": (self.cgroup or cgroup.UNAVAILABLE).as_json()}


def _probe_bwrap() -> tuple[str | None, str | None]:
    path = shutil.which("bwrap")
    if path is None:
        return None, "bwrap not found (apt-get install bubblewrap)"
    argv = [path, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/",
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--", "/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bwrap failed: {exc}"
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()
        hint = ""
        if "uid map" in done.stderr or "Permission denied" in done.stderr:
            hint = " (unprivileged user namespaces are restricted here: on Ubuntu 24.04 and GitHub Actions run " \
                   "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`)"
        return None, f"bwrap cannot create a sandbox here: {message[-1] if message else done.returncode}{hint}"
    return path, None


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none), asked as the child asks it."""
    from cwtest.harness.child.confine import landlock_abi as abi

    return abi()


@lru_cache(maxsize=1)
def probe() -> Probe:
    """Probe once per process (bwrap's probe costs ~10 ms); the cgroup probe sweeps stale cgroups."""
    bwrap, error = _probe_bwrap()
    return Probe(bwrap, error, landlock_abi(), seccomp.available(), cgroup.probe())


@dataclass(frozen=True)
class Layer:
    """The chosen layer, and how the report names it."""

    name: str
    probe: Probe
    warning: str | None = None

    @property
    def namespaces(self) -> bool:
        return self.name == "bubblewrap"

    @property
    def seccomp(self) -> bool:
        return self.probe.seccomp_error is None

    @property
    def memory_cgroup(self) -> cgroup.CgroupSupport | None:
        """Where each workflow's memory cgroup goes; None: the memory limit is ``RLIMIT_AS``."""
        support = self.probe.cgroup
        return support if support is not None and support.available else None

    @property
    def memory_mode(self) -> str:
        """``cgroup memory (v1|v2)`` or ``address space (RLIMIT_AS)``: which memory limit is in force."""
        return (self.probe.cgroup or cgroup.UNAVAILABLE).mode

    def describe(self) -> str:
        parts = {"bubblewrap": "bubblewrap (all namespaces, read-only root)",
                 "landlock": f"Landlock ABI {self.probe.landlock_abi} (reads, writes, TCP)",
                 "audit": "audit hook only (NOT contained)"}[self.name]
        parts += " + seccomp" if self.seccomp else " (no seccomp: " + str(self.probe.seccomp_error) + ")"
        return parts + f" + rlimits + timeout; memory limit: {self.memory_mode}"

    def as_json(self) -> dict[str, object]:
        return {"layer": self.name, "description": self.describe(), "warning": self.warning,
                "memory_mode": self.memory_mode, "probe": self.probe.as_json()}


def choose(mode: str = "auto", force: str | None = None, found: Probe | None = None, *,
           ci: bool | None = None) -> Layer:
    """The layer for ``--sandbox MODE`` (``force`` picks one, for tests and ``--layer``).

    The audit layer contains nothing: ``auto`` falls back to it with a loud warning, and in CI
    (``ci``, default: ``CI=true`` in the environment) not at all: there, only ``--sandbox off``
    runs workflows without an OS-level sandbox (the runner holds the repository's secrets).
    """
    if mode not in MODES:
        raise ValueError(f"--sandbox must be one of {', '.join(MODES)}")
    found = found or probe()
    if ci is None:
        ci = os.environ.get("CI") == "true"
    layer = _choose(mode, force, found)
    if ci and layer.name == "audit" and mode != "off":
        raise SandboxUnavailable(
            "no OS-level sandbox here (" + str(found.bwrap_error) + "), and in CI (CI=true) cwtest does not run "
            "workflows unsandboxed unless told to: the audit layer contains nothing (give --sandbox off to run "
            "them anyway)")
    return layer


def _choose(mode: str, force: str | None, found: Probe) -> Layer:
    if force is not None:
        if force not in LAYERS:
            raise ValueError(f"--layer must be one of {', '.join(LAYERS)}")
        if force not in found.available:
            why = found.bwrap_error if force == "bubblewrap" else "Landlock is not available in this kernel"
            raise SandboxUnavailable(f"the {force} layer cannot run here: {why}")
        if mode == "strict" and force == "audit":
            raise SandboxUnavailable("--sandbox strict needs an OS-level layer, not the audit hook")
        warning = None
        if force != "bubblewrap":
            warning = f"--layer {force}: " + str(_warning(force, found, reason="forced"))
        return Layer(force, found, warning)
    if mode == "off":
        return Layer("audit", found, _warning("audit", found, reason="--sandbox off"))
    for name in ("bubblewrap", "landlock"):
        if name in found.available:
            if mode == "strict" and found.seccomp_error is not None:
                raise SandboxUnavailable(f"--sandbox strict needs seccomp: {found.seccomp_error}")
            return Layer(name, found, _warning(name, found))
    if mode == "strict":
        raise SandboxUnavailable(
            f"--sandbox strict: no OS-level sandbox works here ({found.bwrap_error}; Landlock unavailable)")
    return Layer("audit", found, _warning("audit", found))


def _warning(name: str, found: Probe, reason: str | None = None) -> str | None:
    why = reason or f"bubblewrap is unavailable: {found.bwrap_error}"
    if name == "bubblewrap":
        return None if found.seccomp_error is None else f"seccomp is unavailable: {found.seccomp_error}"
    if name == "landlock":
        return (f"{why}; Landlock contains reads and writes (allow-lists), TCP (ABI >= 4), signals and abstract "
                f"Unix sockets (ABI >= 6), seccomp processes, UDP and other socket families; pathname Unix sockets on "
                f"the host stay reachable where their file permissions allow")
    return (f"NO SANDBOX ({why}; no Landlock either): the audit layer contains NOTHING: the workflow reads "
            f"and writes what your user can and reaches the network; cwtest only watches it (audit hook) and limits "
            f"it (rlimits, seccomp, and an unprivileged uid when cwtest runs as root)")


def format_size(size: int) -> str:
    """``2 GiB``, ``300 MiB``, ``1.5 GiB``: a limit as the report says it."""
    if size >= GIB:
        return f"{size / GIB:g} GiB"
    if size >= MIB:
        return f"{size / MIB:g} MiB"
    return f"{size} bytes"


@dataclass(frozen=True)
class Limits:
    """Resource limits of a workflow's process."""

    #: The platform's 2 GB: a memory cgroup's limit where one can be created, else RLIMIT_AS.
    memory: int = 2 * GIB
    cpu: int = 60  #: RLIMIT_CPU seconds (SIGXCPU, then SIGKILL a second later)
    nofile: int = 1024
    fsize: int = 64 * MIB
    tmpfs: int = 256 * MIB  #: size of each private tmpfs under bubblewrap (HOME, /tmp, /var/tmp)
    #: processes and threads (RLIMIT_NPROC where it binds: see ``WorkflowProcess``); FastAPI's
    #: thread pool holds 40, uvicorn and the child a few more
    tasks: int = 256

    def rlimits(self, address_space: bool = True) -> dict[str, int | None]:
        """The rlimits of ``Policy.rlimits``; ``address_space=False`` (a memory cgroup is the limit)
        leaves RLIMIT_AS as inherited (None: it is not set)."""
        return {"AS": self.memory if address_space else None, "CPU": self.cpu, "NOFILE": self.nofile,
                "FSIZE": self.fsize}
