"""Edits several fixes need: adding an import, in the file's own layout."""

from __future__ import annotations

from cwlint.context import FileContext
from cwlint.diagnostics import Edit
from cwlint.libcst_import import cst


def _insertion_point(ctx: FileContext) -> int:
    """Where a new top-level import line goes: after the last one, else before the code."""
    if ctx.imports.last_statement is not None:
        return ctx.statement_line_span(ctx.imports.last_statement)[1]
    body = list(ctx.module.body)
    # Skip a module docstring.
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr):
        if isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
            return ctx.statement_line_span(body[0])[1]
    if body:
        return ctx.span(body[0])[0]
    return len(ctx.text)


def _ensure_newline(ctx: FileContext, offset: int) -> str:
    return "" if offset == 0 or ctx.text[offset - 1] in "\r\n" else ctx.newline


def import_from(ctx: FileContext, module: str, name: str) -> list[Edit]:
    """Edits that make ``name`` from ``module`` available: none if it already is."""
    if ctx.imports.local_name(f"{module}.{name}") == name:
        return []
    existing = ctx.imports.from_statements.get(module)
    if existing is not None and not isinstance(existing.names, cst.ImportStar) and existing.names:
        last = existing.names[-1]
        # After `X as Y` as a whole: inserting after `X` would rebind Y.
        anchor = last.asname.name if last.asname is not None else last.name
        return [ctx.insert_after(anchor, f", {name}")]
    offset = _insertion_point(ctx)
    return [Edit(offset, offset, f"{_ensure_newline(ctx, offset)}from {module} import {name}{ctx.newline}")]


def import_module(ctx: FileContext, module: str) -> list[Edit]:
    """Edits that make ``import module`` available: none if it already is."""
    if ctx.imports.names.get(module) == module:
        return []
    offset = _insertion_point(ctx)
    return [Edit(offset, offset, f"{_ensure_newline(ctx, offset)}import {module}{ctx.newline}")]
