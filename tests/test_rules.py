"""Every rule's embedded VALID and INVALID examples, as tests; and every rule's docs.

One module turns the examples into tests (as Fixit does): adding an example to a rule adds
a test here. An INVALID example states every finding (code, line, column) and, when the rule
fixes, the exact source after --fix; the fixed source must parse and a second --fix must
change nothing.
"""

from __future__ import annotations

import re

import libcst as cst
import pytest

from pathlib import Path

from cwlint.config import Settings, settings_from_table
from cwlint import Linter
from cwlint.engine import fix_source, lint_source
from cwlint.modules import DirectoryIndex
from cwlint.rule import DOC_SECTIONS, Invalid, Valid
from cwlint.rules import all_rules
from cwlint.source import SourceFile

RULES = all_rules()
ROOT = Path(__file__).resolve().parent.parent


def _cases(kind: str):
    for rule in RULES:
        for index, case in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, case, id=f"{rule.code}-{kind.lower()}-{index}")


def _settings(rule, case: Valid | Invalid) -> Settings:
    table = {"select": [rule.code] if rule.code != "CW001" else ["CW"], **(case.config or {})}
    return settings_from_table(table, "example", Path.cwd())


def _diagnostics(rule, case: Valid | Invalid, tmp_path: Path):
    settings = _settings(rule, case)
    if case.make is None and case.config is None:
        return lint_source(SourceFile(case.path, case.code), settings)
    # A file on disk (bytes, a FIFO, modules beside it...): read as the CLI reads it.
    path = tmp_path / case.path
    if case.make is not None:
        case.make(path)
    else:
        path.write_text(case.code)
    return Linter(settings, DirectoryIndex()).check_file(str(path)).diagnostics


@pytest.mark.parametrize(("rule", "case"), list(_cases("VALID")))
def test_valid(rule, case: Valid, tmp_path: Path) -> None:
    assert [d for d in _diagnostics(rule, case, tmp_path) if d.code == rule.code] == []


@pytest.mark.parametrize(("rule", "case"), list(_cases("INVALID")))
def test_invalid(rule, case: Invalid, tmp_path: Path) -> None:
    settings = _settings(rule, case)
    diagnostics = _diagnostics(rule, case, tmp_path)
    assert [(d.code, d.start.line, d.start.column) for d in diagnostics] == list(case.expected)
    if case.message is not None:
        assert case.message in diagnostics[0].message
    if case.make is not None or case.config is not None:
        return  # file-level problems: nothing to fix
    source = SourceFile(case.path, case.code)
    outcome = fix_source(source, settings, unsafe=case.unsafe)
    expected = case.fixed if case.fixed is not None else case.code
    assert outcome.failure is None
    assert outcome.text == expected
    if case.fixed is not None:
        cst.parse_module(outcome.text)
        again = fix_source(SourceFile(case.path, outcome.text), settings, unsafe=case.unsafe)
        assert again.text == outcome.text, "a second --fix changed the file"


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_is_documented(rule) -> None:
    assert re.fullmatch(r"CW\d{3}", rule.code)
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", rule.name)
    doc = rule.documentation()
    headings = re.findall(r"^## (.+)$", doc, re.MULTILINE)
    assert headings == list(DOC_SECTIONS), f"{rule.code} docs need the sections {DOC_SECTIONS}"
    assert rule.summary() and not rule.summary().startswith("#")
    assert rule.VALID, f"{rule.code} has no VALID examples"
    if rule.shown_by is not None:
        module, _, test = rule.shown_by.partition("::")
        source = (ROOT / module).read_text()
        assert f"def {test}(" in source, f"{rule.code}: {rule.shown_by} does not exist"
    else:
        assert rule.INVALID, f"{rule.code} has no INVALID examples"
    fixes = [case for case in rule.INVALID if case.fixed is not None]
    assert bool(fixes) == (rule.fix_availability is not None), "fix_availability must match the examples"


def test_codes_and_names_are_unique() -> None:
    assert len({r.code for r in RULES}) == len(RULES)
    assert len({r.name for r in RULES}) == len(RULES)
