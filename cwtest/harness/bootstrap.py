"""cwtest's bootstrap: the first code that runs in a workflow's process. Standard library only.

The harness starts ``<env python> -I -B bootstrap.py CONFIG`` (inside bubblewrap when it can) and
this script, in order:

1. applies the resource limits, Landlock (when that is the layer) and the seccomp program that
   denies new processes and ``execve`` (the parent built it; here it is only ``prctl``);
2. leaves exactly the environment the header declares (plus HOME and TMPDIR);
3. connects to the parent's event socket and installs an audit hook that reports every attempt to
   reach the network, write outside the private directory, start a process or bind a port, with
   the workflow's own frame (``file:line``) and stack;
4. patches httpx: one SSL context for the whole process, requests for the simulated runtime go
   over its Unix socket, every other request is recorded and answered with a registered mock or a
   599, never sent;
5. relays a loopback port to the Redis socket (inside a network namespace only);
6. imports the workflow by path (never as ``__main__``), finds its FastAPI object, and serves it
   with uvicorn on a Unix socket.

Everything it reports goes to the parent over the event socket as JSON lines; the simulator and
the checks run in the parent, so the workflow cannot alter what they recorded. What this script
reports itself can be forged by the workflow (it shares the process): it is diagnostics, and the
kernel layers (namespaces, seccomp, Landlock, rlimits) are what contain the workflow.

It runs on the workflow's interpreter, which may be older than cwtest's: keep it Python 3.8+.
"""

import ctypes
import errno
import faulthandler
import importlib.util
import json
import linecache
import os
import signal
import socket
import sys
import sysconfig
import threading
import traceback
import weakref

CONFIG = {}
WORKFLOW = ""
BOOTSTRAP = os.path.abspath(__file__)
_local = threading.local()
_events_lock = threading.Lock()
_events_sock = None
_seen = {}
_seen_lock = threading.Lock()
_loop = None

# --- events to the parent ----------------------------------------------------------------------


def send(message):
    """One JSON line to the parent; silently dropped once the parent is gone."""
    global _events_sock
    if _events_sock is None:
        return
    data = (json.dumps(message, default=repr) + "\n").encode("utf-8", "replace")
    _local.internal = getattr(_local, "internal", 0) + 1
    try:
        with _events_lock:
            _events_sock.sendall(data)
    except OSError:
        _events_sock = None
    finally:
        _local.internal -= 1


def frames_of(frame):
    """(filename, lineno, function) from the outermost frame to ``frame``."""
    out = []
    while frame is not None:
        out.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    out.reverse()
    return out


def trim(frames):
    """The part of a stack that concerns the workflow: from its first frame on, bootstrap frames out.

    When the workflow has no frame in the stack (a library acting alone), the last 12 frames.
    """
    frames = [f for f in frames if f[0] != BOOTSTRAP]
    first = next((i for i, f in enumerate(frames) if f[0] == WORKFLOW), None)
    frames = frames[first:] if first is not None else frames[-12:]
    if len(frames) > 24:
        frames = frames[:6] + [("...", 0, "%d frames" % (len(frames) - 12))] + frames[-6:]
    return frames


def location(frames):
    """``file:line`` of the innermost workflow frame, or None."""
    for filename, lineno, _name in reversed(frames):
        if filename == WORKFLOW:
            return "%s:%d" % (filename, lineno)
    return None


def render(frames):
    return ["%s:%d in %s" % f for f in frames]


def finding(kind, detail, frames=None, **extra):
    """Report an attempt; each (kind, workflow line) or (kind, detail) once, then counts at powers of 2."""
    if frames is None:
        frames = frames_of(sys._getframe(1))
    frames = trim(frames)
    where = location(frames)
    key = (kind, where) if where else (kind, detail)
    with _seen_lock:
        count = _seen.get(key, 0) + 1
        _seen[key] = count
    if count & (count - 1):
        return  # not a power of two: counted, not sent
    message = {"type": "finding", "kind": kind, "detail": detail, "location": where,
               "stack": render(frames), "count": count, "key": list(map(str, key))}
    message.update(extra)
    send(message)


