"""The engine's results in LSP's terms: diagnostics, and fix edits as text edits.

Nothing is recomputed here. Positions are the engine's (1-based lines, code-point columns),
converted by :meth:`cwlint.diagnostics.Position.to_lsp` (0-based, UTF-16: the server always
negotiates UTF-16, see :mod:`cwlint.lsp.server`); an edit's offsets become a position through
the text's line starts, then the same conversion. Messages pass through
:func:`cwlint.secrets.redact` with the finding's own secrets, as every CLI format does.
"""

from __future__ import annotations

import bisect
import functools
import os
from pathlib import Path

from lsprotocol import types

from cwlint.diagnostics import Diagnostic, Edit, Position, Severity
from cwlint.secrets import redact
from cwlint.source import line_starts

SOURCE = "cwlint"

SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error, Severity.WARNING: types.DiagnosticSeverity.Warning}

#: Editors fade code tagged unnecessary and strike through code tagged deprecated.
TAGS = {
    "CW001": [types.DiagnosticTag.Unnecessary],  # a noqa directive that suppresses nothing: dead text
    "CW103": [types.DiagnosticTag.Deprecated],  # an input key the service renamed: the old name
}


class Lines:
    """One text's line starts, to turn the engine's positions and offsets into LSP's."""

    __slots__ = ("text", "starts")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = line_starts(text)

    def line(self, number: int) -> str:
        """The text of 1-based line ``number`` (with its line ending); "" past the end."""
        if not 0 < number <= len(self.starts):
            return ""
        end = self.starts[number] if number < len(self.starts) else len(self.text)
        return self.text[self.starts[number - 1] : end]

    def position(self, offset: int) -> Position:
        """The engine's position of an offset into the text."""
        line = bisect.bisect_right(self.starts, offset)
        return Position(line, offset - self.starts[line - 1] + 1)

    def lsp(self, position: Position) -> types.Position:
        line, character = position.to_lsp(self.line(position.line))
        return types.Position(line=line, character=character)

    def range(self, start: Position, end: Position) -> types.Range:
        return types.Range(start=self.lsp(start), end=self.lsp(end))

    def edit(self, edit: Edit) -> types.TextEdit:
        return types.TextEdit(range=self.range(self.position(edit.start), self.position(edit.end)), new_text=edit.content)


def minimal_edit(old: str, new: str) -> Edit:
    """One edit turning ``old`` into ``new``: the span between their common prefix and suffix
    (a fix-all result as one edit that leaves the rest of the buffer, and the cursor, alone)."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return Edit(prefix, len(old) - suffix, new[prefix : len(new) - suffix])


@functools.cache
def docs_path(code: str) -> Path | None:
    """The rule's page: shipped in the wheel as ``cwlint/_docs``, else the checkout's ``docs/rules``."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in (os.path.join(package, "_docs"), os.path.join(os.path.dirname(package), "docs", "rules")):
        page = os.path.join(folder, f"{code}.md")
        if os.path.isfile(page):
            return Path(page)
    return None


def diagnostic(d: Diagnostic, lines: Lines) -> types.Diagnostic:
    """``d`` for the editor: range, severity, code with its docs link, tags, redacted message."""
    page = docs_path(d.code)
    return types.Diagnostic(
        range=lines.range(d.start, d.end),
        message=redact(d.message, d.secrets),
        severity=SEVERITY[d.severity],
        code=d.code,
        code_description=types.CodeDescription(href=page.as_uri()) if page is not None else None,
        source=SOURCE,
        tags=TAGS.get(d.code),
    )
