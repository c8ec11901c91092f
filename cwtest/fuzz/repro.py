"""What reproduces a failure of the smoke call or the search: the minimal input, a ``curl``, tests.

A :class:`Failure` is the engine's record of one deduplicated problem while the run goes on (its
count grows, Hypothesis replaces its input with a smaller one). When the run ends each becomes a
:class:`cwtest.results.Finding` with a :class:`cwtest.results.Repro`: the check, the route, the
minimal input, the fault, the service calls that request made, a ``curl`` command, and two pytest
regression tests:

* ``regression_test``, for the pytest plugin's ``cw_workflow`` fixture: it runs the workflow as
  ``cwtest run`` does (its own environment, the sandbox, the simulator), so nothing of the
  workflow's needs to be importable by the test's interpreter;
* ``inprocess_test``, with :class:`~cwtest.fuzz.InProcessTarget`: the workflow imported into the
  test's interpreter, no server, no sandbox, milliseconds; its dependencies must be importable.

Both fail while the bug is there and pass once it is fixed. :func:`repro_lines` renders a
finding's repro the same way in every report.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from cwtest.fuzz.target import query_params
from cwtest.results import (
    KINDS,
    NO_BODY,
    ExceptionInfo,
    Finding,
    Repro,
    Request,
    RouteResult,
    ServiceCall,
    display_path,
)

if TYPE_CHECKING:
    from cwtest.fuzz.faults import Fault

#: ``cwtest boot FILE --port 8000`` serves the app there: the curl commands target it.
BOOT_URL = "http://127.0.0.1:8000"


@dataclass
class Failure:
    kind: str
    check: str
    route: str
    message: str
    signature: tuple[str, ...]
    request: Request
    fault: Fault | None
    status: int | None
    exception: ExceptionInfo | None
    calls: list[ServiceCall]
    shrunk: bool
    key: str | None = None
    location: str | None = None
    stack: tuple[str, ...] = ()
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
    #: The cwlint code that finds the same problem statically (``service-contract``: CW103, CW104).
    lint: str | None = None

    @property
    def headline(self) -> str:
        return self.message.splitlines()[0][:200] if self.message else KINDS[self.kind]

    def finding(self, workflow_file: str | Path, shown: str) -> Finding:
        """The run's :class:`~cwtest.results.Finding` for this failure; ``shown`` is the workflow's
        path as the ``cw_workflow`` test names it, ``workflow_file`` as the in-process test does."""
        repro = Repro(
            request=self.request, shrunk=self.shrunk, fault=self.fault.label if self.fault else None,
            status=self.status, key=self.key, seen_in=tuple(self.seen_in), calls=tuple(self.calls),
            curl=self.curl(BOOT_URL), regression_test=self.sandboxed_test(shown), test_name=self.test_name,
            workflow=shown, inprocess_test=self.regression_test(workflow_file))
        return Finding(self.kind, self.headline, self.location, list(self.stack), count=self.count,
                       route=self.route, check=self.check, exception=self.exception, repro=repro, lint=self.lint)

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
        if request.json_body is not NO_BODY:
            parts += ["-H", shlex.quote("content-type: application/json"), "--data-raw",
                      shlex.quote(shell_json(request.json_body))]
        elif request.files is not None:
            parts += [f"-F {shlex.quote(f'{name}={value}')}" for name, value in request.form or ()]
            parts += [f"-F {shlex.quote(f'{name}=@{filename}')}" for name, (filename, _c) in request.files]
        elif request.form is not None:
            parts += [f"--data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in request.form]
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
            fuzz_imports |= imports & {"timeout_fault", "connection_fault"}
            sim_imports |= imports - {"timeout_fault", "connection_fault"}
            lines.append(f"    {self.fault.script_code(self.fault_answer)}  # the fault that exposed it")
        lines.append("    with InProcessTarget.from_path(WORKFLOW, runtime) as target:")
        sent, needed = send_and_assert(self, "target", "        ", tolerated)
        fuzz_imports |= needed
        lines += sent
        where = f" at {display_path(self.location)}" if self.location else ""
        docstring = (f'"""Regression test from cwtest\'s fuzzer ({self.check} check): {self.route}{where}.\n\n'
                     f"{_wrap(self.headline, 96)}\n\n"
                     "Runs the workflow in-process (cwtest.fuzz.InProcessTarget); fails until the bug is fixed.\n"
                     '"""')
        header = [docstring, "", "from pathlib import Path", "",
                  f"from cwtest.fuzz import {', '.join(sorted(fuzz_imports))}",
                  f"from cwtest.simulator import {', '.join(sorted(sim_imports))}", "",
                  f"WORKFLOW = Path({display_path(str(workflow_file))!r})", "", ""]
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
            fuzz_imports |= imports & {"timeout_fault", "connection_fault"}
            sim_imports |= imports - {"timeout_fault", "connection_fault"}
            body.append(f"    {self.fault.script_code(self.fault_answer)}  # the fault that exposed it")
        sent, needed = send_and_assert(self, "workflow", "    ", tolerated, literal=repr)
        fuzz_imports |= needed
        body += sent
        where = f" at {display_path(self.location)}" if self.location else ""
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


