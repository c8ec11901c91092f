"""Printing results: ``full`` (code frames, coloured on a terminal), ``concise``, ``json``,
and for CI ``sarif`` (SARIF 2.1.0), ``github`` (workflow commands) and ``junit`` (XML).

Every piece of source text and every message passes through :func:`cwlint.secrets.redact`
on its way out, with the finding's own secret values added, so no format shows a secret
whole. A message the cache stored redacted (``Diagnostic.redacted``) is shown as stored, so a warm
run of ``concise`` output imports neither :mod:`cwlint.secrets` (nor compiles its patterns) nor
rich nor LibCST, nor anything else heavy.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable

from cwlint.diagnostics import Applicability, Diagnostic
from cwlint.source import line_starts

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a warm run never needs it)
if TYPE_CHECKING:
    from typing import Any, TextIO

    from cwlint.results import FileResult

FORMATS = ("full", "concise", "json", "sarif", "github", "junit")


@functools.lru_cache(maxsize=4096)
def redact(text: str, known: tuple[str, ...] = ()) -> str:
    """``secrets.redact``, imported on first use and remembered: the same message (a rule's, for many
    files) and the same source lines come back again and again in one report."""
    from cwlint.secrets import redact as redact_text

    return redact_text(text, known)


def docs_url(diagnostic: Diagnostic) -> str:
    return f"docs/rules/{diagnostic.code}.md"


def _marker(diagnostic: Diagnostic, unsafe: bool) -> str:
    fix = diagnostic.fix
    if fix is None:
        return ""
    if fix.applicability is Applicability.SAFE or (unsafe and fix.applicability is Applicability.UNSAFE):
        return "[*] "
    return ""


def _secrets(result: FileResult) -> tuple[str, ...]:
    values: list[str] = []
    for diagnostic in result.diagnostics:
        values.extend(diagnostic.secrets)
    return tuple(values)


def shown_message(diagnostic: Diagnostic) -> str:
    """The message as every output shows it: credentials masked (once: the cache stores it so)."""
    return diagnostic.message if diagnostic.redacted else redact(diagnostic.message, diagnostic.secrets)


def concise_line(result: FileResult, diagnostic: Diagnostic, unsafe: bool) -> str:
    message = shown_message(diagnostic)
    return f"{result.path}:{diagnostic.start.line}:{diagnostic.start.column}: {diagnostic.code} {_marker(diagnostic, unsafe)}{message}"


def write_concise(results: Iterable[FileResult], out: TextIO, unsafe: bool) -> None:
    for result in results:
        for diagnostic in result.diagnostics:
            out.write(concise_line(result, diagnostic, unsafe) + "\n")


def _frame(result: FileResult, diagnostic: Diagnostic) -> list[tuple[str, str, str]]:
    """(gutter, source line, caret line) rows for a finding, secrets masked."""
    if result.source is None:
        return []
    lines = result.source.text.splitlines()
    start, end = diagnostic.start, diagnostic.end
    if not 0 < start.line <= len(lines):
        return []
    secrets = _secrets(result)
    rows = []
    last = min(end.line, start.line + 4, len(lines))
    width = len(str(last))
    for number in range(max(1, start.line - 1), last + 1):
        raw = lines[number - 1]
        text = redact(raw, secrets)
        carets = ""
        if start.line <= number <= end.line and text == raw:
            first = start.column if number == start.line else len(raw) - len(raw.lstrip()) + 1
            stop = end.column if number == end.line else len(raw) + 1
            carets = " " * (first - 1) + "^" * max(1, stop - first)
        elif start.line <= number <= end.line:
            carets = " " * (len(text) - len(text.lstrip())) + "^" * max(1, len(text.strip()))
        rows.append((str(number).rjust(width), text.expandtabs(1), carets))
    return rows


_STYLES = {"bold": "1", "red": "1;31", "yellow": "1;33", "blue": "34", "cyan": "36"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if color and text else text


def write_full(results: Iterable[FileResult], out: TextIO, unsafe: bool, color: bool) -> None:
    for result in results:
        for diagnostic in result.diagnostics:
            message = shown_message(diagnostic)
            header = f"{result.path}:{diagnostic.start.line}:{diagnostic.start.column}: "
            rows = _frame(result, diagnostic)
            style = "red" if diagnostic.severity.value == "error" else "yellow"
            out.write(
                f"{_paint(header, 'bold', color)}{_paint(diagnostic.code, style, color)} "
                f"{_marker(diagnostic, unsafe)}{_plain(message, color)}\n"
            )
            for gutter, text, carets in rows:
                out.write(f"{_paint(gutter + ' |', 'blue', color)} {_plain(text, color)}\n")
                if carets:
                    out.write(f"{_paint(' ' * len(gutter) + ' |', 'blue', color)} {_paint(carets, style, color)}\n")
            if diagnostic.fix is not None:
                tag = {"safe": "", "unsafe": " (unsafe)", "display": " (display only)"}[diagnostic.fix.applicability.value]
                out.write(_paint(f"help: {_plain(redact(diagnostic.fix.message), color)}{tag}", "cyan", color) + "\n")
            out.write("\n")


def _plain(text: str, color: bool) -> str:
    """Source text on a terminal: escape sequences in it must not reach the terminal."""
    if not color:
        return text
    if not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        return text
    return "".join(repr(c)[1:-1] if (ord(c) < 32 and c != "\t") or 127 <= ord(c) < 160 else c for c in text)


def _location(starts: list[int], offset: int) -> dict[str, int]:
    import bisect

    line = bisect.bisect_right(starts, offset)
    return {"row": line, "column": offset - starts[line - 1] + 1}


def json_records(results: Iterable[FileResult]) -> list[dict]:
    records = []
    for result in results:
        starts = line_starts(result.source.text) if result.source is not None else [0]
        for diagnostic in result.diagnostics:
            fix = None
            if diagnostic.fix is not None:
                fix = {
                    "applicability": diagnostic.fix.applicability.value,
                    "message": redact(diagnostic.fix.message),
                    "edits": [
                        {
                            "content": redact(edit.content, diagnostic.secrets),
                            "location": _location(starts, edit.start),
                            "end_location": _location(starts, edit.end),
                        }
                        for edit in diagnostic.fix.edits
                    ],
                }
            records.append(
                {
                    "code": diagnostic.code,
                    "name": diagnostic.name,
                    "message": shown_message(diagnostic),
                    "severity": diagnostic.severity.value,
                    "filename": result.path,
                    "location": {"row": diagnostic.start.line, "column": diagnostic.start.column},
                    "end_location": {"row": diagnostic.end.line, "column": diagnostic.end.column},
                    "noqa_row": diagnostic.noqa_line or diagnostic.start.line,
                    "url": docs_url(diagnostic),
                    "fix": fix,
                }
            )
    return records


def write_json(results: Iterable[FileResult], out: TextIO) -> None:
    json.dump(json_records(results), out, indent=2, ensure_ascii=False)
    out.write("\n")


# -- the summary ------------------------------------------------------------------------------


def _found(total: int, warnings: int) -> str:
    """``3 errors`` as ruff says it; with warnings among them, ``3 problems (2 errors, 1 warning)``."""

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    if not warnings:
        return plural(total, "error")
    return f"{plural(total, 'problem')} ({plural(total - warnings, 'error')}, {plural(warnings, 'warning')})"


def write_summary(results: list[FileResult], out: TextIO, *, fixing: bool, diff: bool, unsafe: bool) -> None:
    """The closing lines of the ``full`` and ``concise`` formats: ``Found 3 errors.``, what is fixable.

    ``fixing``: the run applied (or, with ``diff``, would apply) fixes; ``unsafe``: --unsafe-fixes.
    """
    fixed = sum(result.fixed_count for result in results)
    diagnostics = [d for r in results for d in r.diagnostics]
    remaining = len(diagnostics)
    if remaining == 0 and fixed == 0:
        if not diff:
            out.write("All checks passed!\n")
        return
    found = _found(fixed + remaining, sum(1 for d in diagnostics if d.severity.value == "warning"))
    if fixed:
        out.write(f"Found {found} ({fixed} fixed, {remaining} remaining).\n")
    elif remaining:
        out.write(f"Found {found}.\n")
    safe = sum(1 for d in diagnostics if d.fix and d.fix.applicability is Applicability.SAFE)
    hidden = sum(1 for d in diagnostics if d.fix and d.fix.applicability is Applicability.UNSAFE)
    if fixing:
        if hidden and not unsafe:
            out.write(f"No fixes available ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option).\n")
        return
    fixable = safe + (hidden if unsafe else 0)
    if fixable:
        line = f"[*] {fixable} fixable with the `--fix` option"
        if unsafe and hidden:
            line = f"[*] {fixable} fixable with the `--fix --unsafe-fixes` options"
        elif hidden:
            line += f" ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option)"
        out.write(line + ".\n")
    elif hidden:
        out.write(f"No fixes available ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option).\n")


# -- statistics -------------------------------------------------------------------------------


def statistics(results: Iterable[FileResult], unsafe: bool) -> list[dict[str, Any]]:
    """One row per code: how many findings, and whether --fix (with --unsafe-fixes) fixes them."""
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    fixable: dict[str, bool] = {}
    for result in results:
        for diagnostic in result.diagnostics:
            counts[diagnostic.code] += 1
            names[diagnostic.code] = diagnostic.name
            can = _marker(diagnostic, unsafe) != ""
            fixable[diagnostic.code] = fixable.get(diagnostic.code, True) and can
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"code": code, "name": names[code], "count": count, "fixable": fixable[code]} for code, count in rows]


def write_statistics(rows: list[dict[str, Any]], out: TextIO, as_json: bool) -> None:
    """ruff's ``--statistics``: count, code, ``[*]`` when every finding is fixable, name."""
    if as_json:
        json.dump(rows, out, indent=2)
        out.write("\n")
        return
    if not rows:
        return
    count_width = max(len(str(row["count"])) for row in rows)
    code_width = max(len(row["code"]) for row in rows)
    any_fixable = any(row["fixable"] for row in rows)
    for row in rows:
        marker = "[*] " if row["fixable"] else ("[ ] " if any_fixable else "")
        out.write(f"{row['count']:>{count_width}}\t{row['code']:<{code_width}}\t{marker}{row['name']}\n")


