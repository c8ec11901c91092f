"""A workflow being served in its sandbox: the target the smoke calls, the search and tests drive.

``BootedWorkflow`` is what ``Harness.boot`` yields and what the engine fuzzes (``cwtest.fuzz``'s
``Target`` contract): requests go to the app over its Unix socket (``client``), the simulator is
the workflow's own ``SimulatedRuntime`` (in this process, so the engine scripts faults on it and
reads its calls), and the exceptions the workflow let escape come back as the child's
``exception`` messages, decoded as the in-process target decodes its own::

    with Harness(sandbox="auto").boot(Path("workflow.py")) as booted:
        booted.client.post("/", json={"text": "hello"})
        report = fuzz(booted, FuzzConfig(seed=0))

A workflow that hangs (no answer within ``timeout``: it is stopped, with its stacks) or dies ends
what can be sent: the request during which it happened gets a ``Response`` without a status
(``stopped`` says which), and any later one raises ``WorkflowStopped``, so a search ends instead
of letting every later request look like the same failure.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from cwtest.fuzz.target import exception_info, header_values, query_params, request_body, watched
from cwtest.harness.child import protocol, watch
from cwtest.harness.collect import stack_of
from cwtest.harness.process import RunDir, WorkflowProcess
from cwtest.harness.sandbox import format_size
from cwtest.harness.transport import MAX_BODY, DeadlineBackend, read_capped, uds_transport
from cwtest.outbound import ExternalResponse, OutsideWorld
from cwtest.results import NO_BODY, ExceptionInfo, Finding, Response, StandIn, WorkflowResult
from cwtest.workflow_env import EnvPlan

#: After a 5xx, how long to wait for the child's report of the exception behind it before asking
#: it for a round trip on the event socket (which orders everything it sent before).
_EXCEPTION_WAIT = 0.05
#: How long to wait for a request's ``done`` once one never came (the workflow silenced its reports).
_SILENCED_WAIT = 0.2
#: Where a human reaches the app under ``cwtest boot --port 8000`` (the curl commands' base).
BOOT_URL = "http://127.0.0.1:8000"


class WorkflowStopped(RuntimeError):
    """The workflow process hung (and was stopped) or died: no request can be sent any more."""


class BootedWorkflow:
    """A workflow being served in its sandbox; ``client`` reaches its app over the Unix socket."""

    def __init__(self, path: Path, result: WorkflowResult, runtime: Any, process: WorkflowProcess, *,
                 timeout: float, seed: int = 0, world: OutsideWorld | None = None,
                 env: EnvPlan | None = None) -> None:
        self.path = path
        self.result = result
        self.runtime = runtime
        self.process = process
        #: Seconds a request (and the boot) may take before the workflow counts as hung.
        self.timeout = timeout
        self.seed = seed
        #: Who answers the workflow's outbound requests (mocks, its cassette; else refused).
        self.world = world if world is not None else OutsideWorld()
        #: Its variables, and which are cwtest's placeholders.
        self.env = env if env is not None else EnvPlan()
        #: Every request's whole exchange (headers and body) ends within ``timeout`` (not only each read).
        self.deadlines = DeadlineBackend()
        self.client = httpx.Client(transport=uds_transport(str(process.run_dir.app_socket), self.deadlines),
                                   base_url="http://workflow", timeout=timeout)
        self._stopped = False
        self._schema: dict[str, Any] | None = None
        #: Set when the workflow stopped answering (hung, died): later requests fail at once.
        self.dead: str | None = None
        #: The simulator calls whose contract the engine checked (their problems have a repro).
        self.checked_calls: set[int] = set()
        #: The number of the last request sent (the ``x-cwtest-request`` header: the child's watch
        #: tags what it sees with it).
        self.number = 0
        #: Set once a request's ``done`` did not come in time: later ones wait ``_SILENCED_WAIT`` at most.
        self._silenced = False

    # --- the fuzzer's Target contract ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return BOOT_URL

    @property
    def workflow_file(self) -> str | None:
        return str(self.path)

    @property
    def schema(self) -> dict[str, Any]:
        """The app's OpenAPI document (raises RuntimeError or httpx's errors when it serves none)."""
        if self._schema is None:
            with self.deadlines.deadline(self.timeout), self.client.stream("GET", "/openapi.json") as response:
                body, over = read_capped(response)
            if response.status_code != 200 or over:
                raise RuntimeError(f"the app serves no OpenAPI document (GET /openapi.json: {response.status_code}"
                                   f"{', over ' + format_size(MAX_BODY) if over else ''})")
            self._schema = json.loads(body)
        return self._schema

    def send(self, method: str, path: str, json_body: Any = NO_BODY, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
             files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
        """One request; never raises for the workflow's faults (``WorkflowStopped`` once it is gone)."""
        started = time.perf_counter()
        if self.dead is not None:
            raise WorkflowStopped(self.dead)
        process = self.process
        mark = len(process.events.items)
        self.number += 1
        number = self.number
        kwargs: dict[str, Any] = {"headers": {**header_values(headers), watch.REQUEST_HEADER.decode(): str(number)},
                                  "params": query_params(query)}
        request_body(kwargs, json_body, form, files)
        try:
            try:
                response, content, over = self._exchange(method, path, kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if not process.alive():
                    raise
                # A kept-alive connection the server had closed: once more, on a new connection.
                response, content, over = self._exchange(method, path, kwargs)
        except httpx.TimeoutException:
            stacks = process.request_stacks("timeout")
            self.dead = f"no answer within {self.timeout:g} s: the workflow hung (it was stopped)"
            self.stop()
            location, stack = stack_of(stacks)
            return Response(None, None, time.perf_counter() - started, tuple(self._exceptions(mark)),
                            error=self.dead, stopped="hung", location=location, stack=tuple(stack),
                            standins=self._standins(mark))
        except httpx.TransportError as exc:
            self._settle()
            if not process.alive():
                self.dead = f"the workflow process died during the request ({_exit(process)})"
            return Response(None, None, time.perf_counter() - started, tuple(self._exceptions(mark)),
                            error=self.dead or f"{type(exc).__name__}: {exc}", stopped="died" if self.dead else None,
                            standins=self._standins(mark))
        elapsed = time.perf_counter() - started
        self._await_done(number, mark, started)
        if over:
            message = (f"{method} {path} answered {response.status_code} with a body over {format_size(MAX_BODY)}: "
                       f"cwtest read that much and closed the connection")
            self.result.add(Finding("oversized-response", message, route=f"{method} {path}"))
            return Response(response.status_code, None, elapsed, tuple(self._exceptions(mark)), dict(response.headers),
                            content[:4096].decode("utf-8", "replace"), error=message, standins=self._standins(mark))
        if response.status_code >= 500 and not self._exceptions(mark):
            process.events.wait(protocol.ExceptionReport, _EXCEPTION_WAIT, process.alive, start=mark)
            if not self._exceptions(mark):
                process.request_counts(timeout=0.5)  # a round trip: what was sent before it has arrived
        text = content.decode(response.encoding or "utf-8", "replace")
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        return Response(response.status_code, body, elapsed, tuple(self._exceptions(mark)), dict(response.headers),
                        text, standins=self._standins(mark), **watched(process.events.items[mark:], number))

    def _await_done(self, number: int, mark: int, started: float) -> None:
        """Wait for the child's ``done`` of request ``number``: the request's background work is over
        and everything about it has arrived (within the request's deadline)."""
        events, alive = self.process.events, self.process.alive

        def wait(limit: float) -> protocol.Done | None:
            return events.wait(protocol.Done, limit, alive, start=mark, where=lambda m: m.request == number)

        if wait(_SILENCED_WAIT) is not None or self._silenced or not alive():
            return
        # Still running (background work), or a workflow that silenced its reports: a round trip tells.
        if self.process.request_counts(timeout=0.5) is None:
            self._silenced = True
            return
        wait(max(self.timeout - (time.perf_counter() - started), 0.05))  # the child's wait ends before

    def _exchange(self, method: str, path: str, kwargs: dict[str, Any]) -> tuple[httpx.Response, bytes, bool]:
        """One request under the deadline, its body read up to the cap."""
        with self.deadlines.deadline(self.timeout):
            with self.client.stream(method, path, timeout=self.timeout, **kwargs) as response:
                content, over = read_capped(response)
        return response, content, over

    # --- beyond the contract ---------------------------------------------------------------------

    @property
    def run_dir(self) -> RunDir:
        return self.process.run_dir

    @property
    def stopped(self) -> bool:
        return self._stopped

    def mock_external(self, url: str, response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes,
                      method: str | None = None) -> None:
        """``Harness.mock_external`` for this running workflow alone, from now on."""
        self.world.mock(url, response, method)

    def counts(self) -> dict[tuple[str, ...], int]:
        """The child's exact count of each sandbox finding so far, by (kind, location-or-detail)."""
        if self.dead is not None or not self.process.alive():
            return {}
        answer = self.process.request_counts(timeout=1.0)
        if not answer:
            return {}
        return {tuple(key): count for key, count in answer.counts}

    def finding_event(self, key: tuple[str, ...]) -> protocol.Finding | None:
        """The first ``finding`` message counted under ``key``."""
        return next((e for e in self.process.events.of(protocol.Finding) if e.key == key), None)

    def wait_ready(self, timeout: float) -> None:
        """Until the app serves; a boot that neither serves nor fails in time is a ``timeout``."""
        started = time.monotonic()
        event = self.process.wait_ready(timeout)
        self.result.boot_seconds = time.monotonic() - started
        if isinstance(event, protocol.Ready):
            self.result.booted = True
            self.result.app = event.app
            if self.process.ready_unannounced:
                self.result.warnings.append("the workflow's process never said it was serving (its reports to cwtest "
                                            "were silenced): its app's socket was found listening")
            others = [n for n in event.apps if n != event.app]
            if others:
                self.result.warnings.append(f"several FastAPI objects ({', '.join(event.apps)}); served "
                                            f"{event.app!r}")
            return
        if event is not None:  # boot-failure: the collect step turns it into a finding
            return
        if self.process.alive():
            self.timeout_finding("while importing and starting the workflow")
        # Died without saying why: collect() reports the signal or exit status.

    def timeout_finding(self, phase: str, route: str | None = None) -> None:
        location, stack = stack_of(self.process.request_stacks("timeout"))
        self.result.add(Finding("timeout", f"no progress after {self.timeout:g} s ({phase})", location, stack,
                                route=route))
        self.stop()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.process.request_counts()
            self.process.kill()

    def close(self) -> None:
        self.client.close()
        self.stop()

    def _standins(self, mark: int) -> tuple[StandIn, ...]:
        """The outbound requests and connections nobody answered while this request ran."""
        seen: list[StandIn] = []
        for event in self.process.events.of(protocol.Egress, start=mark):
            if event.answer in ("refused", "contained"):
                standin = StandIn("egress", event.url if event.client == "socket" else f"{event.method} {event.url}",
                                  event.location)
                if standin not in seen:
                    seen.append(standin)
        return tuple(seen)

    def _exceptions(self, mark: int) -> list[ExceptionInfo]:
        return [exception_info(e) for e in self.process.events.of(protocol.ExceptionReport, start=mark)]

    def _settle(self) -> None:
        if self.process.process is not None:
            try:
                self.process.process.wait(timeout=2)
            except Exception:  # noqa: BLE001 - still alive: the connection broke for another reason
                pass


def _exit(process: WorkflowProcess) -> str:
    code = process.returncode
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
