"""The sandbox as a policy for any command: what it reads, writes and reaches, turned into what to exec.

A ``Policy`` says what a sandboxed command may do; ``command(layer, policy, argv)`` turns it into
the command to exec in a layer (``cwtest.harness.sandbox``):

``bubblewrap``
    A root of its own, not the host's: only the system's programs and libraries (``/usr`` and the
    ``/bin``, ``/lib*`` links), the few ``/etc`` files the loader, TLS, name lookup and time zones
    read (``SYSTEM_ETC``), the policy's ``read`` paths read-only and its ``write`` paths
    read-write; its ``private`` directories and ``/tmp`` as size-capped tmpfs mounts; ``--dev``,
    and a ``/proc`` of its own PID namespace. No host home, ``/run``, ``/var``, ``/sys`` (so no
    cgroupfs) or ``/proc`` of other processes. Every namespace is unshared (the network too,
    unless ``network``).
``landlock``
    The same allow-list, as Landlock rules: reads (files, directories, execution) only beneath
    ``read``, the system paths, ``/proc/self`` and a few devices; writes only beneath ``private``
    and ``write``; TCP only to ``connect_ports`` and no TCP bind (ABI 4+, unless ``network``).
``audit``
    Nothing of the above: only the rlimits, seccomp and the identity (when cwtest runs as root).

``identity``: when cwtest runs as root, the command runs as an unprivileged uid and gid of its
own run (``run_identity``), in every layer. Under bubblewrap no user namespace is created then
(it would map the command to root outside); the command keeps only ``CAP_SETUID`` and
``CAP_SETGID`` until the launcher (or the workflow's child) switches to the identity, which
clears every capability. Outside bubblewrap the switch happens only when everything the command
reads after it is reachable by that identity (``unreachable``); otherwise it stays uid 0 with
every capability dropped, and the caller says so.

What must be applied inside the new process (rlimits; the identity; Landlock; seccomp outside
bubblewrap) is applied by the launcher, ``python -I -B -S cwtest/harness/child/__main__.py
--confine SPEC -- ARGV...``, which then execs ``argv``; unless ``applies_itself``: the workflow's
child applies ``policy.confinement(layer)`` itself, from its config, before anything of the
workflow's (its dependencies' ``.pth`` files included) runs.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cwtest.harness.sandbox import Layer, Limits

#: Host directories a sandboxed command gets an empty, size-capped tmpfs on under bubblewrap.
HIDDEN = ("/tmp", "/var/tmp")
#: The child package: the workflow's side, and the launcher that applies a policy for any command.
CHILD = Path(__file__).resolve().parent / "child"
#: The system's programs and libraries: read-only in every sandbox (links stay links).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The /etc files an interpreter and its libraries read: the loader's cache, TLS roots, name
#: lookup for localhost, time zones, MIME types. Nothing else of /etc (no passwd: see ``etc``).
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl", "/etc/ca-certificates",
              "/etc/pki", "/etc/crypto-policies", "/etc/localtime", "/etc/timezone", "/etc/hosts", "/etc/host.conf",
              "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/mime.types", "/etc/protocols", "/etc/services")
#: With the network: the resolver's configuration too.
NETWORK_ETC = ("/etc/resolv.conf",)
#: Devices a command may read under Landlock (bubblewrap's ``--dev`` holds only these and a tty).
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
#: The run identities: uid = gid, one per run, far above any system or subordinate range.
IDENTITY_BASE = 2_000_000_000
IDENTITY_SPAN = 1 << 24


def run_identity() -> tuple[int, int] | None:
    """A fresh unprivileged (uid, gid) for one run when cwtest runs as root, else None (cwtest's own
    user is unprivileged already; it has no other uid to give)."""
    if os.geteuid() != 0:
        return None
    ident = IDENTITY_BASE + secrets.randbelow(IDENTITY_SPAN)
    return ident, ident


def unreachable(paths: Iterable[Path], identity: tuple[int, int]) -> Path | None:
    """The first of ``paths`` (or a directory above one) that ``identity`` cannot reach: a directory
    it cannot search, or the path itself unreadable. None when all are reachable."""
    uid, gid = identity

    def allowed(st: os.stat_result, bits: int) -> bool:
        if st.st_uid == uid:
            return bool(st.st_mode & (bits << 6))
        if st.st_gid == gid:
            return bool(st.st_mode & (bits << 3))
        return bool(st.st_mode & bits)

    for path in paths:
        current = Path("/")
        for part in Path(os.path.abspath(path)).parts[1:]:
            try:
                st = os.stat(current)
            except OSError:
                return current
            if not allowed(st, 1):
                return current
            current = current / part
        try:
            st = os.stat(current)
        except OSError:
            continue  # does not exist: nothing to reach
        if not allowed(st, 4) or (stat.S_ISDIR(st.st_mode) and not allowed(st, 1)):
            return current
    return None


@dataclass(frozen=True)
class Policy:
    """What a sandboxed command may do; ``command(layer, policy, argv)`` turns it into what to exec.

    ``read``: host paths it reads (bound read-only, or Landlock read rules); ``write``: host paths it
    writes (bound read-write, Landlock write rules); ``private``: its own directories (a fresh tmpfs
    of ``tmpfs_size`` under bubblewrap, the host directory elsewhere); ``hide``: host directories
    that get an empty tmpfs under bubblewrap; ``etc``: files shown at an ``/etc`` path under
    bubblewrap (``{"/etc/passwd": host file}``); ``network``: the host's network (bubblewrap
    ``--share-net``, Landlock's TCP rules off) instead of none; ``connect_ports``: TCP ports it may
    connect to under Landlock; ``seccomp``: a BPF program's path loaded before it runs (stage 1: it
    must allow ``execve``); ``env``: exactly its environment; ``cwd``; ``rlimits``
    (``Limits.rlimits``); ``identity``: the unprivileged (uid, gid) it runs as (``run_identity``).
    """

    read: tuple[Path, ...] = ()
    write: tuple[Path, ...] = ()
    private: tuple[Path, ...] = ()
    hide: tuple[str, ...] = HIDDEN
    etc: Mapping[str, Path] = field(default_factory=dict)
    tmpfs_size: int = Limits.tmpfs
    network: bool = False
    connect_ports: tuple[int, ...] = ()
    seccomp: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    rlimits: Mapping[str, int | None] = field(default_factory=dict)
    identity: tuple[int, int] | None = None

    @classmethod
    def workflow(cls, *, home: Path, app: Path, readable: Sequence[Path], env: Mapping[str, str], limits: Limits,
                 address_space: bool, seccomp: Path | None, redis_port: int | None,
                 identity: tuple[int, int] | None = None, etc: Mapping[str, Path] | None = None) -> Policy:
        """The workflow's process: HOME (its cwd) a private tmpfs, only the app's socket directory
        writable besides, what it reads (its environment, the child package, the workflow, the
        control directory) bound, no network but the Redis port (Landlock), the limits."""
        return cls(read=tuple(readable), write=(app,), private=(home,), tmpfs_size=limits.tmpfs,
                   connect_ports=(redis_port,) if redis_port else (), seccomp=seccomp, env=dict(env), cwd=home,
                   rlimits=limits.rlimits(address_space=address_space), identity=identity, etc=dict(etc or {}))

    @property
    def writable(self) -> list[Path]:
        """Where the command may write (the audit hook's allow-list, Landlock's rules)."""
        return [*self.private, *self.write]

    def readable(self) -> list[str]:
        """Where the command may read under Landlock: its own paths, the system's, a few devices."""
        system = [*SYSTEM_DIRS, *SYSTEM_ETC, *(NETWORK_ETC if self.network else ()), "/etc/passwd", "/etc/group"]
        found = []
        for path in [*map(str, self.read), *system, *DEVICES]:
            if os.path.lexists(path):
                found.append(path)
                if os.path.islink(path):  # /bin -> usr/bin, /etc/localtime -> /usr/share/zoneinfo/...
                    found.append(os.path.realpath(path))
        return list(dict.fromkeys(found))

    def confinement(self, layer: Layer, seccomp: Path | None = None) -> dict[str, object]:
        """The part applied inside the process (``cwtest.harness.child.confine``'s spec): rlimits,
        the identity, Landlock (that layer only), and ``seccomp`` (default: the policy's, outside
        bubblewrap, which loads it itself)."""
        landlock = None
        if layer.name == "landlock":
            landlock = {"writable": [str(p) for p in self.writable] + ["/dev/null"], "readable": self.readable(),
                        "connect_ports": list(self.connect_ports), "network": self.network, "required": True}
        if seccomp is None and layer.name != "bubblewrap" and layer.seccomp:
            seccomp = self.seccomp
        return {"limits": dict(self.rlimits), "identity": list(self.identity) if self.identity else None,
                "landlock": landlock, "seccomp": str(seccomp) if seccomp else None}


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