def exception_report(exc):
    """Type, message, the workflow's location and a trimmed traceback of an exception."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [(f.filename, f.lineno or 0, f.name) for f in tb]
    mine = [i for i, f in enumerate(frames) if f[0] == WORKFLOW]
    kept = [frames[i] for i in mine]
    if frames and (not kept or kept[-1] != frames[-1]):
        kept.append(frames[-1])
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    shown = kept or frames[-3:]
    via = []  # the packages it passed through below the workflow (cwtest.fuzz.target.package_of)
    stdlib = sysconfig.get_paths()["stdlib"].rstrip("/") + "/"
    for f in frames[mine[-1] + 1:] if mine else frames:
        parts = f[0].replace("\\", "/").split("/")
        marker = next((m for m in ("site-packages", "dist-packages") if m in parts[:-1]), None)
        if marker:
            name = parts[parts.index(marker) + 1]
        elif f[0].startswith(stdlib):
            name = f[0][len(stdlib):].split("/")[0]
        else:
            name = os.path.basename(f[0])
        name = name[:-3] if name.endswith(".py") else name
        if name not in via:
            via.append(name)
    return {"exc_type": type(exc).__name__, "message": text[-2000:], "location": location(frames),
            "stack": render(shown),
            # for cwtest.fuzz (the Target contract): frames with their source line, and the class
            # hierarchy as "<top-level package>.<name>", so the parent tells the client's own errors apart
            "frames": [[f[0], f[1], f[2], (linecache.getline(f[0], f[1]) or "").strip()] for f in shown],
            "mro": ["%s.%s" % (c.__module__.split(".")[0], c.__name__) for c in type(exc).__mro__],
            "via": via}


# --- limits, Landlock, seccomp ---------------------------------------------------------------------


def apply_limits(limits):
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


_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def no_new_privs():
    if libc().prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(path):
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


def landlock_abi():
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    abi = lib.syscall(_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # ..._CREATE_RULESET_VERSION
    return abi if abi > 0 else 0


def apply_landlock(spec):
    """Writes only under ``spec["writable"]``; TCP only to ``spec["connect_ports"]`` (ABI >= 4)."""
    lib = libc()
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available")
    fs = 0
    for right, since in _FS_WRITE_RIGHTS.items():
        if abi >= since:
            fs |= right
    net = (_NET_BIND | _NET_CONNECT) if abi >= 4 else 0
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
                rule = _NetPort(_NET_CONNECT, int(port))
                if lib.syscall(_LL_ADD_RULE, ruleset, 2, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), "landlock_add_rule port %s failed" % port)
        no_new_privs()
        if lib.syscall(_LL_RESTRICT, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


# --- the audit hook ------------------------------------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": 0, "os.rename": 0, "os.mkdir": 0, "os.rmdir": 0, "os.chmod": 0, "os.chown": 0,
    "os.link": 1, "os.symlink": 1, "os.truncate": 0, "os.utime": 0, "shutil.rmtree": 0,
    "shutil.copyfile": 1, "shutil.move": 1, "os.mkfifo": 0, "os.mknod": 0,
}
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "pty.spawn", "os.startfile", "os.popen"}
_NATIVE = {
    "fork": "process", "vfork": "process", "clone": "process", "clone3": "process", "execve": "process",
    "execv": "process", "execvp": "process", "execvpe": "process", "execl": "process", "execlp": "process",
    "system": "process", "popen": "process", "posix_spawn": "process", "posix_spawnp": "process",
    "socket": "network", "connect": "network", "sendto": "network", "bind": "bind", "ptrace": "process",
    "syscall": "native-syscall",
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "ip6-localhost", "", None}


def _is_internal():
    return getattr(_local, "internal", 0) > 0


def _allowed_write(path):
    if isinstance(path, int):
        return True  # an fd already open
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        full = os.path.realpath(os.path.join(CONFIG["home"], os.fspath(path)))
    except (TypeError, ValueError):
        return True
    for root in CONFIG["writable"]:
        if full == root or full.startswith(root.rstrip("/") + "/"):
            return True
    return full in ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty") or full.startswith("/proc/self/fd/")


def _unix_allowed(address):
    if isinstance(address, bytes):
        address = os.fsdecode(address)
    return address in CONFIG["unix_allowed"]


def _tcp_allowed(address):
    if not isinstance(address, tuple) or len(address) < 2:
        return False
    host, port = address[0], address[1]
    return host in ("127.0.0.1", "localhost", "::1") and port in CONFIG["tcp_allowed"]


def audit(event, args):
    if event not in _WATCHED or _is_internal():
        return
    _local.internal = getattr(_local, "internal", 0) + 1
    try:
        _audit(event, args)
    except Exception:  # a diagnostics hook must never break the workflow
        pass
    finally:
        _local.internal -= 1


def _audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
            isinstance(mode, str) and any(c in mode for c in "wax+"))
        if writing and not _allowed_write(path):
            finding("fs-write", "open %r for writing" % (path,), frames_of(sys._getframe(2)))
    elif event in _PATH_EVENTS:
        paths = [args[0]] + ([args[1]] if _PATH_EVENTS[event] and len(args) > 1 else [])
        for path in paths:
            if path is not None and not _allowed_write(path):
                finding("fs-write", "%s %r" % (event, path), frames_of(sys._getframe(2)))
                break
    elif event in _PROCESS_EVENTS:
        frames = frames_of(sys._getframe(2))
        if _machine_query(frames):
            return
        with_argv = ("subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn")
        shown = args[1] if event in with_argv and len(args) > 1 else args
        finding("process", "%s %s" % (event, _short(shown)), frames)
    elif event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[1]
        family = getattr(sock, "family", None)
        if family == socket.AF_UNIX:
            if not _unix_allowed(address):
                finding("network", "%s to the Unix socket %r" % (event.split(".")[1], address),
                        frames_of(sys._getframe(2)))
        elif not _tcp_allowed(address):
            finding("network", "%s to %s" % (event.split(".")[1], _addr(address)), frames_of(sys._getframe(2)))
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host not in _LOCAL_HOSTS and not _is_ip(host):  # an address literal: the connect says more
            finding("network", "resolve %s (port %s)" % (host, args[1]), frames_of(sys._getframe(2)))
    elif event == "socket.gethostbyname":
        if args[0] not in _LOCAL_HOSTS:
            finding("network", "resolve %s" % (args[0],), frames_of(sys._getframe(2)))
    elif event == "urllib.Request":
        from urllib.parse import urlsplit

        if (urlsplit(str(args[0])).hostname or "").lower() != (urlsplit(CONFIG["sim_base"]).hostname or "").lower():
            finding("network", "urllib request %s %s" % (args[3] or "GET", args[0]), frames_of(sys._getframe(2)))
    elif event == "socket.__new__":
        family, kind = args[1], args[2]
        if CONFIG.get("datagrams_denied") and family in (socket.AF_INET, socket.AF_INET6) and isinstance(kind, int) \
                and kind & 0xF in (socket.SOCK_DGRAM, socket.SOCK_RAW):
            finding("network", "open a %s socket (denied outside a network namespace)" % (
                "UDP" if kind & 0xF == socket.SOCK_DGRAM else "raw"), frames_of(sys._getframe(2)))
    elif event == "socket.bind":
        sock, address = args
        if getattr(sock, "family", None) == socket.AF_UNIX:
            if not _unix_allowed(address):
                finding("bind", "bind a Unix socket at %r" % (address,), frames_of(sys._getframe(2)))
        elif _is_probe(address) and isinstance(sock, socket.socket):
            # A loopback port the kernel picks: how urllib3 (``_has_ipv6``) and others probe the
            # stack at import. Reported only if the socket then listens (``guard_listen``).
            _PROBES[sock] = (_addr(address), frames_of(sys._getframe(2)))
        else:
            finding("bind", "bind %s" % _addr(address), frames_of(sys._getframe(2)))
    elif event in ("os.kill", "os.killpg"):
        pid = args[0]
        if pid not in (os.getpid(), 0) or event == "os.killpg":
            finding("process", "%s(%s, %s)" % (event, pid, args[1]), frames_of(sys._getframe(2)))
    elif event == "ctypes.dlsym":
        name = args[1] if len(args) > 1 else None
        if isinstance(name, str) and name in _NATIVE:
            finding(_NATIVE[name], "native call %s() through ctypes" % name, frames_of(sys._getframe(2)))


_WATCHED = frozenset(
    ["open", "socket.__new__", "socket.connect", "socket.sendto", "socket.getaddrinfo", "socket.gethostbyname",
     "socket.bind",
     "urllib.Request", "os.kill", "os.killpg", "ctypes.dlsym"]
    + list(_PATH_EVENTS) + list(_PROCESS_EVENTS)
)


#: Sockets bound to a loopback address with port 0: a finding once they listen (weak: a
#: closed probe is forgotten with its socket).
_PROBES = weakref.WeakKeyDictionary()


def _is_probe(address):
    return isinstance(address, tuple) and len(address) >= 2 and address[0] in ("127.0.0.1", "::1", "localhost") \
        and address[1] == 0


def guard_listen():
    """Report a probe-style bind (loopback, port 0) when the socket listens: then it is a server."""
    original = socket.socket.listen

    def listen(self, *args):
        probe = _PROBES.pop(self, None)
        if probe is not None:
            finding("bind", "bind %s and listen" % probe[0], probe[1])
        return original(self, *args)

    socket.socket.listen = listen


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
            finding("process", "_posixsubprocess.fork_exec %s" % _short(args[0] if args else ""),
                    frames_of(sys._getframe(1)))
        return original(*args, **kwargs)

    _posixsubprocess.fork_exec = fork_exec


# --- httpx -----------------------------------------------------------------------------------------


def patch_httpx():
    try:
        import httpx
    except ImportError:
        return False
    from urllib.parse import urlsplit

    _patch_ssl(httpx)
    sim = urlsplit(CONFIG["sim_base"])
    sim_origin = (sim.scheme, (sim.hostname or "").lower(), sim.port or (443 if sim.scheme == "https" else 80))
    sim_socket = CONFIG["sim_socket"]
    mocks = CONFIG.get("mocks", [])
    async_transports = {}
    sync_transport = []
    lock = threading.Lock()

    def is_sim(url):
        port = url.port or (443 if url.scheme == "https" else 80)
        return (url.scheme, (url.host or "").lower(), port) == sim_origin

    def find_mock(request):
        url = str(request.url)
        best = None
        for mock in mocks:
            if mock.get("method") and mock["method"].upper() != request.method:
                continue
            if url == mock["url"] or url.startswith(mock["url"]):
                if best is None or len(mock["url"]) > len(best["url"]):
                    best = mock
        return best

    def external(request):
        # What the real transport (httpcore's pool) raises before any I/O: a relative URL, or one
        # of another scheme, never reaches the network (and a 599 for it breaks httpx's cookies).
        scheme = request.url.scheme
        if scheme == "":
            raise httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol.",
                                            request=request)
        if scheme not in ("http", "https", "ws", "wss"):
            raise httpx.UnsupportedProtocol("Request URL has an unsupported protocol '%s://'." % scheme,
                                            request=request)
        mock = find_mock(request)
        frames = frames_of(sys._getframe(2))
        if mock is None:
            finding("outbound-http", "%s %s" % (request.method, request.url), frames)
            # "cwtest: the request to " is cwtest.outbound.UNSENT_DETAIL (599: UNSENT_STATUS)
            body = json.dumps({"detail": "cwtest: the request to %s was not sent (the sandbox has no network); "
                                         "answer it with --mock-external PREFIX=ANSWER or mock_external()" % request.url}).encode()
            return httpx.Response(599, headers={"content-type": "application/json"}, content=body,
                                  request=request)
        frames = trim(frames)
        send({"type": "external", "method": request.method, "url": str(request.url), "location": location(frames),
              "stack": render(frames), "mocked": True})
        import base64

        return httpx.Response(mock.get("status", 200), headers=mock.get("headers") or {},
                              content=base64.b64decode(mock.get("body", "")), request=request)

    async_cls, sync_cls = httpx.AsyncHTTPTransport, httpx.HTTPTransport
    original_async, original_sync = async_cls.handle_async_request, sync_cls.handle_request

    def sim_async():
        import asyncio

        loop = asyncio.get_running_loop()
        with lock:
            transport = async_transports.get(id(loop))
            if transport is None:
                transport = async_cls(uds=sim_socket)
                transport._cwtest_direct = True
                async_transports[id(loop)] = transport
        return transport

    def sim_sync():
        with lock:
            if not sync_transport:
                transport = sync_cls(uds=sim_socket)
                transport._cwtest_direct = True
                sync_transport.append(transport)
        return sync_transport[0]

    def simulated_timeout(response):
        # cwtest.fuzz's timeout fault: the simulator answers at once with this header, and the
        # client gets its own timeout exception without waiting out its real timeout.
        return response.headers.get("x-cwtest-fault") == "timeout"

    async def handle_async_request(self, request):
        if getattr(self, "_cwtest_direct", False):
            return await original_async(self, request)
        if is_sim(request.url):
            response = await original_async(sim_async(), request)
            if simulated_timeout(response):
                await response.aclose()
                raise httpx.ReadTimeout("cwtest: simulated timeout", request=request)
            return response
        return external(request)

    def handle_request(self, request):
        if getattr(self, "_cwtest_direct", False):
            return original_sync(self, request)
        if is_sim(request.url):
            response = original_sync(sim_sync(), request)
            if simulated_timeout(response):
                response.close()
                raise httpx.ReadTimeout("cwtest: simulated timeout", request=request)
            return response
        return external(request)

    async_cls.handle_async_request = handle_async_request
    sync_cls.handle_request = handle_request
    return True


def _patch_ssl(httpx):
    """One SSL context per distinct configuration, for the whole process (each costs ~80 ms)."""
    try:
        import httpx._transports.default as default
    except ImportError:
        return
    original = getattr(default, "create_ssl_context", None)
    if original is None:
        return
    import ssl

    cache = {}
    lock = threading.Lock()

    def create_ssl_context(*args, **kwargs):
        values = list(args) + [kwargs[k] for k in sorted(kwargs)]
        if any(isinstance(v, ssl.SSLContext) for v in values):
            return original(*args, **kwargs)
        try:
            key = repr((args, sorted(kwargs.items())))
        except Exception:
            return original(*args, **kwargs)
        with lock:
            context = cache.get(key)
            if context is None:
                context = cache[key] = original(*args, **kwargs)
        return context

    default.create_ssl_context = create_ssl_context


# --- the Redis relay ----------------------------------------------------------------------------


def start_relay(port, path, name):
    """127.0.0.1:port (0: any free port) -> the Unix socket ``path``; returns the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _local.internal = getattr(_local, "internal", 0) + 1
    try:
        listener.bind(("127.0.0.1", port))
    finally:
        _local.internal -= 1
    listener.listen(16)

    def pump(source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept():
        _local.internal = 1
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(path)
            except OSError:
                try:
                    client.close()
                except Exception:
                    pass
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True, name="cwtest-%s-pump" % name).start()

    threading.Thread(target=accept, daemon=True, name="cwtest-%s-relay" % name).start()
    return listener.getsockname()[1]


