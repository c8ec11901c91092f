"""What the fuzzer drives: a ``Target`` (a booted workflow), and ``InProcessTarget`` for tests.

The engine never touches a workflow directly. It asks a target for the app's OpenAPI document,
sends it one request at a time, and reads back a :class:`~cwtest.results.Response`: the status, the body, and the
exceptions the workflow let escape while answering, already trimmed to the workflow's own frames.
The target also exposes the workflow's :class:`~cwtest.simulator.SimulatedRuntime`, which the
engine scripts (faults) and reads (the service calls of each request).

Two targets meet the contract:

* :class:`InProcessTarget` (here): the workflow imported into this process, its FastAPI app
  driven through ``httpx.ASGITransport``, its httpx traffic to the runtime routed to
  ``runtime.app`` in-process. For tests and benchmarks: no subprocess, no sandbox.
* :class:`~cwtest.fuzz.sandbox_target.SandboxTarget`: a workflow booted by the sandboxed harness
  (``cwtest run``, the pytest plugin): the app in its own process, reached over a Unix socket,
  exceptions sent back over the event socket. ``docs/cwtest/fuzz.md`` lists what it must do to
  be equivalent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
import sys
import threading
import time
import sysconfig
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from cwtest.results import NO_BODY, ExceptionInfo, Frame, Response

if TYPE_CHECKING:
    from cwtest.simulator.runtime import SimulatedRuntime

#: The response header the simulator sets on a scripted timeout (see :func:`timeout_fault`); the
#: target's transport turns such an answer into the client's own ``httpx.ReadTimeout`` at once.
FAULT_HEADER = "x-cwtest-fault"


def exception_info(exc: BaseException, workflow_file: str | None) -> ExceptionInfo:
    """The checks' view of an exception the in-process app let escape."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = _first_leaf(exc)
    summary = traceback.extract_tb(exc.__traceback__)
    frames = [Frame(f.filename, f.lineno or 0, f.name, (f.line or "").strip()) for f in summary]
    own = [f for f in frames if workflow_file and _same_file(f.file, workflow_file)]
    kept = list(own)
    if frames and (not kept or kept[-1] != frames[-1]):
        kept.append(frames[-1])
    location = f"{own[-1].file}:{own[-1].line}" if own else None
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    message = text.partition(": ")[2] if ": " in text.splitlines()[0] else str(exc)
    below = frames[frames.index(own[-1]) + 1:] if own else frames
    via = tuple(dict.fromkeys(package_of(f.file) for f in below))
    return ExceptionInfo(type=qualified_name(type(exc)), message=message[:2000], frames=tuple(kept or frames[-3:]),
                         mro=tuple(qualified_name(c, builtins_prefix=True) for c in type(exc).__mro__),
                         location=location, via=via)


# --- the contract -------------------------------------------------------------------------------

