"""The fuzzer's Target over a workflow booted by the sandboxed harness (``cwtest.harness``).

``HarnessTarget(booted)`` wraps a ``BootedWorkflow`` (``Harness(...).boot(path)``): requests go
over the app's Unix socket, the exceptions come from the bootstrap's ``exception`` events, the
service calls from the ``SimulatedRuntime`` the harness serves in this process::

    with Harness(sandbox="auto").boot(Path("workflow.py")) as booted:
        report = fuzz(HarnessTarget(booted), FuzzConfig(seed=0))

Until the bootstrap sends what ``docs/cwtest/fuzz.md`` (the Target contract) asks, this adapter
fills the gaps: exception frames are parsed from the rendered stack (``file:line in function``)
with their source lines read from the workflow file (the sandbox binds it at the same path), and
the class hierarchy of well-known client errors is filled in from their names, so that the
client's own errors are still told apart. A timeout fault reaches the workflow as the 504 the
simulator answers (``HTTPStatusError``) until the bootstrap's transport honours
``x-cwtest-fault: timeout``.
"""

from __future__ import annotations

import json
import linecache
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from cwtest.fuzz.target import NO_BODY, ExceptionInfo, Frame, Outcome, query_params

#: How long to wait, after a 5xx, for the event of the exception behind it.
EXCEPTION_GRACE = 0.5
_HTTPX_ERRORS = {
    "HTTPStatusError": ("httpx.HTTPStatusError", "httpx.HTTPError"),
    "ReadTimeout": ("httpx.ReadTimeout", "httpx.TimeoutException", "httpx.TransportError", "httpx.HTTPError"),
    "ConnectTimeout": ("httpx.ConnectTimeout", "httpx.TimeoutException", "httpx.TransportError", "httpx.HTTPError"),
    "WriteTimeout": ("httpx.WriteTimeout", "httpx.TimeoutException", "httpx.TransportError", "httpx.HTTPError"),
    "PoolTimeout": ("httpx.PoolTimeout", "httpx.TimeoutException", "httpx.TransportError", "httpx.HTTPError"),
    "TimeoutException": ("httpx.TimeoutException", "httpx.TransportError", "httpx.HTTPError"),
    "RemoteProtocolError": ("httpx.RemoteProtocolError", "httpx.ProtocolError", "httpx.TransportError",
                            "httpx.HTTPError"),
    "ReadError": ("httpx.ReadError", "httpx.NetworkError", "httpx.TransportError", "httpx.HTTPError"),
    "ConnectError": ("httpx.ConnectError", "httpx.NetworkError", "httpx.TransportError", "httpx.HTTPError"),
}
_FRAME = re.compile(r"^(?P<file>.+):(?P<line>\d+) in (?P<function>.+)$")


class HarnessTarget:
    """A booted, sandboxed workflow as a fuzz Target; see the module docstring."""

    def __init__(self, booted: Any, base_url: str = "http://127.0.0.1:8000") -> None:
        self.booted = booted
        self._base_url = base_url
        self._schema: dict[str, Any] | None = None

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = self.booted.openapi()
        return self._schema

    @property
    def runtime(self) -> Any:
        return self.booted.runtime

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def workflow_file(self) -> str | None:
        return str(self.booted.path)

    def send(self, method: str, path: str, json_body: Any = NO_BODY, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None) -> Outcome:
        events = self.booted.process.events
        mark = len(events.items)
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": query_params(query)}
        if json_body is not NO_BODY:
            kwargs["content"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            kwargs["headers"].setdefault("content-type", "application/json")
        started = time.perf_counter()
        try:
            try:
                response = self.booted.client.request(method, path, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if not self.booted.process.alive():
                    raise
                # uvicorn closes a kept-alive connection after an app exception: again, on a new one.
                response = self.booted.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return Outcome(None, None, time.perf_counter() - started, self._exceptions(mark),
                           error=f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        if response.status_code >= 500:
            events.wait(lambda e: e.get("type") == "exception", EXCEPTION_GRACE, self.booted.process.alive,
                        start=mark)
        text = response.text
        try:
            body: Any = response.json() if text else None
        except ValueError:
            body = text
        return Outcome(response.status_code, body, elapsed, self._exceptions(mark), dict(response.headers), text)

    def _exceptions(self, mark: int) -> tuple[ExceptionInfo, ...]:
        return tuple(exception_of(event, self.workflow_file) for event in self.booted.process.events.items[mark:]
                     if event.get("type") == "exception")


def exception_of(event: Mapping[str, Any], workflow_file: str | None) -> ExceptionInfo:
    """An ``ExceptionInfo`` from a bootstrap ``exception`` event, the current one or the one the contract asks."""
    if "frames" in event and "mro" in event:
        mro = list(event["mro"]) or [str(event.get("exc_type", "Exception"))]
        shown = mro[0].removeprefix("builtins.")
        message = str(event.get("message", ""))
        name = str(event.get("exc_type", ""))
        if name and message.startswith(f"{name}: "):
            message = message[len(name) + 2:]
        return ExceptionInfo.from_json({**event, "type": shown, "message": message})
    name = str(event.get("exc_type", "Exception"))
    message = str(event.get("message", ""))
    if message.startswith(f"{name}: "):
        message = message[len(name) + 2:]
    elif message == name:
        message = ""
    frames = []
    for line in event.get("stack", []):
        match = _FRAME.match(str(line))
        if match:
            file, number = match.group("file"), int(match.group("line"))
            frames.append(Frame(file, number, match.group("function"), linecache.getline(file, number).strip()))
    mro = _HTTPX_ERRORS.get(name, (name if "." in name else f"builtins.{name}",))
    shown = mro[0] if name in _HTTPX_ERRORS else name
    return ExceptionInfo(type=shown, message=message, frames=tuple(frames), mro=tuple(mro),
                         location=event.get("location"))
