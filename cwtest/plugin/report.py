"""What a failing ``fuzz`` or ``faults`` item prints: the harness report of that item.

Each finding of the item's checks, deduplicated and shrunk by the engine, is shown as every cwtest
report shows it (``cwtest.fuzz.repro.finding_lines``): the check, the route, the minimal input,
the workflow's traceback trimmed to its own frames, the service calls that request made, a
``curl`` command and a regression test. The test uses the plugin's ``cw_workflow`` fixture, so it
runs the workflow exactly as the item did (its own environment, the sandbox, the simulator) and
needs nothing importable in the test's interpreter; it fails while the bug is there and passes
once it is fixed. Sandbox findings raised while the item ran (an outbound request, a write, a
process) follow.
"""

from __future__ import annotations

from cwtest.fuzz.repro import FuzzReport, finding_lines
from cwtest.results import Finding, display_path


def render_item(*, kind: str, route: str, workflow: str, report: FuzzReport, findings: list[Finding],
                sandbox: list[Finding], seed: int, examples: int, nodeid: str, rerun_seed: int,
                stderr_tail: str = "") -> str:
    out = [f"cwtest {kind}: {route} of {workflow}: {len(findings) + len(sandbox)} problem(s)"
           f" (item seed {seed}, {examples} examples; run seed {rerun_seed})"]
    out += ["  " + line for line in report.summary_lines()]
    for finding in findings:
        out.append("")
        out += finding_lines(finding)
        if finding.kind in ("timeout", "crash"):
            tail = [line for line in stderr_tail.splitlines() if line.strip()][-15:]
            if tail:
                out.append("    the workflow's stderr ends with:")
                out += ["      " + line for line in tail]
    if sandbox:
        out.append("")
        out.append("sandbox findings while this item ran:")
        for finding in sandbox:
            where = f" at {finding.location}" if finding.location else ""
            times = f" (x{finding.count})" if finding.count > 1 else ""
            out.append(f"  ✗ [{finding.kind}] {finding.message}{where}{times}")
            out += [f"      {line}" for line in finding.stack[-8:]]
        if any(f.kind == "outbound-http" for f in sandbox):
            out.append("  (answer outbound requests with the pytest_cwtest_mock_external hook in conftest.py; "
                       "see docs/cwtest/plugin.md)")
    out.append("")
    out.append(f"rerun: pytest '{nodeid}' --cwtest --cwtest-seed {rerun_seed}")
    return "\n".join(out)


def headline(findings: list[Finding], sandbox: list[Finding]) -> str:
    """One line for ``-r`` summaries and JUnit's ``message``: the first problem.

    A sandbox finding comes first: what the workflow tried and may not (an outbound request
    answered 599) is usually the cause of the findings that follow it.
    """
    ordered = sandbox + findings
    if not ordered:
        return "no problem"
    first = ordered[0]
    where = f" at {display_path(first.location)}" if first.location else ""
    more = f" (+{len(ordered) - 1} more)" if len(ordered) > 1 else ""
    return f"[{first.kind}] {_one_line(first.message)}{where}{more}"


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace('"""', "'''")[:160]


__all__ = ["headline", "render_item"]
