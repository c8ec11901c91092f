"""Suppression comments: ``# noqa: CW101`` on a line, ``# cwlint: noqa[: CODES]`` for a file.

Comments are found with the tokenizer, so a ``# noqa`` inside a string never counts. A bare
``# noqa`` (no codes) belongs to other tools and silences cwlint only when the configuration
says ``bare-noqa = true``; codes of other tools (E501, F401) are carried along untouched.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from cwlint.diagnostics import Diagnostic, Edit
from cwlint.source import line_starts

_NOQA = re.compile(
    r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:(?:\s*,\s*|\s+)[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
_FILE = re.compile(
    r"^#\s*cwlint:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:(?:\s*,\s*|\s+)[A-Z]+[0-9]+)*))?\s*$",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"[,\s]+")


@dataclass
class Directive:
    """One ``# noqa`` comment."""

    line: int
    codes: tuple[str, ...] | None  #: None for a bare noqa comment (no codes)
    start: int  #: offsets of the directive (from its '#') in the text
    end: int
    comment_start: int  #: offsets of the whole comment token
    comment_end: int
    used: set[str] = field(default_factory=set)


@dataclass
class Suppressions:
    lines: dict[int, Directive] = field(default_factory=dict)
    file_all: bool = False
    file_codes: frozenset[str] = frozenset()

    def hides(self, diagnostic: Diagnostic, bare_noqa: bool) -> bool:
        """Whether ``diagnostic`` is suppressed: by a comment on its line (or the line it names),
        or, for a finding over several lines, on its last line."""
        d = diagnostic
        return self.suppresses(d.code, d.noqa_line or d.start.line, bare_noqa) or (
            d.end.line != d.start.line and self.suppresses(d.code, d.end.line, bare_noqa))

    def suppresses(self, code: str, line: int, bare_noqa: bool) -> bool:
        if self.file_all or code in self.file_codes:
            return True
        directive = self.lines.get(line)
        if directive is None:
            return False
        if directive.codes is None:
            return bare_noqa
        if code in directive.codes:
            directive.used.add(code)
            return True
        return False


def _comments(text: str) -> list[tuple[int, int, str, bool]]:
    """(line, column, comment, alone on its line) for every comment token."""
    out = []
    try:
        last_line_with_code = 0
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                alone = last_line_with_code != tok.start[0]
                out.append((tok.start[0], tok.start[1], tok.string, alone))
            elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                last_line_with_code = tok.end[0]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        # A file the tokenizer rejects is a CW901 anyway; keep what was found so far.
        pass
    return out


def parse(text: str) -> Suppressions:
    found = Suppressions()
    if "noqa" not in text and "NOQA" not in text:
        return found
    starts = line_starts(text)
    file_codes: set[str] = set()
    for line, column, comment, alone in _comments(text):
        if alone:
            match = _FILE.match(comment)
            if match:
                if match.group("codes"):
                    file_codes.update(c.upper() for c in _SPLIT.split(match.group("codes")))
                else:
                    found.file_all = True
                continue
        match = _NOQA.search(comment)
        if match is None:
            continue
        offset = starts[line - 1] + column
        codes = match.group("codes")
        found.lines[line] = Directive(
            line=line,
            codes=tuple(c.upper() for c in _SPLIT.split(codes)) if codes else None,
            start=offset + match.start(),
            end=offset + match.end(),
            comment_start=offset,
            comment_end=offset + len(comment),
        )
    found.file_codes = frozenset(file_codes)
    return found


def removal_edit(text: str, directive: Directive, unused: set[str]) -> Edit:
    """An edit that drops ``unused`` codes, and the whole directive when none remain."""
    assert directive.codes is not None
    kept = [code for code in directive.codes if code not in unused]
    if kept:
        original = text[directive.start : directive.end]
        prefix = original[: original.lower().index("noqa") + 4]
        return Edit(directive.start, directive.end, f"{prefix}: {', '.join(kept)}")
    after = text[directive.end : directive.comment_end]
    if directive.start == directive.comment_start:
        if after.strip():
            # "# noqa: CW101 because ...": keep the explanation as a comment.
            return Edit(directive.start, directive.end + len(after) - len(after.lstrip()), "# ")
        start = directive.comment_start - _spaces_before(text, directive.comment_start)
        return Edit(start, directive.comment_end, "")
    # A directive after another comment ("type: ignore", then the noqa): drop it and the spaces before it.
    return Edit(directive.start - _spaces_before(text, directive.start), directive.end, "")


def _spaces_before(text: str, offset: int) -> int:
    count = 0
    while offset - count > 0 and text[offset - count - 1] in " \t":
        count += 1
    return count
