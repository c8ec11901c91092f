"""The hand-written value classes behave as the dataclasses they replaced (see cwlint/records.py).

Position, Edit, Fix (and secrets' SecretFormat and Match) are immutable, ordered, hashable
named tuples; Diagnostic, FileResult, SourceFile, Settings, RunOptions and Discovery are mutable,
equal by value, unhashable, with per-instance defaults; everything survives a trip to a worker
process (pickle).
"""

from __future__ import annotations

import pickle

import pytest

from cwlint import secrets
from cwlint.config import Settings
from cwlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Position, Severity
from cwlint.discovery import Discovery
from cwlint.results import FileResult
from cwlint.runner import RunOptions
from cwlint.source import SourceFile


def _diagnostic() -> Diagnostic:
    fix = Fix("Rename", (Edit(3, 7, "inputs"),), Applicability.SAFE)
    return Diagnostic("CW101", "run-data-kwarg", "no `data`", Position(2, 5), Position(2, 9), fix=fix, secrets=("sk-x",))


def test_frozen_values_are_ordered_hashable_and_immutable() -> None:
    assert Position(1, 9) < Position(2, 1) < Position(2, 3)
    assert sorted([Edit(5, 6, "b"), Edit(1, 2, "a")]) == [Edit(1, 2, "a"), Edit(5, 6, "b")]
    assert len({Position(1, 2), Position(1, 2), Edit(0, 0, ""), Edit(0, 0, "")}) == 2
    assert list(dict.fromkeys([Edit(0, 1, "x"), Edit(0, 1, "x")])) == [Edit(0, 1, "x")]
    fix = Fix("m", (Edit(4, 6, "a"), Edit(1, 2, "b")), Applicability.UNSAFE)
    assert (fix.message, fix.applicability, fix.span) == ("m", Applicability.UNSAFE, (1, 6))
    with pytest.raises(AttributeError):
        Position(1, 2).line = 3  # type: ignore[misc]  # the point of the test: it is read-only
    assert repr(Edit(1, 2, "x")) == "Edit(start=1, end=2, content='x')"
    assert repr(Position(1, 2)) == "Position(line=1, column=2)"


def test_mutable_records_compare_by_value_and_are_unhashable() -> None:
    assert _diagnostic() == _diagnostic()
    other = _diagnostic()
    other.noqa_line = 3
    assert other != _diagnostic()
    for value in (_diagnostic(), FileResult("a.py"), SourceFile("a.py", "x"), Settings(), RunOptions(), Discovery()):
        with pytest.raises(TypeError):
            hash(value)
    assert "sk-x" not in repr(_diagnostic())  # secrets stay out of reprs
    assert FileResult("a.py") == FileResult("a.py") and FileResult("a.py") != FileResult("b.py")
    assert repr(SourceFile("a.py", "x")) == "SourceFile(path='a.py', text='x', encoding='utf-8', bom=False)"


def test_defaults_are_not_shared_between_instances() -> None:
    one, two = Settings(), Settings()
    one.select.append("CW1")
    one.exclude.append("legacy")
    assert two.select == ["CW"] and "legacy" not in two.exclude
    first, second = FileResult("a.py"), FileResult("b.py")
    first.diagnostics.append(_diagnostic())
    first.applied.append(("CW101", "x"))
    assert second.diagnostics == [] and second.applied == []


@pytest.mark.parametrize(
    "value",
    [
        _diagnostic(),
        FileResult("a.py", [_diagnostic()], SourceFile("a.py", "x = 1\n", "latin-1", True), fixed_count=1),
        Settings(select=["CW1"], per_file_ignores={"x.py": ["CW2"]}),
        RunOptions(fix=True, jobs=2),
        secrets.secret_formats()[0],
        secrets.Match(secrets.secret_formats()[0], 1, 9),
    ],
    ids=lambda v: type(v).__name__,
)
def test_values_survive_pickling(value: object) -> None:
    assert pickle.loads(pickle.dumps(value)) == value


def test_severity_and_fields() -> None:
    diagnostic = _diagnostic()
    assert diagnostic.severity is Severity.ERROR and diagnostic.sort_key == (2, 5, "CW101")
    fmt = secrets.secret_formats()[0]
    assert fmt.pattern is fmt.pattern  # compiled once
    assert (fmt.id, fmt.name, fmt.env_var, fmt.group) == ("codewords-api-key", "CodeWords API key", "CODEWORDS_API_KEY", 0)
