"""Printing results: ``full`` (code frames, rich on a terminal), ``concise`` and ``json``.

Every piece of source text and every message passes through :func:`cwlint.secrets.redact`
on its way out, with the finding's own secret values added, so no format shows a secret
whole. rich is imported only when ``full`` output goes to a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TextIO

from cwlint.diagnostics import Applicability, Diagnostic
from cwlint.engine import FileResult
from cwlint.secrets import redact
from cwlint.source import line_starts


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


def concise_line(result: FileResult, diagnostic: Diagnostic, unsafe: bool) -> str:
    message = redact(diagnostic.message, diagnostic.secrets)
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


def write_full(results: Iterable[FileResult], out: TextIO, unsafe: bool, color: bool) -> None:
    if color:
        from rich.console import Console
        from rich.markup import escape

        console = Console(file=out, highlight=False, soft_wrap=True)
    for result in results:
        for diagnostic in result.diagnostics:
            message = redact(diagnostic.message, diagnostic.secrets)
            header = f"{result.path}:{diagnostic.start.line}:{diagnostic.start.column}: "
            rows = _frame(result, diagnostic)
            help_line = None
            if diagnostic.fix is not None:
                tag = {"safe": "", "unsafe": " (unsafe)", "display": " (display only)"}[diagnostic.fix.applicability.value]
                help_line = f"help: {redact(diagnostic.fix.message)}{tag}"
            if color:
                style = "bold red" if diagnostic.severity.value == "error" else "bold yellow"
                console.print(
                    f"[bold]{escape(header)}[/bold][{style}]{diagnostic.code}[/{style}] "
                    f"{escape(_marker(diagnostic, unsafe))}{escape(message)}"
                )
                for gutter, text, carets in rows:
                    console.print(f"[blue]{gutter} |[/blue] {escape(text)}")
                    if carets:
                        console.print(f"[blue]{' ' * len(gutter)} |[/blue] [{style}]{carets}[/{style}]")
                if help_line:
                    console.print(f"[cyan]{escape(help_line)}[/cyan]")
                console.print()
            else:
                out.write(f"{header}{diagnostic.code} {_marker(diagnostic, unsafe)}{message}\n")
                for gutter, text, carets in rows:
                    out.write(f"{gutter} | {text}\n")
                    if carets:
                        out.write(f"{' ' * len(gutter)} | {carets}\n")
                if help_line:
                    out.write(help_line + "\n")
                out.write("\n")


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
                    "message": redact(diagnostic.message, diagnostic.secrets),
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


def use_color(out: TextIO) -> bool:
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(out, "isatty") and out.isatty()


def stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
