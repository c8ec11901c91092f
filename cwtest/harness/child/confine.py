"""Confinement applied from inside a process: resource limits, Landlock, a seccomp program.

The parent decides what applies (``cwtest.harness.sandbox.Policy.confinement``) and writes it as
a spec, a JSON object::

    {"limits": {"AS": bytes or null, "CPU": seconds, "NOFILE": n, "FSIZE": bytes},
     "landlock": {"writable": [paths], "connect_ports": [ports], "network": false,
                  "required": true} or null,
     "seccomp": "path of a BPF program" or null,
     "env": [the names of the variables the command gets] (the launcher only)}

``apply(spec)`` applies it to this process and everything it later execs, in that order (the
seccomp program may deny ``setrlimit``). The workflow's child applies its config's spec before
anything of the workflow's is imported; the launcher (``python -I -B <this package>/__main__.py
--confine SPEC -- ARGV...``) applies a spec and execs another command, which is how a command
that cannot apply it itself runs under a policy outside bubblewrap.

Landlock is reached with ctypes (``syscall``), seccomp with ``prctl`` on a program the parent
built with libseccomp: this module needs no binding. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
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
    """Apply a spec (see the module docstring); returns warnings (Landlock not applied when optional)."""
    warnings = []
    apply_limits(spec.get("limits") or {})
    landlock = spec.get("landlock")
    if landlock:
        try:
            apply_landlock(landlock)
        except OSError as exc:
            if landlock.get("required"):
                raise
            warnings.append("Landlock not applied: %s" % exc)
    if spec.get("seccomp"):
        load_seccomp(spec["seccomp"])
    return warnings


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
        program = handle.read()
    if threading.active_count() != 1:
        raise RuntimeError("seccomp must be loaded before any thread starts")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    no_new_privs()
    if libc().prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


# Landlock, from <linux/landlock.h>; the syscall numbers are the same on every architecture.
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446
_FS_WRITE_RIGHTS = {  # access right -> first ABI that has it
    1 << 1: 1,   # WRITE_FILE
    1 << 4: 1, 1 << 5: 1,  # REMOVE_DIR, REMOVE_FILE
    1 << 6: 1, 1 << 7: 1, 1 << 8: 1, 1 << 9: 1, 1 << 10: 1, 1 << 11: 1, 1 << 12: 1,  # MAKE_*
    1 << 13: 2,  # REFER
    1 << 14: 3,  # TRUNCATE
}
_FILE_RIGHTS = (1 << 1) | (1 << 14)
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


def apply_landlock(spec: Dict[str, Any]) -> int:
    """Writes only under ``spec["writable"]``; unless ``spec["network"]``, TCP only to
    ``spec["connect_ports"]`` and no TCP bind (ABI >= 4); signals and abstract Unix sockets stay
    inside (ABI >= 6). Returns the ABI."""
    lib = libc()
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available")
    fs = 0
    for right, since in _FS_WRITE_RIGHTS.items():
        if abi >= since:
            fs |= right
    net = (_NET_BIND | _NET_CONNECT) if abi >= 4 and not spec.get("network") else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = lib.syscall(_LL_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in spec.get("writable", []):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                is_dir = os.path.isdir(path)
                rule = _PathBeneath(fs if is_dir else fs & _FILE_RIGHTS, fd)
                if lib.syscall(_LL_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), "landlock_add_rule %s failed" % path)
            finally:
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