# -- GitHub workflow commands -------------------------------------------------------------------


def _gh_data(text: str) -> str:
    """Escaping for a workflow command's message (actions/toolkit ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """Escaping for a property value (``escapeProperty``): also ``:`` and ``,``."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(result: FileResult, diagnostic: Diagnostic) -> str:
    level = "error" if diagnostic.severity.value == "error" else "warning"
    start, end = diagnostic.start, diagnostic.end
    properties = {
        "file": result.path.replace("\\", "/"),
        "line": str(start.line),
        "col": str(start.column),
        "endLine": str(end.line),
        "endColumn": str(end.column),
        "title": f"cwlint ({diagnostic.code})",
    }
    joined = ",".join(f"{key}={_gh_property(value)}" for key, value in properties.items())
    message = shown_message(diagnostic)
    text = f"{result.path}:{start.line}:{start.column}: {diagnostic.code} {message}"
    if diagnostic.fix is not None:
        text += f"\n  help: {redact(diagnostic.fix.message)}"
    return f"::{level} {joined}::{_gh_data(text)}"


def write_github(results: Iterable[FileResult], out: TextIO) -> None:
    for result in results:
        for diagnostic in result.diagnostics:
            out.write(github_line(result, diagnostic) + "\n")


# -- JUnit XML ----------------------------------------------------------------------------------

