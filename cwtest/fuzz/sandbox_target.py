"""The fuzzer's Target over a workflow booted by the sandboxed harness (``cwtest.harness``).

``SandboxTarget(booted)`` wraps a ``BootedWorkflow`` (``Harness(...).boot(path)``): requests go
to the app over its Unix socket, the simulator is the workflow's own ``SimulatedRuntime`` (in
this process, so the engine scripts faults on it and reads its calls), and the exceptions the
workflow let escape come back from the bootstrap's ``exception`` events, already trimmed to the
workflow's frames, with their class hierarchy (``mro``) and source lines::

    with Harness(sandbox="auto").boot(Path("workflow.py")) as booted:
        report = fuzz(SandboxTarget(booted), FuzzConfig(seed=0))

``cwtest run`` (``Harness(fuzz=FuzzConfig(...))``) and the pytest plugin both fuzz through it.
For events without ``mro`` (a bootstrap of an older cwtest, or a message cut short) the
hierarchy is rebuilt from the qualified class name for the standard library, httpx, pydantic and
the SDKs a workflow's client raises, never by importing a workflow's own module. A workflow
that hangs or dies ends the search (``WorkflowStopped``) instead of making every later request
look like the same failure.
"""

from __future__ import annotations

import builtins
import importlib
import json
import linecache
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx

from cwtest.fuzz.target import NO_BODY, ExceptionInfo, Frame, Outcome, qualified_name, query_params

#: Libraries whose exception classes may be imported here to rebuild a hierarchy: never the
#: workflow's own module (its name could be anything on this interpreter's path).
_IMPORTABLE = {"httpx", "httpcore", "anyio", "pydantic", "pydantic_core", "starlette", "fastapi", "redis",
               "openai", "anthropic", "h11", "structlog"}
#: The vendor SDKs' errors, when the SDK is not installed here: all derive from ``<sdk>.APIError``.
_SDK_ERRORS = {"APIError", "APIStatusError", "APIConnectionError", "APITimeoutError", "BadRequestError",
               "AuthenticationError", "PermissionDeniedError", "NotFoundError", "ConflictError",
               "UnprocessableEntityError", "RateLimitError", "InternalServerError", "APIResponseValidationError"}
_FRAME = re.compile(r"^(?P<file>.*):(?P<line>\d+) in (?P<function>.*)$")
_QUALNAME = re.compile(r"^[A-Za-z_][\w.]*$")
#: After a 5xx, how long to wait for the bootstrap's report of the exception behind it before
#: asking it for a round trip on the event socket (which orders everything it sent before).
_EXCEPTION_WAIT = 0.05


class WorkflowStopped(RuntimeError):
    """The workflow process hung (and was stopped) or died: no request can be sent any more.

    The request during which it happened gets an ``Outcome`` without a status (so the engine
    records it, with its input); any later one raises this, which ends the search instead of
    letting every later request look like the same failure (and be "shrunk" to nothing).
    """


