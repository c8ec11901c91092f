"""Rendering a ``RunReport``: ``full`` (rich, for people), ``json`` and ``junit`` (for CI).

Each renderer first takes the report through ``cwtest.redact.redact_report`` (the one redaction
step: known secret values, credential formats, credential-named query parameters and headers),
so nothing secret reaches any format whole.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from rich.console import Console
from rich.markup import escape as _markup_escape

from cwtest.fuzz.repro import lint_lines, repro_lines
from cwtest.redact import redact_report
from cwtest.results import Finding, RunReport, Verdict, WorkflowResult, display_path, display_text
from cwtest.results import printable as _printable


def printable(text: object, *, newlines: bool = False) -> str:
    """``cwtest.results.printable`` of the text as a person reads it (``display_text``: paths into
    the environment cache as ``<env>/site-packages/...``, the current directory's made relative)."""
    return _printable(display_text(str(text)), newlines=newlines)


def escape(text: object) -> str:
    """Rich markup escaped, and every control character of the workflow's shown, not obeyed
    (``cwtest.results.printable``): whatever a workflow wrote is printed, never interpreted."""
    return _markup_escape(printable(text))


def _lines(text: str) -> list[str]:
    """A multi-line text of the workflow's, as separate escaped lines (each printed indented)."""
    return [escape(line) for line in str(text).split("\n")]

FORMATS = ("full", "json", "junit")


def egress_lines(result: WorkflowResult) -> list[str]:
    """The workflow's egress (information, never findings): one line per host and method with its
    count, who answered and the first workflow line; one line per mocked prefix; the cassette."""
    lines = []
    for entry in result.egress:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(entry["answers"].items()))
        where = (f"from {display_path(entry['location'])}" if entry["location"]
                 else "from library code only (no workflow frame)")
        label = "library egress" if entry["library"] else "egress"
        lines.append(f"{label}: {entry['method']} {entry['host']} x{entry['count']} ({answers}) {where}")
    for prefix, count in sorted(result.mocked.items()):
        lines.append(f"mocked: {prefix} x{count}")
    if result.cassette:
        lines.append(f"cassette: {display_path(result.cassette['path'])} ({result.cassette['played']} played, "
                     f"{result.cassette['recorded']} recorded)")
    return lines


def lint_fix_line(info: dict[str, Any]) -> str:
    """``--lint-fix``'s one line: what the fixed copy was, and what it changed in the findings."""
    codes = ", ".join(info.get("applied", []))
    if info.get("harness_error"):
        return f"lint-fix: the copy with cwlint's safe fixes ({codes}) could not run: {info['harness_error']}"
    if not info.get("booted"):
        return f"lint-fix: the copy with cwlint's safe fixes ({codes}) did not boot (its findings are listed)"
    return (f"lint-fix: booted a copy with cwlint's safe fixes ({codes}; {info.get('fixes', 0)} fix(es), your file "
            f"unchanged): {info.get('only_after_fixes', 0)} finding(s) only after the fixes, "
            f"{info.get('removed_by_fixes', 0)} removed by them")


def render_json(report: RunReport) -> str:
    report = redact_report(report)
    return json.dumps(report.as_json(), indent=2, default=str)


def _finding_text(finding: Finding) -> str:
    where = f" at {finding.location}" if finding.location else ""
    count = f" (x{finding.count})" if finding.count > 1 else ""
    after = " (after cwlint's safe fixes)" if finding.variant == "fixed" else ""
    return printable(f"[{finding.kind}]{after} {finding.message}{where}{count}", newlines=True)


def render_junit(report: RunReport) -> str:
    """One testsuite per workflow; a ``boot`` testcase plus one per smoke-called route."""
    report = redact_report(report)
    suites = ET.Element("testsuites", name="cwtest", tests="0", failures="0", errors="0",
                        time=f"{report.seconds:.3f}")
    total = failures = errors = 0
    for result in report.results:
        suite = ET.SubElement(suites, "testsuite", name=printable(result.path), time=f"{result.seconds:.3f}")
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="sandbox", value=result.sandbox)
        boot_skip = result.inconclusive.render() if result.inconclusive else None
        cases: list[tuple[str, list[Finding], str | None, str | None]] = [
            ("boot", [f for f in result.findings if f.route is None], result.harness_error, boot_skip)]
        cases += [(route.name, [f for f in result.findings if f.route == route.name], None,
                   route.inconclusive.render() if route.inconclusive else None) for route in result.routes]
        known = {route.name for route in result.routes}
        for name in dict.fromkeys(f.route for f in result.findings if f.route and f.route not in known):
            cases.append((name, [f for f in result.findings if f.route == name], None, None))
        suite_failures = suite_errors = suite_skipped = 0
        for name, findings, error, skipped in cases:
            case = ET.SubElement(suite, "testcase", classname=printable(result.path), name=printable(name))
            if error:
                error = printable(error, newlines=True)
                ET.SubElement(case, "error", message=error).text = error
                suite_errors += 1
            elif findings:
                text = "\n\n".join(_finding_text(f) + "".join(
                    "\n  " + printable(line) for line in f.stack + (repro_lines(f) or lint_lines(f)))
                                   for f in findings)
                ET.SubElement(case, "failure", message=_finding_text(findings[0]),
                              type=",".join(sorted({f.kind for f in findings}))).text = text
                suite_failures += 1
            elif skipped:
                ET.SubElement(case, "skipped", message=printable(skipped))
                suite_skipped += 1
        suite.set("tests", str(len(cases)))
        suite.set("skipped", str(suite_skipped))
        suite.set("failures", str(suite_failures))
        suite.set("errors", str(suite_errors))
        total += len(cases)
        failures += suite_failures
        errors += suite_errors
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", str(errors))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render_full(report: RunReport, console: Console) -> None:
    report = redact_report(report)
    layer = report.layer
    console.print(f"[bold]sandbox[/]: {escape(layer.describe())}")
    if layer.warning:
        console.print(f"[bold red]WARNING[/]: {escape(layer.warning)}")
    for result in report.results:
        console.print()
        _render_workflow(result, console)
    console.print()
    by_kind: dict[str, int] = {}
    for result in report.results:
        for finding in result.findings:
            by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none"
    errors = sum(1 for r in report.results if r.harness_error)
    verdicts = report.verdicts()
    style = "red" if report.findings or errors else ("yellow" if verdicts["inconclusive"] else "green")
    console.print(f"[bold {style}]{len(report.results)} workflow(s): {verdicts['passed']} passed, "
                  f"{verdicts['finding']} with findings, {verdicts['inconclusive']} inconclusive; "
                  f"{report.findings} finding(s)[/] ({escape(summary)})"
                  f"{f', {errors} harness error(s)' if errors else ''} in {report.seconds:.1f} s")
    if report.skipped:
        reasons: dict[str, int] = {}
        for _path, reason in report.skipped:
            reasons[reason] = reasons.get(reason, 0) + 1
        console.print("; ".join(f"{n} file(s) skipped: {escape(reason)}" for reason, n in reasons.items())
                      + " (" + escape(", ".join(display_path(p) for p, _r in report.skipped[:5]))
                      + (", ..." if len(report.skipped) > 5 else "") + ")")