@dataclass
class FuzzReport:
    """What a run of the engine hands back: its routes (with the search's statistics) and findings."""

    workflow: str
    seed: int
    examples: int
    routes: list[RouteResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    #: The secret values the run knows (``cwtest.redact``): ``render``, ``as_json`` and
    #: ``write_regression_tests`` mask them, with the credential formats and names.
    secrets: list[str] = field(default_factory=list, repr=False)

    def redacted(self) -> FuzzReport:
        """This report through the one redaction step (``cwtest.redact``)."""
        from cwtest.redact import Redactor, redact_fields

        return redact_fields(self, Redactor(self.secrets))

    @property
    def examples_per_second(self) -> float:
        """Valid requests generated, sent and checked per second, shrinking included."""
        stats = [r.search for r in self.routes if r.search is not None]
        requests = sum(s.fuzz_requests for s in stats)
        seconds = sum(s.fuzz_seconds for s in stats)
        return requests / seconds if seconds else 0.0

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def summary_lines(self) -> list[str]:
        lines = []
        for route in self.routes:
            if route.inconclusive is not None:
                lines.append(f"{route.name}: inconclusive: {route.inconclusive.render()}")
            if route.search is not None:
                lines += route.search.summary_lines()
        return lines

    def render(self, *, tests: bool = True) -> str:
        report = self.redacted()
        head = (f"{display_path(report.workflow)}: {len(report.findings)} finding(s) on {len(report.routes)} "
                f"route(s); {report.requests} requests in {report.seconds:.1f} s (seed {report.seed}, "
                f"{report.examples} examples)")
        out = [head] + ["  " + line for line in report.summary_lines()]
        for finding in report.findings:
            out.append("")
            out += finding_lines(finding, inprocess=tests)
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        report = self.redacted()
        return {"version": 2, "workflow": report.workflow, "seed": report.seed, "examples": report.examples,
                "requests": report.requests, "seconds": round(report.seconds, 3),
                "examples_per_second": round(report.examples_per_second, 1),
                "routes": [r.as_json(_verdict(r, report.findings)) for r in report.routes],
                "findings": [f.as_json() for f in report.findings]}

    def write_regression_tests(self, directory: Path) -> list[Path]:
        """One in-process ``test_<name>.py`` per finding in ``directory``; returns the paths written."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for finding in self.redacted().findings:
            if finding.repro is None:
                continue
            path = directory / f"{finding.repro.test_name}.py"
            path.write_text(finding.repro.inprocess_test, encoding="utf-8")
            written.append(path)
        return written


def _verdict(route: RouteResult, findings: list[Finding]) -> Any:
    from cwtest.results import Verdict

    if any(f.route == route.name for f in findings):
        return Verdict.FINDING
    return Verdict.INCONCLUSIVE if route.inconclusive is not None else Verdict.PASSED


def finding_lines(finding: Finding, *, inprocess: bool = False) -> list[str]:
    """A finding as every report shows it: headline, facts, input, traceback, calls, curl, test."""
    after = " (after cwlint's safe fixes)" if finding.variant == "fixed" else ""
    out = [f"✗ [{finding.kind}]{after} {finding.route or ''} — {finding.message}".replace(" ]", "]")]
    out += [f"    {line}" if line else "" for line in repro_lines(finding, inprocess=inprocess)]
    return out


def repro_lines(finding: Finding, *, inprocess: bool = False) -> list[str]:
    """What reproduces a finding: check, fault, minimal input, traceback, calls, curl, regression test."""
    repro = finding.repro
    if repro is None:
        return []
    facts = [f"check: {finding.check or 'smoke'}"]
    if repro.fault:
        facts.append(f"fault: {repro.fault}")
    if finding.location:
        facts.append(f"at {display_path(finding.location)}")
    if repro.key:
        facts.append(f"key: {repro.key}")
    if repro.status is not None:
        facts.append(f"answered {repro.status}")
    if finding.count > 1:
        facts.append(f"seen {finding.count} times")
    lines = [" · ".join(facts)]
    lines += lint_lines(finding)
    if len(repro.seen_in) > 1:
        lines.append("also in: " + "; ".join(repro.seen_in[1:6]))
    request = repro.request
    how = "minimal input (shrunk)" if repro.shrunk else "input (as first seen, not shrunk)"
    if finding.check == "smoke":
        how = "input (the smoke call's minimal request)"
    lines.append(f"{how}: {request.method} {request.path}")
    if request.query:
        lines.append(f"  query: {show_json(dict(request.query))}")
    if request.json_body is not NO_BODY:
        lines.append("  " + show_json(request.json_body)[:2000])
    if request.form is not None:
        lines.append("  form: " + show_json(dict(request.form))[:2000])
    if request.defect:
        lines.append(f"  defect: {request.defect}")
    exception = finding.exception
    if exception is not None and exception.frames:
        lines.append("traceback (the workflow's frames):")
        for frame in exception.frames:
            lines.append(f"  {display_path(frame.file)}:{frame.line} in {frame.function}")
            if frame.source:
                lines.append(f"      {frame.source}")
        lines.append(f"  {exception.type}: {exception.message[:500]}")
    elif finding.stack:
        lines.append("where it was (the workflow's tasks and threads):" if finding.kind == "timeout" else "stack:")
        lines += [f"  {line}" for line in finding.stack[-16:]]
    if repro.calls:
        lines.append("service calls:")
        lines += [f"  {call.render()}" for call in repro.calls[:12]]
        if len(repro.calls) > 12:
            lines.append(f"  ... {len(repro.calls) - 12} more")
    lines.append(f"reproduce (with `cwtest boot {repro.workflow} --port 8000` running):")
    lines += ["  " + line for line in repro.curl.splitlines()]
    test = repro.inprocess_test if inprocess else repro.regression_test
    if test:
        lines.append("regression test (in-process, InProcessTarget):" if inprocess else
                     "regression test (pytest; the cw_workflow fixture boots the workflow sandboxed):")
        lines += ["  " + line if line else "" for line in test.splitlines()]
    return lines


def lint_lines(finding: Finding) -> list[str]:
    """What cwlint has to do with a finding: the rule that finds it statically, or the fixed copy
    it was seen in (``--lint-fix``)."""
    lines = []
    if finding.variant == "fixed":
        lines.append("seen after cwlint's safe fixes (in a scratch copy; your file is unchanged): fix what "
                     "`cwlint check --fix` reports first")
    if finding.lint and finding.variant != "fixed":
        if finding.kind == "service-contract":
            lines.append(f"cwlint's rule for this mistake: {finding.lint} (it sees literal inputs; "
                         f"`cwlint rule {finding.lint}`)")
        else:
            lines.append(f"cwlint {finding.lint} fixes it (`cwlint check --fix`)")
    return lines


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
    if request.json_body is not NO_BODY:
        args.append(literal(request.json_body))
    if request.headers:
        args.append(f"headers={dict(request.headers)!r}")
    if request.query:
        args.append(f"query={dict(request.query)!r}")
    if request.form is not None:
        args.append(f"form={dict(request.form)!r}")
    if request.files:
        args.append(f"files={dict(request.files)!r}")
    lines = [f"{indent}response = {receiver}.send({', '.join(args)})"]
    if failure.kind == "swallowed-exception" and failure.exception is not None:
        exc = failure.exception
        caught = _file_line(exc.caught)
        lines.append(f"    swallowed = [e for e in response.swallowed if e.is_a({exc.type!r}) and "
                     f"(e.caught or '').endswith({caught!r})]")
        lines.append('    assert not swallowed, "\\n".join(e.render() for e in swallowed)')
    elif failure.kind == "blocking-call":
        lines.append(f"    blocks = [b for b in response.blocks if (b.location or '').endswith("
                     f"{_file_line(failure.location)!r})]")
        lines.append('    assert not blocks, "\\n".join(b.render() for b in blocks)')
    elif failure.kind in ("unhandled-exception", "memory", "background-exception"):
        if failure.check == "faults" and tolerated:
            lines.append(f"    escaped = [e for e in response.exceptions if not any(e.is_a(name) for name in "
                         f"{tuple(tolerated)!r})]")
        else:
            lines.append("    escaped = list(response.exceptions)")
        lines.append('    assert not escaped, "\\n".join(e.render() for e in escaped)')
    elif failure.kind == "server-error":
        lines.append("    assert response.status is not None and response.status < 500, response.text[:500]")
    elif failure.kind in ("no-response", "timeout", "crash"):
        lines.append("    assert response.status is not None, response.error")
    elif failure.kind == "response-model":
        needed.add("response_problem")
        method, _, template = failure.route.partition(" ")
        lines.append(f"{indent}problem = response_problem({receiver}.schema, {method!r}, {template!r}, response)")
        lines.append("    assert problem is None, problem")
    elif failure.kind == "service-contract":
        lines.append("    problems = [p for call in runtime.calls() for p in call.problems]")
        lines.append("    assert not problems, problems")
    return lines, needed


def _file_line(location: str | None) -> str:
    """``name.py:12`` of a ``/path/to/name.py:12``: a regression test that runs wherever the repository is."""
    return (location or "").replace("\\", "/").rsplit("/", 1)[-1]


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
