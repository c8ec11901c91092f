"""``cwtest run``'s search: the fuzzer over a booted workflow, and its failures as findings.

After the smoke calls, ``Harness(fuzz=FuzzConfig(...))`` hands the live, sandboxed workflow to
the fuzzer (``cwtest.fuzz``) through ``SandboxTarget``: generated valid and invalid requests,
injected service faults and the catalog check, each failure shrunk to a minimal input and
deduplicated by exception type and location. Each failure becomes one ``Finding`` whose
``repro`` holds what reproduces it: the minimal input, the fault, the service calls that
request made, a ``curl`` command (for ``cwtest boot FILE --port 8000``) and a pytest regression
test for the plugin's ``cw_workflow`` fixture (sandboxed like this run, so the workflow's
dependencies need not be importable by the test's interpreter).

A failure the smoke call already reported (the same route and workflow line) is not reported
twice: the smoke finding gains the repro. A hang or a death during the search ends it (the
process cannot answer any more) and is reported as ``timeout`` or ``crash`` with the input that
caused it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwtest.harness.findings import Finding

if TYPE_CHECKING:
    from cwtest.fuzz import Failure, FuzzConfig
    from cwtest.harness.runner import BootedWorkflow

#: ``cwtest boot FILE --port 8000`` serves the app there: the curl commands target it.
BOOT_URL = "http://127.0.0.1:8000"


def fuzz_booted(booted: BootedWorkflow, config: FuzzConfig) -> None:
    """Run the search on ``booted``; record its summary and findings on ``booted.result``."""
    from cwtest.fuzz import Fuzzer
    from cwtest.fuzz.sandbox_target import SandboxTarget, WorkflowStopped

    result = booted.result
    booted.fuzzed_after = max((call.seq for call in booted.runtime.calls()), default=-1)
    target = SandboxTarget(booted, timeout=booted.harness.timeout)
    fuzzer = Fuzzer(target, config, workflow=str(booted.path))
    try:
        report = fuzzer.run()
    except WorkflowStopped:  # already reported by the request that stopped it; keep what was found
        report = fuzzer.report
    except Exception as exc:  # noqa: BLE001 - an OpenAPI document the search cannot use: say so, go on
        result.warnings.append(f"not fuzzed: {type(exc).__name__}: {exc}")
        return
    result.fuzz = {
        "seed": config.seed, "examples": config.examples, "requests": report.requests,
        "seconds": round(report.seconds, 3), "examples_per_second": round(report.examples_per_second, 1),
        "routes": [stats.as_json() for stats in report.routes],
        "summary": [line for stats in report.routes for line in stats.summary_lines()],
    }
    rooted = _shown_path(booted.path)
    for failure in report.failures:
        finding = finding_of(failure, rooted, target)
        if not _merge_into_smoke(result.findings, finding):
            result.add(finding)


def finding_of(failure: Failure, workflow: str, target: Any) -> Finding:
    """The finding for one of the fuzzer's failures, with everything that reproduces it."""
    kind = failure.kind
    message = failure.headline
    stack: list[str] = []
    if failure.exception is not None:
        if failure.exception.type.endswith("MemoryError"):
            kind = "memory"
        stack = [f"{frame.file}:{frame.line} in {frame.function}" for frame in failure.exception.frames]
    if kind == "no-response":
        if target.hang_stacks is not None:
            from cwtest.harness.runner import _stack_of

            kind = "timeout"
            _location, stack = _stack_of(target.hang_stacks)
            message = f"no answer within {target.timeout:g} s to a generated request: the workflow hung"
        elif target.dead is not None:
            kind, message = "crash", target.dead
    finding = Finding(kind, message, failure.location, stack, count=failure.count, route=failure.route,
                      check=failure.check)
    finding.repro = {
        "input": failure.request.as_json(),
        "shrunk": failure.shrunk,
        "fault": failure.fault.label if failure.fault is not None else None,
        "key": failure.key,
        "status": failure.status,
        "seen_in": list(failure.seen_in),
        "calls": [call.render() for call in failure.calls],
        "curl": failure.curl(BOOT_URL),
        "regression_test": failure.sandboxed_test(workflow),
        "test_name": failure.test_name,
        "workflow": workflow,
    }
    return finding


def _merge_into_smoke(findings: list[Finding], finding: Finding) -> bool:
    """Give the repro to the smoke call's finding of the same bug; True if merged.

    The same bug: the same route and workflow line (an exception), or, without a line, the same
    kind and the same problem (a response-model break at the same place, a 5xx alike).
    """
    for existing in findings:
        if existing.check is not None or existing.route != finding.route:
            continue
        if finding.location is not None:
            same = existing.location == finding.location and existing.kind in ("server-error", "memory", finding.kind)
        else:
            same = existing.location is None and existing.kind == finding.kind and finding.message in existing.message
        if same:
            existing.repro = finding.repro
            existing.count = max(existing.count, finding.count)
            return True
    return False


def write_regression_tests(findings: list[Finding], directory: Path) -> list[Path]:
    """One ``test_<name>.py`` per finding with a regression test; returns the files written.

    Each test names its workflow relative to the test's own folder (``cw_workflow`` looks there
    and in pytest's root), so the tests run from any directory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for finding in findings:
        repro = finding.repro
        if not repro or not repro.get("regression_test"):
            continue
        shown = repro["workflow"]
        here = os.path.relpath(Path(shown).resolve(), directory.resolve())
        text = repro["regression_test"].replace(f"cw_workflow({shown!r})", f"cw_workflow({here!r})")
        path = directory / f"{repro['test_name']}.py"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _shown_path(path: Path) -> str:
    """The workflow's path as the regression test names it: relative to the current directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
