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

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

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
                 "landlock": f"Landlock ABI {self.probe.landlock_abi} (writes, TCP)",
                 "audit": "audit hook only (NOT contained)"}[self.name]
        parts += " + seccomp" if self.seccomp else " (no seccomp: " + str(self.probe.seccomp_error) + ")"
        return parts + f" + rlimits + timeout; memory limit: {self.memory_mode}"

    def as_json(self) -> dict[str, object]:
        return {"layer": self.name, "description": self.describe(), "warning": self.warning,
                "memory_mode": self.memory_mode, "probe": self.probe.as_json()}


def choose(mode: str = "auto", force: str | None = None, found: Probe | None = None) -> Layer:
    """The layer for ``--sandbox MODE`` (``force`` picks one, for tests and ``--layer``)."""
    if mode not in MODES:
        raise ValueError(f"--sandbox must be one of {', '.join(MODES)}")
    found = found or probe()
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
        return (f"{why}; Landlock contains writes and TCP (ABI >= 4), seccomp processes and UDP; pathname Unix "
                f"sockets and reads stay open")
    return (f"NO SANDBOX ({why}; no Landlock either): the workflow runs with your privileges; cwtest only "
            f"watches it (audit hook) and limits it (rlimits, seccomp)")


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
    tmpfs: int = 256 * MIB  #: size of each private tmpfs under bubblewrap (HOME, /tmp, /run, /var/tmp)

    def rlimits(self, address_space: bool = True) -> dict[str, int | None]:
        """The rlimits of ``Policy.rlimits``; ``address_space=False`` (a memory cgroup is the limit)
        leaves RLIMIT_AS as inherited (None: it is not set)."""
        return {"AS": self.memory if address_space else None, "CPU": self.cpu, "NOFILE": self.nofile,
                "FSIZE": self.fsize}


#: Host directories a sandboxed command gets an empty tmpfs over, under bubblewrap (where other
#: processes keep sockets and temporary files); each only where it is a real directory.
HIDDEN = ("/tmp", "/run", "/var/tmp")
#: The child package: the workflow's side, and the launcher that applies a policy for any command.
CHILD = Path(__file__).resolve().parent / "child"


@dataclass(frozen=True)
class Policy:
    """What a sandboxed command may do; ``command(layer, policy, argv)`` turns it into what to exec.

    Under bubblewrap every namespace is unshared (the network too, unless ``network``), the root
    is read-only, ``hide`` gets empty tmpfs mounts, then ``read`` and ``write`` are bound (read-only,
    read-write), then each of ``private`` is a fresh tmpfs; all tmpfs mounts hold ``tmpfs_size``.
    Under Landlock, ``private`` and ``write`` are the only writable places and (unless ``network``)
    TCP reaches ``connect_ports`` only; ``read`` and ``hide`` do not apply (reads stay open). In
    every layer, ``rlimits`` (``Limits.rlimits``) and ``seccomp`` (a BPF program's path, stage 1:
    it must allow ``execve``) apply before the command runs, which gets exactly ``env``, in ``cwd``.
    """

    read: tuple[Path, ...] = ()
    write: tuple[Path, ...] = ()
    private: tuple[Path, ...] = ()
    hide: tuple[str, ...] = HIDDEN
    tmpfs_size: int = Limits.tmpfs
    network: bool = False
    connect_ports: tuple[int, ...] = ()
    seccomp: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    rlimits: Mapping[str, int | None] = field(default_factory=dict)

    @classmethod
    def workflow(cls, *, home: Path, app: Path, readable: Sequence[Path], env: Mapping[str, str], limits: Limits,
                 address_space: bool, seccomp: Path | None, redis_port: int | None) -> Policy:
        """The workflow's process: HOME (its cwd) a private tmpfs, only the app's socket directory
        writable besides, what it reads (its environment, the child package, the workflow, the
        control directory) bound, no network but the Redis port (Landlock), the limits."""
        return cls(read=tuple(readable), write=(app,), private=(home,), tmpfs_size=limits.tmpfs,
                   connect_ports=(redis_port,) if redis_port else (), seccomp=seccomp, env=dict(env), cwd=home,
                   rlimits=limits.rlimits(address_space=address_space))

    @property
    def writable(self) -> list[Path]:
        """Where the command may write (the audit hook's allow-list, Landlock's rules)."""
        return [*self.private, *self.write]

    def confinement(self, layer: Layer, seccomp: Path | None = None) -> dict[str, object]:
        """The part applied inside the process (``cwtest.harness.child.confine``'s spec): rlimits,
        Landlock (that layer only), and ``seccomp`` (default: the policy's, outside bubblewrap,
        which loads it itself)."""
        landlock = None
        if layer.name == "landlock":
            landlock = {"writable": [str(p) for p in self.writable] + ["/dev/null"],
                        "connect_ports": list(self.connect_ports), "network": self.network, "required": True}
        if seccomp is None and layer.name != "bubblewrap" and layer.seccomp:
            seccomp = self.seccomp
        return {"limits": dict(self.rlimits), "landlock": landlock, "seccomp": str(seccomp) if seccomp else None}


