"""What cwtest reports: one model shared by the harness, the search, the plugin and every reporter.

Every workflow, and every route of it, ends with one of three verdicts:

* ``passed``: cwtest exercised it and nothing broke;
* ``finding``: at least one :class:`Finding`, each of a kind listed in :data:`KINDS`;
* ``inconclusive``: cwtest could not exercise it (no request could be built, the app served no
  usable OpenAPI document, the sandbox did not start, a search engine error). An
  :class:`Inconclusive` always says why, and what would unblock it. It is never a finding, and
  never silently a pass.

The per-request types live here too, because findings carry them: a :class:`Request` (what was
sent), a :class:`Response` (what came back, with the exceptions the workflow let escape as
:class:`ExceptionInfo`), and the :class:`ServiceCall` s it made. A search finding carries a
:class:`Repro`: the minimal input, the fault, the calls, a ``curl`` command and a regression test.

Standard library only; nothing here imports the rest of cwtest.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cwtest.simulator.records import Call

#: Every finding kind, with the one-line meaning the reports and the docs use.
KINDS: dict[str, str] = {
    # environment and boot
    "header": "the PEP 723 header is missing or invalid, so the environment is unknown",
    "python-unavailable": "requires-python asks for an interpreter that is not installed (never downloaded)",
    "env-build": "uv could not install the header's dependencies",
    "env-mismatch": "--env current: this interpreter does not satisfy the header",
    "refused-dependency": "a dependency that is not a plain PEP 508 requirement (an installer option, -r/-e, a "
                          "URL or file reference without --allow-direct-references): nothing was installed",
    "refused-env-var": "the header declares a variable that steers a loader, an interpreter or cwtest (LD_*, "
                       "PYTHON*, PATH, HOME...): refused and not set",
    "syntax-error": "the workflow does not compile",
    "missing-dependency": "an import the environment does not provide",
    "import-crash": "importing the workflow raised",
    "no-server": "the environment has no uvicorn to serve the app with",
    "boot-crash": "the process died or the server stopped before serving",
    # attempts to leave the sandbox (reported whether or not the kernel blocked them); outbound
    # requests and connections are not among them: they are egress, information, never a finding
    "network": "a raw or packet socket, or a connection to a Unix socket outside the run's own",
    "fs-write": "a write outside the private temporary directory",
    "process": "an attempt to start a process (subprocess, os.system, fork, exec, spawn) or signal another",
    "bind": "a listening socket other than the harness's own (a loopback port-0 probe that never listens is not)",
    "native-syscall": "a raw syscall() through ctypes",
    "protocol": "the workflow's process sent the harness a line that breaks the protocol (malformed, unknown or "
                "forged: it shares the process with the child)",
    # resources
    "memory": "the memory limit was hit (killed by the OOM killer in the workflow's memory cgroup, or MemoryError)",
    "cpu": "the CPU-time limit was hit",
    "timeout": "the wall-clock timeout was hit: the workflow hung",
    "output-flood": "more output than --max-output on stdout/stderr",
    "disk": "the workflow's directory outgrew its cap (256 MiB; outside bubblewrap, where no tmpfs holds it)",
    "oversized-response": "a response body over the cap (32 MiB): cwtest read that much and closed the connection",
    "crash": "the process died while serving",
    # requests: the smoke call and the search
    "unhandled-exception": "an exception escaped the workflow while it answered a valid request (or under a "
                           "service fault, other than the client's own error)",
    "server-error": "a 5xx answer to a valid request, without an escaped exception",
    "no-response": "a request got no answer, and the workflow neither hung nor died",
    "response-model": "a 2xx body breaks the documented response schema",
    "service-contract": "a library-service call broke the catalog's contract (the simulator answered 422)",
    "redis-namespace": "a Redis command outside the run's namespace (refused by Redis' ACL)",
    # what a 2xx hides (cwtest.harness.child.watch)
    "swallowed-exception": "a programming error (NameError, TypeError, AttributeError, KeyError, IndexError, a pydantic "
                           "ValidationError, a JSONDecodeError on an LLM's text) caught by a broad except of the "
                           "workflow's while it answered a valid request with a 2xx",
    "blocking-call": "a request's code ran on the event loop longer than --block-threshold without awaiting (a "
                     "blocking call in an async route: the runtime complement of CW203)",
    "background-exception": "an exception in work a request scheduled (a BackgroundTasks function, an asyncio task it "
                            "started), after its answer was sent",
}


class Verdict(str, enum.Enum):
    """How a route or a workflow ended."""

    PASSED = "passed"
    FINDING = "finding"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class StandIn:
    """Something cwtest stood in for during a request, which a failure may be traced to.

    ``kind``: ``egress`` (an outbound request nobody answered; below HTTP, a connection or lookup
    the sandbox refused), ``gap`` (a simulator 404 for a path its catalog lacks), ``placeholder``
    (a placeholder env value; ``detail`` is the variable), ``guessed-body`` (the body of a route
    without a request schema), ``free-text`` (a simulated LLM answer in free text to a prompt that
    asks for a shape cwtest cannot read), ``guessed-answer`` (a simulated answer whose shape the
    catalog does not know: ``shape_known = false``).
    """

    kind: str
    detail: str
    location: str | None = None

    def inconclusive(self, route: str) -> Inconclusive:
        """The route's verdict when a failure passed through this stand-in: the reason and the unblock."""
        where = f" ({display_path(self.location)})" if self.location else ""
        if self.kind == "egress":
            host = _host_of(self.detail)
            if "://" not in self.detail:
                server = _server_name(self.detail)
                return Inconclusive(f"{route} needs {server} at {self.detail}{where}; the sandbox has no network",
                                    "cwtest cannot reach it: cover this route with a test that stands in for it")
            return Inconclusive(f"{route} stopped at the request to {host}{where}; nothing answers it",
                                "record it with `cwtest record`, or use `--mock-external`")
        if self.kind == "gap":
            return Inconclusive(f"{route}: the simulator does not know {self.detail}",
                                f"script an answer (runtime.script({_script_args(self.detail)}).respond(...)) in a "
                                f"test, or report the missing catalog path")
        if self.kind == "placeholder":
            return Inconclusive(f"{route} failed on cwtest's placeholder value of {self.detail}",
                                f"give it a value: --env {self.detail}=VALUE, --env-file .env, or "
                                f"[tool.cwtest] env in pyproject.toml")
        if self.kind == "guessed-body":
            return Inconclusive(f"{route} has no request schema; cwtest guessed the body ({self.detail})",
                                "give an example payload (examples/<workflow>/<METHOD>_<path>.json, "
                                "[tool.cwtest] examples, or `cwtest record`)")
        if self.kind == "guessed-answer":
            return Inconclusive(f"{route} failed after the simulated {self.detail} answer, whose shape the catalog "
                                f"does not know (cwtest's answer is a guess)",
                                "script the answer in a test (runtime.script(...)), or record the real one with "
                                "`cwtest record --runtime URL`")
        if self.kind == "free-text":
            return Inconclusive(f"{route} failed after a simulated {self.detail} answer in free text, to a prompt "
                                f"that asks for another shape",
                                "script the answer (runtime.script(...)) or ask with a schema (response_format, "
                                "tools, example_output)")
        return Inconclusive(f"{route}: {self.kind} {self.detail}", "")

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "location": self.location}