@runtime_checkable
class Target(Protocol):
    """A booted workflow the fuzzer can drive; see ``docs/cwtest/fuzz.md`` for the full contract."""

    @property
    def schema(self) -> dict[str, Any]:
        """The app's OpenAPI document (what ``GET /openapi.json`` serves)."""
        ...

    @property
    def runtime(self) -> SimulatedRuntime:
        """The simulator this workflow's client talks to, scripted and read by the engine."""
        ...

    @property
    def base_url(self) -> str:
        """Where a human reaches the app (used in the ``curl`` command of a report)."""
        ...

    @property
    def workflow_file(self) -> str | None:
        """The workflow's source file, whose frames tracebacks are trimmed to."""
        ...

    def send(self, method: str, path: str, json_body: Any = NO_BODY, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
             files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
        """One request, synchronously; never raises for the workflow's faults."""
        ...


# --- the in-process target -----------------------------------------------------------------------

_counter = itertools.count(1)


class InProcessTarget:
    """A workflow's FastAPI app in this process, wired to an in-process simulator.

    ``InProcessTarget(app, runtime)`` takes an app already imported; ``from_path(file, runtime)``
    imports the workflow first (with its declared environment variables set, never running
    ``__main__``). While the target is open:

    * ``CODEWORDS_API_KEY``, ``CODEWORDS_RUNTIME_URI`` and ``RUNTIME_URI`` point at the runtime
      (a host of its own, ``http://runtime-N.cwtest.invalid``), set again before every request;
    * ``httpx.AsyncHTTPTransport`` and ``httpx.HTTPTransport`` send requests for that host to
      ``runtime.app`` in-process; an answer carrying ``x-cwtest-fault: timeout`` becomes an
      ``httpx.ReadTimeout`` at once, and a dropped connection an ``httpx.RemoteProtocolError``;
      any other host is answered 599 and recorded in ``external`` (never sent, like the harness);
    * httpx's SSL contexts are shared (each costs ~80 ms and the client builds one per
      ``AsyncCodewordsClient``);
    * the app's lifespan runs (startup at open, shutdown at close) on one event loop that lives
      as long as the target, so module-level clients bound to a loop keep working.

    Exceptions are captured by a wrapper around the app: Starlette's ``ServerErrorMiddleware``
    answers 500 (through the client's patched handler, if any) and re-raises, and the wrapper
    records the exception and swallows it once the answer has started. Deliberate
    ``HTTPException`` s and the client's own ``HTTPStatusError`` (mapped to the upstream status by
    the client's handler) are handled inside the app and never reach it. Exceptions of tasks the
    app spawned and never awaited are caught by the loop's exception handler.
    """

    def __init__(self, app: Any, runtime: SimulatedRuntime | None = None, *, workflow_file: str | Path | None = None,
                 base_url: str = "http://127.0.0.1:8000", env: Mapping[str, str] | None = None,
                 module: ModuleType | None = None, lifespan: bool = True, runtime_host: str | None = None) -> None:
        from cwtest.simulator.runtime import SimulatedRuntime

        self.app = app
        self._runtime = runtime if runtime is not None else SimulatedRuntime()
        self._base_url = base_url
        self._workflow_file = str(Path(workflow_file).resolve()) if workflow_file else _endpoint_file(app)
        self.module = module
        self.runtime_host = runtime_host or f"runtime-{next(_counter)}.cwtest.invalid"
        self.runtime_url = f"http://{self.runtime_host}"
        self.env = {**(env or {}), "CODEWORDS_API_KEY": self._runtime.api_key,
                    "CODEWORDS_RUNTIME_URI": self.runtime_url, "RUNTIME_URI": self.runtime_url}
        #: Outbound requests to anything but the runtime: answered 599, never sent.
        self.external: list[dict[str, Any]] = []
        self._schema: dict[str, Any] | None = None
        self._current: list[ExceptionInfo] | None = None
        self._stray: list[ExceptionInfo] = []
        self._closed = False
        self._saved_env: dict[str, str | None] = {}
        self._apply_env()
        _ROUTER.add(self)
        self._runner = asyncio.Runner()
        self._loop = self._runner.get_loop()
        self._loop.set_exception_handler(self._loop_exception)
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self._asgi, raise_app_exceptions=False),
                                         base_url="http://workflow.cwtest", timeout=None)
        self._lifespan: _Lifespan | None = None
        if lifespan:
            self._lifespan = _Lifespan(app)
            try:
                self._runner.run(self._lifespan.startup())
            except BaseException:
                self.close()
                raise

    @classmethod
    def from_path(cls, path: str | Path, runtime: SimulatedRuntime | None = None, *, app_name: str | None = None,
                  **kwargs: Any) -> InProcessTarget:
        """Import the workflow at ``path`` (never as ``__main__``) and open a target on its app."""
        from cwtest.simulator.runtime import SimulatedRuntime

        path = Path(path).resolve()
        runtime = runtime if runtime is not None else SimulatedRuntime()
        env = {**declared_env(path), **kwargs.pop("env", {})}
        host = f"runtime-{next(_counter)}.cwtest.invalid"
        env.update({"CODEWORDS_API_KEY": runtime.api_key, "CODEWORDS_RUNTIME_URI": f"http://{host}",
                    "RUNTIME_URI": f"http://{host}"})
        with _environ(env):
            module = import_workflow(path)
        app = find_app(module, app_name)
        return cls(app, runtime, workflow_file=path, env=env, module=module, runtime_host=host, **kwargs)

    # --- the contract ----------------------------------------------------------------------------

    @property
    def runtime(self) -> SimulatedRuntime:
        return self._runtime

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def workflow_file(self) -> str | None:
        return self._workflow_file

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            outcome = self.send("GET", "/openapi.json")
            if outcome.status != 200 or not isinstance(outcome.body, dict):
                raise RuntimeError(f"the app serves no OpenAPI document (GET /openapi.json: {outcome.status})")
            self._schema = outcome.body
        return self._schema

    def send(self, method: str, path: str, json_body: Any = NO_BODY, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
             files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
        if self._closed:
            raise RuntimeError("the target is closed")
        self._apply_env()
        return self._runner.run(self._send(method, path, json_body, headers, query, form, files))

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._lifespan is not None:
                self._runner.run(self._lifespan.shutdown())
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()
            _ROUTER.remove(self)
            self._restore_env()
            if self.module is not None:
                sys.modules.pop(self.module.__name__, None)

    def __enter__(self) -> InProcessTarget:  # noqa: PYI034
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, json_body: Any, headers: Mapping[str, str] | None,
                    query: Mapping[str, Any] | None, form: Mapping[str, str] | None = None,
                    files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
        captured: list[ExceptionInfo] = []
        self._current = captured
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": query_params(query)}
        request_body(kwargs, json_body, form, files)
        started = time.perf_counter()
        try:
            response = await self._client.request(method, path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the app failed before answering; the outcome says so
            self._current = None
            return Response(None, None, time.perf_counter() - started, tuple(captured + self._take_stray()),
                            error=f"{type(exc).__name__}: {exc}")
        # Let tasks the request scheduled without awaiting run a step, so their failures count here.
        await asyncio.sleep(0)
        self._current = None
        elapsed = time.perf_counter() - started
        text = response.text
        try:
            body: Any = response.json() if text else None
        except ValueError:
            body = text
        return Response(response.status_code, body, elapsed, tuple(captured + self._take_stray()),
                       dict(response.headers), text)

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = False

        async def send_tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:  # noqa: BLE001 - every escaped exception is recorded, whatever it is
            self._record(exc)
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})

    def _record(self, exc: BaseException) -> None:
        info = exception_info(exc, self._workflow_file)
        if self._current is not None:
            self._current.append(info)
        else:
            self._stray.append(info)

    def _take_stray(self) -> list[ExceptionInfo]:
        stray, self._stray = self._stray, []
        return stray

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, Exception):
            self._record(exc)
        else:
            loop.default_exception_handler(context)

    def _apply_env(self) -> None:
        for name, value in self.env.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    # --- the runtime side (called by the transport patch) ----------------------------------------

    async def _to_runtime(self, request: httpx.Request) -> httpx.Response:
        from cwtest.simulator.app import ConnectionDropped

        transport = httpx.ASGITransport(app=self._runtime.app)
        body = await request.aread()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                                  extensions=request.extensions)
        try:
            response = await transport.handle_async_request(forwarded)
            content = await response.aread()
        except ConnectionDropped:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body "
                                            "(cwtest: DropConnection)", request=request) from None
        if response.headers.get(FAULT_HEADER) == "timeout":
            raise httpx.ReadTimeout("cwtest: simulated timeout (the service did not answer in time)",
                                    request=request)
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request,
                              extensions=response.extensions)