def start_redis_relay(port, path):
    """Inside a network namespace: 127.0.0.1:port -> the Redis socket the parent relays on."""
    start_relay(port, path, "redis")


def route_runtime_name():
    """Every HTTP client reaches the simulator, not only httpx (which ``patch_httpx`` routes).

    The workflow sees ``CODEWORDS_RUNTIME_URI=http://runtime.cwtest.invalid``. Clients built on
    ``socket`` (requests and urllib3: firecrawl-py 2.x's ``FirecrawlApp``, which the client points
    at the runtime; ``urllib``; aiohttp) resolve that name: ``getaddrinfo`` answers with a loopback
    relay to the simulator's socket, whatever port the URL names. Returns a warning, or None.
    """
    from urllib.parse import urlsplit

    host = (urlsplit(CONFIG["sim_base"]).hostname or "").lower()
    try:
        port = start_relay(0, CONFIG["sim_socket"], "runtime")
    except OSError as exc:  # e.g. a Landlock ruleset without TCP bind: httpx still works
        return "only httpx reaches the simulated runtime (no loopback relay: %s)" % exc
    CONFIG.setdefault("tcp_allowed", []).append(port)
    original = socket.getaddrinfo

    def getaddrinfo(name, service, family=0, type=0, proto=0, flags=0):
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        if isinstance(text, str) and text.lower().rstrip(".") == host and family in (0, socket.AF_INET):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return original(name, service, family, type, proto, flags)

    socket.getaddrinfo = getaddrinfo
    return None


