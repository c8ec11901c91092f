"""Linting and fixing one file: parse once, walk once, suppress, fix until nothing changes.

The engine owns what no single rule can: choosing the rules for a file (selection, scope and
trigger words), syntax errors, suppression comments (and CW001 for the unused ones), and the
fix loop. It never reads or writes files, and lists no directory: what lies beside the file
comes from the module index the caller gives (:mod:`cwlint.modules`). The public entry is
:class:`cwlint.linter.Linter`; the functions here are its mechanics.

Importing this module changes nothing global. Linting raises the interpreter's recursion
limit to :data:`RECURSION_LIMIT` if it is lower (LibCST's parser and the walk recurse once
per level of nesting), and never lowers it.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass

from cwlint import noqa
from cwlint.config import Selection, Settings
from cwlint.context import FileContext
from cwlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Position, Severity
from cwlint.libcst_import import cst
from cwlint.modules import ModuleIndex
from cwlint.results import FIX_FAILED, applicable
from cwlint.rule import Rule
from cwlint.rules import all_rules
from cwlint.source import SourceFile
from cwlint.walk import walk

MAX_FIX_ITERATIONS = 10
RECURSION_LIMIT = 10_000

# Codes the engine reports itself; their rule classes only carry docs and examples.
UNUSED_NOQA, SYNTAX_ERROR, UNSUPPORTED_SYNTAX = "CW001", "CW901", "CW902"


def selection_for(settings: Settings) -> Selection:
    """The selection of every rule ``settings`` enables."""
    return Selection(settings, [rule.code for rule in all_rules()])


def rule_names() -> dict[str, str]:
    """Every rule's name by code (for the CW9xx findings of files that cannot be read)."""
    return {rule.code: rule.name for rule in all_rules()}


def _visitors(ctx: FileContext, enabled: set[str]) -> list[Rule]:
    """The rules to run on this file: enabled for it, not the engine's own, in scope, triggered."""
    text = ctx.text
    out: list[Rule] = []
    for rule in all_rules():
        if rule.engine_rule or rule.code not in enabled:
            continue
        if rule.triggers and not any(word in text for word in rule.triggers):
            continue
        if rule.scope == "workflow" and not ctx.is_workflow:
            continue
        out.append(rule(ctx))
    return out


def _deep_enough() -> None:
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


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
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("libcst")
    except PackageNotFoundError:  # pragma: no cover - an unusual install
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
    selection: Selection | None = None,
    modules: ModuleIndex | None = None,
) -> list[Diagnostic]:
    """Every diagnostic for one file's text, suppressions applied, sorted by position."""
    _deep_enough()
    return _lint(source, settings, selection or selection_for(settings), modules)[0]


def _lint(
    source: SourceFile, settings: Settings, selection: Selection, modules: ModuleIndex | None
) -> tuple[list[Diagnostic], bool]:
    """The diagnostics, and whether the text parsed (whatever rules are selected)."""
    enabled = selection.for_file(source.path)
    try:
        module = _parse(source.text)
    except (cst.ParserSyntaxError, RecursionError) as exc:
        diagnostic = _syntax_diagnostic(source.text, exc)
        return ([diagnostic] if diagnostic.code in enabled else []), False
    ctx = FileContext(source, module, settings, modules)
    visitors = _visitors(ctx, enabled)
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
    """What the fix loop did: the text after it (the original when it failed) and what is left."""

    text: str
    diagnostics: list[Diagnostic]  #: what is left after fixing
    count: int
    applied: list[tuple[str, str]]
    failure: Diagnostic | None = None


def apply_edits(text: str, edits: list[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (offsets refer to ``text``)."""
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.content + text[edit.end :]
    return text


def fix_source(
    source: SourceFile,
    settings: Settings,
    unsafe: bool = False,
    selection: Selection | None = None,
    modules: ModuleIndex | None = None,
) -> FixOutcome:
    """Apply fixes until none is left (bounded); on any failure keep the original text."""
    _deep_enough()
    selection = selection or selection_for(settings)
    original = source.text
    text = original
    applied: list[tuple[str, str]] = []
    diagnostics, parsed = _lint(source, settings, selection, modules)
    for _ in range(MAX_FIX_ITERATIONS):
        chosen: list[Diagnostic] = []
        taken: list[Edit] = []
        for diagnostic in sorted(diagnostics, key=lambda d: d.fix.span if d.fix else (0, 0)):
            if diagnostic.fix is None or not applicable(diagnostic, unsafe):
                continue
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
        diagnostics, still_parses = _lint(candidate, settings, selection, modules)
        if parsed and not still_parses:
            codes = ", ".join(sorted({code for code, _ in applied}))
            message = f"fixes for {codes} produced code that does not parse; file left unchanged"
            return _failed(source, settings, selection, modules, message)
    else:
        if any(applicable(d, unsafe) for d in diagnostics):
            codes = ", ".join(sorted({d.code for d in diagnostics if applicable(d, unsafe)}))
            message = f"fixes did not converge after {MAX_FIX_ITERATIONS} rounds ({codes}); file left unchanged"
            return _failed(source, settings, selection, modules, message)
    return FixOutcome(text=text, diagnostics=diagnostics, count=len(applied), applied=applied)


def _failed(source: SourceFile, settings: Settings, selection: Selection, modules: ModuleIndex | None, message: str) -> FixOutcome:
    diagnostics = _lint(source, settings, selection, modules)[0]
    failure = Diagnostic(FIX_FAILED, "fix-failed", message, Position(1, 1), Position(1, 1))
    return FixOutcome(text=source.text, diagnostics=sorted([failure, *diagnostics], key=lambda d: d.sort_key), count=0, applied=[], failure=failure)
