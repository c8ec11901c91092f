"""CW207 (undefined-name) against pyflakes' undefined-name check, on 100 stdlib modules.

The reference is pyflakes 4.1.0 (``pip install pyflakes==4.1.0`` into the dev venv): its
``UndefinedName`` (F821) and ``UndefinedExport`` (F822) messages are compared with CW207's
findings per (module, name, kind), kind "name" for a read and "export" for a string in
``__all__``.

The sample is the running interpreter's top-level standard-library modules (``<stdlib>/*.py``),
sorted, 100 of them taken at even steps. They are compared as they are (where both tools
should find next to nothing); and every second one is compared again mutated the way
workflows break, with the first top-level import removed and the first top-level function
renamed, so that both tools have real undefined names to agree on (half, because a file with
findings costs CW207 its positions, about twice the parse). Every disagreement must be in ``ALLOWED`` with its reason, and
an allowed disagreement that no longer happens fails the test too, so the list stays honest.
Where both report a read, they must report the same reads (both report every read, so the
lines, with their repeats, must be equal).
"""

from __future__ import annotations

import ast
import functools
import glob
import re
import sysconfig
from collections import defaultdict
from pathlib import Path

import pyflakes
from pyflakes import checker, messages

from cwlint.config import Settings
from cwlint.engine import selection_for, lint_source
from cwlint.source import SourceFile

PYFLAKES_VERSION = "4.1.0"

Key = tuple[str, str, str]  # (module file name, name, "name" | "export")

_GLOBALS_WRITE = "the module writes its globals dynamically ({how}); CW207 then reports no global it cannot see bound, pyflakes reports them all"
_INSPECT = _GLOBALS_WRITE.format(how="`mod_dict = globals()`, then `mod_dict['CO_' + name] = flag` in a loop")
_PLISTLIB = _GLOBALS_WRITE.format(how="`globals().update(PlistFormat.__members__)`")
_SSL = _GLOBALS_WRITE.format(how="`_IntEnum._convert_(name, __name__, ...)` puts the enum and its members in the module")
_SRE = _GLOBALS_WRITE.format(how="`globals().update(...)` with the names of `re._constants`")
_STAR_DEL = "`del` of a name after `from _datetime import *`, which may bind it: pyflakes reports the `del`, CW207 trusts the star import"

#: (module, name, kind) -> (the only tool that reports it, why), for the module as it is.
ALLOWED_ORIGINAL: dict[Key, tuple[str, str]] = {
    **{
        ("inspect.py", name, kind): ("pyflakes", _INSPECT)
        for name, kinds in {
            "CO_ASYNC_GENERATOR": ("name", "export"),
            "CO_COROUTINE": ("name", "export"),
            "CO_GENERATOR": ("name", "export"),
            "CO_ITERABLE_COROUTINE": ("name", "export"),
            "CO_NESTED": ("export",),
            "CO_NEWLOCALS": ("export",),
            "CO_NOFREE": ("export",),
            "CO_OPTIMIZED": ("export",),
            "CO_VARARGS": ("name", "export"),
            "CO_VARKEYWORDS": ("name", "export"),
        }.items()
        for kind in kinds
    },
    ("plistlib.py", "FMT_BINARY", "name"): ("pyflakes", _PLISTLIB),
    ("plistlib.py", "FMT_BINARY", "export"): ("pyflakes", _PLISTLIB),
    ("plistlib.py", "FMT_XML", "name"): ("pyflakes", _PLISTLIB),
    ("plistlib.py", "FMT_XML", "export"): ("pyflakes", _PLISTLIB),
    ("ssl.py", "CERT_NONE", "name"): ("pyflakes", _SSL),
    ("ssl.py", "CERT_REQUIRED", "name"): ("pyflakes", _SSL),
    ("ssl.py", "Options", "name"): ("pyflakes", _SSL),
    ("ssl.py", "PROTOCOL_TLS", "name"): ("pyflakes", _SSL),
    ("ssl.py", "PROTOCOL_TLS_CLIENT", "name"): ("pyflakes", _SSL),
    ("ssl.py", "PROTOCOL_TLS_SERVER", "name"): ("pyflakes", _SSL),
    ("ssl.py", "SSL_ERROR_EOF", "name"): ("pyflakes", _SSL),
    ("ssl.py", "VerifyFlags", "name"): ("pyflakes", _SSL),
    ("ssl.py", "VerifyMode", "name"): ("pyflakes", _SSL),
    ("ssl.py", "_SSLMethod", "name"): ("pyflakes", _SSL),
}

_RENAMED_IN_DYNAMIC = "the renamed function is a global of a module that writes its globals dynamically ({how}); CW207 cannot rule out that the write binds it, pyflakes reports it"

#: The same for the mutants (an import removed, a function renamed) of every second module.
ALLOWED_MUTANT: dict[Key, tuple[str, str]] = {
    **{key: value for key, value in ALLOWED_ORIGINAL.items() if key[0] == "ssl.py"},
    ("datetime.py", "_cmp", "name"): ("pyflakes", _STAR_DEL),
    ("datetime.py", "_time", "name"): ("pyflakes", _STAR_DEL),
    ("ssl.py", "_dnsname_match", "name"): ("pyflakes", _RENAMED_IN_DYNAMIC.format(how="`_IntEnum._convert_(..., __name__, ...)`")),
}

# -- the sample --------------------------------------------------------------------------


