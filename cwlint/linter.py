"""cwlint as a library: lint or fix one file's text held in memory.

    from cwlint import Linter
    from cwlint.modules import DirectoryIndex

    linter = Linter(settings, modules=DirectoryIndex())
    result = linter.check(text, "workflows/enrich.py")
    for diagnostic in result.diagnostics: ...
    fixed = linter.fix(text, "workflows/enrich.py").fixed_text  # None: nothing to fix

The contract, which the CLI's runner, the pytest plugin's lint item and any front end (an
editor, a language server) rely on:

- **Inputs.** ``text`` is the file's content: a ``str`` (already decoded, as an editor holds
  it) or ``bytes`` (decoded as CPython would: BOM, PEP 263 declaration; bytes that cannot be
  decoded are one CW903/CW904 finding). ``path`` is where the text lives, or would: it names
  the file in the findings and decides ``per-file-ignores``; it is never opened.
- **What it reads.** Only the text, the path, the :class:`~cwlint.config.Settings`, the
  bundled service catalog, and, when a module index is given, the module names beside the
  path (:mod:`cwlint.modules`). No index: the text stands alone, with no local modules. It
  lists no directory and reads no file of its own accord (:meth:`Linter.check_file` reads the
  one file it is named), never depends on the working directory, and writes nothing.
  These are exactly what the result cache keys on (ARCHITECTURE.md's invariants).
- **Output.** A :class:`~cwlint.results.FileResult`: the findings sorted by position, with
  1-based lines and code-point columns (``Position.to_lsp`` converts them for a language
  server), secrets in ``Diagnostic.secrets`` for the reporters to mask; ``fix`` adds the
  text after fixes (``fixed_text``, None when nothing changed) and the findings left in it.
  A fix that would break the code is discarded whole: ``fixed_text`` is None and the result
  holds CW907.
- **Errors.** Bad input is a finding, never an exception. Settings that select a rule that
  does not exist raise :class:`cwlint.config.ConfigError` when the ``Linter`` is made; a
  broken install (a bundled catalog that does not load) raises
  :class:`cwlint.catalog.CatalogError`.
- **Side effects.** None at import. Linting raises the interpreter's recursion limit to
  10,000 when it is lower (deeply nested code), never lowers it. A ``Linter`` holds no state
  between calls besides its settings and index, so one may serve many files and threads.

Importing this module imports the engine (LibCST, the rules); ``import cwlint`` alone does not.
"""

from __future__ import annotations

from cwlint import engine
from cwlint.config import Settings
from cwlint.modules import ModuleIndex
from cwlint.results import FileResult, problem_result
from cwlint.source import FileProblem, SourceFile, decode, read_bytes


class Linter:
    """Lints and fixes text with one set of settings (see the module docstring for the contract)."""

    def __init__(self, settings: Settings | None = None, modules: ModuleIndex | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self.modules = modules
        #: The codes the settings enable; ``selection.for_file(path)`` adds per-file ignores.
        self.selection = engine.selection_for(self.settings)
        self.selection.check()
        #: Every rule's name by code.
        self.names = engine.rule_names()

    def check(self, text: str | bytes, path: str) -> FileResult:
        """Every finding in ``text``, suppressions applied, sorted by position."""
        source = self._source(text, path)
        if isinstance(source, FileResult):
            return source
        diagnostics = engine.lint_source(source, self.settings, self.selection, self.modules)
        return FileResult(path=path, source=source, diagnostics=diagnostics)

    def fix(self, text: str | bytes, path: str, *, unsafe: bool = False) -> FileResult:
        """Apply every safe fix (``unsafe``: and unsafe ones) until none is left.

        ``source`` and ``diagnostics`` describe the text after fixes; ``fixed_text`` is that
        text when it differs from the input, with ``fixed_count`` and ``applied`` saying what
        changed it.
        """
        source = self._source(text, path)
        if isinstance(source, FileResult):
            return source
        outcome = engine.fix_source(source, self.settings, unsafe, self.selection, self.modules)
        changed = outcome.text != source.text
        return FileResult(
            path=path,
            source=SourceFile(path, outcome.text, source.encoding, source.bom),
            diagnostics=outcome.diagnostics,
            fixed_text=outcome.text if changed else None,
            fixed_count=outcome.count if changed else 0,
            applied=outcome.applied if changed else [],
        )

    def check_file(self, path: str) -> FileResult:
        """Read ``path`` (at most ``max-file-size`` bytes: CW905 beyond; CW906 when unreadable) and check it."""
        try:
            data = read_bytes(path, self.settings.max_file_size)
        except FileProblem as problem:
            return self.problem(path, problem)
        return self.check(data, path)

    def problem(self, path: str, problem: FileProblem) -> FileResult:
        """The result of a file that cannot be read: its CW9xx finding, if that code is on for it."""
        return problem_result(path, problem, self.names, self.selection.for_file(path))

    def _source(self, text: str | bytes, path: str) -> SourceFile | FileResult:
        if isinstance(text, str):
            # What ``decode`` says of bytes, said of text too: an editor's buffer of a binary
            # file holds NULs, and JSON (LSP, MCP) can carry a lone surrogate, which no parser
            # takes (LibCST raises UnicodeEncodeError on it).
            if "\0" in text[:8192]:
                return self.problem(path, FileProblem("CW904", "binary file (contains NUL bytes), not Python source"))
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                return self.problem(
                    path, FileProblem("CW903", f"not valid Unicode: a lone surrogate U+{ord(text[exc.start]):04X} at offset {exc.start}")
                )
            return SourceFile(path=path, text=text)
        try:
            return decode(text, path)
        except FileProblem as problem:
            return self.problem(path, problem)
