"""Import the workflow, find its app, serve it; every way that fails is a ``boot-failure``.

``find_app`` is the one rule for which FastAPI object is the workflow's app (``app`` if there is
one, else the first), used by the child and by the in-process fuzz target alike. ``load_module``
imports a file under a name of its own (never as ``__main__``, so ``run_service`` never runs).

In the child: ``import_workflow`` turns each import failure into its boot finding (syntax error,
missing dependency, crash); ``serve`` runs uvicorn on the app's Unix socket with ``wrap``, which
reports every exception that escapes the app (an ``exception`` message), and sends ``ready`` once
the server has started, or the lifespan's failure.

Standard library only (fastapi and uvicorn are the workflow's own), Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import socket
import sys

from . import channel, protocol, stacks, watch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Dict, List, NoReturn, Optional, Tuple

#: The event loop uvicorn serves on (for the stacks of its tasks).
loop: Any = None
_lifespan_failure: List[str] = []


class NoApp(LookupError):
    """The module has no FastAPI object to serve; ``str()`` says why."""


class _WatchedLoader(importlib.machinery.SourceFileLoader):
    """Compiles the workflow with its broad handlers reporting what they catch (``watch``), from
    its source (never from a cached ``.pyc``, which would not have the hook)."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return watch.compile_workflow(self.get_data(path), path)


def load_module(name: str, path: str) -> ModuleType:
    """Import the file at ``path`` as the module ``name`` (registered in ``sys.modules`` first),
    compiled by ``watch.compile_workflow``."""
    spec = importlib.util.spec_from_file_location(name, path, loader=_WatchedLoader(name, path))
    if spec is None or spec.loader is None:
        raise ImportError("cannot import %s" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def find_app(module: ModuleType, name: Optional[str] = None) -> Tuple[str, Any, List[str]]:
    """(name, app, the names of every FastAPI object): ``name`` if given, else ``app``, else the first.

    Raises ``NoApp`` when there is none (or fastapi is not installed).
    """
    if name is not None:
        if not hasattr(module, name):
            raise NoApp("%s has no attribute %r" % (getattr(module, "__file__", module), name))
        return name, getattr(module, name), [name]
    try:
        from fastapi import FastAPI
    except ImportError:
        raise NoApp("fastapi is not installed in the environment, so the workflow has no FastAPI app") from None
    found: List[Tuple[str, Any]] = []
    for key, value in list(vars(module).items()):
        if isinstance(value, FastAPI) and all(value is not v for _, v in found):
            found.append((key, value))
    if not found:
        raise NoApp("no module-level FastAPI object (the harness serves a module-level `app = FastAPI(...)`)")
    chosen = next(((n, v) for n, v in found if n == "app"), found[0])
    return chosen[0], chosen[1], [n for n, _ in found]


# --- the child ----------------------------------------------------------------------------------


def fail(kind: protocol.BootKind, detail: str, **extra: Any) -> NoReturn:
    """Report a boot failure and end the process (status 3)."""
    channel.send(protocol.BootFailure(kind=kind, detail=detail, **extra))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(3)


def import_workflow(name: str, path: str) -> ModuleType:
    try:
        return load_module(name, path)
    except SyntaxError as exc:
        if exc.filename and os.path.abspath(exc.filename) == path:
            text = (exc.text or "").rstrip()
            fail("syntax-error", "%s: %s" % (type(exc).__name__, exc.msg), location="%s:%s" % (path, exc.lineno),
                 stack=[text] if text else [])
        fail("import-crash", **_crash(exc))
    except ModuleNotFoundError as exc:
        report = stacks.exception_report(exc)
        fail("missing-dependency", "No module named %r: the environment built from the header does not provide it"
             % (exc.name,), location=report["location"], stack=report["stack"], module=exc.name)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and MemoryError included
        fail("import-crash", **_crash(exc))


def _crash(exc: BaseException) -> Dict[str, Any]:
    report = stacks.exception_report(exc)
    return {"detail": report["message"], "location": report["location"], "stack": report["stack"],
            "exc_type": report["exc_type"]}


def wrap(app: Any, sink: Any = None, wait: float = 30.0, workflow: Optional[str] = None) -> Any:
    """Report every exception that escapes the app, and a failing lifespan startup; watch each
    request the parent numbered (``watch``), and say when it is ``done``.

    Starlette re-raises an exception after its 500 handler has answered; uvicorn would then log it
    and close the connection. Once the answer has started, the exception is reported and
    swallowed, so the connection stays usable; before that, it goes on to uvicorn (which answers
    500). One raised after the whole answer (not the 500 Starlette's error middleware sends before it
    re-raises) is a ``BackgroundTasks`` function's (``phase``). A
    lifespan startup failure reaches uvicorn only as text (``lifespan.startup.failed``).

    ``sink`` takes the messages (the child: ``channel.send``; the in-process target keeps them);
    ``wait``: how long a request's tasks may run on after it before ``done`` is sent without them.
    """
    sink = sink or channel.send
    watch.install_log_hook()

    async def asgi(scope: Dict[str, Any], receive: Any, send_: Any) -> None:
        if scope.get("type") == "lifespan":
            async def send_lifespan(message: Dict[str, Any]) -> None:
                if message.get("type") == "lifespan.startup.failed":
                    _lifespan_failure.append(message.get("message") or "")
                await send_(message)

            return await app(scope, receive, send_lifespan)
        started = []
        finished = []
        number = watch.take_number(scope) if scope.get("type") == "http" else None
        state = token = None
        deadline = 0.0
        if number is not None:
            import asyncio
            import time

            watch.track_tasks(asyncio.get_running_loop())
            state, token = watch.begin(number, sink, workflow)
            deadline = time.monotonic() + wait

        async def send_http(message: Dict[str, Any]) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                started.append(message.get("status", 200))
            elif kind == "http.response.body" and not message.get("more_body"):
                finished.append(True)
            await send_(message)

        try:
            await app(scope, receive, send_http)
        except Exception as exc:
            if scope.get("type") == "http":
                sink(protocol.ExceptionReport(method=scope.get("method"), path=scope.get("path"), request=number,
                                              # after a whole answer that was not Starlette's 500 for it
                                              phase="background" if finished and started[0] < 500 else None,
                                              **stacks.exception_report(exc, workflow)))
            if not started:
                raise
        finally:
            if state is not None:
                import time

                # done before the parent's deadline for the request (it stops waiting then)
                await watch.end(state, token, deadline - time.monotonic() - 0.5)

    return asgi


def lifespan_failure_report(text: str) -> Dict[str, Any]:
    """Detail, location and stack of a lifespan startup traceback, from its text."""
    import re

    frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in
              re.finditer(r'File "([^"]+)", line (\d+), in (\S+)', text)]
    kept = [f for f in frames if f[0] == stacks.WORKFLOW]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    detail = "the lifespan startup failed: " + (lines[-1].strip() if lines else "no message")
    return {"detail": detail, "location": stacks.location(kept), "stack": stacks.render(kept)}