# --- routing httpx to the in-process runtimes -----------------------------------------------------

class _Router:
    """Patches httpx's transports while at least one target is open; routes by runtime host."""

    def __init__(self) -> None:
        self.targets: dict[str, InProcessTarget] = {}
        self.lock = threading.Lock()
        self.saved: tuple[Any, ...] | None = None
        self.bridge: _BridgeLoop | None = None

    def add(self, target: InProcessTarget) -> None:
        with self.lock:
            self.targets[target.runtime_host] = target
            if self.saved is None:
                self._install()

    def remove(self, target: InProcessTarget) -> None:
        with self.lock:
            self.targets.pop(target.runtime_host, None)
            if not self.targets and self.saved is not None:
                self._uninstall()

    def _install(self) -> None:
        from httpx._transports import default

        original_async = httpx.AsyncHTTPTransport.handle_async_request
        original_sync = httpx.HTTPTransport.handle_request
        original_ssl = default.create_ssl_context
        self.saved = (original_async, original_sync, original_ssl)
        contexts: dict[Any, Any] = {}
        router = self

        def create_ssl_context(*args: Any, **kwargs: Any) -> Any:
            try:
                key = (args, tuple(sorted(kwargs.items())))
                hash(key)
            except TypeError:
                return original_ssl(*args, **kwargs)
            if key not in contexts:
                contexts[key] = original_ssl(*args, **kwargs)
            return contexts[key]

        async def handle_async_request(transport: Any, request: httpx.Request) -> httpx.Response:
            target = router.targets.get(request.url.host)
            if target is not None:
                return await target._to_runtime(request)
            return router.external(request)

        def handle_request(transport: Any, request: httpx.Request) -> httpx.Response:
            target = router.targets.get(request.url.host)
            if target is not None:
                request.read()
                return router.bridge_loop().run(target._to_runtime(request))
            return router.external(request)

        httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
        default.create_ssl_context = create_ssl_context

    def _uninstall(self) -> None:
        from httpx._transports import default

        assert self.saved is not None
        original_async, original_sync, original_ssl = self.saved
        httpx.AsyncHTTPTransport.handle_async_request = original_async  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request = original_sync  # type: ignore[method-assign]
        default.create_ssl_context = original_ssl
        self.saved = None
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None

    def bridge_loop(self) -> _BridgeLoop:
        with self.lock:
            if self.bridge is None:
                self.bridge = _BridgeLoop()
            return self.bridge

    def external(self, request: httpx.Request) -> httpx.Response:
        for target in list(self.targets.values()):
            target.external.append({"method": request.method, "url": str(request.url)})
        body = json.dumps({"detail": f"cwtest: the request to {request.url} was not sent (tests have no network)"})
        return httpx.Response(599, headers={"content-type": "application/json"}, content=body.encode(),
                              request=request)


