"""Seccomp BPF programs for the workflow's process, built in the parent with libseccomp.

Two programs, both "allow by default, deny a list":

* ``stage 1`` denies every way to create a process (``fork``, ``vfork``, ``clone`` without
  ``CLONE_THREAD``, ``clone3``) and the kernel interfaces a workflow never needs (ptrace, mount,
  namespaces, bpf, io_uring, keyrings, module loading...). It still allows
  ``execve``, because bubblewrap loads it (``--seccomp FD``) and then execs python.
* ``stage 2`` is stage 1 plus ``execve``/``execveat``. The child loads it in-process, after its
  own imports and before the workflow's, from the bytes written here, with ``prctl`` only; so the
  child needs no libseccomp binding, and libseccomp is needed on the host only.

Threads stay allowed (FastAPI runs sync endpoints in a thread pool): ``clone`` is denied only when
``(flags & CLONE_THREAD) == 0``, a masked compare on the first argument. ``clone3`` passes its
flags behind a pointer that seccomp cannot read, so it is denied with ``ENOSYS``: glibc (2.34+)
then falls back to ``clone`` for threads, and process creation through ``clone3`` fails.

``RLIMIT_NPROC`` would not help: it does not bind root. libseccomp is reached with ctypes
(Debian's ``libseccomp2``, present on every Debian and Ubuntu system), so no Python binding is a
dependency.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import tempfile
from dataclasses import dataclass
from functools import lru_cache

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE = 1
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
CLONE_THREAD = 0x00010000


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


#: Syscalls no workflow needs; each is denied with EPERM in both stages.
DENIED = (
    "fork", "vfork",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "mount_setattr",
    "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "settimeofday", "clock_settime", "adjtimex",
)
#: Denied only in stage 2 (loaded in-process once python runs).
DENIED_AFTER_START = ("execve", "execveat")


class SeccompUnavailable(RuntimeError):
    """libseccomp is missing, or it refused to build the program."""


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp not found ({exc}); install Debian's libseccomp2") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def available() -> str | None:
    """None when programs can be built here, else why not."""
    try:
        _lib()
    except SeccompUnavailable as exc:
        return str(exc)
    return None


def _add(lib: ctypes.CDLL, ctx: int, action: int, name: str, *comparisons: _ArgCmp) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:
        return  # not a syscall on this architecture (e.g. fork on aarch64)
    array = (_ArgCmp * len(comparisons))(*comparisons) if comparisons else None
    rc = lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array)
    if rc < 0:
        raise SeccompUnavailable(f"libseccomp refused the rule for {name}: {os.strerror(-rc)}")


def build(deny_exec: bool, outside_namespaces: bool = False) -> bytes:
    """The BPF program (an array of ``struct sock_filter``) of stage 1, or stage 2 with ``deny_exec``.

    ``outside_namespaces`` (the Landlock and audit layers) adds two denials that bubblewrap makes
    unnecessary:

    * setting resource limits: without bubblewrap the workflow may run as root with
      ``CAP_SYS_RESOURCE`` and could raise its hard limits back (inside bubblewrap every capability
      is dropped, so raising a soft limit up to the hard one, which some libraries do for open
      files, stays allowed);
    * UDP, raw and packet sockets on IPv4/IPv6 (``socket()`` with a masked compare on the type):
      Landlock filters TCP only, and no workflow needs a datagram to reach the simulator.
    """
    lib = _lib()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        eperm = _errno_action(errno.EPERM)
        for name in DENIED + (DENIED_AFTER_START if deny_exec else ()):
            _add(lib, ctx, eperm, name)
        # clone(flags, ...): a process unless CLONE_THREAD is set.
        _add(lib, ctx, eperm, "clone", _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))
        _add(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        if outside_namespaces:
            _add(lib, ctx, eperm, "setrlimit")
            # prlimit64(pid, resource, new, old): reading limits is fine, setting them is not.
            _add(lib, ctx, eperm, "prlimit64", _ArgCmp(2, SCMP_CMP_NE, 0, 0))
            # socket(family, type, protocol): type carries SOCK_NONBLOCK/SOCK_CLOEXEC above 0xf.
            for family in (socket.AF_INET, socket.AF_INET6):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
                    _add(lib, ctx, eperm, "socket", _ArgCmp(0, SCMP_CMP_EQ, family, 0),
                         _ArgCmp(1, SCMP_CMP_MASKED_EQ, 0xF, int(kind)))
            _add(lib, ctx, eperm, "socket", _ArgCmp(0, SCMP_CMP_EQ, getattr(socket, "AF_PACKET", 17), 0))
        with tempfile.TemporaryFile() as out:
            rc = lib.seccomp_export_bpf(ctx, out.fileno())
            if rc < 0:
                raise SeccompUnavailable(f"seccomp_export_bpf failed: {os.strerror(-rc)}")
            out.seek(0)
            program = out.read()
    finally:
        lib.seccomp_release(ctx)
    if not program or len(program) % 8:
        raise SeccompUnavailable("libseccomp exported an empty or truncated program")
    return program


@dataclass(frozen=True)
class Programs:
    stage1: bytes
    stage2: bytes


@lru_cache(maxsize=2)
def programs(outside_namespaces: bool = False) -> Programs:
    """Both programs, built once per process (building takes about a millisecond)."""
    return Programs(build(False, outside_namespaces), build(True, outside_namespaces))