#: What the child asks of uvicorn; ``uvicorn_config`` passes only what the installed version has.
UVICORN_OPTIONS = {"lifespan": "auto", "log_level": "warning", "access_log": False, "loop": "asyncio",
                   "timeout_graceful_shutdown": 1}


def uvicorn_config(uvicorn: Any, app: Any) -> Any:
    """A ``uvicorn.Config`` for every uvicorn from 0.13 on that a workflow may pin: the options its
    ``Config`` does not take (``timeout_graceful_shutdown`` came in 0.20) are left out, not guessed
    from a version number."""
    import inspect

    try:
        accepted = set(inspect.signature(uvicorn.Config.__init__).parameters)
    except (TypeError, ValueError):
        accepted = set(UVICORN_OPTIONS)
    return uvicorn.Config(app, **{k: v for k, v in UVICORN_OPTIONS.items() if k in accepted})


def serve(app: Any, name: str, names: List[str], app_socket: str, watching: Optional[Dict[str, Any]] = None) -> NoReturn:
    """Serve ``app`` on ``app_socket``; ``watching``: ``block_threshold`` (seconds; 0: no watchdog) and
    ``wait`` (seconds a request's tasks may run on after it)."""
    settings: Dict[str, Any] = watching or {}
    try:
        import uvicorn
    except ImportError:
        fail("no-server", "uvicorn is not installed in the environment")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.enter()
    try:
        sock.bind(app_socket)
    finally:
        channel.leave()
    sock.listen(128)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            global loop
            import asyncio

            loop = asyncio.get_running_loop()
            threshold = float(settings.get("block_threshold") or 0)
            if threshold > 0:
                watch.Watchdog(threshold).start()
            await super().startup(sockets=sockets)
            if not self.should_exit:
                channel.send(protocol.Ready(app=name, apps=names))
            elif _lifespan_failure:
                report = lifespan_failure_report(_lifespan_failure[0])
                fail("boot-crash", report["detail"], location=report["location"], stack=report["stack"])

        def install_signal_handlers(self) -> None:
            pass  # the parent ends the process; Ctrl-C in a terminal reaches cwtest, not the workflow

    wrapped = wrap(app, channel.send, float(settings.get("wait", 30.0)), stacks.WORKFLOW)
    Server(uvicorn_config(uvicorn, wrapped)).run(sockets=[sock])
    fail("boot-crash", "the server stopped: uvicorn exited (a failing lifespan startup, see stderr)")