class _BridgeLoop:
    """An event loop in a thread of its own, for sync httpx clients calling the in-process runtime."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cwtest-fuzz-bridge", daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)


_ROUTER = _Router()


class _Lifespan:
    """Runs an ASGI app's lifespan protocol, like uvicorn's ``lifespan="auto"``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] | None = None
        self.outbox: asyncio.Queue[dict[str, Any]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.supported = True

    async def startup(self) -> None:
        self.inbox, self.outbox = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

        async def run() -> None:
            assert self.inbox is not None and self.outbox is not None
            try:
                await self.app(scope, self.inbox.get, self.outbox.put)
            except Exception as exc:  # noqa: BLE001
                # An app without lifespan support raises at once: uvicorn's "auto" ignores that.
                await self.outbox.put({"type": "cwtest.unsupported", "error": exc})

        self.task = asyncio.get_running_loop().create_task(run())
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self.outbox.get()
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app's lifespan startup failed: {message.get('message', '')}")
        if message["type"] == "cwtest.unsupported":
            self.supported = False

    async def shutdown(self) -> None:
        if not self.supported or self.inbox is None or self.outbox is None or self.task is None:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.outbox.get(), timeout=5)
        except TimeoutError:
            self.task.cancel()


# --- importing a workflow ---------------------------------------------------------------------------