def launcher_argv(spec: Mapping[str, object]) -> list[str]:
    """``python -I -B -S child/__main__.py --confine SPEC --`` on this interpreter (no site: nothing of
    any ``.pth`` file runs in it)."""
    return [sys.executable, "-I", "-B", "-S", str(CHILD / "__main__.py"), "--confine", json.dumps(spec), "--"]


def command(layer: Layer, policy: Policy, argv: Sequence[str | os.PathLike[str]], *,
            applies_itself: bool = False) -> Command:
    """The command that runs ``argv`` under ``policy`` in ``layer`` (see the module docstring)."""
    args = [os.fspath(a) for a in argv]
    spec = policy.confinement(layer)
    inside = bool(spec["landlock"] or spec["seccomp"] or spec["identity"]
                  or any(v is not None for v in policy.rlimits.values()))
    read = list(policy.read)
    if inside and not applies_itself:
        # The launcher's own interpreter is read (and, under Landlock, executed) too.
        read += [p for p in dict.fromkeys((CHILD, Path(sys.prefix), Path(sys.base_prefix))) if p not in read]
        spec = replace(policy, read=tuple(read)).confinement(layer)
        args = [*launcher_argv({**spec, "env": sorted(policy.env)}), *args]
    env = dict(policy.env)
    if layer.name != "bubblewrap":
        return Command(args, env, policy.cwd)
    assert layer.probe.bwrap is not None
    return _bwrap(layer.probe.bwrap, layer, policy, read, args, env)