# --- stacks on request and at the CPU limit --------------------------------------------------------


def collect_stacks():
    threads = []
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        frames = frames_of(frame)
        if any(f[0] == BOOTSTRAP and f[2] in ("listen_parent", "accept", "pump") for f in frames):
            continue
        trimmed = trim(frames)
        threads.append({"thread": names.get(ident, str(ident)), "location": location(trimmed),
                        "stack": render(trimmed)})
    tasks = []
    if _loop is not None:
        import asyncio

        for _attempt in range(3):
            try:
                all_tasks = list(asyncio.all_tasks(_loop))
                break
            except RuntimeError:
                all_tasks = []
        for task in all_tasks:
            try:
                frames = coroutine_frames(task.get_coro())
            except Exception:
                continue
            if any(f[0] == WORKFLOW for f in frames):
                trimmed = trim(frames)
                tasks.append({"task": task.get_name(), "location": location(trimmed), "stack": render(trimmed)})
    return {"threads": threads, "tasks": tasks}


def coroutine_frames(coro):
    """The frames of a suspended coroutine and of everything it awaits, outermost first.

    ``Task.get_stack()`` stops at the task's own coroutine; a request handler is many awaits
    below it (uvicorn, Starlette's middleware, FastAPI's routing).
    """
    frames = []
    seen = 0
    while coro is not None and seen < 200:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return frames


