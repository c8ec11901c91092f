"""What a fuzz run hands back: failures with a minimal input, a ``curl`` and a regression test.

A :class:`Failure` is one deduplicated problem: an escaped exception (by type and workflow line),
a 5xx without one (by route and status), a response-model violation (by route and schema path), a
service-contract violation (by service, path and key). It carries the check that found it, the
route, the minimal input (``shrunk``: Hypothesis' final replay; else the request as first seen),
the workflow's trimmed traceback, the service calls that request made, a ``curl`` command and a
pytest regression test.

**The regression test** drives the workflow in-process with :class:`~cwtest.fuzz.InProcessTarget`
(the module imported in the test's interpreter, its app called through ``httpx.ASGITransport``,
the simulator in-process), scripts the fault that exposed the failure, sends the minimal request
and asserts what the check asserted. It fails while the bug is there and passes once it is fixed,
needs no server, no port and no sandbox, and runs in milliseconds. Its cost: the workflow's
dependencies must be importable by the test's interpreter (the pytest plugin's ``cw_workflow``
fixture, issue 9, will give the sandboxed equivalent; the test's body stays the same).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from cwtest.fuzz.target import ExceptionInfo, query_params

if TYPE_CHECKING:
    from cwtest.fuzz.faults import Fault
    from cwtest.fuzz.schema import RequestSpec
    from cwtest.simulator.records import Call

KIND_TEXT = {
    "unhandled-exception": "an exception escaped the workflow",
    "no-response": "the app gave no answer",
    "server-error": "a 5xx answer",
    "response-model": "a 2xx body that breaks the documented response model",
    "service-contract": "a library-service call the simulator refused (catalog contract)",
}


@dataclass(frozen=True)
class CallSummary:
    """A service call as a report shows it."""

    service: str
    path: str
    method: str
    status: int | None
    fault: str | None
    problems: tuple[str, ...]
    inputs: Any

    @classmethod
    def of(cls, call: Call) -> CallSummary:
        return cls(call.service, call.path, call.method, call.status, call.fault, call.problems, call.inputs)

    def render(self) -> str:
        where = f"{self.service}/{self.path}" if self.path else self.service
        text = f"{where} {self.method} -> {self.status if self.status is not None else 'no answer'}"
        if self.fault:
            text += f" (fault: {self.fault})"
        if self.problems:
            text += " — " + "; ".join(self.problems)
        return text

    def as_json(self) -> dict[str, Any]:
        return {"service": self.service, "path": self.path, "method": self.method, "status": self.status,
                "fault": self.fault, "problems": list(self.problems), "inputs": _clip(self.inputs)}


@dataclass
class Failure:
    kind: str
    check: str
    route: str
    message: str
    signature: tuple[str, ...]
    request: RequestSpec
    fault: Fault | None
    status: int | None
    exception: ExceptionInfo | None
    calls: list[CallSummary]
    shrunk: bool
    key: str | None = None
    #: The faulted service's answer in the reported request (an LLM fault's scripted JSON).
    fault_answer: Any = None
    seen_in: list[str] = field(default_factory=list)
    response_excerpt: str = ""
    count: int = 1
    #: The client's own errors the check tolerated (a faults regression test tolerates them too).
    tolerated: tuple[str, ...] = ()
    #: The simulator's seed and connected apps, for the regression test's runtime.
    runtime_seed: int = 0
    connected_apps: tuple[str, ...] = ()

    @property
    def location(self) -> str | None:
        return self.exception.location if self.exception else None

    @property
    def headline(self) -> str:
        return self.message.splitlines()[0][:200] if self.message else KIND_TEXT[self.kind]

    # --- reproduction ----------------------------------------------------------------------------

    def curl(self, base_url: str = "http://127.0.0.1:8000") -> str:
        """A shell command that sends the minimal request to the app (e.g. under ``cwtest boot``)."""
        request = self.request
        url = base_url.rstrip("/") + request.path
        params = query_params(dict(request.query))
        if params:
            url += "?" + urlencode(params, doseq=True)
        parts = ["curl", "-sS", "-X", request.method, shlex.quote(url)]
        for name, value in request.headers:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
        if request.has_body:
            parts += ["-H", shlex.quote("content-type: application/json"), "--data-raw",
                      shlex.quote(shell_json(request.json_body))]
        command = " ".join(parts)
        if self.fault is not None:
            command = (f"# only with {self.fault.service} failing ({self.fault.kind}): script it in the simulator, "
                       f"as the regression test does\n{command}")
        return command

    def regression_test(self, workflow_file: str | Path, *, runtime_seed: int | None = None,
                        connected_apps: tuple[str, ...] | None = None, tolerated: tuple[str, ...] | None = None) -> str:
        """A pytest module that reproduces this failure; see the module docstring."""
        tolerated = self.tolerated if tolerated is None else tolerated
        runtime_seed = self.runtime_seed if runtime_seed is None else runtime_seed
        connected_apps = self.connected_apps if connected_apps is None else connected_apps
        fuzz_imports = {"InProcessTarget"}
        sim_imports = {"SimulatedRuntime"}
        lines = [f"    runtime = SimulatedRuntime(seed={runtime_seed!r}"
                 + (f", connected_apps={sorted(connected_apps)!r}" if connected_apps else "") + ")"]
        if self.fault is not None:
            imports = self.fault.imports()
            fuzz_imports |= imports & {"timeout_fault"}
            sim_imports |= imports - {"timeout_fault"}
            lines.append(f"    {self.fault.script_code(self.fault_answer)}  # the fault that exposed it")
        lines.append("    with InProcessTarget.from_path(WORKFLOW, runtime) as target:")
        sent, needed = send_and_assert(self, "target", "        ", tolerated)
        fuzz_imports |= needed
        lines += sent
        where = f" at {_display_path(self.location)}" if self.location else ""
        docstring = (f'"""Regression test from cwtest\'s fuzzer ({self.check} check): {self.route}{where}.\n\n'
                     f"{_wrap(self.headline, 96)}\n\n"
                     "Runs the workflow in-process (cwtest.fuzz.InProcessTarget); fails until the bug is fixed.\n"
                     '"""')
        header = [docstring, "", "from pathlib import Path", "",
                  f"from cwtest.fuzz import {', '.join(sorted(fuzz_imports))}",
                  f"from cwtest.simulator import {', '.join(sorted(sim_imports))}", "",
                  f"WORKFLOW = Path({_display_path(str(workflow_file))!r})", "", ""]
        return "\n".join(header + [f"def {self.test_name}() -> None:"] + lines) + "\n"

    def sandboxed_test(self, workflow: str, tolerated: tuple[str, ...] | None = None) -> str:
        """The regression test for the pytest plugin's ``cw_workflow`` fixture.

        It runs the workflow as ``cwtest run`` and the plugin's items do (its own environment, the
        sandbox, the simulator), so nothing of the workflow's needs to be importable by the test's
        interpreter; it fails while the bug is there and passes once it is fixed.
        """
        tolerated = self.tolerated if tolerated is None else tolerated
        fuzz_imports: set[str] = set()
        sim_imports: set[str] = set()
        body = [f"    workflow = cw_workflow({workflow!r})"]
        if self.fault is not None or self.kind == "service-contract":
            body.append("    runtime = workflow.runtime")
        if self.fault is not None:
            imports = self.fault.imports()
            fuzz_imports |= imports & {"timeout_fault"}
            sim_imports |= imports - {"timeout_fault"}
            body.append(f"    {self.fault.script_code(self.fault_answer)}  # the fault that exposed it")
        sent, needed = send_and_assert(self, "workflow", "    ", tolerated, literal=repr)
        fuzz_imports |= needed
        body += sent
        where = f" at {_display_path(self.location)}" if self.location else ""
        one_line = " ".join(self.headline.split()).replace('"""', "'''")[:160]
        head = [f'"""cwtest {self.check} check: {self.route}{where}: {one_line}"""', ""]
        if fuzz_imports:
            head.append(f"from cwtest.fuzz import {', '.join(sorted(fuzz_imports))}")
        if sim_imports:
            head.append(f"from cwtest.simulator import {', '.join(sorted(sim_imports))}")
        if fuzz_imports or sim_imports:
            head += ["", ""]
        return "\n".join(head + [f"def {self.test_name}(cw_workflow) -> None:"] + body) + "\n"

    @property
    def test_name(self) -> str:
        method, _, template = self.route.partition(" ")
        slug = re.sub(r"[^a-z0-9]+", "_", template.lower()).strip("_") or "root"
        digest = hashlib.sha1("|".join(self.signature).encode()).hexdigest()[:6]
        return f"test_{method.lower()}_{slug}_{self.kind.replace('-', '_')}_{digest}"

    # --- output ----------------------------------------------------------------------------------

    def render(self, base_url: str = "http://127.0.0.1:8000", workflow_file: str | Path | None = None,
               **test_options: Any) -> str:
        out = [f"✗ [{self.kind}] {self.route} — {self.headline}"]
        facts = [f"check: {self.check}"]
        if self.fault is not None:
            facts.append(f"fault: {self.fault.label}")
        if self.location:
            facts.append(f"at {_display_path(self.location)}")
        if self.key:
            facts.append(f"key: {self.key}")
        if self.status is not None:
            facts.append(f"answered {self.status}")
        if self.count > 1:
            facts.append(f"seen {self.count} times")
        out.append("    " + " · ".join(facts))
        if len(self.seen_in) > 1:
            out.append("    also in: " + "; ".join(self.seen_in[1:6]))
        how = "minimal input (shrunk)" if self.shrunk else "input (as first seen, not shrunk)"
        out.append(f"    {how}: {self.request.method} {self.request.path}")
        if self.request.query:
            out.append(f"      query: {show_json(dict(self.request.query))}")
        if self.request.has_body:
            out.append("      " + show_json(self.request.json_body)[:2000])
        if self.request.defect:
            out.append(f"      defect: {self.request.defect}")
        if self.exception is not None and self.exception.frames:
            out.append("    traceback (the workflow's frames):")
            for frame in self.exception.frames:
                out.append(f"      {_display_path(frame.file)}:{frame.line} in {frame.function}")
                if frame.source:
                    out.append(f"          {frame.source}")
            out.append(f"      {self.exception.type}: {self.exception.message[:500]}")
        if self.calls:
            out.append("    service calls:")
            out += [f"      {c.render()}" for c in self.calls[:12]]
            if len(self.calls) > 12:
                out.append(f"      ... {len(self.calls) - 12} more")
        out.append("    reproduce:")
        out += ["      " + line for line in self.curl(base_url).splitlines()]
        if workflow_file is not None:
            out.append("    regression test:")
            out += ["      " + line if line else "" for line in
                    self.regression_test(workflow_file, **test_options).splitlines()]
        return "\n".join(out)

    def as_json(self, base_url: str = "http://127.0.0.1:8000", workflow_file: str | Path | None = None,
                **test_options: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind, "check": self.check, "route": self.route, "message": self.message,
            "location": self.location, "key": self.key, "status": self.status, "shrunk": self.shrunk,
            "count": self.count, "seen_in": self.seen_in, "request": self.request.as_json(),
            "fault": None if self.fault is None else {"service": self.fault.service, "path": self.fault.path,
                                                      "kind": self.fault.kind},
            "exception": None if self.exception is None else self.exception.as_json(),
            "calls": [c.as_json() for c in self.calls], "curl": self.curl(base_url),
            "response": self.response_excerpt,
        }
        if workflow_file is not None:
            data["regression_test"] = self.regression_test(workflow_file, **test_options)
        return data


