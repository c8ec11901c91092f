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
from functools import cache, lru_cache

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_NOTIFY = 0x7FC00000
SCMP_CMP_NE = 1
SCMP_CMP_EQ = 4
SCMP_CMP_GE = 5
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
#: The socket families a workflow may create: Unix sockets and TCP/IP. Every other family (netlink,
#: packet, Bluetooth, vsock, alg, ...) is one no layer governs: ``socket()`` fails with EAFNOSUPPORT.
ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)
#: Past the last family any kernel knows (AF_MAX is 46 in 6.x).
FAMILY_LIMIT = 64
#: On IPv4/IPv6, protocols other than TCP's that a SOCK_STREAM socket may ask for: MPTCP (262),
#: which Landlock's TCP rules do not cover (it connected where TCP was denied), and SCTP (132).
DENIED_PROTOCOLS = (262, 132)
#: Changing a file's owner, mode or extended attributes: Landlock does not govern these, so outside
#: a namespace, for a process that runs as the user or as root without capabilities, they are denied
#: (a workflow could otherwise make the user's private files readable to everyone).
DENIED_OWNERSHIP = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
                    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr")


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


def build(deny_exec: bool, outside_namespaces: bool = False, *, processes: bool = False,
          ownership: bool = False) -> bytes:
    """The BPF program (an array of ``struct sock_filter``) of stage 1, or stage 2 with ``deny_exec``.

    ``outside_namespaces`` (the Landlock and audit layers) adds two denials that bubblewrap makes
    unnecessary:

    * setting resource limits: without bubblewrap the workflow may run as root with
      ``CAP_SYS_RESOURCE`` and could raise its hard limits back (inside bubblewrap every capability
      is dropped, so raising a soft limit up to the hard one, which some libraries do for open
      files, stays allowed);
    * UDP, raw and packet sockets on IPv4/IPv6 (``socket()`` with a masked compare on the type):
      Landlock filters TCP only, and no workflow needs a datagram to reach the simulator.

    In every layer, sockets of a family other than Unix and TCP/IP (``ALLOWED_FAMILIES``), and
    MPTCP, SCTP or SEQPACKET sockets on IPv4/IPv6, are refused. ``processes=True`` allows new
    processes (an environment build: uv runs python, a build backend runs compilers);
    ``ownership=True`` denies changing owners, modes and extended attributes (``DENIED_OWNERSHIP``).
    """
    lib = _lib()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        eperm = _errno_action(errno.EPERM)
        denied = DENIED if not processes else tuple(n for n in DENIED if n not in ("fork", "vfork"))
        for name in denied + (DENIED_AFTER_START if deny_exec else ()) + (DENIED_OWNERSHIP if ownership else ()):
            _add(lib, ctx, eperm, name)
        if not processes:
            # clone(flags, ...): a process unless CLONE_THREAD is set.
            _add(lib, ctx, eperm, "clone", _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))
            _add(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        nofamily = _errno_action(errno.EAFNOSUPPORT)
        for family in range(FAMILY_LIMIT):
            if family not in ALLOWED_FAMILIES:
                _add(lib, ctx, nofamily, "socket", _ArgCmp(0, SCMP_CMP_EQ, family, 0))
        _add(lib, ctx, nofamily, "socket", _ArgCmp(0, SCMP_CMP_GE, FAMILY_LIMIT, 0))
        noproto = _errno_action(errno.EPROTONOSUPPORT)
        for family in (socket.AF_INET, socket.AF_INET6):
            for protocol in DENIED_PROTOCOLS:
                _add(lib, ctx, noproto, "socket", _ArgCmp(0, SCMP_CMP_EQ, family, 0),
                     _ArgCmp(2, SCMP_CMP_EQ, protocol, 0))
            _add(lib, ctx, noproto, "socket", _ArgCmp(0, SCMP_CMP_EQ, family, 0),
                 _ArgCmp(1, SCMP_CMP_MASKED_EQ, 0xF, int(socket.SOCK_SEQPACKET)))
        if outside_namespaces:
            _add(lib, ctx, eperm, "setrlimit")
            # prlimit64(pid, resource, new, old): reading limits is fine, setting them is not.
            _add(lib, ctx, eperm, "prlimit64", _ArgCmp(2, SCMP_CMP_NE, 0, 0))
            # socket(family, type, protocol): type carries SOCK_NONBLOCK/SOCK_CLOEXEC above 0xf.
            for family in (socket.AF_INET, socket.AF_INET6):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
                    _add(lib, ctx, eperm, "socket", _ArgCmp(0, SCMP_CMP_EQ, family, 0),
                         _ArgCmp(1, SCMP_CMP_MASKED_EQ, 0xF, int(kind)))
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


#: What the observer (``cwtest.harness.observe``) sees from outside the workflow's process: the
#: syscalls that reach out (connect, bind, listen, sendto with an address), that write to a path
#: (open for writing, create, remove, rename, link, truncate), and that start a process. The parent
#: answers each: the first two kinds go on (the kernel's layers decide), process creation is
#: refused (EPERM). ``clone3`` fails with ENOSYS in the program itself, so glibc falls back to
#: ``clone`` for threads (not watched) and for processes (watched).
NOTIFIED_NET = ("connect", "bind", "listen")
NOTIFIED_PATHS = ("creat", "openat2", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
                  "renameat2", "link", "linkat", "symlink", "symlinkat", "truncate", "mknod", "mknodat")
NOTIFIED_PROCESSES = ("fork", "vfork", "execve", "execveat")
_WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC)