def _bwrap(bwrap: str, layer: Layer, policy: Policy, read: list[Path], args: list[str],
           env: dict[str, str]) -> Command:
    size = str(policy.tmpfs_size)
    if policy.identity is None:
        out = [bwrap, "--unshare-all"] + (["--share-net"] if policy.network else []) + ["--cap-drop", "ALL"]
    else:  # no user namespace (it would map the command to root outside): the identity switch does it
        out = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        out += [] if policy.network else ["--unshare-net"]
        out += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    out += ["--die-with-parent", "--new-session"]
    etc = [p for p in (*SYSTEM_ETC, *(NETWORK_ETC if policy.network else ())) if p not in policy.etc]
    # Every directory above a mount point, searchable by anyone, outermost first (bwrap would make
    # them 0700: an identity could not read /etc, nor reach its own HOME).
    above: dict[str, None] = {}
    for path in (*etc, *policy.etc, *policy.hide, *map(str, read), *map(str, policy.write),
                 *map(str, policy.private)):
        for ancestor in reversed(Path(path).parents):
            if str(ancestor) != "/" and str(ancestor) not in SYSTEM_DIRS:
                above[str(ancestor)] = None
    for path in SYSTEM_DIRS:
        out += _show(path)
    for parent in above:
        if parent in ("/etc", "/var"):
            out += ["--perms", "0755", "--dir", parent]
    for path in etc:
        out += _show(path)
    for target, source in sorted(policy.etc.items()):
        out += ["--ro-bind", str(source), target]
    out += ["--dev", "/dev", "--proc", "/proc"]
    for hidden in policy.hide:
        out += ["--size", size, "--perms", "01777", "--tmpfs", hidden]
    for parent in above:
        if parent not in policy.hide and parent not in ("/etc", "/var"):
            out += ["--perms", "0755", "--dir", parent]
    for path in _outermost(read):
        out += ["--ro-bind", str(path), str(path)]
    for path in policy.write:
        out += ["--bind", str(path), str(path)]
    for path in policy.private:
        # The command's own (1777 when it switches to an identity: the tmpfs belongs to root).
        out += ["--size", size, "--perms", "01777" if policy.identity else "0700", "--tmpfs", str(path)]
    if policy.cwd is not None:
        out += ["--chdir", str(policy.cwd)]
    pass_fds: tuple[int, ...] = ()
    if policy.seccomp is not None and layer.seccomp:
        fd = os.open(policy.seccomp, os.O_RDONLY | os.O_CLOEXEC)
        pass_fds = (fd,)
        out += ["--seccomp", str(fd)]
    return Command(out + ["--", *args], env, policy.cwd, pass_fds)


def _outermost(paths: list[Path]) -> list[Path]:
    """``paths`` without those inside another of them (bound already, read-only, with it)."""
    ordered = list(dict.fromkeys(Path(os.path.abspath(p)) for p in paths))
    return [p for p in ordered if not any(o != p and o in p.parents for o in ordered)]


def _show(path: str) -> list[str]:
    """bwrap options that show a host system path as it is: a link as the same link, a directory or a
    file read-only; nothing when the host has none."""
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    if os.path.exists(path):
        return ["--ro-bind", path, path]
    return []