@functools.cache
def sample() -> tuple[Path, ...]:
    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/*.py"))
    assert len(files) >= 100, "the standard library has fewer than 100 top-level modules?"
    return tuple(Path(files[index * len(files) // 100]) for index in range(100))


def mutate(text: str) -> str:
    """Blank out the first top-level import (not ``__future__``) that has its lines to itself,
    and rename the first top-level function to ``<name>_v2`` where it is defined."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    starts = [statement.lineno for statement in tree.body]
    for statement in tree.body:
        if not isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue
        assert statement.end_lineno is not None
        if sum(statement.lineno <= start <= statement.end_lineno for start in starts) != 1:
            continue  # shares a line with another statement (`import a; b = 1`)
        for index in range(statement.lineno - 1, statement.end_lineno):
            lines[index] = "\n"
        break
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            index = statement.lineno - 1
            lines[index] = re.sub(rf"\bdef\s+{statement.name}\b", f"def {statement.name}_v2", lines[index], count=1)
            break
    return "".join(lines)


# -- the two tools --------------------------------------------------------------------------

_SETTINGS = Settings(select=["CW207"])
_SELECTION = selection_for(_SETTINGS)
_FIRST_NAME = re.compile(r"`([^`]+)`")


def pyflakes_findings(path: Path, text: str) -> dict[Key, list[int]]:
    found: dict[Key, list[int]] = defaultdict(list)
    for message in checker.Checker(ast.parse(text), filename=str(path)).messages:
        if isinstance(message, messages.UndefinedName):
            found[(path.name, message.message_args[0], "name")].append(message.lineno)
        elif isinstance(message, messages.UndefinedExport):
            found[(path.name, message.message_args[0], "export")].append(message.lineno)
    return dict(found)


def cw207_findings(path: Path, text: str) -> dict[Key, list[int]]:
    found: dict[Key, list[int]] = defaultdict(list)
    for diagnostic in lint_source(SourceFile(str(path), text), _SETTINGS, _SELECTION):
        assert diagnostic.code == "CW207", diagnostic
        match = _FIRST_NAME.search(diagnostic.message)
        assert match, diagnostic.message  # every CW207 message names the name first
        kind = "export" if "`__all__`" in diagnostic.message else "name"
        found[(path.name, match.group(1), kind)].append(diagnostic.start.line)
    return dict(found)


def compare(variant: str, allowed: dict[Key, tuple[str, str]]) -> tuple[list[str], int]:
    """Problems (unexplained or stale disagreements, misplaced findings) and agreements."""
    problems: list[str] = []
    agreements = 0
    seen: set[Key] = set()
    for path in sample() if variant == "original" else sample()[::2]:
        text = path.read_text(encoding="utf-8")
        if variant == "mutant":
            text = mutate(text)
        theirs = pyflakes_findings(path, text)
        ours = cw207_findings(path, text)
        for key in sorted(set(theirs) | set(ours)):
            if key in theirs and key in ours:
                agreements += 1
                if key[2] == "name" and sorted(ours[key]) != sorted(theirs[key]):
                    problems.append(f"{variant} {key}: CW207 reports line(s) {sorted(ours[key])}, pyflakes {sorted(theirs[key])}")
                continue
            alone = "pyflakes" if key in theirs else "cw207"
            lines = theirs.get(key) or ours.get(key)
            if key not in allowed:
                problems.append(f"{variant} {key}: only {alone} reports it (lines {sorted(lines or [])}), and ALLOWED does not explain why")
            elif allowed[key][0] != alone:
                problems.append(f"{variant} {key}: only {alone} reports it, ALLOWED says only {allowed[key][0]}")
            seen.add(key)
    for key in sorted(set(allowed) - seen):
        problems.append(f"{variant} {key}: allowed, but the tools agree now: remove it from ALLOWED")
    return problems, agreements


# -- the tests --------------------------------------------------------------------------------


def test_reference_is_the_pinned_pyflakes() -> None:
    assert pyflakes.__version__ == PYFLAKES_VERSION, (
        f"ALLOWED was written against pyflakes {PYFLAKES_VERSION}; found {pyflakes.__version__}"
    )


def test_every_allowance_has_a_reason() -> None:
    for key, (alone, reason) in {**ALLOWED_ORIGINAL, **ALLOWED_MUTANT}.items():
        assert alone in ("pyflakes", "cw207"), key
        assert reason.strip() and "\n" not in reason, key


def test_sample_is_fixed_and_sorted() -> None:
    names = [path.name for path in sample()]
    assert len(set(names)) == 100
    assert names == sorted(names)


def test_stdlib_sample_agrees_with_pyflakes() -> None:
    problems, _ = compare("original", ALLOWED_ORIGINAL)
    assert not problems, "\n".join(problems)


def test_mutated_stdlib_sample_agrees_with_pyflakes() -> None:
    problems, agreements = compare("mutant", ALLOWED_MUTANT)
    assert not problems, "\n".join(problems)
    # The mutants exist to make the tools agree on real findings, not on silence.
    assert agreements >= 60, agreements


def test_mutation_breaks_names() -> None:
    text = "import os\nfrom json import loads\n\ndef load(p):\n    return loads(os.fspath(p))\n\nx = load('a')\n"
    mutated = mutate(text)
    assert mutated.splitlines()[0] == ""
    assert "def load_v2(p):" in mutated
    found = cw207_findings(Path("m.py"), mutated)
    assert set(found) == {("m.py", "os", "name"), ("m.py", "load", "name")}
