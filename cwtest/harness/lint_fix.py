"""``--lint-fix``: a second boot of the workflow with cwlint's safe fixes applied, to reach the bugs
the first failure hides.

A ``data=`` keyword (CW101) or a renamed ``action`` key (CW103) fails every request before the code
behind it runs. With ``--lint-fix`` (opt-in for ``cwtest run``, on by default in the pytest
plugin's items), cwtest applies cwlint's **safe** fixes (``cwlint.Linter.fix``, the same
fixes ``cwlint check --fix`` would apply) to a **scratch copy** of the workflow (a private
temporary directory; the user's file is never written), boots that copy exactly like the
original (same environment rules, simulator, outside world, settings, examples and cassette, all
still found beside the original file) and merges what it found:

* a finding seen in both runs is reported once, as the original run saw it;
* a finding seen only in the fixed copy is added with ``variant = "fixed"``: every report says
  it was seen "after cwlint's safe fixes";
* a finding of the original that the fixes removed stays, reported once, with the cwlint code
  that fixes it (``Finding.lint``).

Paths and lines of the copy are mapped back to the original file (fixes can add lines: an import),
so every location names the user's file. Verdicts are computed as ever from the findings
(``cwtest.results``): the fixed copy's findings are findings of this workflow.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwtest.results import Finding, Frame, WorkflowResult

if TYPE_CHECKING:
    from cwtest.harness.runner import Harness


@dataclass
class FixedCopy:
    """The workflow's text with cwlint's safe fixes, the codes applied, and the line map back."""

    original: Path
    text: str
    #: ``(code, fix message)`` per fix applied, in order.
    applied: list[tuple[str, str]]
    #: ``(line, code)`` of each diagnostic with a safe fix in the original (1-based lines).
    fixable: list[tuple[int, str]]
    #: 1-based line of the copy -> 1-based line of the original.
    lines: dict[int, int] = field(default_factory=dict)
    #: Where the copy was written, once it was (the pytest plugin's pool keeps it for the run).
    scratch: Path | None = None

    @property
    def codes(self) -> list[str]:
        return sorted({code for code, _ in self.applied})

    def original_line(self, line: int) -> int:
        return self.lines.get(line, line)

    def code_for(self, line: int | None) -> str:
        """The cwlint code whose fix removes a finding at ``line`` of the original: the nearest
        fixable diagnostic within a few lines (a call spans several), else every code applied."""
        if line is not None:
            near = sorted((abs(at - line), code) for at, code in self.fixable if abs(at - line) <= 10)
            if near:
                return near[0][1]
        return ", ".join(self.codes)


def fixed_copy(path: Path) -> FixedCopy | None:
    """cwlint's safe fixes of ``path`` in memory (``[tool.cwlint]`` settings of its project), or None
    when there is none to apply or fixing failed (cwlint then leaves the text unchanged)."""
    from cwlint.config import ConfigError, Settings, discover
    from cwlint.diagnostics import Applicability
    from cwlint.linter import Linter
    from cwlint.source import FileProblem, read_bytes

    try:
        settings = discover(path.resolve().parent)
    except ConfigError:
        settings = Settings()
    try:
        data = read_bytes(str(path), settings.max_file_size)
    except FileProblem:
        return None
    linter = Linter(settings)
    fixed = linter.fix(data, str(path))
    if fixed.fixed_text is None:  # nothing to apply, or fixing failed (the text is then unchanged)
        return None
    checked = linter.check(data, str(path))
    if checked.source is None:
        return None
    fixable = [(d.start.line, d.code) for d in checked.diagnostics
               if d.fix is not None and d.fix.applicability is Applicability.SAFE]
    return FixedCopy(path, fixed.fixed_text, fixed.applied, fixable, _line_map(checked.source.text, fixed.fixed_text))


def _line_map(before: str, after: str) -> dict[int, int]:
    old, new = before.splitlines(), after.splitlines()
    mapping: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        for j in range(j1, j2):
            if tag == "equal":
                mapping[j + 1] = i1 + (j - j1) + 1
            else:  # a replaced line maps to its counterpart; an inserted one to the line it precedes
                mapping[j + 1] = min(i1 + (j - j1), max(i2 - 1, i1)) + 1
    return mapping


def second_boot(harness: Harness, path: Path, result: WorkflowResult) -> None:
    """Boot the copy of ``path`` with cwlint's safe fixes and merge its findings into ``result``
    (see the module docstring); nothing happens when cwlint has no safe fix for the file."""
    copy = fixed_copy(path)
    if copy is None:
        return
    scratch = Path(tempfile.mkdtemp(prefix="cwtest-lint-fix-"))
    try:
        scratch.chmod(0o755)  # as root, the workflow's unprivileged identity reads it (outside bwrap)
        file = scratch / path.name
        file.write_text(copy.text, encoding="utf-8")
        file.chmod(0o644)
        fixed = harness.run_one(path, source=file, lint_fix=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    merge(result, remap(fixed, str(file), str(path.resolve()), copy), copy)


def merge(result: WorkflowResult, fixed: WorkflowResult, copy: FixedCopy) -> None:
    """``fixed``'s findings into ``result``: see the module docstring."""
    seen = {_key(f) for f in fixed.findings}
    known = {_key(f) for f in result.findings}
    removed = 0
    for finding in result.findings:
        if _key(finding) not in seen and fixed.booted:
            finding.lint = finding.lint or copy.code_for(_line(finding.location))
            removed += 1
    added = 0
    for finding in fixed.findings:
        if _key(finding) in known:
            continue
        finding.variant = "fixed"
        result.findings.append(finding)
        added += 1
    result.lint_fix = {"applied": copy.codes, "fixes": len(copy.applied), "booted": fixed.booted,
                       "only_after_fixes": added, "removed_by_fixes": removed,
                       "harness_error": fixed.harness_error}


