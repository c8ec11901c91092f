"""Where things stand in the ``# /// script`` block: lines of tables and keys, and the
position of every string in the ``dependencies`` and ``env_vars`` arrays (CW401, CW405, CW406).

:class:`cwlint.header.Header` holds the parsed values; the header rules also need to point at
them. A small scanner reads the block's lines the way TOML does for the layouts real files use
(one key per line, arrays on one or many lines, comments anywhere, basic and literal strings);
its results are checked against the parsed values, so a layout it misreads yields no position
rather than a wrong one.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from cwlint.diagnostics import Diagnostic, Edit, Fix, Position
from cwlint.header import Header, add_env_var, parse_header
from cwlint.rule import Rule

_TABLE = re.compile(r"^\s*\[\s*(?P<name>[A-Za-z0-9_.\-\" ]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*(?P<key>[A-Za-z0-9_\-]+|\"[^\"]*\")\s*=\s*")
_CONTENT = re.compile(r"^#(?: |$)")
_NEWLINE = re.compile(r"\r\n|\r|\n")
#: The last layout scanned, by header identity: the header rules of one file share it.
_LAST: list[tuple[Header, HeaderLayout]] = []


@dataclass(frozen=True)
class StringItem:
    value: str
    line: int  #: 1-based file line
    column: int  #: 1-based column of the opening quote
    end_column: int  #: 1-based column just after the closing quote
    raw: str  #: the literal as written, quotes included


@dataclass
class KeyLine:
    table: str  #: "" for the root table
    key: str
    line: int
    column: int  #: 1-based column of the key
    end_line: int  #: the last line of the value (arrays may span lines)


@dataclass
class HeaderLayout:
    header: Header
    tables: dict[str, int] = field(default_factory=dict)  #: dotted table name -> line
    keys: list[KeyLine] = field(default_factory=list)
    arrays: dict[tuple[str, str], list[StringItem]] = field(default_factory=dict)

    def key(self, table: str, key: str) -> KeyLine | None:
        return next((k for k in self.keys if k.table == table and k.key == key), None)

    def strings(self, table: str, key: str) -> list[StringItem]:
        return self.arrays.get((table, key), [])

    def dependency_items(self) -> list[StringItem]:
        """The ``dependencies`` strings, when the scan agrees with the parsed header."""
        items = self.strings("", "dependencies")
        return items if [i.value for i in items] == self.header.dependencies else []

    def env_var_items(self) -> list[StringItem]:
        """The ``env_vars`` strings (in the table, else at the root), checked likewise."""
        data = self.header.data
        table = data.get("tool", {}).get("env-checker") if isinstance(data.get("tool"), dict) else None
        if isinstance(table, dict) and "env_vars" in table:
            items, parsed = self.strings("tool.env-checker", "env_vars"), table["env_vars"]
        else:
            items, parsed = self.strings("", "env_vars"), data.get("env_vars")
        return items if isinstance(parsed, list) and [i.value for i in items] == parsed else []


def _leading_lines(text: str, count: int) -> list[str]:
    """The first ``count`` lines of ``text`` (split as :func:`str.splitlines` does for source),
    without splitting the rest of the file."""
    lines: list[str] = []
    start = 0
    for match in _NEWLINE.finditer(text):
        lines.append(text[start : match.start()])
        start = match.end()
        if len(lines) == count:
            return lines
    if start < len(text):
        lines.append(text[start:])
    return lines


def content_lines(text: str, header: Header) -> list[tuple[int, str, int]]:
    """(file line, content, column offset of the content) for each line inside the block."""
    if header.end_line is not None:
        lines = _leading_lines(text, header.end_line)
        last = header.end_line
    else:
        lines = text.splitlines()
        last = len(lines) + 1
    out = []
    for number in range(header.start_line + 1, last):
        line = lines[number - 1]
        if not _CONTENT.match(line):
            break
        offset = 2 if line.startswith("# ") else 1
        out.append((number, line[offset:], offset))
    return out


def scan(text: str, header: Header) -> HeaderLayout:
    """The layout of ``header`` (cached for the last header asked about)."""
    if _LAST and _LAST[0][0] is header:
        return _LAST[0][1]
    layout = _scan(text, header)
    _LAST[:] = [(header, layout)]
    return layout


def _scan(text: str, header: Header) -> HeaderLayout:
    layout = HeaderLayout(header)
    table = ""
    array: tuple[str, str] | None = None  # the key whose multi-line array is open
    depth = 0
    current: KeyLine | None = None
    for number, content, offset in content_lines(text, header):
        index = 0
        if array is None:
            table_match = _TABLE.match(content)
            if table_match and not content.lstrip().startswith("[["):
                table = table_match.group("name").replace(" ", "").replace('"', "")
                layout.tables.setdefault(table, number)
                current = None
                continue
            key_match = _KEY.match(content)
            if key_match is None:
                continue
            key = key_match.group("key").strip('"')
            current = KeyLine(table, key, number, offset + key_match.start("key") + 1, number)
            layout.keys.append(current)
            index = key_match.end()
            if content[index:index + 1] != "[":
                continue
            array = (table, key)
            layout.arrays[array] = []
            depth = 0
        elif current is not None:
            current.end_line = number
        while index < len(content):
            char = content[index]
            if char == "#":
                break
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    array = None
                    break
            elif char in "\"'" and array is not None:
                end = _string_end(content, index)
                if end is None:
                    break
                raw = content[index:end]
                value = _evaluate(raw)
                if value is not None and depth == 1:
                    layout.arrays[array].append(
                        StringItem(value, number, offset + index + 1, offset + end + 1, raw)
                    )
                index = end
                continue
            index += 1
    return layout


def _string_end(content: str, start: int) -> int | None:
    quote = content[start]
    if content.startswith(quote * 3, start):
        return None  # multi-line strings: not a layout headers use
    index = start + 1
    while index < len(content):
        char = content[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index + 1
        index += 1
    return None


def _evaluate(raw: str) -> str | None:
    if "\\" not in raw:
        return raw[1:-1]
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) else None


def report_at(
    rule: Rule,
    line: int,
    column: int,
    end_column: int | None,
    message: str,
    *,
    fix: Fix | None = None,
    end_line: int | None = None,
) -> None:
    """A finding at a position of the text (the header has no CST node to point at)."""
    rule.diagnostics.append(
        Diagnostic(
            code=rule.code,
            name=rule.name,
            message=message,
            start=Position(line, column),
            end=Position(end_line or line, end_column if end_column is not None else column),
            severity=rule.severity,
            fix=fix,
        )
    )


def declare_env_vars(text: str, header: Header, names: list[str]) -> list[Edit]:
    """One edit declaring every name of ``names`` in ``env_vars``, in the header's layout.

    :func:`cwlint.header.add_env_var` declares one name; applying it name by name to a
    scratch copy gives the final header. The edit returned spans exactly what
    ``add_env_var`` would touch for the first name alone, so the engine sees it conflict with
    any other rule's declaration in the same round (two ``[tool.env-checker]`` tables must
    never be inserted side by side). Empty when the header cannot be edited that way.
    """
    if not names:
        return []
    first = add_env_var(text, header, names[0])
    if not first:
        return []
    current, scratch = header, text
    for name in names:
        edits = add_env_var(scratch, current, name) if scratch is not text else first
        if not edits:
            return []
        for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
            scratch = scratch[: edit.start] + edit.content + scratch[edit.end :]
        parsed = parse_header(scratch)
        if parsed is None or parsed.error or parsed.end_line is None:
            return []
        current = parsed
    start = min(e.start for e in first)
    end = max(e.end for e in first)
    delta = len(scratch) - len(text)
    if scratch[:start] != text[:start] or scratch[end + delta :] != text[end:]:
        return []  # a later name changed text outside the first one's span
    return [Edit(start, end, scratch[start : end + delta])]


def dependencies_misplaced(header: Header) -> bool:
    """``dependencies`` written under ``[tool.env-checker]`` (CW401 reports it; the rules that
    read the dependencies stay silent rather than report every import twice)."""
    tool = header.data.get("tool")
    checker = tool.get("env-checker") if isinstance(tool, dict) else None
    return isinstance(checker, dict) and "dependencies" in checker and "dependencies" not in header.data