def listen_parent(sock):
    """Commands from the parent on the event socket: ``stacks`` (before a timeout kill).

    When the socket closes the parent is gone (or done with us): exit at once, so that no
    workflow outlives a killed cwtest, even outside bubblewrap's ``--die-with-parent``.
    """
    buffer = b""
    while True:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            os._exit(70)
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                command = json.loads(line)
            except ValueError:
                continue
            if command.get("cmd") == "stacks":
                message = {"type": "stacks", "reason": command.get("reason", "request")}
                message.update(collect_stacks())
                send(message)
            elif command.get("cmd") == "counts":  # the exact counts, before the parent ends us
                with _seen_lock:
                    counts = [[list(map(str, key)), count] for key, count in _seen.items()]
                send({"type": "counts", "counts": counts})
            elif command.get("cmd") == "mock":  # an answer for outbound requests, from now on
                CONFIG.setdefault("mocks", []).append(command["mock"])
                send({"type": "mocked", "url": command["mock"].get("url")})


def on_cpu_limit(signum, frame):
    message = {"type": "stacks", "reason": "cpu"}
    message.update(collect_stacks())
    send(message)


# --- import, find the app, serve ---------------------------------------------------------------------


def fail(kind, detail, **extra):
    message = {"type": "boot-failure", "kind": kind, "detail": detail}
    message.update(extra)
    send(message)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(3)