def _key(finding: Finding) -> tuple[Any, ...]:
    return finding.kind, finding.route, finding.location, finding.message.split(":", 1)[0]


def _line(location: str | None) -> int | None:
    match = re.search(r":(\d+)$", location or "")
    return int(match.group(1)) if match else None


def remap(result: WorkflowResult, scratch: str, original: str, copy: FixedCopy) -> WorkflowResult:
    """``result`` with every mention of the scratch copy (``file:line``, a traceback's ``File "...",
    line N``, a frame) naming the original file and its line."""
    pattern = re.compile(re.escape(scratch) + r'(?:(?P<colon>:)(?P<line>\d+)|(?P<tb>", line )(?P<tbline>\d+))?')

    def text(value: str) -> str:
        if scratch not in value:
            return value

        def one(match: re.Match[str]) -> str:
            if match.group("line"):
                return f"{original}:{copy.original_line(int(match.group('line')))}"
            if match.group("tbline"):
                return f'{original}", line {copy.original_line(int(match.group("tbline")))}'
            return original
        return pattern.sub(one, value)

    return _walk(result, text, scratch, original, copy)


def _walk(obj: Any, text: Callable[[str], str], scratch: str, original: str, copy: FixedCopy) -> Any:
    if isinstance(obj, Frame):
        if obj.file == scratch:
            return dataclasses.replace(obj, file=original, line=copy.original_line(obj.line),
                                       source=text(obj.source))
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: _walk(getattr(obj, f.name), text, scratch, original, copy)
                   for f in dataclasses.fields(obj) if f.init and f.name not in ("layer", "secrets")}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, dict):
        return {k: _walk(v, text, scratch, original, copy) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_walk(v, text, scratch, original, copy) for v in obj)
    if isinstance(obj, list):
        return [_walk(v, text, scratch, original, copy) for v in obj]
    return obj


__all__ = ["FixedCopy", "fixed_copy", "merge", "remap", "second_boot"]
