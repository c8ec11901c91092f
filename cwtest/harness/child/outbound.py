"""Where the workflow's outbound requests go: the runtime's to the simulator, every other one to the
parent's outside world, which answers it or refuses it; nothing leaves the sandbox.

``install_httpx(httpx, router)`` patches ``httpx.AsyncHTTPTransport`` and ``httpx.HTTPTransport``
once, for every client of the process; ``install_clients(router)`` does the same for ``requests``
(``HTTPAdapter.send``), ``urllib.request`` (``AbstractHTTPHandler.do_open``) and ``aiohttp``
(``ClientSession._request``), each when it is imported. Written once for both places they run:

* in the workflow's process (``ChildRouter``): the runtime's requests go over the simulator's Unix
  socket (``UnixRuntime``); every other request is forwarded over ``ctl/outside.sock`` to the
  parent (``forward``), whose outside world (``cwtest.outbound.OutsideWorld``) answers it from a
  mock, a cassette or, in a recording run, by performing it, or refuses it; each is reported as an
  ``egress`` message;
* in cwtest's own process, for the in-process fuzz target (``cwtest.fuzz.routing``): the runtime's
  requests go to ``runtime.app`` over ASGI; the target's outside world answers the others.

Whatever the router:

* a request for the runtime is answered by the router's runtime; an answer carrying
  ``x-cwtest-fault: timeout`` (cwtest.fuzz's timeout fault) becomes ``httpx.ReadTimeout`` at once,
  ``x-cwtest-fault: connect`` ``httpx.ConnectError``;
* a relative URL, or one of another scheme than http(s)/ws(s), raises ``httpx.UnsupportedProtocol``,
  as httpcore's pool does before any I/O;
* a refused request fails as it would with no network: the client's own connection error
  (``httpx.ConnectError``, requests' ``ConnectionError``, urllib's ``URLError``, aiohttp's
  ``ClientConnectionError``), marked as cwtest's stand-in (``mark``) so that a failure it causes is
  attributed to it, never to the workflow;
* one SSL context per distinct configuration for the whole process (each costs ~80 ms).

The child also routes every other client to the runtime (``route_runtime_name``: the runtime's
host name resolves to a loopback relay to the simulator's socket) and relays Redis inside a
network namespace (``start_relay``).

Standard library only (httpx and the others are the workflow's own), Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import socket
import sys
import threading

from . import channel, stacks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    #: (status, reason, headers, body, who answered)
    Answer = Tuple[int, str, List[Tuple[str, str]], bytes, str]
    from importlib.abc import Loader as _LoaderBase

    from .protocol import EgressAnswer
else:
    # What the import system asks of a loader is duck-typed: at run time the loader below needs no
    # base class (importlib.abc stays unimported); for mypy it is an importlib.abc.Loader.
    _LoaderBase = object

#: Who answered a forwarded request, as the outside socket says it: the answers the workflow gets
#: (any other, or none, is a refusal).
_ANSWERED: Dict[str, EgressAnswer] = {"mock": "mock", "cassette": "cassette", "recorded": "recorded"}
#: The response header of cwtest.fuzz's timeout and connection faults (the simulator sets it).
FAULT_HEADER = "x-cwtest-fault"
#: On the outside socket: the request's real URL and client (request), who answered (response).
URL_HEADER = "x-cwtest-url"
#: The workflow's line of a request to the runtime, recorded by the simulator with the call.
LOCATION_HEADER = "x-cwtest-location"
CLIENT_HEADER = "x-cwtest-client"
ANSWER_HEADER = "x-cwtest-answer"
#: On a simulator answer: cwtest stood in here (``gap <service> <path>``: a path its catalog lacks).
STANDIN_HEADER = "x-cwtest-standin"
#: The attribute ``mark`` sets on an exception cwtest's stand-in caused: (kind, detail, location).
STANDIN_ATTR = "_cwtest_standin"
TIMEOUT_TEXT = "cwtest: simulated timeout (the service did not answer in time)"
CONNECT_TEXT = "cwtest: simulated connection error (the service could not be reached)"
_SCHEMES = ("http", "https", "ws", "wss")
_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive", ANSWER_HEADER}


def refusal(method: str, url: str) -> str:
    """The message of the connection error a refused request raises."""
    return ("cwtest: nothing answers %s %s: the sandbox has no network (record it with `cwtest record`, "
            "or answer it with --mock-external)" % (method, url.split("?")[0]))


def mark(exc: BaseException, kind: str, detail: str, location: Optional[str]) -> BaseException:
    """Mark ``exc`` as caused by cwtest's stand-in (``stacks.exception_report`` reads it)."""
    try:
        setattr(exc, STANDIN_ATTR, (kind, detail, location or ""))
    except Exception:
        pass
    return exc


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


