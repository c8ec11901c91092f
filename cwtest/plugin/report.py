"""What a failing ``fuzz`` or ``faults`` item prints: the harness report of that item.

Each failure of the item's check, deduplicated and shrunk by the engine, is shown with the check,
the route, the minimal input, the workflow's traceback trimmed to its own frames, the service
calls that request made, a ``curl`` command and a regression test. The test uses the plugin's
``cw_workflow`` fixture, so it runs the workflow exactly as the item did (its own environment,
the sandbox, the simulator) and needs nothing importable in the test's interpreter; it fails
while the bug is there and passes once it is fixed. Sandbox findings raised while the item ran
(an outbound request, a write, a process) follow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cwtest.fuzz.report import Failure, FuzzReport, show_json
from cwtest.harness.child import protocol

#: ``cwtest boot FILE --port 8000`` serves the app there; the curl commands target it.
BOOT_URL = "http://127.0.0.1:8000"


def render_item(*, kind: str, route: str, workflow: str, rooted: str, report: FuzzReport | None, failures: list[Failure],
                findings: list[dict[str, Any]], seed: int, examples: int, nodeid: str, rerun_seed: int,
                notes: list[str] | None = None, hung: str | None = None,
                hang_stacks: protocol.Stacks | None = None, tolerated: tuple[str, ...] = (),
                stderr_tail: str = "") -> str:
    problems = len(failures) + len(findings) + (1 if hung and not failures else 0)
    out = [f"cwtest {kind}: {route} of {workflow}: {problems} problem(s)"
           f" (item seed {seed}, {examples} examples; run seed {rerun_seed})"]
    if report is not None:
        for stats in report.routes:
            out += ["  " + line for line in stats.summary_lines()]
    for note in notes or []:
        out.append(f"  note: {note}")
    for failure in failures:
        out.append("")
        out.append(failure.render(BOOT_URL))
        out.append(f"    (the curl command needs the workflow running: cwtest boot {workflow} --port 8000)")
        out.append("    regression test (cw_workflow runs it sandboxed, like this item):")
        out += ["      " + line if line else "" for line in regression_test(failure, rooted, tolerated).splitlines()]
    if hung:
        out.append("")
        out.append(f"✗ [{'timeout' if hang_stacks else 'crash'}] {hung}")
        if hang_stacks:
            out += ["    " + line for line in render_stacks(hang_stacks)]
        tail = [line for line in stderr_tail.splitlines() if line.strip()][-15:]
        if tail:
            out.append("    the workflow's stderr ends with:")
            out += ["      " + line for line in tail]
    if findings:
        out.append("")
        out.append("sandbox findings while this item ran:")
        for finding in findings:
            where = f" at {finding['location']}" if finding.get("location") else ""
            times = f" (x{finding['count']})" if finding.get("count", 1) > 1 else ""
            out.append(f"  ✗ [{finding['kind']}] {finding['detail']}{where}{times}")
            out += [f"      {line}" for line in finding.get("stack", [])[-8:]]
        if any(f["kind"] == "outbound-http" for f in findings):
            out.append("  (answer outbound requests with the pytest_cwtest_mock_external hook in conftest.py; "
                       "see docs/cwtest/plugin.md)")
    out.append("")
    out.append(f"rerun: pytest '{nodeid}' --cwtest --cwtest-seed {rerun_seed}")
    return "\n".join(out)


def render_stacks(stacks: protocol.Stacks) -> list[str]:
    """The workflow's tasks and threads where it hung (those with a workflow frame first)."""
    lines: list[str] = []
    located: list[protocol.TaskStack | protocol.ThreadStack] = [
        *(s for s in stacks.tasks if s.location), *(s for s in stacks.threads if s.location)]
    for entry in (located or list(stacks.threads))[:3]:
        label = f"task {entry.task}" if isinstance(entry, protocol.TaskStack) else f"thread {entry.thread}"
        lines.append(f"{label}:")
        lines += ["  " + line for line in entry.stack[-10:]]
    return lines


def regression_test(failure: Failure, workflow: str, tolerated: tuple[str, ...] = ()) -> str:
    """A pytest test that sends the minimal request to the sandboxed workflow and asserts the check."""
    return failure.sandboxed_test(workflow, tolerated)


def headline(failures: list[Failure], findings: list[dict[str, Any]]) -> str:
    """One line for ``-r`` summaries and JUnit's ``message``: the first problem.

    A sandbox finding comes first: what the workflow tried and may not (an outbound request
    answered 599) is usually the cause of the failures that follow it.
    """
    if findings:
        first_finding = findings[0]
        more = len(findings) + len(failures) - 1
        return f"[{first_finding['kind']}] {first_finding['detail']}" + (f" (+{more} more)" if more else "")
    if failures:
        first = failures[0]
        where = f" at {_short(first.location)}" if first.location else ""
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        return f"[{first.kind}] {_one_line(first.headline)}{where}{more}"
    return "the workflow stopped answering"


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace('"""', "'''")[:160]


def _short(location: str | None) -> str:
    if not location:
        return ""
    file, _, line = location.rpartition(":")
    try:
        return f"{Path(file).resolve().relative_to(Path.cwd())}:{line}"
    except ValueError:
        return location


__all__ = ["BOOT_URL", "headline", "regression_test", "render_item", "show_json"]