_PORTS = {"3306": "a MySQL server", "4000": "a MySQL-compatible server (TiDB)", "5432": "a PostgreSQL server",
          "6379": "a Redis server", "27017": "a MongoDB server", "25": "an SMTP server", "465": "an SMTP server",
          "587": "an SMTP server", "9200": "an Elasticsearch server", "5672": "an AMQP broker",
          "11211": "a memcached server"}


def _server_name(address: str) -> str:
    return _PORTS.get(address.rsplit(":", 1)[-1], "a server")


def _host_of(detail: str) -> str:
    from urllib.parse import urlsplit

    url = detail.split(" ", 1)[-1]
    return urlsplit(url).hostname or url


def _script_args(detail: str) -> str:
    service, _, path = detail.partition(" ")
    return f"{service!r}, {path!r}" if path else repr(service)


@dataclass(frozen=True)
class Inconclusive:
    """Why cwtest could not exercise something, and the step that would unblock it."""

    reason: str
    unblock: str = ""

    def render(self) -> str:
        return f"{self.reason}; {self.unblock}" if self.unblock else self.reason

    def as_json(self) -> dict[str, str]:
        return {"reason": self.reason, "unblock": self.unblock}


# --- one request --------------------------------------------------------------------------------

#: Marks "send no body" (``None`` is a JSON body: ``null``).
NO_BODY: Any = type("NoBody", (), {"__repr__": lambda self: "NO_BODY", "__bool__": lambda self: False})()


