"""``--add-noqa``: a ``# noqa: CODE`` comment for every current finding, to adopt cwlint on old code.

The comment goes where the engine reads it: the finding's noqa line (its start line unless
the rule named another), else its end line for a finding spanning several lines. A line
can take a comment only if the tokenizer ends it with a newline token: never a line inside
a multi-line string or ending in a backslash continuation, where ``#`` would be text or a
syntax error. An existing ``# noqa: X`` on the line is extended (``# noqa: X, CW101``); any
other comment keeps its text and gets the directive after it. A bare ``# noqa`` belongs to
other tools unless ``bare-noqa = true`` and is left alone: such a finding is reported as
not silenced, as are CW9xx findings (syntax errors and unreadable files, which no comment
can silence).
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field

from cwlint import noqa
from cwlint.diagnostics import Diagnostic, Edit
from cwlint.source import line_starts


@dataclass
class NoqaOutcome:
    text: str
    #: Lines that got a new directive or an extended one.
    lines: int = 0
    #: Findings no comment could silence, with the reason.
    skipped: list[tuple[Diagnostic, str]] = field(default_factory=list)
    #: The edits that turn the original text into ``text`` (offsets into the original).
    edits: list[Edit] = field(default_factory=list)


def _scan(text: str, starts: list[int]) -> tuple[set[int], dict[int, int]] | None:
    """Lines a trailing comment may be added to, and where each existing comment ends.

    None when the text does not tokenize.
    """
    lines: set[int] = set()
    comment_ends: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL):
                lines.add(tok.start[0])
            elif tok.type == tokenize.COMMENT:
                lines.add(tok.start[0])
                comment_ends[tok.start[0]] = starts[tok.start[0] - 1] + tok.start[1] + len(tok.string)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return lines, comment_ends


def add_noqa(text: str, diagnostics: list[Diagnostic], bare_noqa: bool = False) -> NoqaOutcome:
    outcome = NoqaOutcome(text=text)
    wanted = list(diagnostics)
    if not wanted:
        return outcome
    starts = line_starts(text)
    scanned = _scan(text, starts)
    if scanned is None:
        outcome.skipped = [(d, "the file does not tokenize") for d in wanted]
        return outcome
    commentable, comment_ends = scanned
    suppressions = noqa.parse(text)
    by_line: dict[int, list[str]] = {}
    for diagnostic in wanted:
        if diagnostic.code.startswith("CW9"):
            outcome.skipped.append((diagnostic, "a file-level problem no comment can silence"))
            continue
        candidates = [diagnostic.noqa_line or diagnostic.start.line]
        if diagnostic.end.line != diagnostic.start.line:
            candidates.append(diagnostic.end.line)
        chosen = None
        reason = "its line is inside a multi-line string or continues with a backslash"
        for line in candidates:
            if line not in commentable or not 0 < line <= len(starts):
                continue
            directive = suppressions.lines.get(line)
            if directive is not None and directive.codes is None:
                reason = "its line has a bare `# noqa` (for other tools; set bare-noqa = true to let it count)"
                continue
            chosen = line
            break
        if chosen is None:
            outcome.skipped.append((diagnostic, reason))
            continue
        codes = by_line.setdefault(chosen, [])
        if diagnostic.code not in codes:
            codes.append(diagnostic.code)

    edits: list[Edit] = []
    for line, codes in sorted(by_line.items()):
        directive = suppressions.lines.get(line)
        if directive is not None and directive.codes is not None:
            new = [code for code in sorted(codes) if code not in directive.codes]
            if not new:
                continue
            original = text[directive.start : directive.end]
            prefix = original[: original.lower().index("noqa") + 4]
            edits.append(Edit(directive.start, directive.end, f"{prefix}: {', '.join([*directive.codes, *new])}"))
            continue
        directive_text = f"# noqa: {', '.join(sorted(codes))}"
        if line in comment_ends:  # after the existing comment, which keeps its text
            at = comment_ends[line]
            edits.append(Edit(at, at, f"  {directive_text}"))
            continue
        line_start = starts[line - 1]
        content = text[line_start : starts[line] if line < len(starts) else len(text)].rstrip("\r\n")
        code_end = line_start + len(content.rstrip(" \t\f"))
        # Trailing blanks are replaced: "x = 1   " becomes "x = 1", two spaces, the directive.
        edits.append(Edit(code_end, line_start + len(content), f"  {directive_text}"))
    if not edits:
        return outcome
    new_text = text
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        new_text = new_text[: edit.start] + edit.content + new_text[edit.end :]
    if _parses(text) and not _parses(new_text):  # pragma: no cover - a tokenizer/parser disagreement
        outcome.skipped = [(d, "adding comments would break the file") for d in wanted]
        return outcome
    outcome.text = new_text
    outcome.lines = len(edits)
    outcome.edits = edits
    return outcome


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