@dataclass
class Command:
    """What to exec for a sandboxed command: ``subprocess.Popen(c.argv, env=c.env, cwd=c.cwd,
    pass_fds=c.pass_fds)``, then ``close()`` (the parent's copies of the passed descriptors)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path | None
    pass_fds: tuple[int, ...] = ()

    def close(self) -> None:
        for fd in self.pass_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.pass_fds = ()

    def __enter__(self) -> Command:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def command(layer: Layer, policy: Policy, argv: Sequence[str | os.PathLike[str]], *,
            applies_itself: bool = False) -> Command:
    """The command that runs ``argv`` under ``policy`` in ``layer``.

    Under bubblewrap, bwrap's own options apply the namespaces, the mounts and the seccomp
    program. What must be applied inside the process (rlimits; Landlock; seccomp outside
    bubblewrap) is applied by the launcher (``child/__main__.py --confine SPEC -- ARGV``, on this
    interpreter), which then execs ``argv``; unless ``applies_itself``: the command applies
    ``policy.confinement(layer)`` itself (the workflow's child does, from its config, because it
    loads a second seccomp stage after its interpreter has started).
    """
    args = [os.fspath(a) for a in argv]
    spec = policy.confinement(layer)
    inside = bool(spec["landlock"] or spec["seccomp"] or any(v is not None for v in policy.rlimits.values()))
    read = list(policy.read)
    if inside and not applies_itself:
        launcher = Path(sys.executable)
        spec = {**spec, "env": sorted(policy.env)}
        args = [str(launcher), "-I", "-B", str(CHILD / "__main__.py"), "--confine", json.dumps(spec), "--", *args]
        read += [p for p in dict.fromkeys((CHILD, Path(sys.prefix), Path(sys.base_prefix))) if p not in read]
    env = dict(policy.env)
    if layer.name != "bubblewrap":
        return Command(args, env, policy.cwd)
    assert layer.probe.bwrap is not None
    size = str(policy.tmpfs_size)
    out = [layer.probe.bwrap, "--unshare-all"] + (["--share-net"] if policy.network else []) + [
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev",
        "--proc", "/proc"]
    for hidden in policy.hide:
        if Path(hidden).is_dir() and not Path(hidden).is_symlink():
            out += ["--size", size, "--tmpfs", hidden]
    for path in read:
        out += ["--ro-bind", str(path), str(path)]
    for path in policy.write:
        out += ["--bind", str(path), str(path)]
    for path in policy.private:
        out += ["--size", size, "--tmpfs", str(path)]
    if policy.cwd is not None:
        out += ["--chdir", str(policy.cwd)]
    pass_fds: tuple[int, ...] = ()
    if policy.seccomp is not None and layer.seccomp:
        fd = os.open(policy.seccomp, os.O_RDONLY | os.O_CLOEXEC)
        pass_fds = (fd,)
        out += ["--seccomp", str(fd)]
    return Command(out + ["--", *args], env, policy.cwd, pass_fds)