_XML_ILLEGAL = None


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot hold (most C0 controls, lone surrogates) as escapes."""
    global _XML_ILLEGAL
    if _XML_ILLEGAL is None:
        import re

        _XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text)


def write_junit(results: Iterable[FileResult], out: TextIO) -> None:
    """One ``<testsuite>`` per file with findings, one failing ``<testcase>`` per finding.

    A run with no findings is one passing test case, so the report is never empty.
    """
    import xml.etree.ElementTree as ET

    results = [r for r in results if r.diagnostics]
    total = sum(len(r.diagnostics) for r in results)
    suites = ET.Element("testsuites", name="cwlint", tests=str(max(total, 1)), failures=str(total), errors="0", skipped="0")
    if not results:
        suite = ET.SubElement(suites, "testsuite", name="cwlint", tests="1", failures="0", errors="0", skipped="0")
        ET.SubElement(suite, "testcase", name="No errors found", classname="cwlint")
    for result in results:
        path = _xml_text(result.path)
        count = str(len(result.diagnostics))
        suite = ET.SubElement(suites, "testsuite", name=path, tests=count, failures=count, errors="0", skipped="0", package="cwlint")
        classname = path[:-3] if path.endswith(".py") else path
        for diagnostic in result.diagnostics:
            message = _xml_text(shown_message(diagnostic))
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"cwlint.{diagnostic.code}",
                classname=classname,
                file=path,
                line=str(diagnostic.start.line),
                column=str(diagnostic.start.column),
            )
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="severity", value=diagnostic.severity.value)
            failure = ET.SubElement(case, "failure", message=message, type=diagnostic.code)
            failure.text = f"line {diagnostic.start.line}, col {diagnostic.start.column}, {message}"
    ET.indent(suites, space="    ")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(suites, encoding="unicode"))
    out.write("\n")


# -- SARIF 2.1.0 --------------------------------------------------------------------------------

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _artifact(path: str, root: str) -> dict[str, str]:
    """A file's location: relative to %SRCROOT% (the project root) when it lies inside it."""
    from pathlib import Path
    from urllib.parse import quote

    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative), "uriBaseId": "%SRCROOT%"}


