"""What linting one file produces: :class:`FileResult`, the one result type of cwlint.

The engine, the API (:mod:`cwlint.linter`), the runner, the cache's replay and the reporters
all produce or consume this type, and it sits below all of them: it imports only the
diagnostics and the source file, so the runner and the reporters can use it without
importing the engine (and with it LibCST and the rules).
"""

from __future__ import annotations

from collections.abc import Mapping

from cwlint.diagnostics import Applicability, Diagnostic, Position, Severity
from cwlint.records import Record
from cwlint.source import FileProblem, SourceFile, decode, line_starts

#: The engine's code for fixes that had to be discarded (the file is left unchanged).
FIX_FAILED = "CW907"


class FileResult(Record):
    """One file's findings, and when fixing, what the fixes did."""

    __slots__ = ("path", "diagnostics", "_source", "_data", "fixed_text", "fixed_count", "applied", "diff", "cached", "timings")
    _fields = ("path", "diagnostics", "source", "fixed_text", "fixed_count", "applied", "diff", "cached", "timings")

    def __init__(
        self,
        path: str,
        diagnostics: list[Diagnostic] | None = None,
        source: SourceFile | None = None,
        fixed_text: str | None = None,
        fixed_count: int = 0,
        applied: list[tuple[str, str]] | None = None,
        diff: str = "",
        cached: bool = False,
        timings: dict[str, float] | None = None,
        data: bytes | None = None,
    ) -> None:
        self.path = path
        #: Sorted by position; after fixing, the findings left in the fixed text.
        self.diagnostics: list[Diagnostic] = diagnostics if diagnostics is not None else []
        self._source = source
        #: The file's bytes, decoded into ``source`` only when something asks (a cached result
        #: shown without its source lines never decodes them).
        self._data = data
        #: The text after fixes; None when nothing changed (or when only diffing).
        self.fixed_text = fixed_text
        #: How many fixes were applied, and which: (code, fix message) each, for --show-fixes.
        self.fixed_count = fixed_count
        self.applied: list[tuple[str, str]] = applied if applied is not None else []
        #: --diff: the unified diff of the fixes, secrets masked ("" when nothing would change).
        self.diff = diff
        #: Replayed from the cache rather than linted.
        self.cached = cached
        #: CWLINT_TIMINGS: the stages of the process that linted this file, if it was a worker.
        self.timings = timings

    @property
    def source(self) -> SourceFile | None:
        """The text the diagnostics' positions refer to (the fixed text when fixing), with the
        file's encoding and BOM; None when the file could not be read or decoded."""
        if self._source is None and self._data is not None:
            data, self._data = self._data, None
            try:
                self._source = decode(data, self.path)
            except FileProblem:
                pass
        return self._source

    @source.setter
    def source(self, value: SourceFile | None) -> None:
        self._source, self._data = value, None

    @property
    def text(self) -> str | None:
        """The text the findings refer to (after fixes when fixing)."""
        return self.source.text if self.source is not None else None

    def lsp_range(self, diagnostic: Diagnostic) -> tuple[tuple[int, int], tuple[int, int]]:
        """``diagnostic``'s start and end as LSP positions (0-based, UTF-16; see ``Position.to_lsp``)."""
        text = self.text or ""
        starts = line_starts(text)

        def line(number: int) -> str:
            if not 0 < number <= len(starts):
                return ""
            return text[starts[number - 1] : starts[number] if number < len(starts) else len(text)]

        return diagnostic.start.to_lsp(line(diagnostic.start.line)), diagnostic.end.to_lsp(line(diagnostic.end.line))

    @property
    def fix_failed(self) -> bool:
        """Fixes were discarded (CW907): the text is the original, and the findings are not cacheable."""
        return any(d.code == FIX_FAILED for d in self.diagnostics)


def problem_diagnostic(problem: FileProblem, names: Mapping[str, str]) -> Diagnostic:
    """A file that cannot be read or decoded, as its CW9xx finding (``names``: code -> rule name)."""
    severity = Severity.WARNING if problem.code == "CW905" else Severity.ERROR
    return Diagnostic(
        code=problem.code,
        name=names.get(problem.code, "file-problem"),
        message=problem.message,
        start=Position(1, 1),
        end=Position(1, 1),
        severity=severity,
    )


def problem_result(path: str, problem: FileProblem, names: Mapping[str, str], enabled: set[str]) -> FileResult:
    """The result of a file that cannot be read: its CW9xx finding, if that code is on for it."""
    diagnostic = problem_diagnostic(problem, names)
    return FileResult(path=path, diagnostics=[diagnostic] if diagnostic.code in enabled else [])


def applicable(diagnostic: Diagnostic, unsafe: bool) -> bool:
    """Whether ``--fix`` applies this diagnostic's fix (``unsafe``: with ``--unsafe-fixes``)."""
    fix = diagnostic.fix
    if fix is None:
        return False
    return fix.applicability is Applicability.SAFE or (unsafe and fix.applicability is Applicability.UNSAFE)