@dataclass
class RouteStats:
    """What the run did on one route."""

    route: str
    skipped: str | None = None
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

    def count(self, check: str, status: int | None) -> None:
        bucket = self.statuses.setdefault(check, {})
        key = "none" if status is None else f"{status // 100}xx"
        bucket[key] = bucket.get(key, 0) + 1

    def tolerate(self, fault: Fault | None, exc: ExceptionInfo) -> None:
        key = (fault.label if fault else "-", exc.type, _display_path(exc.location or "?"))
        self.tolerated[key] = self.tolerated.get(key, 0) + 1

    def notes_once(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def summary_lines(self) -> list[str]:
        if self.skipped:
            return [f"{self.route}: {self.skipped}"]
        parts = []
        for check, bucket in self.statuses.items():
            parts.append(f"{check} " + ", ".join(f"{k} {v}" for k, v in sorted(bucket.items())))
        lines = [f"{self.route}: " + "; ".join(parts)]
        if self.accepted_invalid:
            defects = "; ".join(sorted(self.accepted_defects)[:5])
            lines.append(f"  note: {self.accepted_invalid} invalid requests were accepted with a 2xx (not a "
                         f"finding: pydantic's lax mode or custom types): {defects}")
        for (fault, exc_type, location), count in sorted(self.tolerated.items()):
            lines.append(f"  note: under {fault}, the client's own {exc_type} propagated at {location} "
                         f"(x{count}; the platform answers it with an error status: not a finding)")
        lines += [f"  note: {n}" for n in self.notes]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {"route": self.route, "skipped": self.skipped, "fuzz_requests": self.fuzz_requests,
                "fuzz_seconds": round(self.fuzz_seconds, 3), "invalid_requests": self.invalid_requests,
                "fault_requests": self.fault_requests, "statuses": self.statuses,
                "accepted_invalid": self.accepted_invalid, "accepted_defects": sorted(self.accepted_defects),
                "tolerated": [{"fault": f, "type": t, "location": loc, "count": c}
                              for (f, t, loc), c in sorted(self.tolerated.items())],
                "faults_injected": self.faults_injected, "notes": self.notes}


@dataclass
class FuzzReport:
    workflow: str
    seed: int
    examples: int
    failures: list[Failure] = field(default_factory=list)
    routes: list[RouteStats] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    @property
    def examples_per_second(self) -> float:
        """Valid requests generated, sent and checked per second, shrinking included."""
        requests = sum(r.fuzz_requests for r in self.routes)
        seconds = sum(r.fuzz_seconds for r in self.routes)
        return requests / seconds if seconds else 0.0

    def kinds(self) -> set[str]:
        return {f.kind for f in self.failures}

    def render(self, base_url: str = "http://127.0.0.1:8000", *, tests: bool = True, **test_options: Any) -> str:
        head = (f"{_display_path(self.workflow)}: {len(self.failures)} failure(s) on {len(self.routes)} route(s); "
                f"{self.requests} requests in {self.seconds:.1f} s (seed {self.seed}, {self.examples} examples)")
        out = [head]
        for stats in self.routes:
            out += ["  " + line for line in stats.summary_lines()]
        for failure in self.failures:
            out.append("")
            out.append(failure.render(base_url, self.workflow if tests else None, **test_options))
        return "\n".join(out)

    def as_json(self, base_url: str = "http://127.0.0.1:8000", **test_options: Any) -> dict[str, Any]:
        return {"version": 1, "workflow": self.workflow, "seed": self.seed, "examples": self.examples,
                "requests": self.requests, "seconds": round(self.seconds, 3),
                "examples_per_second": round(self.examples_per_second, 1),
                "routes": [r.as_json() for r in self.routes],
                "failures": [f.as_json(base_url, self.workflow, **test_options) for f in self.failures]}

    def write_regression_tests(self, directory: Path, **test_options: Any) -> list[Path]:
        """One ``test_<name>.py`` per failure in ``directory``; returns the paths written."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for failure in self.failures:
            path = directory / f"{failure.test_name}.py"
            path.write_text(failure.regression_test(self.workflow, **test_options), encoding="utf-8")
            written.append(path)
        return written


def send_and_assert(failure: Failure, receiver: str, indent: str, tolerated: tuple[str, ...] | list[str],
                    literal: Any = None) -> tuple[list[str], set[str]]:
    """A regression test's request and assertion for ``failure``, sent through ``receiver``.

    Shared by the fuzzer's in-process tests and the pytest plugin's ``cw_workflow`` tests;
    returns the lines and the ``cwtest.fuzz`` names they need.
    """
    request = failure.request
    literal = literal or _literal
    needed: set[str] = set()
    args = [repr(request.method), repr(request.path)]
    if request.has_body:
        args.append(literal(request.json_body))
    if request.headers:
        args.append(f"headers={dict(request.headers)!r}")
    if request.query:
        args.append(f"query={dict(request.query)!r}")
    lines = [f"{indent}outcome = {receiver}.send({', '.join(args)})"]
    if failure.kind == "unhandled-exception":
        if failure.check == "faults" and tolerated:
            lines.append(f"    escaped = [e for e in outcome.exceptions if not any(e.is_a(name) for name in "
                         f"{tuple(tolerated)!r})]")
        else:
            lines.append("    escaped = list(outcome.exceptions)")
        lines.append('    assert not escaped, "\\n".join(e.render() for e in escaped)')
    elif failure.kind == "server-error":
        lines.append("    assert outcome.status is not None and outcome.status < 500, outcome.text[:500]")
    elif failure.kind == "no-response":
        lines.append("    assert outcome.status is not None, outcome.error")
    elif failure.kind == "response-model":
        needed.add("response_problem")
        method, _, template = failure.route.partition(" ")
        lines.append(f"{indent}problem = response_problem({receiver}.schema, {method!r}, {template!r}, outcome)")
        lines.append("    assert problem is None, problem")
    elif failure.kind == "service-contract":
        lines.append("    problems = [p for call in runtime.calls() for p in call.problems]")
        lines.append("    assert not problems, problems")
    return lines, needed


def shell_json(value: Any) -> str:
    """JSON for a command line: the same value, with invisible characters as ``\\uXXXX`` escapes.

    A terminal shows ``\\x80`` or a zero-width space as nothing, so a command copied from it would
    send another request; escaped, the server decodes the very same string.
    """
    text = json.dumps(value, ensure_ascii=False)
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


def show_json(value: Any) -> str:
    """JSON for a human: non-ASCII text as is, invisible characters escaped (``\\x80``, ``\\u200b``)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _literal(value: Any) -> str:
    """A Python literal for a JSON value (``repr`` of dicts, lists, str, numbers, True/False/None)."""
    return repr(value)


def _display_path(path: str | None) -> str:
    if not path:
        return ""
    file, sep, line = path.rpartition(":") if re.search(r":\d+$", path) else (path, "", "")
    try:
        relative = os.path.relpath(file)
    except ValueError:
        relative = file
    shown = relative if not relative.startswith("..") else file
    return f"{shown}{sep}{line}"


def _wrap(text: str, width: int) -> str:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        lines.append(current)
    return "\n".join(lines).replace('"""', "'''").replace("\\", "\\\\")


def _clip(value: Any, limit: int = 2000) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= limit else text[:limit] + "..."