def _region(starts: list[int], start: int, end: int) -> dict[str, int]:
    begin, stop = _location(starts, start), _location(starts, end)
    return {"startLine": begin["row"], "startColumn": begin["column"], "endLine": stop["row"], "endColumn": stop["column"]}


def sarif_log(results: Iterable[FileResult], rules: dict[str, dict[str, Any]], root: str, version: str,
              category: str | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, the rules that fired as ``tool.driver.rules``, fixes included.

    Columns count code points (``columnKind``), ends are exclusive as SARIF wants them.
    Messages and inserted text are redacted like every other format; no snippet is included.
    ``category`` becomes ``runAutomationDetails.id`` (``category/``, the form GitHub reads as a
    category): code scanning keeps one analysis per tool and category, so logs of several CI
    shards each need their own or the last upload replaces the others.
    """
    from pathlib import Path

    results = list(results)
    fired = sorted({d.code for r in results for d in r.diagnostics})
    index = {code: i for i, code in enumerate(fired)}
    descriptors = []
    for code in fired:
        info = rules.get(code, {})
        descriptor: dict[str, Any] = {"id": code, "name": info.get("name", code)}
        if info.get("summary"):
            descriptor["shortDescription"] = {"text": info["summary"]}
        if info.get("doc"):
            descriptor["help"] = {"text": info["doc"], "markdown": info["doc"]}
        level = "warning" if info.get("severity") == "warning" else "error"
        descriptor["defaultConfiguration"] = {"level": level}
        descriptor["properties"] = {"fix": info.get("fix") or "none"}
        descriptors.append(descriptor)
    sarif_results = []
    for result in results:
        artifact = _artifact(result.path, root)
        starts = line_starts(result.source.text) if result.source is not None else [0]
        for diagnostic in result.diagnostics:
            region = {
                "startLine": diagnostic.start.line,
                "startColumn": diagnostic.start.column,
                "endLine": diagnostic.end.line,
                "endColumn": diagnostic.end.column,
            }
            entry: dict[str, Any] = {
                "ruleId": diagnostic.code,
                "ruleIndex": index[diagnostic.code],
                "level": "error" if diagnostic.severity.value == "error" else "warning",
                "message": {"text": shown_message(diagnostic)},
                "locations": [{"physicalLocation": {"artifactLocation": dict(artifact), "region": region}}],
            }
            if diagnostic.fix is not None and result.source is not None:
                entry["fixes"] = [
                    {
                        "description": {"text": redact(diagnostic.fix.message)},
                        "artifactChanges": [
                            {
                                "artifactLocation": dict(artifact),
                                "replacements": [
                                    {
                                        "deletedRegion": _region(starts, edit.start, edit.end),
                                        "insertedContent": {"text": redact(edit.content, diagnostic.secrets)},
                                    }
                                    for edit in diagnostic.fix.edits
                                ],
                            }
                        ],
                    }
                ]
                entry["properties"] = {"applicability": diagnostic.fix.applicability.value}
            sarif_results.append(entry)
    root_uri = Path(os.path.abspath(root)).as_uri().rstrip("/") + "/"
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cwlint",
                        "version": version,
                        "semanticVersion": version,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
                "columnKind": "unicodeCodePoints",
                "results": sarif_results,
                **({"automationDetails": {"id": category.strip("/ ") + "/"}} if category else {}),
            }
        ],
    }


def write_sarif(results: Iterable[FileResult], out: TextIO, rules: dict[str, dict[str, Any]], root: str, version: str,
                category: str | None = None) -> None:
    json.dump(sarif_log(results, rules, root, version, category), out, indent=2, ensure_ascii=False)
    out.write("\n")


def use_color(out: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if not (hasattr(out, "isatty") and out.isatty()) or os.environ.get("TERM") == "dumb":
        return False
    return os.name != "nt" or _windows_ansi()


def _windows_ansi() -> bool:  # pragma: no cover - Windows only
    """Switch the console to ANSI escapes (Windows 10+); False where that is impossible."""
    try:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.GetStdHandle(-11)
        mode = ctypes.c_uint32()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False
        return bool(kernel32.SetConsoleMode(handle, mode.value | 0x0004))
    except (AttributeError, OSError, ValueError):  # no console, or an older Windows
        return False


def stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
