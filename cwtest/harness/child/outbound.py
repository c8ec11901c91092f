"""Where the workflow's outbound requests go: the runtime's to the simulator, nothing else anywhere.

``install_httpx(httpx, router)`` patches ``httpx.AsyncHTTPTransport`` and ``httpx.HTTPTransport``
once, for every client of the process, and is written once for both places it runs:

* in the workflow's process (``ChildRouter``): the runtime's requests go over the simulator's Unix
  socket (``UnixRuntime``); an unanswered outbound request is an ``outbound-http`` finding, a
  mocked one an ``external`` message;
* in cwtest's own process, for the in-process fuzz target (``cwtest.fuzz.target``): the runtime's
  requests go to ``runtime.app`` over ASGI; outbound requests are recorded on the target.

``router`` says which requests are the runtime's and who answers them (``runtime(request)``:
an object with ``handle(request)`` and ``async handle_async(request)``, or None), the mocks, and
what to do with an outbound request (``unanswered``, ``answered``). Whatever the router, the
patch does the same:

* a request for the runtime is answered by the router's runtime; an answer carrying
  ``x-cwtest-fault: timeout`` (cwtest.fuzz's timeout fault) becomes ``httpx.ReadTimeout`` at once;
* a relative URL, or one of another scheme than http(s)/ws(s), raises ``httpx.UnsupportedProtocol``,
  as httpcore's pool does before any I/O;
* any other request is never sent: the mock with the longest matching URL prefix answers it, else
  a 599 whose detail starts with ``UNSENT_DETAIL`` (``cwtest.outbound``);
* one SSL context per distinct configuration for the whole process (each costs ~80 ms).

The child also routes every other client to the runtime (``route_runtime_name``: the runtime's
host name resolves to a loopback relay to the simulator's socket) and relays Redis inside a
network namespace (``start_relay``).

Standard library only (httpx is the workflow's own, passed in), Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import threading

from . import channel, protocol, stacks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence

#: The response header of cwtest.fuzz's timeout fault (the simulator sets it on a scripted timeout).
FAULT_HEADER = "x-cwtest-fault"
#: The status and the start of the detail of the answer to an outbound request that was not sent.
UNSENT_STATUS = 599
UNSENT_DETAIL = "cwtest: the request to "
TIMEOUT_TEXT = "cwtest: simulated timeout (the service did not answer in time)"
_SCHEMES = ("http", "https", "ws", "wss")


class Patch:
    """An installed patch; ``uninstall()`` puts httpx back as it was."""

    def __init__(self, undo: Callable[[], None]) -> None:
        self._undo: Optional[Callable[[], None]] = undo

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None


def direct(transport: Any) -> Any:
    """Mark a transport as one of ours: the patch sends its requests as httpx would."""
    transport._cwtest_direct = True
    return transport


def install_httpx(httpx: Any, router: Any) -> Patch:
    """Patch httpx's two transports for ``router`` (see the module docstring)."""
    async_cls, sync_cls = httpx.AsyncHTTPTransport, httpx.HTTPTransport
    original_async, original_sync = async_cls.handle_async_request, sync_cls.handle_request
    restore_ssl = cache_ssl_contexts()

    async def handle_async_request(self: Any, request: Any) -> Any:
        if getattr(self, "_cwtest_direct", False):
            return await original_async(self, request)
        runtime = router.runtime(request)
        if runtime is None:
            return _outbound(httpx, router, request)
        response = await runtime.handle_async(request)
        if response.headers.get(FAULT_HEADER) == "timeout":
            await response.aclose()
            raise httpx.ReadTimeout(TIMEOUT_TEXT, request=request)
        return response

    def handle_request(self: Any, request: Any) -> Any:
        if getattr(self, "_cwtest_direct", False):
            return original_sync(self, request)
        runtime = router.runtime(request)
        if runtime is None:
            return _outbound(httpx, router, request)
        response = runtime.handle(request)
        if response.headers.get(FAULT_HEADER) == "timeout":
            response.close()
            raise httpx.ReadTimeout(TIMEOUT_TEXT, request=request)
        return response

    def undo() -> None:
        async_cls.handle_async_request = original_async
        sync_cls.handle_request = original_sync
        restore_ssl()

    async_cls.handle_async_request = handle_async_request
    sync_cls.handle_request = handle_request
    return Patch(undo)


def _outbound(httpx: Any, router: Any, request: Any) -> Any:
    """A request for anything but the runtime: refused, mocked or answered 599; never sent."""
    scheme = request.url.scheme
    if scheme == "":
        raise httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol.",
                                        request=request)
    if scheme not in _SCHEMES:
        raise httpx.UnsupportedProtocol("Request URL has an unsupported protocol '%s://'." % scheme, request=request)
    mock = find_mock(router.mocks(), request.method, str(request.url))
    frames = stacks.frames_of(sys._getframe(2))
    if mock is None:
        router.unanswered(request, frames)
        body = json.dumps({"detail": "%s%s was not sent (cwtest sends no request outside the simulator); answer it "
                                     "with --mock-external PREFIX=ANSWER or mock_external()" % (UNSENT_DETAIL,
                                                                                                request.url)})
        return httpx.Response(UNSENT_STATUS, headers={"content-type": "application/json"}, content=body.encode(),
                              request=request)
    router.answered(request, mock, frames)
    return httpx.Response(mock.status, headers=dict(mock.headers), content=base64.b64decode(mock.body),
                          request=request)