def import_workflow():
    name = CONFIG["module"]
    spec = importlib.util.spec_from_file_location(name, WORKFLOW)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        if exc.filename and os.path.abspath(exc.filename) == WORKFLOW:
            where = "%s:%s" % (WORKFLOW, exc.lineno)
            text = (exc.text or "").rstrip()
            fail("syntax-error", "%s: %s" % (type(exc).__name__, exc.msg), location=where,
                 stack=[text] if text else [])
        fail("import-crash", **_crash(exc))
    except ModuleNotFoundError as exc:
        report = exception_report(exc)
        fail("missing-dependency", "No module named %r: the environment built from the header does not "
             "provide it" % (exc.name,), location=report["location"], stack=report["stack"], module=exc.name)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and MemoryError included
        fail("import-crash", **_crash(exc))
    return module


def _crash(exc):
    report = exception_report(exc)
    return {"detail": report["message"], "location": report["location"], "stack": report["stack"],
            "exc_type": report["exc_type"]}


def find_app(module):
    try:
        from fastapi import FastAPI
    except ImportError:
        fail("no-app", "fastapi is not installed in the environment, so the workflow has no FastAPI app")
    found = []
    for name, value in list(vars(module).items()):
        if isinstance(value, FastAPI) and all(value is not v for _, v in found):
            found.append((name, value))
    if not found:
        fail("no-app", "no module-level FastAPI object (the harness serves a module-level `app = FastAPI(...)`)")
    chosen = next(((n, v) for n, v in found if n == "app"), found[0])
    return chosen, [n for n, _ in found]


_lifespan_failure = []