def _locate(request: Any, runtime: Any) -> None:
    """Tell the simulator the workflow's line of a runtime request (``x-cwtest-location``): the
    call record keeps it, so a ``service-contract`` finding names the line that made the call.
    (``runtime.workflow``: the in-process target's file; the child's is ``stacks.WORKFLOW``.)"""
    where = stacks.location(stacks.frames_of(sys._getframe(2)), getattr(runtime, "workflow", None))
    if where:
        request.headers[LOCATION_HEADER] = where


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
            _check_scheme(httpx, request)
            frames = stacks.frames_of(sys._getframe(1))
            body = await request.aread()
            answer = await router.outside_async("httpx", request.method, str(request.url),
                                                list(request.headers.multi_items()), body, frames)
            return _httpx_answer(httpx, request, answer)
        _locate(request, runtime)
        response = await runtime.handle_async(request)
        fault = response.headers.get(FAULT_HEADER)
        if fault in ("timeout", "connect"):
            await response.aclose()
            _raise_fault(httpx, fault, request)
        return response

    def handle_request(self: Any, request: Any) -> Any:
        if getattr(self, "_cwtest_direct", False):
            return original_sync(self, request)
        runtime = router.runtime(request)
        if runtime is None:
            _check_scheme(httpx, request)
            frames = stacks.frames_of(sys._getframe(1))
            body = request.read()
            answer = router.outside("httpx", request.method, str(request.url), list(request.headers.multi_items()),
                                    body, frames)
            return _httpx_answer(httpx, request, answer)
        _locate(request, runtime)
        response = runtime.handle(request)
        fault = response.headers.get(FAULT_HEADER)
        if fault in ("timeout", "connect"):
            response.close()
            _raise_fault(httpx, fault, request)
        return response

    def undo() -> None:
        async_cls.handle_async_request = original_async
        sync_cls.handle_request = original_sync
        restore_ssl()

    async_cls.handle_async_request = handle_async_request
    sync_cls.handle_request = handle_request
    return Patch(undo)


def _raise_fault(httpx: Any, fault: str, request: Any) -> None:
    if fault == "timeout":
        raise httpx.ReadTimeout(TIMEOUT_TEXT, request=request)
    raise httpx.ConnectError(CONNECT_TEXT, request=request)


def _check_scheme(httpx: Any, request: Any) -> None:
    scheme = request.url.scheme
    if scheme == "":
        raise httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol.",
                                        request=request)
    if scheme not in _SCHEMES:
        raise httpx.UnsupportedProtocol("Request URL has an unsupported protocol '%s://'." % scheme, request=request)


def _httpx_answer(httpx: Any, request: Any, answer: Optional[Answer]) -> Any:
    if answer is None:
        exc = httpx.ConnectError(refusal(request.method, str(request.url)), request=request)
        raise mark(exc, "egress", "%s %s" % (request.method, request.url), _last_location())
    status, _reason, headers, body, _source = answer
    return httpx.Response(status, headers=_clean(headers), content=body, request=request)


def _clean(headers: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in _HOP]


_where = threading.local()


def _last_location() -> Optional[str]:
    """The workflow's line of the last outbound request this thread reported."""
    return getattr(_where, "location", None)


