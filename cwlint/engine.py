"""Linting and fixing one file: parse once, walk once, suppress, fix until nothing changes.

The engine owns what no single rule can: choosing the rules for a file (selection, scope and
trigger words), syntax errors, suppression comments (and CW001 for the unused ones), and the
fix loop. It never writes files; the CLI decides what happens to the fixed text.
"""

from __future__ import annotations

import ast
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass

import libcst as cst

from cwlint import noqa
from cwlint.config import Settings
from cwlint.context import FileContext
from cwlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Position, Severity
from cwlint.rule import Rule
from cwlint.rules import all_rules
from cwlint.runner import FileResult, applicable, enabled_for  # noqa: F401 - FileResult is re-exported
from cwlint.source import FileProblem, SourceFile
from cwlint.walk import walk

MAX_FIX_ITERATIONS = 10
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

# Codes the engine reports itself; their rule classes only carry docs and examples.
UNUSED_NOQA, SYNTAX_ERROR, UNSUPPORTED_SYNTAX, FIX_FAILED = "CW001", "CW901", "CW902", "CW907"


def _codes() -> list[str]:
    return [rule.code for rule in all_rules()]


class RuleSelection:
    """The enabled rules, resolved once per run; narrowed per file by path and content."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.enabled(_codes())
        self.rules = [rule for rule in all_rules() if rule.code in self.enabled]

    def for_file(self, path: str) -> set[str]:
        return enabled_for(self.settings, self.enabled, path)

    def visitors(self, ctx: FileContext, enabled: set[str]) -> list[Rule]:
        text = ctx.text
        out: list[Rule] = []
        for rule in self.rules:
            if rule.engine_rule or rule.code not in enabled:
                continue
            if rule.triggers and not any(word in text for word in rule.triggers):
                continue
            if rule.scope == "workflow" and not ctx.is_workflow:
                continue
            out.append(rule(ctx))
        return out


def problem_diagnostic(problem: FileProblem) -> Diagnostic:
    from cwlint.rules import rule_by_code

    rule = rule_by_code(problem.code)
    severity = Severity.WARNING if problem.code == "CW905" else Severity.ERROR
    return Diagnostic(
        code=problem.code,
        name=rule.name if rule else "file-problem",
        message=problem.message,
        start=Position(1, 1),
        end=Position(1, 1),
        severity=severity,
    )


def _syntax_diagnostic(text: str, error: Exception) -> Diagnostic:
    """CW901 with CPython's own message (clearer than LibCST's), or CW902 when only LibCST fails."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        line, column = exc.lineno or 1, exc.offset or 1
        message = f"SyntaxError: {exc.msg}"
        hint = _markdown_hint(text, line)
        if hint:
            message += f"; {hint}"
        return Diagnostic(
            code=SYNTAX_ERROR,
            name="syntax-error",
            message=message,
            start=Position(line, column),
            end=Position(line, column),
        )
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return Diagnostic(SYNTAX_ERROR, "syntax-error", f"cannot parse: {exc}", Position(1, 1), Position(1, 1))
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return Diagnostic(
        code=UNSUPPORTED_SYNTAX,
        name="unsupported-syntax",
        message=f"valid Python that LibCST {_libcst_version()} cannot parse ({first}); not linted",
        start=Position(getattr(error, "raw_line", 1) or 1, 1),
        end=Position(getattr(error, "raw_line", 1) or 1, 1),
        severity=Severity.WARNING,
    )


def _libcst_version() -> str:
    from importlib.metadata import version

    try:
        return version("libcst")
    except Exception:  # pragma: no cover - an unusual install
        return "?"


def _markdown_hint(text: str, line: int) -> str | None:
    """Numbers separated only by spaces (``30 24 3600``): the ``*`` were eaten by Markdown."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    previous = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(lines[line - 1] + "\n").readline):
            if tok.type == tokenize.NUMBER and previous is not None and previous.type == tokenize.NUMBER:
                run = re.search(r"\d[\d.]*(?:[ \t]+\d[\d.]*)+", lines[line - 1])
                if run:
                    fixed = re.sub(r"[ \t]+", " * ", run.group())
                    return f"numbers separated only by spaces: a '*' was probably eaten by Markdown (did you mean `{fixed}`?)"
            if tok.type not in (tokenize.NL, tokenize.NEWLINE):
                previous = tok
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


def _parse(text: str) -> cst.Module:
    return cst.parse_module(text)


def lint_source(
    source: SourceFile,
    settings: Settings,
    selection: RuleSelection | None = None,
) -> list[Diagnostic]:
    """Every diagnostic for one file's text, suppressions applied, sorted by position."""
    return _lint(source, settings, selection)[0]


def _lint(
    source: SourceFile, settings: Settings, selection: RuleSelection | None
) -> tuple[list[Diagnostic], bool]:
    """The diagnostics, and whether the text parsed (whatever rules are selected)."""
    selection = selection or RuleSelection(settings)
    enabled = selection.for_file(source.path)
    try:
        module = _parse(source.text)
    except (cst.ParserSyntaxError, RecursionError) as exc:
        diagnostic = _syntax_diagnostic(source.text, exc)
        return ([diagnostic] if diagnostic.code in enabled else []), False
    ctx = FileContext(source, module, settings)
    visitors = selection.visitors(ctx, enabled)
    diagnostics: list[Diagnostic] = []
    if visitors:
        try:
            walk(module, [ctx.imports, ctx.clients, *visitors], ctx.ancestors)
        except RecursionError:
            message = "nested too deeply to analyse"
            return [Diagnostic(SYNTAX_ERROR, "syntax-error", message, Position(1, 1), Position(1, 1))], True
        for visitor in visitors:
            diagnostics.extend(visitor.diagnostics)
    return _suppress(ctx, diagnostics, enabled), True


