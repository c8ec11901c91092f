"""Every workflow under fixtures/ against its sidecar of expected findings, exactly.

``fixtures/<group>/<name>.py`` has ``fixtures/<group>/<name>.expected.toml`` beside it:

    [[finding]]
    code = "CW101"
    line = 12
    column = 34

(``finding = []`` for a clean workflow). Regenerate with ``CWLINT_UPDATE_FIXTURES=1 pytest
tests/test_fixtures.py`` and review the diff: a sidecar is a claim about the workflow.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from cwlint.config import Settings
from cwlint.engine import lint_source
from cwlint.source import read

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
SKIP_GROUPS = {"hostile"}  # attacks for the sandbox, linted by their own tests
FIXTURES = sorted(
    p for p in ROOT.rglob("*.py") if not (set(p.relative_to(ROOT).parts[:-1]) & SKIP_GROUPS)
)


def sidecar(path: Path) -> Path:
    return path.with_name(path.stem + ".expected.toml")


def _render(findings: list[tuple[str, int, int]]) -> str:
    if not findings:
        return "finding = []\n"
    return "\n".join(f'[[finding]]\ncode = "{c}"\nline = {line}\ncolumn = {col}\n' for c, line, col in findings)


@pytest.mark.parametrize("path", FIXTURES, ids=[str(p.relative_to(ROOT)) for p in FIXTURES])
def test_fixture_findings(path: Path) -> None:
    source = read(str(path))
    found = [(d.code, d.start.line, d.start.column) for d in lint_source(source, Settings())]
    expected_file = sidecar(path)
    if os.environ.get("CWLINT_UPDATE_FIXTURES"):
        expected_file.write_text(f"# Expected cwlint findings for {path.name}\n" + _render(found))
    assert expected_file.is_file(), f"{path} has no sidecar {expected_file.name}"
    data = tomllib.loads(expected_file.read_text())
    expected = [(f["code"], f["line"], f["column"]) for f in data.get("finding", [])]
    assert found == expected


def test_every_sidecar_has_a_fixture() -> None:
    for expected in ROOT.rglob("*.expected.toml"):
        assert expected.with_name(expected.name.replace(".expected.toml", ".py")).is_file(), expected
