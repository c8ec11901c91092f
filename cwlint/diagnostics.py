"""What a rule reports: a diagnostic, and the fix it may carry.

Positions are 1-based lines and 1-based columns counted in code points, everywhere (terminal,
JSON, SARIF). An ``end`` is exclusive: it points at the first character after the range, like
ruff's ``end_location``. A language server counts from 0 and in UTF-16 code units
(:meth:`Position.to_lsp`). Edits address the decoded text by offsets, so applying them needs no
re-parse and several rules' edits can be merged in one pass.

The classes are written out rather than made with ``dataclasses``: a warm run replays cached
findings through them, and importing ``dataclasses`` and building a class with it costs more
than the rest of such a run's imports. ``Position``, ``Edit`` and ``Fix`` are immutable named
tuples (ordered, hashable, picklable); ``Diagnostic`` compares by value, like the dataclass
it replaces. tests/test_diagnostics_types.py pins that behaviour.
"""

from __future__ import annotations

import enum


class Applicability(str, enum.Enum):
    """How sure a fix is, in ruff's terms."""

    SAFE = "safe"  #: keeps the meaning; applied by --fix
    UNSAFE = "unsafe"  #: may change behaviour; needs --unsafe-fixes
    DISPLAY = "display"  #: shown, never applied


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Position(tuple[int, int]):
    """1-based line, 1-based column in code points."""

    __slots__ = ()

    def __new__(cls, line: int, column: int) -> Position:
        return tuple.__new__(cls, (line, column))

    def __getnewargs__(self) -> tuple[int, int]:
        return (self[0], self[1])

    @property
    def line(self) -> int:
        return self[0]

    @property
    def column(self) -> int:
        return self[1]

    def __repr__(self) -> str:
        return f"Position(line={self[0]!r}, column={self[1]!r})"

    def to_lsp(self, line_text: str) -> tuple[int, int]:
        """LSP's ``(line, character)``: both 0-based, the character in UTF-16 code units.

        ``line_text`` is the text of this position's line (its line ending may be included:
        a column never points past it). A character outside the BMP (an emoji) is one code
        point here and two UTF-16 units there.
        """
        before = line_text[: max(0, self.column - 1)]
        # UTF-16 needs two units for every code point above U+FFFF, one for every other.
        return self.line - 1, len(before) + sum(1 for char in before if ord(char) > 0xFFFF)


class Edit(tuple[int, int, str]):
    """Replace ``text[start:end]`` (offsets into the decoded source) with ``content``."""

    __slots__ = ()

    def __new__(cls, start: int, end: int, content: str) -> Edit:
        return tuple.__new__(cls, (start, end, content))

    def __getnewargs__(self) -> tuple[int, int, str]:
        return (self[0], self[1], self[2])

    @property
    def start(self) -> int:
        return self[0]

    @property
    def end(self) -> int:
        return self[1]

    @property
    def content(self) -> str:
        return self[2]

    def __repr__(self) -> str:
        return f"Edit(start={self[0]!r}, end={self[1]!r}, content={self[2]!r})"

    def overlaps(self, other: Edit) -> bool:
        if self.start == self.end or other.start == other.end:
            # An insertion at the edge of (or inside) another edit: which text comes first
            # would be a guess, and two fixes adding the same comma there would double it.
            return self.start <= other.end and other.start <= self.end
        return self.start < other.end and other.start < self.end


class Fix(tuple[str, tuple[Edit, ...], Applicability]):
    """A fix: its message, its edits, and how sure it is."""

    __slots__ = ()

    def __new__(cls, message: str, edits: tuple[Edit, ...], applicability: Applicability) -> Fix:
        return tuple.__new__(cls, (message, edits, applicability))

    def __getnewargs__(self) -> tuple[str, tuple[Edit, ...], Applicability]:
        return (self[0], self[1], self[2])

    @property
    def message(self) -> str:
        return self[0]

    @property
    def edits(self) -> tuple[Edit, ...]:
        return self[1]

    @property
    def applicability(self) -> Applicability:
        return self[2]

    def __repr__(self) -> str:
        return f"Fix(message={self[0]!r}, edits={self[1]!r}, applicability={self[2]!r})"

    @property
    def span(self) -> tuple[int, int]:
        return min(e.start for e in self.edits), max(e.end for e in self.edits)


class Diagnostic:
    """One finding. Mutable (a rule may attach a fix after reporting), compared by value."""

    __slots__ = ("code", "name", "message", "start", "end", "severity", "fix", "noqa_line", "secrets", "redacted")

    def __init__(
        self,
        code: str,
        name: str,
        message: str,
        start: Position,
        end: Position,
        severity: Severity = Severity.ERROR,
        fix: Fix | None = None,
        noqa_line: int | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.code = code
        self.name = name
        self.message = message
        self.start = start
        self.end = end
        self.severity = severity
        self.fix = fix
        #: The line whose noqa comment suppresses this diagnostic (its start line unless set).
        self.noqa_line = noqa_line
        #: Source values this diagnostic must never echo whole (hard-coded secrets).
        self.secrets = secrets
        #: ``message`` is already as the outputs show it, every credential masked (set when the cache
        #: replays a message it stored redacted: a warm run need not redact it again).
        self.redacted = False

    def _fields(self) -> tuple[object, ...]:
        return (self.code, self.name, self.message, self.start, self.end, self.severity, self.fix, self.noqa_line, self.secrets)

    def __eq__(self, other: object) -> bool:  # defining __eq__ alone leaves it unhashable, as the dataclass was
        if not isinstance(other, Diagnostic) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:  # secrets left out: a repr may end up in a log
        return (
            f"Diagnostic(code={self.code!r}, name={self.name!r}, message={self.message!r}, start={self.start!r}, "
            f"end={self.end!r}, severity={self.severity!r}, fix={self.fix!r}, noqa_line={self.noqa_line!r})"
        )

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.start.line, self.start.column, self.code)