_MARKS = {Verdict.FINDING: "[red]✗[/]", Verdict.INCONCLUSIVE: "[yellow]?[/]", Verdict.PASSED: "[green]✓[/]"}
_COLOURS = {Verdict.FINDING: "red", Verdict.INCONCLUSIVE: "yellow", Verdict.PASSED: "green"}


def _render_workflow(result: WorkflowResult, console: Console) -> None:
    verdict = Verdict.FINDING if result.harness_error else result.verdict
    console.print(f"{_MARKS[verdict]} [bold]{escape(result.path)}[/] ({result.seconds:.1f} s)")
    if result.environment:
        console.print(f"  environment: {escape(str(result.environment.get('description')))}")
        for note in result.environment.get("notes", []):
            console.print(f"    note: {escape(note)}")
    if result.booted:
        console.print(f"  boot: served `{escape(str(result.app))}` in {result.boot_seconds:.2f} s")
    elif result.environment:
        console.print("  boot: [red]failed[/]")
    for route in result.routes:
        verdict = result.route_verdict(route)
        status = route.status if route.status is not None else "-"
        note = f" {escape(route.note)}" if route.note else ""
        if route.request is None:
            console.print(f"  smoke: {escape(route.name)} [{_COLOURS[verdict]}]{verdict.value}[/]")
        else:
            console.print(f"  smoke: {escape(route.name)} -> {status} [{_COLOURS[verdict]}]{verdict.value}[/]"
                          f" ({route.seconds:.2f} s){note}")
        if route.inconclusive is not None:
            console.print(f"    [yellow]inconclusive[/]: {escape(route.inconclusive.render())}")
    if result.inconclusive is not None:
        console.print(f"  [yellow]inconclusive[/]: {escape(result.inconclusive.render())}")
    if result.fuzz:
        fuzz = result.fuzz
        console.print(f"  search: {fuzz['requests']} requests in {fuzz['seconds']:.1f} s "
                      f"(seed {fuzz['seed']}, {fuzz['examples']} examples per route)")
        for line in fuzz.get("summary", []):
            console.print(f"    {escape(line)}")
    for line in egress_lines(result):
        console.print(f"  {escape(line)}")
    if result.lint_fix:
        console.print(f"  {escape(lint_fix_line(result.lint_fix))}")
    for seen in result.observed[:20]:
        count = f" (x{seen['count']})" if seen.get("count", 1) > 1 else ""
        console.print(f"  observed from outside: {escape(seen['kind'])}: {escape(seen['call'])} "
                      f"{escape(seen['target'])}{count}")
    if len(result.observed) > 20:
        console.print(f"  observed from outside: {len(result.observed) - 20} more (the JSON report lists them)")
    for warning in result.warnings:
        console.print(f"  [yellow]warning[/]: {escape(warning)}")  # one line: newlines shown as \\x0a
    if result.harness_error:
        first, *more = _lines(result.harness_error)
        console.print(f"  [bold red]harness error[/]: {first}")
        for line in more:
            console.print(f"      {line}")
    for finding in result.findings:
        first, *more = _lines(finding.message)
        after = " [yellow](after cwlint's safe fixes)[/]" if finding.variant == "fixed" else ""
        console.print(f"  [red]{escape(finding.kind)}[/]{after}: {first}"
                      + (f" [dim]at {escape(display_path(finding.location))}[/]" if finding.location else "")
                      + (f" [dim](x{finding.count})[/]" if finding.count > 1 else ""))
        for line in more:
            console.print(f"      {line}")
        if finding.repro is None:
            for line in lint_lines(finding):
                console.print(f"    {escape(line)}")
            for line in finding.stack[-12:]:
                console.print(f"      [dim]{escape(line)}[/]")
        for line in repro_lines(finding):
            console.print(f"    {escape(line)}")
    if result.findings and result.stderr_tail.strip() and any(
            f.kind in ("boot-crash", "crash", "import-crash") for f in result.findings):
        console.print("  stderr (tail):")
        for line in result.stderr_tail.strip().splitlines()[-15:]:
            console.print(f"    [dim]{escape(line)}[/]")