def find_mock(mocks: Any, method: str, url: str) -> Any:
    """The mock with the longest URL prefix of ``url`` for ``method`` (``url``, ``method`` attributes), or None."""
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


# --- the other clients: requests, urllib, aiohttp -------------------------------------------------


def _is_runtime_url(router: Any, url: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower() in router.runtime_hosts()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    read = getattr(body, "read", None)
    if read is not None:
        data = read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
    try:
        return b"".join(part.encode("utf-8") if isinstance(part, str) else bytes(part) for part in body)
    except TypeError:
        return b""


def patch_requests(adapters: Any, router: Any) -> None:
    """``requests.adapters.HTTPAdapter.send``: the runtime's requests as before, the rest forwarded."""
    cls = adapters.HTTPAdapter
    if getattr(cls.send, "_cwtest", False):
        return
    original = cls.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        url = request.url
        if _is_runtime_url(router, url):
            return original(self, request, *args, **kwargs)
        import io

        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.models import Response
        from requests.structures import CaseInsensitiveDict
        from requests.utils import get_encoding_from_headers

        answer = router.outside("requests", request.method, url, list(request.headers.items()),
                                _body_bytes(request.body), stacks.frames_of(sys._getframe(1)))
        if answer is None:
            exc = RequestsConnectionError(refusal(request.method, url), request=request)
            raise mark(exc, "egress", "%s %s" % (request.method, url), _last_location())
        status, reason, headers, body, _source = answer
        response = Response()
        response.status_code = status
        response.reason = reason
        response.headers = CaseInsensitiveDict(_clean(headers))
        response._content = body
        response.raw = io.BytesIO(body)
        response.url = url
        response.request = request
        response.connection = self
        response.encoding = get_encoding_from_headers(response.headers)
        return response

    send._cwtest = True  # type: ignore[attr-defined]
    cls.send = send


def patch_urllib(router: Any) -> None:
    """``urllib.request.AbstractHTTPHandler.do_open`` (http and https): forwarded, never sent."""
    import urllib.request

    cls = urllib.request.AbstractHTTPHandler
    if getattr(cls.do_open, "_cwtest", False):
        return
    original = cls.do_open

    def do_open(self: Any, http_class: Any, req: Any, **kwargs: Any) -> Any:
        url = req.full_url
        if _is_runtime_url(router, url):
            return original(self, http_class, req, **kwargs)
        import http.client
        import io
        import urllib.error
        import urllib.response

        method = req.get_method()
        answer = router.outside("urllib", method, url, list(req.header_items()), _body_bytes(req.data),
                                stacks.frames_of(sys._getframe(1)))
        if answer is None:
            exc = urllib.error.URLError(ConnectionRefusedError(111, refusal(method, url)))
            raise mark(exc, "egress", "%s %s" % (method, url), _last_location())
        status, reason, headers, body, _source = answer
        raw = "".join("%s: %s\r\n" % (k, v) for k, v in _clean(headers)) + "\r\n"
        message = http.client.parse_headers(io.BytesIO(raw.encode("latin-1", "replace")))
        response = urllib.response.addinfourl(io.BytesIO(body), message, url, status)
        # the reason HTTPErrorProcessor reads: http.client's responses have msg, urllib's addinfourl
        # is given it here (on purpose; its stub has no such attribute)
        response.msg = reason  # type: ignore[attr-defined]
        return response

    do_open._cwtest = True  # type: ignore[attr-defined]  # our mark on our own function: patched once
    cls.do_open = do_open  # type: ignore[method-assign]  # urllib's handler class, patched on purpose


class _AiohttpAnswer:
    """What ``aiohttp.ClientSession._request`` returns for a forwarded request: ClientResponse's
    reading side (status, headers, read/text/json, raise_for_status, release, async with)."""

    def __init__(self, aiohttp: Any, method: str, url: Any, answer: Answer) -> None:
        from multidict import CIMultiDict, CIMultiDictProxy

        status, reason, headers, body, _source = answer
        self._aiohttp = aiohttp
        self.method = method
        self.url = url
        self.real_url = url
        self.status = status
        self.reason = reason
        self.headers = CIMultiDictProxy(CIMultiDict(_clean(headers)))
        self._body = body
        self.history = ()
        self.closed = False

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def content_type(self) -> str:
        return (self.headers.get("content-type") or "application/octet-stream").split(";")[0].strip()

    @property
    def charset(self) -> Optional[str]:
        value = self.headers.get("content-type") or ""
        return value.split("charset=")[1].split(";")[0].strip() if "charset=" in value else None

    async def read(self) -> bytes:
        return self._body

    async def text(self, encoding: Optional[str] = None, errors: str = "strict") -> str:
        return self._body.decode(encoding or self.charset or "utf-8", errors)

    async def json(self, *, encoding: Optional[str] = None, loads: Any = None, content_type: Any = None) -> Any:
        import json

        return (loads or json.loads)(self._body.decode(encoding or self.charset or "utf-8"))

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise self._aiohttp.ClientResponseError(None, (), status=self.status, message=self.reason,
                                                    headers=self.headers)

    def release(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True

    async def wait_for_close(self) -> None:
        return None

    async def __aenter__(self) -> _AiohttpAnswer:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


def patch_aiohttp(client: Any, router: Any) -> None:
    """``aiohttp.ClientSession._request``: the runtime's as before, every other request forwarded."""
    import aiohttp

    cls = client.ClientSession
    if getattr(cls._request, "_cwtest", False):
        return
    original = cls._request

    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        from yarl import URL

        url = URL(str(str_or_url)) if not isinstance(str_or_url, URL) else str_or_url
        base = getattr(self, "_base_url", None)
        if base is not None and not url.is_absolute():
            url = base.join(url)
        if _is_runtime_url(router, str(url)):
            return await original(self, method, str_or_url, *args, **kwargs)
        params = kwargs.get("params")
        if params:
            url = url.update_query(params)
        body = b""
        if kwargs.get("json") is not None:
            import json

            body = json.dumps(kwargs["json"]).encode()
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            if isinstance(data, dict):
                from urllib.parse import urlencode

                body = urlencode(data).encode()
            else:
                body = _body_bytes(data)
        headers = [(str(k), str(v)) for k, v in dict(kwargs.get("headers") or {}).items()]
        answer = await router.outside_async("aiohttp", method.upper(), str(url), headers, body,
                                            stacks.frames_of(sys._getframe(1)))
        if answer is None:
            exc = aiohttp.ClientConnectionError(refusal(method.upper(), str(url)))
            raise mark(exc, "egress", "%s %s" % (method.upper(), url), _last_location())
        return _AiohttpAnswer(aiohttp, method.upper(), url, answer)

    _request._cwtest = True  # type: ignore[attr-defined]
    cls._request = _request


class _AfterImport:
    """A meta path finder that patches a module right after it is first imported."""

    def __init__(self, patches: Dict[str, Callable[[Any], None]]) -> None:
        self.patches = patches
        self._busy: set = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in self.patches or name in self._busy:
            return None
        import importlib.util

        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, patch = spec.loader, self.patches[name]

        class Loader(_LoaderBase):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                loader.exec_module(module)
                try:
                    patch(module)
                except Exception:
                    pass

        spec.loader = Loader()
        return spec


def install_clients(router: Any) -> None:
    """Route requests, urllib and aiohttp like httpx, each once it is imported."""
    patch_urllib(router)
    patches: Dict[str, Callable[[Any], None]] = {
        "requests.adapters": lambda module: patch_requests(module, router),
        "aiohttp.client": lambda module: patch_aiohttp(module, router),
    }
    for name in list(patches):
        if name in sys.modules:
            patches.pop(name)(sys.modules[name])
    if patches:
        sys.meta_path.insert(0, _AfterImport(patches))


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


def forward(path: str, client: str, method: str, url: str, headers: List[Tuple[str, str]],
            body: bytes) -> Answer:
    """Ask the parent's outside world (over the Unix socket ``path``) to answer one request.

    The answer's ``x-cwtest-answer`` says who answered (``refused``: nobody)."""
    import http.client

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(600)
            sock.connect(path)
            self.sock = sock

    channel.enter()
    try:
        conn = Connection("outside.cwtest.invalid")
        try:
            sent = {k.lower(): v for k, v in headers}
            conn.putrequest(method, "/", skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                if key.lower() not in ("content-length", "transfer-encoding", "host"):
                    conn.putheader(key, value)
            conn.putheader("host", sent.get("host") or "outside.cwtest.invalid")
            conn.putheader(URL_HEADER, url)
            conn.putheader(CLIENT_HEADER, client)
            conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            return (response.status, response.reason, list(response.getheaders()), data,
                    response.getheader(ANSWER_HEADER) or "refused")
        finally:
            conn.close()
    finally:
        channel.leave()


class ChildRouter:
    """The workflow's process: the runtime is ``sim_base``'s origin; every other request goes to the
    parent's outside world (``outside_socket``) and is reported as ``egress``."""

    def __init__(self, httpx: Any, sim_base: str, sim_socket: str, outside_socket: str) -> None:
        from urllib.parse import urlsplit

        sim = urlsplit(sim_base)
        self.host = (sim.hostname or "").lower()
        self.origin = (sim.scheme, self.host, sim.port or (443 if sim.scheme == "https" else 80))
        self.unix = UnixRuntime(httpx, sim_socket) if httpx is not None else None
        self.outside_socket = outside_socket
        # The async clients' requests are forwarded from a thread of this pool, never from the
        # loop's; its first worker starts now, not during a request (the loop would wait for it).
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cwtest-outside")
        self._pool.submit(int).result()

    def runtime(self, request: Any) -> Optional[UnixRuntime]:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        return self.unix if (url.scheme, (url.host or "").lower(), port) == self.origin else None

    def runtime_hosts(self) -> Tuple[str, ...]:
        return (self.host,)

    def outside(self, client: str, method: str, url: str, headers: List[Tuple[str, str]], body: bytes,
                frames: List[Any]) -> Optional[Answer]:
        try:
            answer = forward(self.outside_socket, client, method, url, headers, body)
        except OSError:
            answer = None
        source = answer[4] if answer is not None else "refused"
        _where.location = channel.egress(client, method, url, _ANSWERED.get(source, "refused"), frames)
        return None if answer is None or source not in _ANSWERED else answer

    async def outside_async(self, client: str, method: str, url: str, headers: List[Tuple[str, str]], body: bytes,
                            frames: List[Any]) -> Optional[Answer]:
        import asyncio

        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self._pool, self._forward, client, method, url, headers, body)
        source = answer[4] if answer is not None else "refused"
        _where.location = channel.egress(client, method, url, _ANSWERED.get(source, "refused"), frames)
        return None if answer is None or source not in _ANSWERED else answer

    def _forward(self, client: str, method: str, url: str, headers: List[Tuple[str, str]],
                 body: bytes) -> Optional[Answer]:
        try:
            return forward(self.outside_socket, client, method, url, headers, body)
        except OSError:
            return None


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


def mark_refused_connections(config: Dict[str, Any]) -> None:
    """A lookup or a connection the sandbox refuses raises, as with no network; its error is marked
    as cwtest's stand-in, so that a failure it causes (a database driver that cannot reach
    ``DB_HOST``) is attributed to the missing server, never to the workflow."""
    original_lookup = socket.getaddrinfo
    original_connect = socket.socket.connect

    def getaddrinfo(name: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_lookup(name, service, *args, **kwargs)
        except OSError as exc:
            text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
            raise mark(exc, "egress", "%s:%s" % (text, service), _location()) from None

    def connect(self: Any, address: Any) -> Any:
        try:
            return original_connect(self, address)
        except BlockingIOError:
            raise
        except OSError as exc:
            if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
                mark(exc, "egress", "%s:%s" % (address[0], address[1]), _location())
            raise

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]


def _location() -> Optional[str]:
    return stacks.location(stacks.frames_of(sys._getframe(2)))
