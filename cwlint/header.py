"""The PEP 723 ``# /// script`` header: what a workflow declares, and edits that extend it.

The platform installs the header's ``dependencies`` and injects only the env vars listed in
``[tool.env-checker] env_vars``; rules read both from here, and fixes that declare an env var
use :func:`add_env_var` so the header keeps its layout. ``cwtest`` reads the same header to
build a workflow's environment.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from cwlint.diagnostics import Edit
from cwlint.source import line_starts

_OPEN = re.compile(r"^# /// (?P<type>[a-zA-Z0-9-]+)[ \t]*$")
_CLOSE = re.compile(r"^# ///[ \t]*$")
_CONTENT = re.compile(r"^#(?: (?P<text>.*)|)$")
_PIN = re.compile(r"^\s*codewords[-_.]client\s*(?:\[[^\]]*\])?\s*==\s*(?P<v>[0-9][0-9A-Za-z.]*)")
_NAME = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class EnvVar:
    name: str
    default: str | None  #: the text after ``=``, or None for a bare name


@dataclass
class Header:
    """A parsed ``# /// script`` block. Lines are 1-based and inclusive of the markers."""

    start_line: int
    end_line: int | None  #: None when the block is never closed
    content: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  #: a TOML error, already mapped to a file line
    error_line: int | None = None
    duplicate_line: int | None = None  #: the line of a second ``# /// script`` block

    @property
    def dependencies(self) -> list[str]:
        deps = self.data.get("dependencies")
        return [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []

    @property
    def env_vars(self) -> list[EnvVar]:
        table = self.data.get("tool", {}).get("env-checker", {})
        raw = table.get("env_vars") if isinstance(table, dict) else None
        if raw is None:
            raw = self.data.get("env_vars")  # seen in real files: a list without the table
        if not isinstance(raw, list):
            return []
        out = []
        for item in raw:
            if isinstance(item, str) and item.strip():
                name, sep, default = item.strip().partition("=")
                out.append(EnvVar(name.strip(), default if sep else None))
        return out

    def declares_env(self, name: str) -> bool:
        return any(var.name == name for var in self.env_vars)

    @property
    def client_version(self) -> tuple[int, ...] | None:
        """The exact ``codewords-client==X.Y.Z`` pin, if any."""
        for dep in self.dependencies:
            match = _PIN.match(dep)
            if match:
                return parse_version(match.group("v"))
        return None

    def distribution_names(self) -> set[str]:
        names = set()
        for dep in self.dependencies:
            match = _NAME.match(dep)
            if match:
                names.add(normalize_distribution(match.group("name")))
        return names


def parse_version(text: str) -> tuple[int, ...] | None:
    parts = []
    for part in text.split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts) or None


def normalize_distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_header(text: str) -> Header | None:
    """Find and parse the first ``# /// script`` block; None when the file has none."""
    if "# /// script" not in text:
        return None
    lines = text.splitlines()
    header: Header | None = None
    body: list[str] = []
    for index, line in enumerate(lines):
        number = index + 1
        if header is None:
            match = _OPEN.match(line)
            if match and match.group("type") == "script":
                header = Header(start_line=number, end_line=None)
            continue
        if header.end_line is None:
            if _CLOSE.match(line):
                header.end_line = number
                continue
            content = _CONTENT.match(line)
            if content is None:
                break  # a non-comment line: the block was never closed
            body.append(content.group("text") or "")
        elif (opened := _OPEN.match(line)) and opened.group("type") == "script":
            header.duplicate_line = number
            break
    if header is None:
        return None
    header.content = "\n".join(body)
    if header.end_line is None:
        header.error = "the '# /// script' block is never closed with '# ///'"
        header.error_line = header.start_line
        return header
    try:
        header.data = tomllib.loads(header.content)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        header.error = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        header.error_line = header.start_line + (int(match.group(1)) if match else 1)
    return header


def add_env_var(text: str, header: Header, name: str) -> list[Edit]:
    """Edits that declare ``name`` in ``env_vars``, in the header's own layout.

    Empty when the header cannot be edited safely (unterminated, invalid TOML, or an array
    whose end cannot be found).
    """
    if header.end_line is None or header.error:
        return []
    starts = line_starts(text)
    lines = text.splitlines()
    newline = "\r\n" if "\r\n" in text else "\n"
    first, last = header.start_line, header.end_line
    quoted = f'"{name}"'

    def at(number: int, column: int) -> int:
        return starts[number - 1] + column

    env_line = next(
        (n for n in range(first + 1, last) if re.match(r"^#\s*env_vars\s*=\s*\[", lines[n - 1])),
        None,
    )
    if env_line is not None:
        for number in range(env_line, last):
            line = lines[number - 1]
            close = _closing_bracket(line, start=line.index("[") + 1 if number == env_line else 1)
            if close is None:
                continue
            before = line[:close].rstrip()
            if before.endswith("[") or before.endswith(",") or number == env_line or '"' in before:
                # The bracket shares a line with "[" or with the last element: insert inline.
                if before.endswith("["):
                    return [Edit(at(number, len(before)), at(number, close), quoted)]
                sep = " " if before.endswith(",") else ", "
                return [Edit(at(number, len(before)), at(number, close), f"{sep}{quoted}")]
            # The bracket stands alone: add an element line after the last element line.
            prev = next((n for n in range(number - 1, env_line, -1) if '"' in lines[n - 1]), None)
            if prev is None:
                return [Edit(at(number, 0), at(number, 0), f"#     {quoted},{newline}")]
            prev_text = lines[prev - 1]
            spaces = re.match(r"^#(\s*)", prev_text)  # every line of the block starts with '#'
            indent = spaces.group(1) if spaces else ""
            element_end = _element_end(prev_text)
            edits = []
            if element_end is not None and not prev_text[element_end:].lstrip().startswith(","):
                edits.append(Edit(at(prev, element_end), at(prev, element_end), ","))
            edits.append(Edit(at(number, 0), at(number, 0), f"#{indent}{quoted},{newline}"))
            return edits
        return []
    table_line = next(
        (n for n in range(first + 1, last) if re.match(r"^#\s*\[tool\.env-checker\]\s*$", lines[n - 1])),
        None,
    )
    if table_line is not None:
        offset = starts[table_line]  # the start of the line after the table header
        return [Edit(offset, offset, f"# env_vars = [{quoted}]{newline}")]
    offset = at(last, 0)
    return [Edit(offset, offset, f"#{newline}# [tool.env-checker]{newline}# env_vars = [{quoted}]{newline}")]


def _closing_bracket(line: str, start: int) -> int | None:
    """Column of the ``]`` on this header line, outside strings and comments."""
    quote = None
    for index in range(start, len(line)):
        char = line[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return None
        elif char == "]":
            return index
    return None


def _element_end(line: str) -> int | None:
    """Column just after the last quoted string on a header line."""
    end = None
    quote = None
    for index in range(1, len(line)):
        char = line[index]
        if quote:
            if char == quote:
                quote, end = None, index + 1
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
    return end
