"""Confinement applied from inside a process: resource limits, Landlock, a seccomp program.

The parent decides what applies (``cwtest.harness.policy.Policy.confinement``) and writes it as
a spec, a JSON object::

    {"limits": {"AS": bytes or null, "CPU": seconds, "NOFILE": n, "FSIZE": bytes, "NPROC": n},
     "identity": [uid, gid] or null,
     "landlock": {"writable": [paths], "readable": [paths] or null, "connect_ports": [ports],
                  "network": false, "required": true} or null,
     "seccomp": "path of a BPF program" or null,
     "env": [the names of the variables the command gets] (the launcher only)}

``apply(spec)`` applies it to this process and everything it later execs: rlimits, the identity
(an unprivileged uid and gid when cwtest runs as root) and the loss of every capability,
Landlock, then seccomp (which may deny ``setrlimit``). The workflow's child applies its config's
spec before anything of the workflow's runs (it starts without ``site``, so not even a
dependency's ``.pth`` file); the launcher (``python -I -B -S <this package>/__main__.py --confine
SPEC -- ARGV...``) applies a spec and execs another command, which is how a command that cannot
apply it itself runs under a policy.

Landlock is reached with ctypes (``syscall``), seccomp with ``prctl`` on a program the parent
built with libseccomp: this module needs no binding. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

_libc = None


def libc() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def apply(spec: Dict[str, Any]) -> List[str]:
    """Apply a spec (see the module docstring); returns warnings (Landlock not applied when optional).

    In this order: the seccomp program is read (before the identity switch, which may not read
    it); rlimits; capabilities and the identity (an unprivileged uid and gid, or, as root without
    one, uid 0 with every capability dropped); Landlock; seccomp (which may deny ``setrlimit``).
    """
    warnings = []
    program = None
    if spec.get("seccomp"):
        with open(spec["seccomp"], "rb") as handle:
            program = handle.read()
    apply_limits(spec.get("limits") or {})
    identity = spec.get("identity")
    if identity:
        switch_identity(int(identity[0]), int(identity[1]))
    drop_capabilities()
    landlock = spec.get("landlock")
    if landlock:
        try:
            apply_landlock(landlock)
        except OSError as exc:
            if landlock.get("required"):
                raise
            warnings.append("Landlock not applied: %s" % exc)
    if program is not None:
        load_seccomp_program(program)
    return warnings


def switch_identity(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no supplementary group: every capability goes with uid 0."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError(errno.EPERM, "could not switch to uid %d, gid %d" % (uid, gid))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """No capability left, none to regain: the bounding set (where this process may still change
    it), the ambient set, then effective, permitted and inheritable; as uid 0, the securebits that
    make uid 0 grant nothing, locked. A process without capabilities changes nothing."""
    lib = libc()
    if os.geteuid() == 0:
        for cap in range(64):
            if lib.prctl(24, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:  # PR_CAPBSET_DROP
                break  # past the last capability this kernel knows
        # SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS off, SECBIT_NO_CAP_AMBIENT_RAISE, all locked
        lib.prctl(28, 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80, 0, 0, 0)  # PR_SET_SECUREBITS
    lib.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if lib.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def apply_limits(limits: Dict[str, Optional[int]]) -> None:
    import resource

    for name, value in limits.items():
        which = getattr(resource, "RLIMIT_" + name, None)
        if which is None or value is None:
            continue
        soft = hard = int(value)
        if name == "CPU":
            hard = soft + 1  # SIGXCPU at the soft limit (reported with the stack), SIGKILL a second later
        current = resource.getrlimit(which)[1]
        if current != resource.RLIM_INFINITY:
            hard = min(hard, current)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def no_new_privs() -> None:
    if libc().prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(path: str) -> None:
    """Load a BPF program the parent built (an array of struct sock_filter) on this thread."""
    with open(path, "rb") as handle:
        load_seccomp_program(handle.read())


def load_seccomp_program(program: bytes) -> None:
    """Load a BPF program (an array of struct sock_filter) on this thread, with no new privileges."""
    if threading.active_count() != 1:
        raise RuntimeError("seccomp must be loaded before any thread starts")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    no_new_privs()
    if libc().prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


#: seccomp(2)'s number, for the architectures cwtest runs on.
_SECCOMP_SYSCALL = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348}
_NEW_LISTENER, _WAIT_KILLABLE_RECV = 1 << 3, 1 << 5


def install_notifier(program: bytes) -> int:
    """Load a program that sends ``SCMP_ACT_NOTIFY`` syscalls to a listener; returns the listener's
    descriptor (for the parent, which answers them). With no new privileges; one thread only."""
    import platform

    if threading.active_count() != 1:
        raise RuntimeError("seccomp must be loaded before any thread starts")
    number = _SECCOMP_SYSCALL.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, "no seccomp(2) number for %s" % platform.machine())
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    no_new_privs()
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    for flags in (_NEW_LISTENER | _WAIT_KILLABLE_RECV, _NEW_LISTENER):  # killable waits: Linux 5.19+
        fd = lib.syscall(number, 1, flags, ctypes.byref(fprog))  # SECCOMP_SET_MODE_FILTER
        if fd >= 0:
            return int(fd)
        error = ctypes.get_errno()
        if error != errno.EINVAL:
            break
    raise OSError(error, "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER) failed")


# Landlock, from <linux/landlock.h>; the syscall numbers are the same on every architecture.
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446
_FS_WRITE_RIGHTS = {  # access right -> first ABI that has it
    1 << 1: 1,   # WRITE_FILE
    1 << 4: 1, 1 << 5: 1,  # REMOVE_DIR, REMOVE_FILE
    1 << 6: 1, 1 << 7: 1, 1 << 8: 1, 1 << 9: 1, 1 << 10: 1, 1 << 11: 1, 1 << 12: 1,  # MAKE_*
    1 << 13: 2,  # REFER
    1 << 14: 3,  # TRUNCATE
}
#: EXECUTE, READ_FILE, READ_DIR (ABI 1).
_READ_RIGHTS = (1 << 0) | (1 << 2) | (1 << 3)
#: The rights a rule on a file (not a directory) may carry: EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE.
_FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14)
_NET_BIND, _NET_CONNECT = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def landlock_abi() -> int:
    try:
        lib = libc()
        lib.syscall.restype = ctypes.c_long
        abi = lib.syscall(_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # ..._CREATE_RULESET_VERSION
    except (OSError, AttributeError):
        return 0
    return int(abi) if abi > 0 else 0


#: Kept open for the life of the process: the /proc/<pid> directory its ``/proc/self`` rule names.
_PROC_SELF: List[int] = []


def apply_landlock(spec: Dict[str, Any]) -> int:
    """Writes only under ``spec["writable"]``; with ``spec["readable"]`` (a list), reads and
    execution only under those, the writable paths and this process's own ``/proc/self``; unless
    ``spec["network"]``, TCP only to ``spec["connect_ports"]`` and no TCP bind (ABI >= 4); signals
    and abstract Unix sockets stay inside (ABI >= 6). Returns the ABI."""
    lib = libc()
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available")
    fs = 0
    for right, since in _FS_WRITE_RIGHTS.items():
        if abi >= since:
            fs |= right
    readable = spec.get("readable")
    if readable is not None:
        fs |= _READ_RIGHTS
    net = (_NET_BIND | _NET_CONNECT) if abi >= 4 and not spec.get("network") else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = lib.syscall(_LL_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = [(path, fs) for path in spec.get("writable", [])]
        if readable is not None:
            rules += [(path, _READ_RIGHTS) for path in readable]
            if not _PROC_SELF:
                _PROC_SELF.append(os.open("/proc/self", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
            rules.append((_PROC_SELF[0], _READ_RIGHTS))
        for path, rights in rules:
            try:
                fd = path if isinstance(path, int) else os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # nothing there to allow
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    rights &= _FILE_RIGHTS
                rule = _PathBeneath(rights, fd)
                if lib.syscall(_LL_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), "landlock_add_rule %s failed" % path)
            finally:
                if not isinstance(path, int):
                    os.close(fd)
        if net:
            for port in spec.get("connect_ports", []):
                port_rule = _NetPort(_NET_CONNECT, int(port))
                if lib.syscall(_LL_ADD_RULE, ruleset, 2, ctypes.byref(port_rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), "landlock_add_rule port %s failed" % port)
        no_new_privs()
        if lib.syscall(_LL_RESTRICT, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


def launch(argv: Sequence[str]) -> None:
    """The launcher: ``--confine SPEC -- COMMAND...``: apply SPEC (JSON), then exec COMMAND.

    Never returns; a spec that cannot be applied ends the process with status 126, a command that
    cannot be executed with 127 (as a shell does), each with one line on stderr.
    """
    import sys

    if len(argv) < 4 or argv[0] != "--confine" or argv[2] != "--":
        sys.stderr.write("usage: __main__.py --confine SPEC -- COMMAND [ARG...]\n")
        os._exit(2)
    try:
        for warning in apply(json.loads(argv[1])):
            sys.stderr.write("cwtest: %s\n" % warning)
    except (OSError, ValueError, RuntimeError) as exc:
        sys.stderr.write("cwtest: the sandbox policy could not be applied: %s\n" % exc)
        sys.stderr.flush()
        os._exit(126)
    sys.stderr.flush()
    command = list(argv[3:])
    names = json.loads(argv[1]).get("env")
    if names is not None:  # exactly these: Python's start may have added LC_CTYPE (PEP 538)
        for name in list(os.environ):
            if name not in names:
                del os.environ[name]
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write("cwtest: cannot execute %s: %s\n" % (command[0], exc))
        sys.stderr.flush()
        os._exit(127)