class SandboxTarget:
    """``cwtest.fuzz.Target`` over a ``cwtest.harness.runner.BootedWorkflow``."""

    def __init__(self, booted: Any, *, base_url: str = "http://127.0.0.1:8000", timeout: float | None = None) -> None:
        self.booted = booted
        self._base_url = base_url
        self._schema: dict[str, Any] | None = None
        self.timeout = timeout if timeout is not None else booted.harness.timeout
        #: Set when the workflow stopped answering (hung, died): later requests fail at once.
        self.dead: str | None = None
        #: Stacks of the workflow's tasks and threads when it hung (for the report).
        self.hang_stacks: dict[str, Any] | None = None

    # --- the Target contract -----------------------------------------------------------------

    @property
    def runtime(self) -> Any:
        return self.booted.runtime

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def workflow_file(self) -> str | None:
        return str(self.booted.path)

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            response = self.booted.client.get("/openapi.json", timeout=self.timeout)
            if response.status_code != 200:
                raise RuntimeError(f"the app serves no OpenAPI document (GET /openapi.json: {response.status_code})")
            self._schema = response.json()
        return self._schema

    def send(self, method: str, path: str, json_body: Any = NO_BODY, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None) -> Outcome:
        started = time.perf_counter()
        if self.dead is not None:
            raise WorkflowStopped(self.dead)
        process = self.booted.process
        events = process.events
        mark = len(events.items)
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": query_params(query)}
        if json_body is not NO_BODY:
            kwargs["content"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            kwargs["headers"].setdefault("content-type", "application/json")
        try:
            try:
                response = self.booted.client.request(method, path, timeout=self.timeout, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if not process.alive():
                    raise
                # A kept-alive connection the server had closed: once more, on a new connection.
                response = self.booted.client.request(method, path, timeout=self.timeout, **kwargs)
        except httpx.TimeoutException:
            self.hang_stacks = process.request_stacks("timeout")
            self.dead = f"the workflow did not answer within {self.timeout:g} s (it hung; it was stopped)"
            self.booted.stop()
            return Outcome(None, None, time.perf_counter() - started, tuple(self._exceptions(mark)), error=self.dead)
        except httpx.TransportError as exc:
            self._settle(process)
            if not process.alive():
                self.dead = f"the workflow process died during the request ({_exit(process)})"
            return Outcome(None, None, time.perf_counter() - started, tuple(self._exceptions(mark)),
                           error=self.dead or f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        if response.status_code >= 500 and not self._has_exception(mark):
            events.wait(lambda e: e.get("type") == "exception", _EXCEPTION_WAIT, process.alive, start=mark)
            if not self._has_exception(mark):
                process.request_counts(timeout=0.5)  # a round trip: what was sent before it has arrived
        text = response.text
        try:
            body: Any = response.json() if text else None
        except ValueError:
            body = text
        return Outcome(response.status_code, body, elapsed, tuple(self._exceptions(mark)), dict(response.headers), text)

    # --- beyond the contract -----------------------------------------------------------------

    def counts(self) -> dict[tuple[str, ...], int]:
        """The bootstrap's exact count of each sandbox finding so far, by (kind, location-or-detail)."""
        if self.dead is not None or not self.booted.process.alive():
            return {}
        answer = self.booted.process.request_counts(timeout=1.0)
        if not answer:
            return {}
        return {tuple(key): int(count) for key, count in answer.get("counts", [])}

    def finding_event(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        for event in list(self.booted.process.events.items):
            if event.get("type") == "finding" and tuple(event.get("key", ())) == key:
                return event
        return None

    def _has_exception(self, mark: int) -> bool:
        return any(e.get("type") == "exception" for e in self.booted.process.events.items[mark:])

    def _exceptions(self, mark: int) -> list[ExceptionInfo]:
        return [exception_info(e) for e in list(self.booted.process.events.items[mark:]) if e.get("type") == "exception"]

    @staticmethod
    def _settle(process: Any) -> None:
        if process.process is not None:
            try:
                process.process.wait(timeout=2)
            except Exception:  # noqa: BLE001 - still alive: the connection broke for another reason
                pass


def _exit(process: Any) -> str:
    code = process.returncode
    if code is None:
        return "still running"
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


# --- exception events -> ExceptionInfo -------------------------------------------------------------

def exception_info(event: Mapping[str, Any]) -> ExceptionInfo:
    """The engine's view of a bootstrap ``exception`` event (see the module docstring)."""
    short = str(event.get("exc_type") or "Exception")
    text = str(event.get("message") or short)
    if event.get("mro") and "frames" in event:  # what the bootstrap sends once patched (docs/cwtest/fuzz.md)
        mro = tuple(str(name) for name in event["mro"])
        head = mro[0].removeprefix("builtins.")
        first = text.splitlines()[0] if text else ""
        prefix = next((p for p in (first.partition(": ")[0],) if p.rsplit(".", 1)[-1] == short), None)
        message = text[len(prefix) + 2:] if prefix and text.startswith(prefix + ": ") else text
        return ExceptionInfo.from_json({"type": head, "message": message.strip(), "frames": event["frames"],
                                        "mro": mro, "location": event.get("location"), "via": event.get("via", ())})
    first = text.splitlines()[0] if text else short
    head, sep, _rest = first.partition(": ")
    if sep and _QUALNAME.match(head) and head.rsplit(".", 1)[-1] == short:
        qualified, message = head, text[len(head) + 2:]
    elif _QUALNAME.match(first) and first.rsplit(".", 1)[-1] == short:
        qualified, message = first, ""
    else:  # the text was cut (the bootstrap keeps its last 2,000 characters)
        qualified, message = short, text
    mro = hierarchy(qualified)
    display = mro[0].removeprefix("builtins.") if mro else qualified
    frames = []
    for line in event.get("stack", []) or []:
        match = _FRAME.match(str(line))
        if match:
            file, number = match.group("file"), int(match.group("line"))
            frames.append(Frame(file, number, match.group("function"), linecache.getline(file, number).strip()))
    return ExceptionInfo(type=display, message=message.strip()[:2000], frames=tuple(frames), mro=mro,
                         location=event.get("location"))


def hierarchy(qualified: str) -> tuple[str, ...]:
    """``("httpx.HTTPStatusError", "httpx.HTTPError", "builtins.Exception", ...)`` for a class name."""
    module, _, name = qualified.rpartition(".")
    cls: Any = None
    if not module:  # a bare name (a message cut short): a builtin, else one of httpx's errors
        cls = getattr(builtins, name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            cls = getattr(httpx, name, None)
    else:
        top = module.split(".")[0]
        if top in _IMPORTABLE or (top in sys.stdlib_module_names and top != "__main__"):
            try:
                cls = getattr(importlib.import_module(module), name, None)
            except Exception:  # noqa: BLE001 - not installed here, or another version: fall back below
                cls = None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return tuple(qualified_name(c, builtins_prefix=True) for c in cls.__mro__ if c is not object)
    top = module.split(".")[0] if module else "builtins"
    own = f"{top}.{name}"
    if top in ("openai", "anthropic") and name in _SDK_ERRORS:
        return (own, f"{top}.APIError", "builtins.Exception", "builtins.BaseException")
    return (own, "builtins.Exception", "builtins.BaseException")