def notify_program() -> bytes:
    """The observer's program: ``SCMP_ACT_NOTIFY`` for the syscalls above, everything else allowed."""
    lib = _lib()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        for name in (*NOTIFIED_NET, *NOTIFIED_PATHS, *NOTIFIED_PROCESSES):
            _add(lib, ctx, SCMP_ACT_NOTIFY, name)
        _add(lib, ctx, SCMP_ACT_NOTIFY, "sendto", _ArgCmp(4, SCMP_CMP_NE, 0, 0))  # with an address
        for flag in _WRITE_FLAGS:
            _add(lib, ctx, SCMP_ACT_NOTIFY, "open", _ArgCmp(1, SCMP_CMP_MASKED_EQ, flag, flag))
            _add(lib, ctx, SCMP_ACT_NOTIFY, "openat", _ArgCmp(2, SCMP_CMP_MASKED_EQ, flag, flag))
        _add(lib, ctx, SCMP_ACT_NOTIFY, "clone", _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))
        # clone3's flags are behind a pointer: refused here without a round trip (glibc then
        # creates threads with clone, and a process through clone, which is watched).
        _add(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    with tempfile.TemporaryFile() as out:
        rc = lib.seccomp_export_bpf(ctx, out.fileno())
        if rc < 0:
            raise SeccompUnavailable(f"seccomp_export_bpf failed: {os.strerror(-rc)}")
        out.seek(0)
        program = out.read()
    if not program or len(program) % 8:
        raise SeccompUnavailable("libseccomp exported an empty or truncated program")
    return program


@cache
def syscall_name(number: int) -> str:
    """The name of a syscall number on this architecture (``connect``), for the observer."""
    lib = _lib()
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
    pointer = lib.seccomp_syscall_resolve_num_arch(0, number)  # 0: the native architecture
    if not pointer:
        return str(number)
    name = ctypes.string_at(pointer).decode()
    ctypes.CDLL(None).free(ctypes.c_void_p(pointer))
    return name


@dataclass(frozen=True)
class Programs:
    """The workflow's programs. With ``notify``, process creation is left to the observer's program
    (which refuses it, and so sees it); ``processes`` is the fallback that refuses it with EPERM
    where the observer's program cannot be installed."""

    stage1: bytes
    stage2: bytes
    notify: bytes | None = None
    processes: bytes | None = None


@lru_cache(maxsize=8)
def programs(outside_namespaces: bool = False, ownership: bool = False, notify: bool = False) -> Programs:
    """The workflow's programs, built once per process (building takes about a millisecond)."""
    if not notify:
        return Programs(build(False, outside_namespaces, ownership=ownership),
                        build(True, outside_namespaces, ownership=ownership))
    stage = build(False, outside_namespaces, processes=True, ownership=ownership)
    return Programs(stage, stage, notify_program(), processes_program())


@lru_cache(maxsize=1)
def processes_program() -> bytes:
    """Refuse every way to start a process (the observer's fallback)."""
    lib = _lib()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        eperm = _errno_action(errno.EPERM)
        for name in ("fork", "vfork", *DENIED_AFTER_START):
            _add(lib, ctx, eperm, name)
        _add(lib, ctx, eperm, "clone", _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))
        _add(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


@lru_cache(maxsize=1)
def build_program() -> bytes:
    """The program of an environment build: processes allowed (uv runs python), datagrams too (the
    resolver), the kernel interfaces and the socket families a build never needs denied."""
    return build(False, processes=True)