def import_workflow(path: Path) -> ModuleType:
    """Import the file as a module of its own name (never ``__main__``, so ``run_service`` never runs)."""
    name = f"cwtest_fuzz_{path.stem if path.stem.isidentifier() else 'workflow'}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def find_app(module: ModuleType, name: str | None = None) -> Any:
    """The module's FastAPI object: ``name`` if given, else ``app``, else the first one."""
    from fastapi import FastAPI

    if name is not None:
        return getattr(module, name)
    candidate = getattr(module, "app", None)
    if isinstance(candidate, FastAPI):
        return candidate
    for value in vars(module).values():
        if isinstance(value, FastAPI):
            return value
    raise LookupError(f"{module.__file__} defines no FastAPI app")


def declared_env(path: Path) -> dict[str, str]:
    """The variables the workflow's header declares, with test values (as the harness sets them)."""
    from cwlint.header import parse_header

    header = parse_header(path.read_text(encoding="utf-8", errors="replace"))
    env: dict[str, str] = {}
    for var in header.env_vars if header is not None else []:
        if var.default is not None:
            env[var.name] = var.default
        else:
            env[var.name] = f"cwtest-{var.name.lower().replace('_', '-')}"
    return env


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- helpers ----------------------------------------------------------------------------------------

def qualified_name(cls: type, builtins_prefix: bool = False) -> str:
    """``KeyError``, ``httpx.ReadTimeout``, ``json.JSONDecodeError``: the top-level package and the name."""
    top = cls.__module__.split(".")[0]
    if top == "builtins":
        return f"builtins.{cls.__name__}" if builtins_prefix else cls.__name__
    return f"{top}.{cls.__name__}"


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def package_of(path: str, stdlib: str | None = None) -> str:
    """The top-level package of a source file: ``codewords_client`` for ``.../site-packages/
    codewords_client/redis.py``, ``json`` for the standard library's ``json/decoder.py``, the
    module's name for anything else. The bootstrap repeats this (it imports nothing of ours)."""
    parts = path.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts[:-1]:
            return parts[parts.index(marker) + 1].removesuffix(".py")
    root = (stdlib or sysconfig.get_paths()["stdlib"]).replace("\\", "/").rstrip("/") + "/"
    if path.replace("\\", "/").startswith(root):
        return path.replace("\\", "/")[len(root):].split("/")[0].removesuffix(".py")
    return Path(path).stem


def _same_file(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _short_path(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _endpoint_file(app: Any) -> str | None:
    """The file of the app's first endpoint function: the workflow, for an app given directly."""
    for route in getattr(app, "routes", []):
        endpoint = getattr(route, "endpoint", None)
        code = getattr(endpoint, "__code__", None)
        if code is not None and getattr(route, "include_in_schema", False):
            return str(Path(code.co_filename).resolve())
    return None


def request_body(kwargs: dict[str, Any], json_body: Any, form: Mapping[str, str] | None,
                 files: Mapping[str, tuple[str, bytes]] | None) -> None:
    """httpx's keyword arguments for a JSON body (sent as given, non-ASCII kept) or a form."""
    if json_body is not NO_BODY:
        kwargs["content"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        kwargs["headers"].setdefault("content-type", "application/json")
    elif form is not None or files:
        kwargs["data"] = dict(form or {}) or None
        kwargs["files"] = dict(files) if files else None


def query_params(query: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query values as httpx sends them: booleans as true/false, objects as JSON, lists repeated."""
    if not query:
        return None
    out: dict[str, Any] = {}
    for name, value in query.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[name] = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in value]
        elif isinstance(value, dict):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out


def timeout_fault() -> Any:
    """The scripted answer that makes the target raise the client's ``httpx.ReadTimeout`` at once.

    A 504 carrying ``x-cwtest-fault: timeout``: a transport that knows the signal raises the
    timeout; one that does not still delivers an error (``HTTPStatusError`` in the client).
    """
    from cwtest.simulator.script import Reply

    return Reply({"detail": "cwtest: simulated timeout"}, 504, headers={FAULT_HEADER: "timeout"})


__all__ = [
    "FAULT_HEADER", "NO_BODY", "InProcessTarget", "Target", "declared_env", "exception_info", "find_app", "import_workflow", "qualified_name", "query_params", "timeout_fault",
]

