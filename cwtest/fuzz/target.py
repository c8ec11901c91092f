"""What the fuzzer drives: a ``Target`` (a booted workflow), and ``InProcessTarget`` for tests.

The engine never touches a workflow directly. It asks a target for the app's OpenAPI document,
sends it one request at a time, and reads back a :class:`~cwtest.results.Response`: the status, the body, and the
exceptions the workflow let escape while answering, already trimmed to the workflow's own frames.
The target also exposes the workflow's :class:`~cwtest.simulator.SimulatedRuntime`, which the
engine scripts (faults) and reads (the service calls of each request).

Two targets meet the contract:

* :class:`InProcessTarget` (here): the workflow imported into this process, its FastAPI app
  driven through ``httpx.ASGITransport``, its httpx traffic to the runtime routed to
  ``runtime.app`` in-process. For tests and benchmarks: no subprocess, no sandbox. It shares the
  sandboxed child's code where the two must behave alike (``cwtest.harness.child``): the httpx
  routing (``outbound``), the exception report (``stacks``), which object is the app (``serve``).
* :class:`~cwtest.harness.workflow.BootedWorkflow`: a workflow booted by the sandboxed harness
  (``cwtest run``, the pytest plugin): the app in its own process, reached over a Unix socket,
  exceptions sent back over the event socket. ``docs/cwtest/fuzz.md`` lists what it must do to
  be equivalent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from cwtest.fuzz.routing import ROUTER
from cwtest.harness.child import protocol, serve, stacks, watch
from cwtest.harness.child.outbound import FAULT_HEADER
from cwtest.harness.child.stacks import package_of
from cwtest.results import NO_BODY, Block, ExceptionInfo, Frame, Response, StandIn, display_path
from cwtest.workflow_env import header_of, workflow_env

if TYPE_CHECKING:
    from cwtest.outbound import ExternalResponse
    from cwtest.simulator.runtime import SimulatedRuntime

def exception_of(exc: BaseException, workflow_file: str | None) -> ExceptionInfo:
    """The report the sandboxed child would send for ``exc`` (``stacks.exception_report``),
    decoded as the sandbox target decodes it: one path for both targets."""
    message = protocol.ExceptionReport(**stacks.exception_report(exc, workflow_file or ""))
    decoded = protocol.decode(protocol.encode(message).rstrip(b"\n"), protocol.CHILD)
    assert isinstance(decoded, protocol.ExceptionReport)
    return exception_info(decoded)


def exception_info(report: protocol.ExceptionReport | protocol.Swallowed) -> ExceptionInfo:
    """The checks' view of an ``exception`` message (``stacks.exception_report``), from either target.

    The report has the class hierarchy (``mro``), the frames with their source lines and the
    packages passed through (``via``); its message is ``format_exception_only``'s text, whose head
    (``json.decoder.JSONDecodeError: ``) is dropped here.
    """
    short = report.exc_type or "Exception"
    text = report.message or short
    mro = report.mro or (f"builtins.{short}",)
    head, sep, rest = text.partition(": ")
    if sep and head.rsplit(".", 1)[-1] == short:
        message = rest
    else:  # no message (``httpx.ReadTimeout``), or a text cut at its start (its last 2,000 characters)
        message = "" if text.rsplit(".", 1)[-1] == short else text
    return ExceptionInfo(type=mro[0].removeprefix("builtins."), message=message.strip(),
                         frames=tuple(Frame(*frame) for frame in report.frames), mro=tuple(mro),
                         location=report.location, via=tuple(report.via),
                         standins=tuple(StandIn(kind, detail, location or None)
                                        for kind, detail, location in report.standins),
                         phase=getattr(report, "phase", None), caught=getattr(report, "caught", None),
                         clause=getattr(report, "clause", ""), doc=getattr(report, "doc", None))


def watched(messages: list[protocol.Message], number: int) -> dict[str, Any]:
    """What the child's watch (``cwtest.harness.child.watch``) said about request ``number``, as the
    fields of its :class:`~cwtest.results.Response`: one reading for both targets."""
    mine = [m for m in messages if getattr(m, "request", None) == number]
    return {
        "swallowed": tuple(exception_info(m) for m in mine if isinstance(m, protocol.Swallowed)),
        "blocks": tuple(Block(m.milliseconds, m.count, m.location, m.source, m.call, tuple(m.stack), m.cwtest)
                        for m in mine if isinstance(m, protocol.Blocked)),
        "logs": tuple(f"{m.level} {m.logger}: {m.message} ({display_path(m.location)})"
                      for m in mine if isinstance(m, protocol.Log)),
        "pending": sum(m.pending for m in mine if isinstance(m, protocol.Done)),
    }


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
      ``from_path`` sets the variables the header declares, as the sandbox does
      (``cwtest.workflow_env``: these three only where declared, so a sync ``CodewordsClient``
      whose ``RUNTIME_URI`` is not declared calls the real runtime's URL in both targets);
    * httpx is routed by the sandboxed child's own code (``cwtest.harness.child.outbound``):
      requests for that host go to ``runtime.app`` in-process; an answer carrying
      ``x-cwtest-fault: timeout`` becomes an ``httpx.ReadTimeout`` at once, and a dropped
      connection an ``httpx.RemoteProtocolError``; a relative URL or another scheme raises
      ``httpx.UnsupportedProtocol``; any other request is never sent: answered by the target's
      outside world (``mock_external``, the longest URL prefix wins) or refused with
      ``httpx.ConnectError``, and recorded in ``external``;
    * httpx's SSL contexts are shared (each costs ~80 ms and the client builds one per
      ``AsyncCodewordsClient``);
    * the app's lifespan runs (startup at open, shutdown at close) on one event loop that lives
      as long as the target, so module-level clients bound to a loop keep working.

    Exceptions are captured by the child's own wrapper around the app (``serve.wrap``): Starlette's
    ``ServerErrorMiddleware`` answers 500 (through the client's patched handler, if any) and
    re-raises, and the wrapper records the exception and swallows it once the answer has started.
    The wrapper also watches each request as the sandbox does (``cwtest.harness.child.watch``):
    exceptions broad handlers swallowed (``from_path`` compiles the workflow with the hook), the
    tasks it started (awaited, up to ``wait`` seconds), WARNING records, and, with
    ``block_threshold`` above 0, callbacks that hold the loop (``Response.swallowed``, ``blocks``,
    ``logs``, ``pending``). Deliberate
    ``HTTPException`` s and the client's own ``HTTPStatusError`` (mapped to the upstream status by
    the client's handler) are handled inside the app and never reach it. Exceptions of tasks the
    app spawned and never awaited are caught by the loop's exception handler.
    """

    def __init__(self, app: Any, runtime: SimulatedRuntime | None = None, *, workflow_file: str | Path | None = None,
                 base_url: str = "http://127.0.0.1:8000", env: Mapping[str, str] | None = None,
                 module: ModuleType | None = None, lifespan: bool = True, runtime_host: str | None = None,
                 exact_env: bool = False, block_threshold: float = 0.1, wait: float = 30.0) -> None:
        from cwtest.simulator.runtime import SimulatedRuntime

        self.app = app
        self._runtime = runtime if runtime is not None else SimulatedRuntime()
        self._base_url = base_url
        self._workflow_file = str(Path(workflow_file).resolve()) if workflow_file else _endpoint_file(app)
        self.module = module
        self.runtime_host = runtime_host or f"runtime-{next(_counter)}.cwtest.invalid"
        self.runtime_url = f"http://{self.runtime_host}"
        #: The workflow's variables: exactly ``env`` with ``exact_env`` (``from_path``: the header's),
        #: else ``env`` and the runtime's three.
        self.env = dict(env or {}) if exact_env else {
            **(env or {}), "CODEWORDS_API_KEY": self._runtime.api_key, "CODEWORDS_RUNTIME_URI": self.runtime_url,
            "RUNTIME_URI": self.runtime_url}
        #: Outbound requests to anything but the runtime, never sent: ``{"method", "url", "answer"}``.
        self.external: list[dict[str, Any]] = []
        #: Who answers them (``mock_external``; else refused), as in the sandbox.
        from cwtest.outbound import OutsideWorld

        self.world = OutsideWorld()
        self._standins: list[StandIn] = []
        self._schema: dict[str, Any] | None = None
        self._current: list[ExceptionInfo] | None = None
        self._stray: list[ExceptionInfo] = []
        self._closed = False
        #: What the watch (``cwtest.harness.child.watch``, as in the sandbox) said, for the request in flight.
        self._messages: list[protocol.Message] = []
        self._numbers = itertools.count(1)
        self._wrapped = serve.wrap(app, self._sink, wait, self._workflow_file)
        self.block_threshold = block_threshold
        self._watchdog: watch.Watchdog | None = None
        self._saved_env: dict[str, str | None] = {}
        self._apply_env()
        ROUTER.add(self)
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
        host = f"runtime-{next(_counter)}.cwtest.invalid"
        env = {**workflow_env(header_of(path), api_key=runtime.api_key, runtime_url=f"http://{host}"),
               **kwargs.pop("env", {})}
        with _environ(env):
            module = import_workflow(path)
        app = find_app(module, app_name)
        return cls(app, runtime, workflow_file=path, env=env, module=module, runtime_host=host, exact_env=True,
                   **kwargs)

    def mock_external(self, url: str, response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes,
                      method: str | None = None) -> None:
        """Answer outbound httpx requests whose URL starts with ``url``, as the harness's
        ``mock_external`` does (a dict or list is a 200 JSON body, a str a text body, bytes a raw
        body; ``ExternalResponse`` sets the status and headers; the longest prefix wins)."""
        self.world.mock(url, response, method)

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
        if self._watchdog is not None:
            self._watchdog.stop()
        try:
            if self._lifespan is not None:
                self._runner.run(self._lifespan.shutdown())
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()
            ROUTER.remove(self)
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
        self._standins = []
        self._messages = []
        if self._watchdog is None and self.block_threshold > 0:  # on the loop's thread
            self._watchdog = watch.Watchdog(self.block_threshold)
            self._watchdog.start()
        number = next(self._numbers)
        kwargs: dict[str, Any] = {"headers": {**header_values(headers), watch.REQUEST_HEADER.decode(): str(number)},
                                  "params": query_params(query)}
        request_body(kwargs, json_body, form, files)
        started = time.perf_counter()
        try:
            response = await self._client.request(method, path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the app failed before answering; the outcome says so
            self._current = None
            return Response(None, None, time.perf_counter() - started,
                            tuple(self._escaped(number) + captured + self._take_stray()),
                            error=f"{type(exc).__name__}: {exc}", standins=tuple(self._standins),
                            **watched(self._messages, number))
        # Let tasks the request scheduled without awaiting run a step, so their failures count here.
        await asyncio.sleep(0)
        self._current = None
        elapsed = time.perf_counter() - started
        text = response.text
        try:
            body: Any = response.json() if text else None
        except ValueError:
            body = text
        return Response(response.status_code, body, elapsed, tuple(self._escaped(number) + captured + self._take_stray()),
                        dict(response.headers), text, standins=tuple(self._standins), **watched(self._messages, number))

    def _sink(self, message: protocol.Message) -> None:
        """The watch's messages, through the wire format (as the sandbox's parent reads them)."""
        decoded = protocol.decode(protocol.encode(message).rstrip(b"\n"), protocol.CHILD)
        self._messages.append(decoded)

    def _escaped(self, number: int) -> list[ExceptionInfo]:
        return [exception_info(m) for m in self._messages
                if isinstance(m, protocol.ExceptionReport) and m.request in (number, None)]

    async def _asgi(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        started = False

        async def send_tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self._wrapped(scope, receive, send_tracked)  # reports what escapes (serve.wrap)
        except Exception:  # noqa: BLE001 - reported by the wrapper already; answered here as uvicorn would
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})

    def _record(self, exc: BaseException) -> None:
        info = exception_of(exc, self._workflow_file)
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
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request,
                              extensions=response.extensions)


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
    return serve.load_module(name, str(path))


