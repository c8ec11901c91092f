"""What a rule reports: a diagnostic, and the fix it may carry.

Positions are 1-based lines and 1-based columns counted in code points, everywhere (terminal,
JSON, SARIF). An ``end`` is exclusive: it points at the first character after the range, like
ruff's ``end_location``. A language server counts from 0 and in UTF-16 code units
(:meth:`Position.to_lsp`). Edits address the decoded text by offsets, so applying them needs no
re-parse and several rules' edits can be merged in one pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Applicability(str, enum.Enum):
    """How sure a fix is, in ruff's terms."""

    SAFE = "safe"  #: keeps the meaning; applied by --fix
    UNSAFE = "unsafe"  #: may change behaviour; needs --unsafe-fixes
    DISPLAY = "display"  #: shown, never applied


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Position:
    """1-based line, 1-based column in code points."""

    line: int
    column: int

    def to_lsp(self, line_text: str) -> tuple[int, int]:
        """LSP's ``(line, character)``: both 0-based, the character in UTF-16 code units.

        ``line_text`` is the text of this position's line (its line ending may be included:
        a column never points past it). A character outside the BMP (an emoji) is one code
        point here and two UTF-16 units there.
        """
        before = line_text[: max(0, self.column - 1)]
        # UTF-16 needs two units for every code point above U+FFFF, one for every other.
        return self.line - 1, len(before) + sum(1 for char in before if ord(char) > 0xFFFF)


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` (offsets into the decoded source) with ``content``."""

    start: int
    end: int
    content: str

    def overlaps(self, other: Edit) -> bool:
        if self.start == self.end or other.start == other.end:
            # An insertion at the edge of (or inside) another edit: which text comes first
            # would be a guess, and two fixes adding the same comma there would double it.
            return self.start <= other.end and other.start <= self.end
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Fix:
    message: str
    edits: tuple[Edit, ...]
    applicability: Applicability

    @property
    def span(self) -> tuple[int, int]:
        return min(e.start for e in self.edits), max(e.end for e in self.edits)


@dataclass
class Diagnostic:
    code: str
    name: str
    message: str
    start: Position
    end: Position
    severity: Severity = Severity.ERROR
    fix: Fix | None = None
    #: The line whose noqa comment suppresses this diagnostic (its start line unless set).
    noqa_line: int | None = None
    #: Source values this diagnostic must never echo whole (hard-coded secrets).
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.start.line, self.start.column, self.code)
