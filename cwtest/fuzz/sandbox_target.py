"""The fuzzer's Target over a workflow booted by the sandboxed harness (``cwtest.harness``).

``SandboxTarget(booted)`` wraps a ``BootedWorkflow`` (``Harness(...).boot(path)``): requests go
to the app over its Unix socket, the simulator is the workflow's own ``SimulatedRuntime`` (in
this process, so the engine scripts faults on it and reads its calls), and the exceptions the
workflow let escape come back as the child's ``exception`` messages (``protocol.ExceptionReport``),
already trimmed to the workflow's frames, with their class hierarchy (``mro``) and source lines,
decoded into ``ExceptionInfo`` as the in-process target decodes its own (``exception_info``)::

    with Harness(sandbox="auto").boot(Path("workflow.py")) as booted:
        report = fuzz(SandboxTarget(booted), FuzzConfig(seed=0))

``cwtest run`` (``Harness(fuzz=FuzzConfig(...))``) and the pytest plugin both fuzz through it.
The child ships with this package, so its messages always carry the hierarchy: the
client's own errors are told apart without importing anything of the workflow's. A workflow
that hangs or dies ends the search (``WorkflowStopped``) instead of making every later request
look like the same failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from cwtest.fuzz.target import exception_info, query_params, request_body
from cwtest.results import NO_BODY, ExceptionInfo, Response
from cwtest.harness.child import protocol

__all__ = ["SandboxTarget", "WorkflowStopped", "exception_info"]

#: After a 5xx, how long to wait for the child's report of the exception behind it before
#: asking it for a round trip on the event socket (which orders everything it sent before).
_EXCEPTION_WAIT = 0.05


class WorkflowStopped(RuntimeError):
    """The workflow process hung (and was stopped) or died: no request can be sent any more.

    The request during which it happened gets a ``Response`` without a status (so the engine
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
        self.hang_stacks: protocol.Stacks | None = None

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
             *, query: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
             files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
        started = time.perf_counter()
        if self.dead is not None:
            raise WorkflowStopped(self.dead)
        process = self.booted.process
        events = process.events
        mark = len(events.items)
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": query_params(query)}
        request_body(kwargs, json_body, form, files)
        try:
            try:
                response = self.booted.client.request(method, path, timeout=self.timeout, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if not process.alive():
                    raise
                # A kept-alive connection the server had closed: once more, on a new connection.
                response = self.booted.client.request(method, path, timeout=self.timeout, **kwargs)
        except httpx.TimeoutException:
            from cwtest.harness.runner import _stack_of

            self.hang_stacks = process.request_stacks("timeout")
            self.dead = f"no answer within {self.timeout:g} s: the workflow hung (it was stopped)"
            self.booted.stop()
            location, stack = _stack_of(self.hang_stacks)
            return Response(None, None, time.perf_counter() - started, tuple(self._exceptions(mark)),
                            error=self.dead, stopped="hung", location=location, stack=tuple(stack))
        except httpx.TransportError as exc:
            self._settle(process)
            if not process.alive():
                self.dead = f"the workflow process died during the request ({_exit(process)})"
            return Response(None, None, time.perf_counter() - started, tuple(self._exceptions(mark)),
                            error=self.dead or f"{type(exc).__name__}: {exc}", stopped="died" if self.dead else None)
        elapsed = time.perf_counter() - started
        if response.status_code >= 500 and not self._has_exception(mark):
            events.wait(protocol.ExceptionReport, _EXCEPTION_WAIT, process.alive, start=mark)
            if not self._has_exception(mark):
                process.request_counts(timeout=0.5)  # a round trip: what was sent before it has arrived
        text = response.text
        try:
            body: Any = response.json() if text else None
        except ValueError:
            body = text
        return Response(response.status_code, body, elapsed, tuple(self._exceptions(mark)), dict(response.headers),
                        text)

    # --- beyond the contract -----------------------------------------------------------------

    def counts(self) -> dict[tuple[str, ...], int]:
        """The child's exact count of each sandbox finding so far, by (kind, location-or-detail)."""
        if self.dead is not None or not self.booted.process.alive():
            return {}
        answer = self.booted.process.request_counts(timeout=1.0)
        if not answer:
            return {}
        return {tuple(key): count for key, count in answer.counts}

    def finding_event(self, key: tuple[str, ...]) -> protocol.Finding | None:
        """The first ``finding`` message counted under ``key``."""
        return next((e for e in self.booted.process.events.of(protocol.Finding) if e.key == key), None)

    def _has_exception(self, mark: int) -> bool:
        return bool(self.booted.process.events.of(protocol.ExceptionReport, start=mark))

    def _exceptions(self, mark: int) -> list[ExceptionInfo]:
        return [exception_info(e) for e in self.booted.process.events.of(protocol.ExceptionReport, start=mark)]

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
