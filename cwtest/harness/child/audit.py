"""The audit policy: what the workflow's process attempts that a sandbox finding reports.

``install(config)`` adds an audit hook (``sys.addaudithook``) that reports, with the workflow's
own frame and stack (``channel.finding``), every attempt to reach the network, write outside the
writable directories, start a process, signal another, bind a port or call a native function
that does one of these through ctypes; and two guards for what raises no audit event:
``_posixsubprocess.fork_exec`` (called directly), and a loopback port-0 probe that then listens.
The kernel layers contain these attempts; the hook only says who made them, where.

``config`` is the child's config (``home``, ``writable``, ``unix_allowed``, ``tcp_allowed``,
``sim_base``, ``datagrams_denied``); ``tcp_allowed`` may grow later (a relay's port).

Standard library only, Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import os
import socket
import sys
import weakref
from typing import TYPE_CHECKING, Any, Dict, Tuple, Union

from . import channel, stacks

if TYPE_CHECKING:
    from typing import Literal

    from .protocol import AttemptKind

_config: Dict[str, Any] = {}


def install(config):
    """Start reporting: the audit hook, then the two guards. An audit hook cannot be removed."""
    global _config
    _config = config
    sys.addaudithook(audit)
    guard_listen()
    guard_posixsubprocess()


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": 0, "os.rename": 0, "os.mkdir": 0, "os.rmdir": 0, "os.chmod": 0, "os.chown": 0,
    "os.link": 1, "os.symlink": 1, "os.truncate": 0, "os.utime": 0, "shutil.rmtree": 0,
    "shutil.copyfile": 1, "shutil.move": 1, "os.mkfifo": 0, "os.mknod": 0,
}
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "pty.spawn", "os.startfile", "os.popen"}
#: What a native function reached through ctypes does: an attempt kind, or egress (which the kernel contains).
_NATIVE: Dict[str, Union[AttemptKind, Literal["egress"]]] = {
    "fork": "process", "vfork": "process", "clone": "process", "clone3": "process", "execve": "process",
    "execv": "process", "execvp": "process", "execvpe": "process", "execl": "process", "execlp": "process",
    "system": "process", "popen": "process", "posix_spawn": "process", "posix_spawnp": "process",
    "socket": "egress", "connect": "egress", "sendto": "egress", "bind": "bind", "ptrace": "process",
    "syscall": "native-syscall",
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "ip6-localhost", "", None}


def _allowed_write(path):
    if isinstance(path, int):
        return True  # an fd already open
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        full = os.path.realpath(os.path.join(_config["home"], os.fspath(path)))
    except (TypeError, ValueError):
        return True
    for root in _config["writable"]:
        if full == root or full.startswith(root.rstrip("/") + "/"):
            return True
    return full in ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty") or full.startswith("/proc/self/fd/")


def _runtime_host():
    from urllib.parse import urlsplit

    return (urlsplit(_config.get("sim_base", "")).hostname or "").lower()


def _unix_allowed(address):
    if isinstance(address, bytes):
        address = os.fsdecode(address)
    return address in _config["unix_allowed"]


def _tcp_allowed(address):
    if not isinstance(address, tuple) or len(address) < 2:
        return False
    host, port = address[0], address[1]
    return host in ("127.0.0.1", "localhost", "::1") and port in _config["tcp_allowed"]


def audit(event, args):
    """The hook ``sys.addaudithook`` calls for every audit event of the process."""
    if event not in _WATCHED or channel.is_internal():
        return
    channel.enter()
    try:
        _audit(event, args)
    except Exception:  # a diagnostics hook must never break the workflow
        pass
    finally:
        channel.leave()


def _audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
            isinstance(mode, str) and any(c in mode for c in "wax+"))
        if writing and not _allowed_write(path):
            channel.finding("fs-write", "open %r for writing" % (path,), stacks.frames_of(sys._getframe(2)))
    elif event in _PATH_EVENTS:
        paths = [args[0]] + ([args[1]] if _PATH_EVENTS[event] and len(args) > 1 else [])
        for path in paths:
            if path is not None and not _allowed_write(path):
                channel.finding("fs-write", "%s %r" % (event, path), stacks.frames_of(sys._getframe(2)))
                break
    elif event in _PROCESS_EVENTS:
        frames = stacks.frames_of(sys._getframe(2))
        if _machine_query(frames):
            return
        with_argv = ("subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn")
        shown = args[1] if event in with_argv and len(args) > 1 else args
        channel.finding("process", "%s %s" % (event, _short(shown)), frames)
    elif event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[1]
        family = getattr(sock, "family", None)
        if family == socket.AF_UNIX:
            if not _unix_allowed(address):
                channel.finding("network", "%s to the Unix socket %r" % (event.split(".")[1], address),
                                stacks.frames_of(sys._getframe(2)))
        elif not _tcp_allowed(address):
            kind = getattr(sock, "type", 0)
            proto = "UDP" if isinstance(kind, int) and kind & 0xF == socket.SOCK_DGRAM else "TCP"
            channel.egress("socket", proto, _addr(address), "contained", stacks.frames_of(sys._getframe(2)))
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host not in _LOCAL_HOSTS and not _is_ip(host) and str(host).lower().rstrip(".") != _runtime_host():
            channel.egress("socket", "DNS", "%s:%s" % (host, args[1]), "contained",
                           stacks.frames_of(sys._getframe(2)))
    elif event == "socket.gethostbyname":
        if args[0] not in _LOCAL_HOSTS and str(args[0]).lower().rstrip(".") != _runtime_host():
            channel.egress("socket", "DNS", str(args[0]), "contained", stacks.frames_of(sys._getframe(2)))
    elif event == "socket.__new__":
        family, kind = args[1], args[2]
        packet = getattr(socket, "AF_PACKET", -1)
        if family == packet or (isinstance(kind, int) and kind & 0xF == socket.SOCK_RAW):
            channel.finding("network", "open a %s socket" % ("packet" if family == packet else "raw"),
                            stacks.frames_of(sys._getframe(2)))
        elif _config.get("datagrams_denied") and family in (socket.AF_INET, socket.AF_INET6) \
                and isinstance(kind, int) and kind & 0xF == socket.SOCK_DGRAM:
            channel.egress("socket", "UDP", "a UDP socket (denied outside a network namespace)", "contained",
                           stacks.frames_of(sys._getframe(2)))
    elif event == "socket.bind":
        sock, address = args
        if getattr(sock, "family", None) == socket.AF_UNIX:
            if not _unix_allowed(address):
                channel.finding("bind", "bind a Unix socket at %r" % (address,), stacks.frames_of(sys._getframe(2)))
        elif _is_probe(address) and isinstance(sock, socket.socket):
            # A loopback port the kernel picks: how urllib3 (``_has_ipv6``) and others probe the
            # stack at import. Reported only if the socket then listens (``guard_listen``).
            _PROBES[sock] = (_addr(address), stacks.frames_of(sys._getframe(2)))
        else:
            channel.finding("bind", "bind %s" % _addr(address), stacks.frames_of(sys._getframe(2)))
    elif event in ("os.kill", "os.killpg"):
        pid = args[0]
        if pid not in (os.getpid(), 0) or event == "os.killpg":
            channel.finding("process", "%s(%s, %s)" % (event, pid, args[1]), stacks.frames_of(sys._getframe(2)))
    elif event == "ctypes.dlsym":
        name = args[1] if len(args) > 1 else None
        if isinstance(name, str) and name in _NATIVE:
            effect = _NATIVE[name]
            if effect == "egress":  # the kernel layers contain it; the connect itself is not seen
                channel.egress("socket", "native", "%s() through ctypes" % name, "contained",
                               stacks.frames_of(sys._getframe(2)))
            else:
                channel.finding(effect, "native call %s() through ctypes" % name,
                                stacks.frames_of(sys._getframe(2)))


_WATCHED = frozenset(
    ["open", "socket.__new__", "socket.connect", "socket.sendto", "socket.getaddrinfo", "socket.gethostbyname",
     "socket.bind", "os.kill", "os.killpg", "ctypes.dlsym"]
    + list(_PATH_EVENTS) + list(_PROCESS_EVENTS)
)


#: Sockets bound to a loopback address with port 0: a finding once they listen (weak: a
#: closed probe is forgotten with its socket).
_PROBES: weakref.WeakKeyDictionary[socket.socket, Tuple[str, Any]] = weakref.WeakKeyDictionary()


def _is_probe(address):
    return isinstance(address, tuple) and len(address) >= 2 and address[0] in ("127.0.0.1", "::1", "localhost") \
        and address[1] == 0


def guard_listen():
    """Report a probe-style bind (loopback, port 0) when the socket listens: then it is a server."""
    original = socket.socket.listen

    def listen(self, *args):
        probe = _PROBES.pop(self, None)
        if probe is not None:
            channel.finding("bind", "bind %s and listen" % probe[0], probe[1])
        return original(self, *args)

    socket.socket.listen = listen  # type: ignore[method-assign]  # the stdlib's socket class, patched on purpose


def _is_ip(host):
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, str(host))
        return True
    except (OSError, ValueError):
        return False


def _short(value):
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _addr(address):
    if isinstance(address, tuple) and len(address) >= 2:
        return "%s:%s" % (address[0], address[1])
    return repr(address)


def _machine_query(frames):
    """The standard library's ``platform`` asking ``uname -p`` for the processor's name.

    The OpenAI SDK sends ``platform.platform()`` in its headers, which runs ``uname -p`` once; the
    seccomp filter refuses it and ``platform`` falls back to an empty name, as it is written to.
    Not the workflow starting a process: not a finding.
    """
    import platform

    return any(f[0] == platform.__file__ and f[2] == "from_subprocess" for f in frames)


def guard_posixsubprocess():
    """``_posixsubprocess.fork_exec`` raises no audit event; report it here (seccomp denies it)."""
    try:
        import _posixsubprocess
    except ImportError:
        return
    original = _posixsubprocess.fork_exec

    def fork_exec(*args, **kwargs):
        caller = sys._getframe(1).f_code.co_filename
        if caller != getattr(sys.modules.get("subprocess"), "__file__", None):  # Popen reported it already
            channel.finding("process", "_posixsubprocess.fork_exec %s" % _short(args[0] if args else ""),
                            stacks.frames_of(sys._getframe(1)))
        return original(*args, **kwargs)

    _posixsubprocess.fork_exec = fork_exec