@dataclass(frozen=True)
class Request:
    """A concrete request: what the smoke call and the search send, and what a report prints.

    A body is JSON (``json_body``), or a form (``form``, plus ``files`` for multipart uploads).
    """

    method: str
    template: str
    path: str
    query: tuple[tuple[str, Any], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    json_body: Any = NO_BODY
    #: For an invalid request: which defect it carries.
    defect: str | None = None
    form: tuple[tuple[str, str], ...] | None = None
    files: tuple[tuple[str, tuple[str, bytes]], ...] | None = None
    #: Set when cwtest guessed the body (a route without a request schema and no example payload).
    guessed: str | None = None

    @property
    def route(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def has_body(self) -> bool:
        return self.json_body is not NO_BODY or self.form is not None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.query:
            data["query"] = dict(self.query)
        if self.headers:
            data["headers"] = dict(self.headers)
        if self.json_body is not NO_BODY:
            data["json"] = self.json_body
        if self.form is not None:
            data["form"] = dict(self.form)
        if self.files:
            data["files"] = {name: filename for name, (filename, _content) in self.files}
        if self.defect:
            data["defect"] = self.defect
        return data


@dataclass(frozen=True)
class Frame:
    """One traceback frame: where, in which function, and the source line."""

    file: str
    line: int
    function: str
    source: str = ""

    def render(self) -> str:
        text = f"{display_path(self.file)}:{self.line} in {self.function}"
        return f"{text}\n    {self.source}" if self.source else text

    def as_json(self) -> list[Any]:
        return [self.file, self.line, self.function, self.source]


@dataclass(frozen=True)
class ExceptionInfo:
    """An exception the workflow did not handle, as the checks classify it and reports show it.

    ``type`` is the display name (``KeyError``, ``httpx.ReadTimeout``); ``mro`` the class and its
    bases as ``<top-level package>.<name>`` (``httpx.HTTPError``, ``builtins.LookupError``), so a
    target in another process can send it as text and the checks can still tell the client's own
    errors from the workflow's. ``frames`` are the workflow's frames, plus the innermost frame when
    that one is a library's (where it was raised). ``location`` is ``file:line`` of the innermost
    workflow frame, the key failures are deduplicated by. ``via``: the packages the exception
    passed through below the workflow's innermost frame (``contextlib``, ``codewords_client``).
    """

    type: str
    message: str
    frames: tuple[Frame, ...] = ()
    mro: tuple[str, ...] = ()
    location: str | None = None
    via: tuple[str, ...] = ()
    #: cwtest's stand-ins in its chain (an unanswered request, a catalog gap, a placeholder value).
    standins: tuple[StandIn, ...] = ()
    #: Escaped after the answer: ``background`` (a BackgroundTasks function), ``task`` (an asyncio
    #: task the request started, its exception never retrieved); None while answering.
    phase: str | None = None
    #: A swallowed exception's: ``file:line`` of the broad ``except`` that caught it, that clause's
    #: text, and a ``JSONDecodeError``'s document (its start).
    caught: str | None = None
    clause: str = ""
    doc: str | None = None

    def is_a(self, name: str) -> bool:
        """True when ``name`` (``httpx.HTTPError``, ``KeyError``) is the class or one of its bases."""
        wanted = name if "." in name else f"builtins.{name}"
        return wanted in self.mro or name == self.type

    def render(self) -> str:
        lines = [f"{self.type}: {self.message}" if self.message else self.type]
        lines += ["  " + frame.render().replace("\n", "\n  ") for frame in self.frames]
        if self.caught:
            lines.append(f"  caught by `{self.clause}` at {display_path(self.caught)}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "location": self.location,
                "frames": [f.as_json() for f in self.frames], "mro": list(self.mro), "via": list(self.via),
                "standins": [s.as_json() for s in self.standins], "phase": self.phase, "caught": self.caught,
                "clause": self.clause}


@dataclass(frozen=True)
class Block:
    """The workflow's code holding the event loop longer than the threshold during one request."""

    milliseconds: int
    count: int
    #: ``file:line`` of the workflow's frame on the sampled stack (None: library frames only).
    location: str | None
    source: str
    #: The call below it: a library's frame (``requests.get, in socket.readinto``), or the line's
    #: text when nothing below has a Python frame (``time.sleep(1.5)``).
    call: str
    stack: tuple[str, ...] = ()
    #: cwtest's own code (its routing of an outbound request) was below the workflow's line.
    cwtest: bool = False

    def render(self) -> str:
        where = display_path(self.location) if self.location else "library code"
        return f"{where} held the event loop {self.milliseconds} ms in {self.call}"


@dataclass(frozen=True)
class Response:
    """What one request produced: the answer, how long it took, and the escaped exceptions.

    ``status`` is None when no answer came at all (the app hung or died, or the connection
    broke); ``body`` is the parsed JSON, else the text; ``exceptions`` are those raised while this
    request was handled (including background tasks that ran after the answer), oldest first.
    ``stopped`` says why no later request can be sent: ``hung`` (the target stopped the workflow
    after the timeout) or ``died``; for a hang, ``location`` and ``stack`` say where it was stuck.
    """

    status: int | None
    body: Any
    elapsed: float
    exceptions: tuple[ExceptionInfo, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    #: Set when no answer came: what the transport said.
    error: str | None = None
    stopped: str | None = None
    location: str | None = None
    stack: tuple[str, ...] = ()
    #: What cwtest stood in for while answering it: outbound requests nobody answered, ...
    standins: tuple[StandIn, ...] = ()
    #: Exceptions broad handlers of the workflow caught while answering it (``ExceptionInfo.caught``).
    swallowed: tuple[ExceptionInfo, ...] = ()
    #: Callbacks of this request that held the event loop longer than the threshold.
    blocks: tuple[Block, ...] = ()
    #: Records the workflow's code logged at WARNING or above: ``LEVEL logger: message (file:line)``.
    logs: tuple[str, ...] = ()
    #: Tasks it started that still ran when cwtest stopped waiting for them.
    pending: int = 0


@dataclass(frozen=True)
class ServiceCall:
    """A library-service call as a report shows it."""

    service: str
    path: str
    method: str
    status: int | None
    fault: str | None
    problems: tuple[str, ...]
    inputs: Any

    @classmethod
    def of(cls, call: Call) -> ServiceCall:
        return cls(call.service, call.path, call.method, call.status, call.fault, call.problems, call.inputs)

    def render(self) -> str:
        where = f"{self.service}/{self.path}" if self.path else self.service
        text = f"{where} {self.method} -> {self.status if self.status is not None else 'no answer'}"
        if self.fault:
            text += f" (fault: {self.fault})"
        if self.problems:
            text += " — " + "; ".join(self.problems)
        return text


# --- findings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repro:
    """What reproduces a finding of the smoke call or the search."""

    request: Request
    #: True: the search's minimal input (Hypothesis' final replay); False: as first seen.
    shrunk: bool
    #: The fault that exposed it (``openai/chat/completions http_500``), or None.
    fault: str | None
    status: int | None
    key: str | None
    seen_in: tuple[str, ...]
    calls: tuple[ServiceCall, ...]
    #: A shell command for ``cwtest boot FILE --port 8000``.
    curl: str
    #: A pytest test for the plugin's ``cw_workflow`` fixture; fails while the bug is there.
    regression_test: str
    test_name: str
    #: The workflow as the regression test names it.
    workflow: str
    #: The same test with ``cwtest.fuzz.InProcessTarget`` (the workflow imported into the test's
    #: interpreter: no sandbox, milliseconds; its dependencies must be importable there).
    inprocess_test: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"input": self.request.as_json(), "shrunk": self.shrunk, "fault": self.fault, "key": self.key,
                "status": self.status, "seen_in": list(self.seen_in), "calls": [c.render() for c in self.calls],
                "curl": self.curl, "regression_test": self.regression_test, "test_name": self.test_name,
                "workflow": self.workflow}


@dataclass
class Finding:
    """One problem, of a kind in :data:`KINDS`, where it happened, and how often."""

    kind: str
    message: str
    location: str | None = None
    stack: list[str] = field(default_factory=list)
    count: int = 1
    route: str | None = None
    #: Which check found it: ``smoke``, ``fuzz``, ``invalid``, ``faults``, ``contract``; None for
    #: boot and sandbox findings.
    check: str | None = None
    #: The escaped exception behind it, when there is one.
    exception: ExceptionInfo | None = None
    repro: Repro | None = None
    #: The cwlint code that finds the same problem statically (a ``service-contract`` finding's
    #: CW103/CW104), or that fixes it (a finding ``--lint-fix`` removed).
    lint: str | None = None
    #: Where it was seen: None (the workflow as written), ``fixed`` (only in the scratch copy
    #: with cwlint's safe fixes applied: ``--lint-fix``).
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")

    @property
    def text(self) -> str:
        """The kind's one-line meaning."""
        return KINDS[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "location": self.location, "stack": self.stack,
                "count": self.count, "route": self.route, "check": self.check,
                "exception": self.exception.as_json() if self.exception else None,
                "repro": self.repro.as_json() if self.repro else None, "lint": self.lint, "variant": self.variant}


# --- routes and workflows ------------------------------------------------------------------------


@dataclass
class RouteStats:
    """What the search did on one route: requests per check and status class, and its notes."""

    route: str
    fuzz_requests: int = 0
    fuzz_seconds: float = 0.0
    invalid_requests: int = 0
    fault_requests: int = 0
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    accepted_invalid: int = 0
    accepted_defects: set[str] = field(default_factory=set)
    #: (fault, exception type, location) -> count: the client's own errors propagating under a fault.
    tolerated: dict[tuple[str, str, str], int] = field(default_factory=dict)
    faults_injected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: check -> (the first stand-in a failure passed through, how many failed so): not findings.
    blocked: dict[str, tuple[StandIn, int]] = field(default_factory=dict)

    def block(self, check: str, standin: StandIn) -> None:
        first, count = self.blocked.get(check, (standin, 0))
        self.blocked[check] = (first, count + 1)

    def count(self, check: str, status: int | None) -> None:
        bucket = self.statuses.setdefault(check, {})
        key = "none" if status is None else f"{status // 100}xx"
        bucket[key] = bucket.get(key, 0) + 1

    def tolerate(self, fault: str | None, exc: ExceptionInfo) -> None:
        key = (fault or "-", exc.type, display_path(exc.location or "?"))
        self.tolerated[key] = self.tolerated.get(key, 0) + 1

    def notes_once(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def summary_lines(self) -> list[str]:
        parts = [f"{check} " + ", ".join(f"{k} {v}" for k, v in sorted(bucket.items()))
                 for check, bucket in self.statuses.items()]
        lines = [f"{self.route}: " + "; ".join(parts)] if parts else []
        if self.accepted_invalid:
            defects = "; ".join(sorted(self.accepted_defects)[:5])
            lines.append(f"  note: {self.accepted_invalid} invalid requests were accepted with a 2xx (not a "
                         f"finding: pydantic's lax mode or custom types): {defects}")
        for (fault, exc_type, location), count in sorted(self.tolerated.items()):
            lines.append(f"  note: under {fault}, the client's own {exc_type} propagated at {location} "
                         f"(x{count}; the platform answers it with an error status: not a finding)")
        for check, (standin, count) in self.blocked.items():
            lines.append(f"  note: {check}: {count} failure(s) passed through cwtest's stand-in ({standin.kind}: "
                         f"{standin.detail}); not findings")
        lines += [f"  note: {n}" for n in self.notes]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {"route": self.route, "fuzz_requests": self.fuzz_requests,
                "fuzz_seconds": round(self.fuzz_seconds, 3), "invalid_requests": self.invalid_requests,
                "fault_requests": self.fault_requests, "statuses": self.statuses,
                "accepted_invalid": self.accepted_invalid, "accepted_defects": sorted(self.accepted_defects),
                "tolerated": [{"fault": f, "type": t, "location": loc, "count": c}
                              for (f, t, loc), c in sorted(self.tolerated.items())],
                "faults_injected": self.faults_injected, "notes": self.notes,
                "blocked": {c: {**s.as_json(), "count": n} for c, (s, n) in self.blocked.items()}}


@dataclass
class RouteResult:
    """One route: its smoke call, what the search did, and why it could not be exercised, if so."""

    method: str
    path: str
    #: The smoke call's status (None: not sent, or no answer).
    status: int | None = None
    seconds: float = 0.0
    note: str = ""
    request: Request | None = None
    inconclusive: Inconclusive | None = None
    search: RouteStats | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def as_json(self, verdict: Verdict) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "verdict": verdict.value, "status": self.status,
                "seconds": round(self.seconds, 3), "note": self.note,
                "request": self.request.as_json() if self.request else None,
                "inconclusive": self.inconclusive.as_json() if self.inconclusive else None,
                "search": self.search.as_json() if self.search else None}


@dataclass
class WorkflowResult:
    """Everything the run learned about one workflow."""

    path: str
    environment: dict[str, Any] | None = None
    sandbox: str = ""
    booted: bool = False
    boot_seconds: float = 0.0
    app: str | None = None
    routes: list[RouteResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: Outbound requests and connections, grouped (information, never findings): ``host``, ``method``,
    #: ``client``, ``count``, ``location`` (the first workflow line; None: library frames only),
    #: ``answers`` (who answered, with counts).
    egress: list[dict[str, Any]] = field(default_factory=list)
    #: URL prefix -> requests its mock answered.
    mocked: dict[str, int] = field(default_factory=dict)
    #: The cassette replayed or recorded: ``path``, ``played``, ``recorded``.
    cassette: dict[str, Any] | None = None
    service_calls: int = 0
    warnings: list[str] = field(default_factory=list)
    stdout_bytes: int = 0
    stderr_tail: str = ""
    seconds: float = 0.0
    #: A bug of cwtest's or a broken host: the workflow is inconclusive and the run exits 2.
    harness_error: str | None = None
    #: Why the workflow as a whole could not be exercised (no usable OpenAPI document, ...).
    inconclusive: Inconclusive | None = None
    #: The search's summary (``--examples``): seed, requests, seconds, per-route statistics.
    fuzz: dict[str, Any] | None = None
    #: What the workflow's process tried that its run may not do, seen from outside it (the
    #: sandbox's observer): ``{kind, call, target, allowed, count}``, whatever its process reported.
    observed: list[dict[str, Any]] = field(default_factory=list)
    #: The secret values this run knows (injected or given env values: ``EnvPlan.secrets``): every
    #: reporter masks them (``cwtest.redact``). Never rendered, never in ``as_json``.
    secrets: list[str] = field(default_factory=list, repr=False)
    #: ``--lint-fix``: the second boot after cwlint's safe fixes (``cwtest.harness.lint_fix``):
    #: ``applied`` codes, ``fixes``, ``booted``, ``only_after_fixes``, ``removed_by_fixes``; None
    #: when it did not run (off, or no safe fix for the file).
    lint_fix: dict[str, Any] | None = None

    def add(self, finding: Finding) -> None:
        """Add a finding, merging repeats of the same kind at the same place."""
        for existing in self.findings:
            if (existing.kind, existing.route, existing.check) == (finding.kind, finding.route, finding.check) and (
                    (finding.location and existing.location == finding.location
                     # two exception types at one line are two bugs (``httpx.InvalidURL`` and
                     # ``httpx.UnsupportedProtocol``)
                     and _head(existing.message) == _head(finding.message))
                    or (not finding.location and not existing.location and existing.message == finding.message)):
                existing.count = max(existing.count, finding.count)
                if not existing.stack and finding.stack:
                    existing.stack = finding.stack
                return
        self.findings.append(finding)

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def route(self, name: str) -> RouteResult | None:
        return next((r for r in self.routes if r.name == name), None)

    def route_verdict(self, route: RouteResult) -> Verdict:
        if any(f.route == route.name for f in self.findings):
            return Verdict.FINDING
        if route.inconclusive is not None:
            return Verdict.INCONCLUSIVE
        return Verdict.PASSED

    @property
    def verdict(self) -> Verdict:
        if self.findings:
            return Verdict.FINDING
        if self.harness_error or self.inconclusive is not None or not self.booted:
            return Verdict.INCONCLUSIVE
        if any(r.inconclusive is not None for r in self.routes):
            return Verdict.INCONCLUSIVE
        return Verdict.PASSED

    def inconclusive_reasons(self) -> list[str]:
        """Each reason this workflow is inconclusive, with its unblocking step."""
        reasons = []
        if self.harness_error:
            reasons.append(f"harness error: {self.harness_error}")
        if self.inconclusive is not None:
            reasons.append(self.inconclusive.render())
        reasons += [f"{r.name}: {r.inconclusive.render()}" for r in self.routes if r.inconclusive is not None]
        return reasons

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "verdict": self.verdict.value, "environment": self.environment,
            "sandbox": self.sandbox, "booted": self.booted, "boot_seconds": round(self.boot_seconds, 3),
            "app": self.app, "routes": [r.as_json(self.route_verdict(r)) for r in self.routes],
            "findings": [f.as_json() for f in self.findings], "egress": self.egress, "mocked": self.mocked,
            "cassette": self.cassette,
            "service_calls": self.service_calls, "warnings": self.warnings, "stdout_bytes": self.stdout_bytes,
            "stderr_tail": self.stderr_tail, "seconds": round(self.seconds, 3), "harness_error": self.harness_error,
            "inconclusive": self.inconclusive.as_json() if self.inconclusive else None, "fuzz": self.fuzz,
            "observed": self.observed, "lint_fix": self.lint_fix,
        }


class _Layer(Protocol):
    """What a report needs of the sandbox layer (``cwtest.harness.sandbox.Layer``)."""

    @property
    def warning(self) -> str | None: ...

    def describe(self) -> str: ...

    def as_json(self) -> dict[str, object]: ...


@dataclass
class RunReport:
    """The result of a run: one ``WorkflowResult`` per file, and the sandbox layer used."""

    layer: _Layer
    results: list[WorkflowResult]
    seconds: float = 0.0
    #: Python files of the given directories that were not collected, with the reason.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return sum(len(r.findings) for r in self.results)

    def verdicts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for result in self.results:
            counts[result.verdict.value] += 1
        return counts

    def exit_code(self, strict: bool = False) -> int:
        """2: a harness error; 1: findings (and, with ``strict``, inconclusive workflows); else 0."""
        if any(r.harness_error for r in self.results):
            return 2
        if self.findings:
            return 1
        if strict and any(r.verdict is Verdict.INCONCLUSIVE for r in self.results):
            return 1
        return 0

    def as_json(self) -> dict[str, Any]:
        return {"version": 3, "sandbox": self.layer.as_json(), "seconds": round(self.seconds, 3),
                "summary": {"workflows": len(self.results), "verdicts": self.verdicts(), "findings": self.findings,
                            "by_kind": _by_kind(self.results), "skipped": len(self.skipped)},
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "workflows": [r.as_json() for r in self.results]}


def _by_kind(results: list[WorkflowResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        for finding in result.findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return dict(sorted(counts.items()))


def _head(message: str) -> str:
    """An exception finding's type: its message up to the first colon."""
    return message.split(":", 1)[0]


#: A path into cwtest's environment cache (``~/.cache/cwtest/envs/<key>/...``, absolute or as a
#: relative ``../../root/.cache/...``): shown as ``<env>/site-packages/...``.
_ENV_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[^\s\"'(),:]*?/)?cwtest/envs/[0-9a-f]{8,}(?:\.[\w.-]+)?/"
                       r"(?:(?:lib|Lib)/(?:python\d[\d.]*/)?(?P<site>site-packages)/)?")


def display_path(path: str | None) -> str:
    """``file:line`` as a person can act on it: relative to the current directory when the file is
    below it (the workflow's own files), a file of cwtest's environment cache as
    ``<env>/site-packages/...``, anything else whole."""
    if not path:
        return ""
    file, sep, line = path.rpartition(":") if re.search(r":\d+$", path) else (path, "", "")
    if "cwtest/envs/" in file:
        return display_text(file) + sep + line
    try:
        relative = os.path.relpath(file)
    except ValueError:
        relative = file
    shown = relative if not relative.startswith("..") else file
    return f"{shown}{sep}{line}"


def display_text(text: str) -> str:
    """``text`` (a note, a message, a stack line, a stderr tail) with every path into cwtest's
    environment cache shortened to ``<env>/site-packages/...`` and absolute paths below the current
    directory made relative to it."""
    if "cwtest/envs/" in text:
        text = _ENV_PATH.sub(lambda m: "<env>/site-packages/" if m.group("site") else "<env>/", text)
    cwd = os.getcwd().rstrip(os.sep) + os.sep
    if len(cwd) > 1 and cwd in text:
        text = text.replace(cwd, "")
    return text


def printable(text: object, *, newlines: bool = False) -> str:
    """``text`` safe to print on a terminal: every control or format character (C0 and C1 controls,
    ANSI escape sequences' ESC, carriage returns, bidirectional overrides, zero-width characters)
    shown as an escape (``\\x1b``, ``\\u202e``), so that nothing a workflow wrote (an exception
    message, a stderr line, a file name) can move the cursor, erase lines or restyle the report.
    ``newlines=True`` keeps ``\\n`` (the caller indents each line); tabs are kept."""
    import unicodedata

    out = []
    for char in str(text):
        if char == "\t" or (newlines and char == "\n"):
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