def wrap(app):
    """Report every exception that escapes the app, and a failing lifespan startup.

    Starlette re-raises an exception after its 500 handler has answered; uvicorn would then log it
    and close the connection. Once the answer has started, the exception is reported and
    swallowed, so the connection stays usable; before that, it goes on to uvicorn (which answers
    500). A lifespan startup failure reaches uvicorn only as text (``lifespan.startup.failed``).
    """

    async def asgi(scope, receive, send_):
        if scope.get("type") == "lifespan":
            async def send_lifespan(message):
                if message.get("type") == "lifespan.startup.failed":
                    _lifespan_failure.append(message.get("message") or "")
                await send_(message)

            return await app(scope, receive, send_lifespan)
        started = []

        async def send_http(message):
            if message.get("type") == "http.response.start":
                started.append(True)
            await send_(message)

        try:
            await app(scope, receive, send_http)
        except Exception as exc:
            if scope.get("type") == "http":
                report = exception_report(exc)
                report.update({"type": "exception", "method": scope.get("method"), "path": scope.get("path")})
                send(report)
            if not started:
                raise

    return asgi


def lifespan_failure_report(text):
    """Detail, location and stack of a lifespan startup traceback, from its text."""
    import re

    frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in
              re.finditer(r'File "([^"]+)", line (\d+), in (\S+)', text)]
    kept = [f for f in frames if f[0] == WORKFLOW]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    detail = "the lifespan startup failed: " + (lines[-1].strip() if lines else "no message")
    return {"detail": detail, "location": location(kept), "stack": render(kept)}


def serve(app, name, names):
    try:
        import uvicorn
    except ImportError:
        fail("no-server", "uvicorn is not installed in the environment")
    path = CONFIG["app_socket"]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _local.internal = getattr(_local, "internal", 0) + 1
    try:
        sock.bind(path)
    finally:
        _local.internal -= 1
    sock.listen(128)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            global _loop
            import asyncio

            _loop = asyncio.get_running_loop()
            await super().startup(sockets=sockets)
            if not self.should_exit:
                send({"type": "ready", "app": name, "apps": names})
            elif _lifespan_failure:
                report = lifespan_failure_report(_lifespan_failure[0])
                fail("boot-crash", report["detail"], location=report["location"], stack=report["stack"])

        def install_signal_handlers(self):
            pass  # the parent ends the process; Ctrl-C in a terminal reaches cwtest, not the workflow

    config = uvicorn.Config(wrap(app), lifespan="auto", log_level="warning", access_log=False, loop="asyncio",
                            timeout_graceful_shutdown=1)
    server = Server(config)
    server.run(sockets=[sock])
    fail("boot-crash", "the server stopped: uvicorn exited (a failing lifespan startup, see stderr)")


def scrub_environment():
    keep = set(CONFIG["env"])
    for name in list(os.environ):
        if name not in keep:
            del os.environ[name]
    for name, value in CONFIG["env"].items():
        os.environ[name] = value


def main(argv):
    global CONFIG, WORKFLOW, _events_sock
    with open(argv[1], encoding="utf-8") as handle:
        CONFIG = json.load(handle)
    WORKFLOW = CONFIG["workflow"]
    warnings = []
    apply_limits(CONFIG.get("limits", {}))
    if CONFIG.get("landlock"):
        try:
            apply_landlock(CONFIG["landlock"])
        except OSError as exc:
            if CONFIG["landlock"].get("required"):
                raise
            warnings.append("Landlock not applied: %s" % exc)
    if CONFIG.get("seccomp"):
        load_seccomp(CONFIG["seccomp"])
    scrub_environment()
    os.chdir(CONFIG["home"])
    _events_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _events_sock.connect(CONFIG["events_socket"])
    send({"type": "hello", "pid": os.getpid(), "python": sys.version.split()[0], "executable": sys.executable,
          "warnings": warnings})
    threading.Thread(target=listen_parent, args=(_events_sock,), daemon=True, name="cwtest-events").start()
    faulthandler.enable(file=sys.stderr)
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, on_cpu_limit)
    sys.addaudithook(audit)
    guard_listen()
    guard_posixsubprocess()
    patch_httpx()
    relay_warning = route_runtime_name()
    if relay_warning:
        send({"type": "hello", "warnings": [relay_warning]})
    redis = CONFIG.get("redis")
    if redis and redis.get("relay"):
        start_redis_relay(int(redis["port"]), redis["socket"])
    module = import_workflow()
    (name, app), names = find_app(module)
    serve(app, name, names)


if __name__ == "__main__":
    main(sys.argv)
