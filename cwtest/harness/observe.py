"""What the workflow's process tries, seen from outside it: a seccomp user-notification supervisor.

The child reports attempts through its audit hook, but it shares its process with the workflow,
which can silence it (``channel._sock = None``) or forge its messages. So the child also installs,
before anything of the workflow's runs, a seccomp program (``seccomp.notify_program``) whose
notifications go to a listener descriptor it hands to the parent over ``ctl/notify.sock``
(``SCM_RIGHTS``); from then on the kernel stops each watched syscall until ``Observer`` answers:

* ``connect``, ``bind``, ``listen``, ``sendto`` with an address: recorded with the address (read
  from the process's memory), then let through (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``): the
  kernel's layers (the network namespace, Landlock) decide, the observer only sees;
* writes to a path (``open``/``openat`` for writing, ``creat``, ``mkdir``, ``unlink``,
  ``rename``, ``link``, ``symlink``, ``truncate``...): recorded with the path, then let through;
* ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``, ``clone3``, ``execve``,
  ``execveat``: recorded and refused (EPERM; ENOSYS for ``clone3``, so glibc creates threads
  with ``clone``). If the parent is gone, the kernel fails them (ENOSYS): never allowed.

Only the parent decides what a record means (``Observed``): an attempt to reach something other
than the run's own sockets, a write outside HOME and the app's directory, a process. The records
are the workflow's conduct whatever its process says: a workflow that silences its child is still
judged by them (``cwtest.harness.collect``). Letting a call through after reading its arguments
is racy (another thread may change the memory in between): the observer is an observer, never
the boundary; the boundary stays the kernel's layers.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cwtest.harness import seccomp

_RECV = 0xC0502100  # SECCOMP_IOCTL_NOTIF_RECV: _IOWR('!', 0, struct seccomp_notif)
_SEND = 0xC0182101  # SECCOMP_IOCTL_NOTIF_SEND: _IOWR('!', 1, struct seccomp_notif_resp)
_NOTIF = struct.Struct("<QIIiIQ6Q")  # id, pid, flags, nr, arch, instruction pointer, args
_RESP = struct.Struct("<QqiI")  # id, val, error, flags
_CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE
_AT_FDCWD = -100
#: At most this many distinct records are kept (each with its count); later new ones are counted.
MAX_RECORDS = 200
_PATH_ARGS = {  # syscall -> (dirfd argument or None, path argument) of the path written
    "open": (None, 0), "creat": (None, 0), "openat": (0, 1), "openat2": (0, 1), "mkdir": (None, 0),
    "mkdirat": (0, 1), "rmdir": (None, 0), "unlink": (None, 0), "unlinkat": (0, 1), "rename": (None, 1),
    "renameat": (2, 3), "renameat2": (2, 3), "link": (None, 1), "linkat": (2, 3), "symlink": (None, 1),
    "symlinkat": (1, 2), "truncate": (None, 0), "mknod": (None, 0), "mknodat": (0, 1),
}
_PROCESS = {"fork", "vfork", "clone", "clone3", "execve", "execveat"}
_CLONE_THREAD = 0x00010000
#: The C library's name service cache: every name lookup tries it first.
_NSCD = {"/var/run/nscd/socket", "/run/nscd/socket"}
_LOOPBACK = ("127.0.0.1:", "[::1]:")


@dataclass
class Record:
    """One kind of attempt seen from outside: ``kind`` (``network``, ``bind``, ``fs-write``,
    ``process``), the syscall, its target, whether the run may do it, and how often."""

    kind: str
    call: str
    target: str
    allowed: bool
    count: int = 1

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "call": self.call, "target": self.target, "allowed": self.allowed,
                "count": self.count}


class Observer:
    """Receives the child's listener on ``socket_path`` and answers its notifications in a thread.

    ``unix``: the run's own Unix sockets (connecting to them is allowed); ``app_socket``: where the
    child binds; ``writable``: the directories it may write; ``tcp_ports``: TCP ports it may
    connect to; ``layer``: the sandbox layer (under bubblewrap the network is a namespace of its
    own, where loopback holds only the sandbox; Landlock allows no TCP bind).
    """

    def __init__(self, socket_path: Path, *, unix: Iterable[Path], app_socket: Path, writable: Iterable[Path],
                 tcp_ports: Iterable[int], layer: str) -> None:
        self.socket_path = socket_path
        self.unix = {str(p) for p in unix}
        self.app_socket = str(app_socket)
        self.writable = [str(p) for p in writable]
        self.tcp_ports = set(tcp_ports)
        self.layer = layer
        self.namespaces = layer == "bubblewrap"
        self.records: dict[tuple[str, str, str], Record] = {}
        self.dropped = 0
        #: True once the child handed over its listener: everything after is seen.
        self.watching = False
        self._binds: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(socket_path))
        self._listener.listen(1)
        self._thread = threading.Thread(target=self._run, daemon=True, name="cwtest-observer")

    def start(self) -> Observer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)

    def observed(self, allowed: bool = False) -> list[Record]:
        """The records (the ones the run may do too, with ``allowed``), most frequent first."""
        with self._lock:
            found = [r for r in self.records.values() if allowed or not r.allowed]
        return sorted(found, key=lambda r: (-r.count, r.kind, r.target))

    # --- the supervisor --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        try:
            with conn:
                _msg, fds, _flags, _addr = socket.recv_fds(conn, 1, 1)
        except OSError:
            return
        if not fds:
            return
        fd = fds[0]
        self.watching = True
        try:
            self._serve(fd)
        finally:
            os.close(fd)

    def _serve(self, fd: int) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            events = poller.poll(200)
            if not events:
                continue
            if any(flag & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _fd, flag in events):
                return  # the process is gone
            buffer = bytearray(_NOTIF.size)
            try:
                fcntl.ioctl(fd, _RECV, buffer, True)
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.ENOENT):
                    continue
                return
            ident, pid, _flags, number, _arch, _ip, *args = _NOTIF.unpack(buffer)
            error, flags = self._decide(pid, seccomp.syscall_name(number), args)
            try:
                fcntl.ioctl(fd, _SEND, bytearray(_RESP.pack(ident, 0, error, flags)), True)
            except OSError:
                pass  # the thread was interrupted or died meanwhile

    def _decide(self, pid: int, call: str, args: list[int]) -> tuple[int, int]:
        """(error, flags) of the answer: go on (``CONTINUE``), or fail with ``-error``."""
        try:
            if call in _PROCESS:
                target = ""
                if call == "clone3":  # struct clone_args {u64 flags; ...}: glibc tries it for threads too
                    flags = self._memory(pid, args[0], 8)
                    if len(flags) == 8 and struct.unpack("<Q", flags)[0] & _CLONE_THREAD:
                        return -errno.ENOSYS, 0  # a thread: glibc falls back to clone(), which is not watched
                if call in ("execve", "execveat"):
                    target = self._string(pid, args[0] if call == "execve" else args[1])
                self._record("process", call, target or call, False)
                return (-errno.ENOSYS if call == "clone3" else -errno.EPERM), 0
            if call in ("connect", "bind", "sendto"):
                pointer, length = (args[1], args[2]) if call != "sendto" else (args[4], args[5])
                family, address = _sockaddr(self._memory(pid, pointer, min(int(length), 128)))
                if call == "bind":
                    self._binds[(_tgid(pid), int(args[0]))] = address
                self._network(call, family, address)
            elif call == "listen":
                address = self._binds.get((_tgid(pid), int(args[0])), f"fd {int(args[0])}")
                self._record("bind", "listen", address, self._bind_allowed(address))
            elif call in _PATH_ARGS:
                self._write(pid, call, args)
        except OSError:
            pass  # the memory went away (the thread died): nothing to record
        return 0, _CONTINUE

    def _network(self, call: str, family: int, address: str) -> None:
        if family == socket.AF_UNIX:
            allowed = address in self.unix | _NSCD if call != "bind" else address == self.app_socket
        elif family in (socket.AF_INET, socket.AF_INET6):
            port = int(address.rsplit(":", 1)[1]) if ":" in address else -1
            if call == "bind":
                # a loopback address with a port the kernel picks, never listened on, is a probe of
                # the stack (urllib3 asks at import whether IPv6 works), as the child's audit judges
                # it: only a listen() on it (recorded above) says otherwise
                allowed = self._bind_allowed(address) or (address.startswith(_LOOPBACK) and address.endswith(":0"))
            else:  # the child's relays listen on 127.0.0.1 (inside bubblewrap), Redis on its port
                allowed = address.startswith(_LOOPBACK) and (self.namespaces or port in self.tcp_ports)
        else:
            allowed = False
        self._record("bind" if call == "bind" else "network", call, address, allowed)

    def _bind_allowed(self, address: str) -> bool:
        """The app's socket; a loopback address in the sandbox's own network namespace (bubblewrap:
        the child's relays listen there; nothing outside can reach it); outside one, a loopback port
        the kernel picks (the child's relay under the audit layer; Landlock allows no TCP bind)."""
        if address == self.app_socket:
            return True
        if address.startswith(_LOOPBACK):
            return self.namespaces or (self.layer == "audit" and address.endswith(":0"))
        return False

    def _write(self, pid: int, call: str, args: list[int]) -> None:
        dirfd_arg, path_arg = _PATH_ARGS[call]
        if call == "openat2":  # struct open_how {u64 flags; ...}: only writes matter
            how = self._memory(pid, args[2], 8)
            if len(how) == 8 and not struct.unpack("<Q", how)[0] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
                return
        path = self._string(pid, args[path_arg])
        if not path.startswith("/"):
            dirfd = args[dirfd_arg] & 0xFFFFFFFF if dirfd_arg is not None else _AT_FDCWD
            dirfd = dirfd - (1 << 32) if dirfd >= 1 << 31 else dirfd  # an int
            base = os.readlink(f"/proc/{pid}/cwd" if dirfd == _AT_FDCWD else f"/proc/{pid}/fd/{dirfd}")
            path = os.path.join(base, path)
        path = os.path.normpath(path)
        allowed = any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.writable) \
            or path in ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty") or path.startswith("/proc/self/fd/")
        self._record("fs-write", call, path, allowed)

    def _record(self, kind: str, call: str, target: str, allowed: bool) -> None:
        key = (kind, call, target[:300])
        with self._lock:
            record = self.records.get(key)
            if record is not None:
                record.count += 1
            elif len(self.records) < MAX_RECORDS:
                self.records[key] = Record(kind, call, target[:300], allowed)
            else:
                self.dropped += 1

    # --- the process's memory --------------------------------------------------------------------

    @staticmethod
    def _memory(pid: int, address: int, length: int) -> bytes:
        if not address or length <= 0:
            return b""
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, length, address)
        finally:
            os.close(fd)

    def _string(self, pid: int, address: int, limit: int = 4096) -> str:
        """A NUL-terminated string, read a page at a time (the next page may not be mapped)."""
        out = b""
        while len(out) < limit:
            chunk = 4096 - (address + len(out)) % 4096
            try:
                data = self._memory(pid, address + len(out), chunk)
            except OSError:
                break
            if not data:
                break
            end = data.find(b"\0")
            if end >= 0:
                out += data[:end]
                break
            out += data
        return os.fsdecode(out[:limit])


def _tgid(tid: int) -> int:
    """The process a thread belongs to (file descriptors are the process's)."""
    try:
        with open(f"/proc/{tid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid


def _sockaddr(data: bytes) -> tuple[int, str]:
    """(family, a readable address) of a ``struct sockaddr``."""
    if len(data) < 2:
        return -1, "?"
    family = struct.unpack("<H", data[:2])[0]
    if family == socket.AF_UNIX:
        path = data[2:]
        if path[:1] == b"\0":
            return family, "@" + path[1:].split(b"\0", 1)[0].decode("utf-8", "replace")  # abstract
        return family, os.fsdecode(path.split(b"\0", 1)[0])
    if family == socket.AF_INET and len(data) >= 8:
        return family, f"{socket.inet_ntop(socket.AF_INET, data[4:8])}:{struct.unpack('>H', data[2:4])[0]}"
    if family == socket.AF_INET6 and len(data) >= 24:
        return family, f"[{socket.inet_ntop(socket.AF_INET6, data[8:24])}]:{struct.unpack('>H', data[2:4])[0]}"
    return family, f"family {family}"