def _suppress(ctx: FileContext, diagnostics: list[Diagnostic], enabled: set[str]) -> list[Diagnostic]:
    suppressions = noqa.parse(ctx.text)
    kept = [d for d in diagnostics if not suppressions.hides(d, ctx.settings.bare_noqa)]
    if UNUSED_NOQA in enabled and not suppressions.file_all:
        known = {rule.code for rule in all_rules()}
        for directive in suppressions.lines.values():
            if directive.codes is None:
                continue
            ours = [code for code in directive.codes if code.startswith("CW")]
            unused = {code for code in ours if code not in directive.used and (code in enabled or code not in known)}
            unused.discard(UNUSED_NOQA)
            if not unused or UNUSED_NOQA in directive.codes:
                continue
            unknown = sorted(code for code in unused if code not in known)
            names = ", ".join(sorted(unused))
            message = f"unused `noqa` directive ({names})"
            if unknown:
                message = f"unused `noqa` directive ({names}; unknown: {', '.join(unknown)})"
            start = ctx.source_position(directive.start)
            end = ctx.source_position(directive.end)
            edit = noqa.removal_edit(ctx.text, directive, unused)
            kept.append(
                Diagnostic(
                    code=UNUSED_NOQA,
                    name="unused-noqa",
                    message=message,
                    start=start,
                    end=end,
                    fix=Fix("Remove the unused codes", (edit,), Applicability.SAFE),
                )
            )
    kept.sort(key=lambda d: d.sort_key)
    return kept


@dataclass
class FixOutcome:
    text: str
    diagnostics: list[Diagnostic]  #: what is left after fixing
    count: int
    applied: list[tuple[str, str]]
    failure: Diagnostic | None = None


def apply_edits(text: str, edits: list[Edit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.content + text[edit.end :]
    return text


def fix_source(source: SourceFile, settings: Settings, unsafe: bool = False, selection: RuleSelection | None = None) -> FixOutcome:
    """Apply fixes until none is left (bounded); on any failure keep the original text."""
    selection = selection or RuleSelection(settings)
    original = source.text
    text = original
    applied: list[tuple[str, str]] = []
    diagnostics, parsed = _lint(source, settings, selection)
    for _ in range(MAX_FIX_ITERATIONS):
        chosen: list[Diagnostic] = []
        taken: list[Edit] = []
        for diagnostic in sorted(diagnostics, key=lambda d: d.fix.span if d.fix else (0, 0)):
            if not applicable(diagnostic, unsafe):
                continue
            assert diagnostic.fix is not None
            # An edit identical to one already taken (same span, same text: fixes sharing a
            # header declaration or an import) is that edit, applied once, as ruff does.
            new = [e for e in dict.fromkeys(diagnostic.fix.edits) if e not in taken]
            if any(e.overlaps(t) for e in new for t in taken):
                continue  # the next round, on the re-parsed text
            chosen.append(diagnostic)
            taken.extend(new)
        if not chosen:
            break
        text = apply_edits(text, taken)
        applied.extend((d.code, d.fix.message) for d in chosen if d.fix)
        candidate = SourceFile(path=source.path, text=text, encoding=source.encoding, bom=source.bom)
        diagnostics, still_parses = _lint(candidate, settings, selection)
        if parsed and not still_parses:
            codes = ", ".join(sorted({code for code, _ in applied}))
            return _failed(source, settings, selection, f"fixes for {codes} produced code that does not parse; file left unchanged")
    else:
        if any(applicable(d, unsafe) for d in diagnostics):
            codes = ", ".join(sorted({d.code for d in diagnostics if applicable(d, unsafe)}))
            return _failed(source, settings, selection, f"fixes did not converge after {MAX_FIX_ITERATIONS} rounds ({codes}); file left unchanged")
    return FixOutcome(text=text, diagnostics=diagnostics, count=len(applied), applied=applied)


def lint_path(path: str, settings: Settings, selection: RuleSelection | None = None) -> FileResult:
    """Read and lint one file; a file that cannot be read is one CW9xx finding."""
    from cwlint.source import read

    try:
        source = read(path, settings.max_file_size)
    except FileProblem as problem:
        diagnostic = problem_diagnostic(problem)
        enabled = (selection or RuleSelection(settings)).for_file(path)
        return FileResult(path=path, diagnostics=[diagnostic] if diagnostic.code in enabled else [])
    return FileResult(path=path, source=source, diagnostics=lint_source(source, settings, selection))


def _failed(source: SourceFile, settings: Settings, selection: RuleSelection, message: str) -> FixOutcome:
    diagnostics = lint_source(source, settings, selection)
    failure = Diagnostic(FIX_FAILED, "fix-failed", message, Position(1, 1), Position(1, 1))
    return FixOutcome(text=source.text, diagnostics=sorted([failure, *diagnostics], key=lambda d: d.sort_key), count=0, applied=[], failure=failure)


# Stage timings (CWLINT_TIMINGS): wrappers installed once, here, only when asked for; an
# untimed run calls the functions above directly and pays nothing.
if os.environ.get("CWLINT_TIMINGS"):
    from cwlint import timing

    timing.install(sys.modules[__name__])