def find_app(module: ModuleType, name: str | None = None) -> Any:
    """The module's FastAPI object: ``name`` if given, else ``app``, else the first (the child's rule,
    ``serve.find_app``); ``LookupError`` when there is none."""
    return serve.find_app(module, name)[1]


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


def header_values(headers: Mapping[str, str] | None) -> dict[str, str | bytes]:
    """Header values as a client puts them on the wire: ASCII as text, anything else as its UTF-8
    bytes (obs-text, which servers read as latin-1); httpx itself would refuse non-ASCII text."""
    return {name: value if value.isascii() else value.encode("utf-8") for name, value in (headers or {}).items()}


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


def connection_fault() -> Any:
    """The scripted answer that makes the target raise the client's ``httpx.ConnectError`` at once
    (a 503 carrying ``x-cwtest-fault: connect``)."""
    from cwtest.simulator.script import Reply

    return Reply({"detail": "cwtest: simulated connection error"}, 503, headers={FAULT_HEADER: "connect"})


def timeout_fault() -> Any:
    """The scripted answer that makes the target raise the client's ``httpx.ReadTimeout`` at once.

    A 504 carrying ``x-cwtest-fault: timeout``: a transport that knows the signal raises the
    timeout; one that does not still delivers an error (``HTTPStatusError`` in the client).
    """
    from cwtest.simulator.script import Reply

    return Reply({"detail": "cwtest: simulated timeout"}, 504, headers={FAULT_HEADER: "timeout"})


__all__ = [
    "FAULT_HEADER", "NO_BODY", "InProcessTarget", "Target", "connection_fault", "exception_info", "exception_of",
    "find_app",
    "import_workflow", "package_of", "qualified_name", "query_params", "request_body", "timeout_fault",
]