def find_mock(mocks: Sequence[protocol.Mock], method: str, url: str) -> Optional[protocol.Mock]:
    """The mock with the longest URL prefix of ``url`` for ``method``, or None."""
    best = None
    for mock in mocks:
        if mock.method and mock.method.upper() != method.upper():
            continue
        if url.startswith(mock.url) and (best is None or len(mock.url) > len(best.url)):
            best = mock
    return best


def cache_ssl_contexts() -> Callable[[], None]:
    """One SSL context per distinct configuration, for the whole process; returns the undo."""
    try:
        import httpx._transports.default as default
    except ImportError:
        return lambda: None
    original = getattr(default, "create_ssl_context", None)
    if original is None:
        return lambda: None
    import ssl

    cache: Dict[str, Any] = {}
    lock = threading.Lock()

    def create_ssl_context(*args: Any, **kwargs: Any) -> Any:
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

    def undo() -> None:
        default.create_ssl_context = original

    default.create_ssl_context = create_ssl_context
    return undo


# --- the child's router ---------------------------------------------------------------------------


class UnixRuntime:
    """Answers the runtime's requests over the simulator's Unix socket: one transport per event loop."""

    def __init__(self, httpx: Any, path: str) -> None:
        self.httpx = httpx
        self.path = path
        self._async: Dict[int, Any] = {}
        self._sync: Any = None
        self._lock = threading.Lock()

    async def handle_async(self, request: Any) -> Any:
        import asyncio

        loop = id(asyncio.get_running_loop())
        with self._lock:
            transport = self._async.get(loop)
            if transport is None:
                transport = self._async[loop] = direct(self.httpx.AsyncHTTPTransport(uds=self.path))
        return await transport.handle_async_request(request)

    def handle(self, request: Any) -> Any:
        with self._lock:
            if self._sync is None:
                self._sync = direct(self.httpx.HTTPTransport(uds=self.path))
        return self._sync.handle_request(request)


class ChildRouter:
    """The workflow's process: the runtime is ``sim_base``'s origin; outbound requests are reported."""

    def __init__(self, httpx: Any, sim_base: str, sim_socket: str, mocks: List[protocol.Mock]) -> None:
        from urllib.parse import urlsplit

        sim = urlsplit(sim_base)
        self.origin = (sim.scheme, (sim.hostname or "").lower(), sim.port or (443 if sim.scheme == "https" else 80))
        self.unix = UnixRuntime(httpx, sim_socket)
        #: The mocks, in order; the command loop appends the parent's later ones.
        self.mock_list = mocks

    def runtime(self, request: Any) -> Optional[UnixRuntime]:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        return self.unix if (url.scheme, (url.host or "").lower(), port) == self.origin else None

    def mocks(self) -> List[protocol.Mock]:
        return self.mock_list

    def unanswered(self, request: Any, frames: List[Any]) -> None:
        channel.finding("outbound-http", "%s %s" % (request.method, request.url), frames)

    def answered(self, request: Any, mock: protocol.Mock, frames: List[Any]) -> None:
        frames = stacks.trim(frames)
        channel.send(protocol.External(method=request.method, url=str(request.url)[:channel.DETAIL_LIMIT],
                                       location=stacks.location(frames), stack=stacks.render(frames), mocked=True))


# --- the loopback relays and the runtime's host name (the child only) --------------------------------


def start_relay(port: int, path: str, name: str) -> int:
    """127.0.0.1:port (0: any free port) -> the Unix socket ``path``; returns the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    channel.enter()
    try:
        listener.bind(("127.0.0.1", port))
    finally:
        channel.leave()
    listener.listen(16)

    def pump(source: socket.socket, target: socket.socket) -> None:
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

    def accept() -> None:
        channel.enter()
        while True:
            client = None
            try:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(path)
            except OSError:
                try:
                    if client is not None:
                        client.close()
                except Exception:
                    pass
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True, name="cwtest-%s-pump" % name).start()

    threading.Thread(target=accept, daemon=True, name="cwtest-%s-relay" % name).start()
    return listener.getsockname()[1]


def route_runtime_name(config: Dict[str, Any]) -> Optional[str]:
    """Every HTTP client reaches the simulator, not only httpx (which ``install_httpx`` routes).

    The workflow sees ``CODEWORDS_RUNTIME_URI=http://runtime.cwtest.invalid``. Clients built on
    ``socket`` (requests and urllib3: firecrawl-py 2.x's ``FirecrawlApp``, which the client points
    at the runtime; ``urllib``; aiohttp) resolve that name: ``getaddrinfo`` answers with a loopback
    relay to the simulator's socket, whatever port the URL names. Returns a warning, or None.
    """
    from urllib.parse import urlsplit

    host = (urlsplit(config["sim_base"]).hostname or "").lower()
    try:
        port = start_relay(0, config["sim_socket"], "runtime")
    except OSError as exc:  # e.g. a Landlock ruleset without TCP bind: httpx still works
        return "only httpx reaches the simulated runtime (no loopback relay: %s)" % exc
    config.setdefault("tcp_allowed", []).append(port)
    original = socket.getaddrinfo

    def getaddrinfo(name: Any, service: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        if isinstance(text, str) and text.lower().rstrip(".") == host and family in (0, socket.AF_INET):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return original(name, service, family, type, proto, flags)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    return None
