"""Rendering a ``RunReport``: ``full`` (rich, for people), ``json`` and ``junit`` (for CI)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from rich.console import Console
from rich.markup import escape

from cwtest.fuzz.report import show_json
from cwtest.harness.findings import KINDS, Finding, WorkflowResult
from cwtest.harness.runner import RunReport

FORMATS = ("full", "json", "junit")


def render_json(report: RunReport) -> str:
    return json.dumps(report.as_json(), indent=2, default=str)


def _finding_text(finding: Finding) -> str:
    where = f" at {finding.location}" if finding.location else ""
    count = f" (x{finding.count})" if finding.count > 1 else ""
    return f"[{finding.kind}] {finding.message}{where}{count}"


def repro_lines(finding: Finding) -> list[str]:
    """What reproduces a search finding: check, fault, minimal input, calls, curl, regression test."""
    repro = finding.repro
    if not repro:
        return []
    facts = [f"check: {finding.check or 'smoke'}"]
    if repro.get("fault"):
        facts.append(f"fault: {repro['fault']}")
    if repro.get("key"):
        facts.append(f"key: {repro['key']}")
    if repro.get("status") is not None:
        facts.append(f"answered {repro['status']}")
    lines = [" · ".join(facts)]
    request = repro.get("input") or {}
    how = "minimal input (shrunk)" if repro.get("shrunk") else "input (as first seen, not shrunk)"
    lines.append(f"{how}: {request.get('method')} {request.get('path')}")
    if request.get("query"):
        lines.append(f"  query: {show_json(request['query'])}")
    if "json" in request:
        lines.append("  " + show_json(request["json"])[:2000])
    if request.get("defect"):
        lines.append(f"  defect: {request['defect']}")
    calls = repro.get("calls") or []
    if calls:
        lines.append("service calls:")
        lines += [f"  {call}" for call in calls[:8]] + ([f"  ... {len(calls) - 8} more"] if len(calls) > 8 else [])
    lines.append("reproduce (with `cwtest boot FILE --port 8000` running):")
    lines += ["  " + line for line in str(repro.get("curl", "")).splitlines()]
    if repro.get("regression_test"):
        lines.append("regression test (pytest; the cw_workflow fixture boots the workflow sandboxed):")
        lines += ["  " + line if line else "" for line in str(repro["regression_test"]).splitlines()]
    return lines


def render_junit(report: RunReport) -> str:
    """One testsuite per workflow; a ``boot`` testcase plus one per smoke-called route."""
    suites = ET.Element("testsuites", name="cwtest", tests="0", failures="0", errors="0",
                        time=f"{report.seconds:.3f}")
    total = failures = errors = 0
    for result in report.results:
        suite = ET.SubElement(suites, "testsuite", name=result.path, time=f"{result.seconds:.3f}")
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="sandbox", value=result.sandbox)
        cases: list[tuple[str, list[Finding], str | None]] = [
            ("boot", [f for f in result.findings if f.route is None], result.harness_error)]
        cases += [(route.name, [f for f in result.findings if f.route == route.name], None)
                  for route in result.routes]
        smoked = {route.name for route in result.routes}  # routes only the search reached (smoke could not)
        for name in dict.fromkeys(f.route for f in result.findings if f.route and f.route not in smoked):
            cases.append((name, [f for f in result.findings if f.route == name], None))
        suite_failures = suite_errors = 0
        for name, findings, error in cases:
            case = ET.SubElement(suite, "testcase", classname=result.path, name=name)
            if error:
                ET.SubElement(case, "error", message=error).text = error
                suite_errors += 1
            elif findings:
                text = "\n\n".join(_finding_text(f) + "".join("\n  " + line for line in f.stack + repro_lines(f))
                                   for f in findings)
                ET.SubElement(case, "failure", message=_finding_text(findings[0]),
                              type=",".join(sorted({f.kind for f in findings}))).text = text
                suite_failures += 1
            route = next((r for r in result.routes if r.name == name), None)
            if route is not None and route.outcome in ("unsupported", "not-run"):
                ET.SubElement(case, "skipped", message=route.note)
        suite.set("tests", str(len(cases)))
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
    layer = report.layer
    console.print(f"[bold]sandbox[/]: {escape(layer.describe())}")
    if layer.warning:
        console.print(f"[bold red]WARNING[/]: {escape(layer.warning)}")
    for result in report.results:
        console.print()
        _render_workflow(result, console)
    console.print()
    by_kind = {}
    for result in report.results:
        for finding in result.findings:
            by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none"
    errors = sum(1 for r in report.results if r.harness_error)
    style = "red" if report.findings or errors else "green"
    console.print(f"[bold {style}]{len(report.results)} workflow(s), {report.findings} finding(s)[/] "
                  f"({escape(summary)}){f', {errors} harness error(s)' if errors else ''} in {report.seconds:.1f} s")


def _render_workflow(result: WorkflowResult, console: Console) -> None:
    mark = "[red]✗[/]" if result.findings or result.harness_error else "[green]✓[/]"
    console.print(f"{mark} [bold]{escape(result.path)}[/] ({result.seconds:.1f} s)")
    if result.environment:
        console.print(f"  environment: {escape(str(result.environment.get('description')))}")
        for note in result.environment.get("notes", []):
            console.print(f"    note: {escape(note)}")
    if result.booted:
        console.print(f"  boot: served `{escape(str(result.app))}` in {result.boot_seconds:.2f} s")
    elif result.environment:
        console.print("  boot: [red]failed[/]")
    for route in result.routes:
        status = route.status if route.status is not None else "-"
        colour = {"ok": "green", "rejected": "yellow", "finding": "red"}.get(route.outcome, "dim")
        note = f" {escape(route.note)}" if route.note else ""
        console.print(f"  smoke: {escape(route.name)} -> [{colour}]{status} {route.outcome}[/]"
                      f" ({route.seconds:.2f} s){note}")
    if result.fuzz:
        fuzz = result.fuzz
        console.print(f"  search: {fuzz['requests']} requests in {fuzz['seconds']:.1f} s "
                      f"(seed {fuzz['seed']}, {fuzz['examples']} examples per route)")
        for line in fuzz.get("summary", []):
            console.print(f"    {escape(line)}")
    for call in result.external:
        console.print(f"  external: {escape(str(call['method']))} {escape(str(call['url']))} (mocked) "
                      f"from {escape(str(call.get('location')))}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning[/]: {escape(warning)}")
    if result.harness_error:
        console.print(f"  [bold red]harness error[/]: {escape(result.harness_error)}")
    for finding in result.findings:
        console.print(f"  [red]{escape(finding.kind)}[/]: {escape(finding.message)}"
                      + (f" [dim]at {escape(finding.location)}[/]" if finding.location else "")
                      + (f" [dim](x{finding.count})[/]" if finding.count > 1 else ""))
        for line in finding.stack[-12:]:
            console.print(f"      [dim]{escape(line)}[/]")
        for line in repro_lines(finding):
            console.print(f"    {escape(line)}")
    if result.findings and result.stderr_tail.strip() and any(
            f.kind in ("boot-crash", "crash", "import-crash") for f in result.findings):
        console.print("  stderr (tail):")
        for line in result.stderr_tail.strip().splitlines()[-15:]:
            console.print(f"    [dim]{escape(line)}[/]")


def describe_kinds() -> str:
    return "\n".join(f"{kind:20} {text}" for kind, text in KINDS.items())
