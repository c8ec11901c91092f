"""The engine: parsing, suppression, the fix loop, and the walk's order."""

from __future__ import annotations

import glob
import sysconfig

import libcst as cst
import pytest

from cwlint import engine
from cwlint.config import Settings
from cwlint.diagnostics import Applicability, Edit
from cwlint.engine import selection_for, fix_source, lint_source
from cwlint.rule import Rule
from cwlint.source import SourceFile
from cwlint.walk import walk

BAD = 'async def f(client, url):\n    return await client.run(service_id="firecrawl", data={"url": url})\n'


def codes(text: str, **settings) -> list[str]:
    return [d.code for d in lint_source(SourceFile("w.py", text), Settings(**settings))]


def test_libcst_only_failure_is_cw902(monkeypatch: pytest.MonkeyPatch) -> None:
    # LibCST rejecting valid Python is simulated: no syntax in CPython 3.11 trips LibCST 1.9.
    def reject(text: str) -> cst.Module:
        raise cst.ParserSyntaxError("unsupported", lines=["x = 1"], raw_line=1, raw_column=0)

    monkeypatch.setattr(engine, "_parse", reject)
    diagnostics = lint_source(SourceFile("w.py", "x = 1\n"), Settings())
    assert [(d.code, d.severity.value) for d in diagnostics] == [("CW902", "warning")]
    assert "not linted" in diagnostics[0].message


class _BreaksCode(Rule):
    """Test-only rule whose fix leaves an unclosed parenthesis."""

    code = "CW999"
    name = "breaks-code"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "x":
            edit = self.ctx.insert_after(node, "(")
            self.report(node, "x", fix=self.make_fix("break", [edit], Applicability.SAFE))


def test_fix_that_breaks_code_leaves_file_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "all_rules", lambda: (_BreaksCode,))
    settings = Settings(select=["CW999", "CW907"])
    selection = selection_for(settings)
    source = SourceFile("w.py", "x = 1\n")
    outcome = fix_source(source, settings, selection=selection)
    assert outcome.text == "x = 1\n"
    assert outcome.failure is not None and outcome.failure.code == "CW907"
    assert "does not parse" in outcome.failure.message
    assert [d.code for d in outcome.diagnostics] == ["CW907", "CW999"]


def test_fix_loop_applies_overlapping_fixes_in_later_rounds() -> None:
    # CW001 (unused noqa) and CW101 on one line: both fixed, in one or more rounds.
    text = 'async def f(client):\n    return await client.run(service_id="x", data={})  # noqa: CW103\n'
    outcome = fix_source(SourceFile("w.py", text), Settings())
    assert outcome.text == 'async def f(client):\n    return await client.run(service_id="x", inputs={})\n'
    assert sorted(code for code, _ in outcome.applied) == ["CW001", "CW101"]
    assert outcome.diagnostics == []


def test_fix_preserves_crlf_and_tabs() -> None:
    text = BAD.replace("    ", "\t").replace("\n", "\r\n")
    outcome = fix_source(SourceFile("w.py", text), Settings())
    assert outcome.text == text.replace("data=", "inputs=")


def test_noqa_suppresses_only_named_codes() -> None:
    assert codes(BAD.replace("})\n", "})  # noqa: CW101\n")) == []
    assert codes(BAD.replace("})\n", "})  # noqa: E501\n")) == ["CW101"]


def test_bare_noqa_needs_opt_in() -> None:
    text = BAD.replace("})\n", "})  # noqa\n")
    assert codes(text) == ["CW101"]
    assert codes(text, bare_noqa=True) == []


def test_file_level_noqa() -> None:
    assert codes("# cwlint: noqa\n" + BAD) == []
    assert codes("# cwlint: noqa: CW101\n" + BAD) == []
    assert codes("# cwlint: noqa: CW301\n" + BAD) == ["CW101"]
    # Not on a line of its own: an ordinary comment, not a file-level directive.
    assert codes("x = 1  # cwlint: noqa\n" + BAD) == ["CW101"]


def test_noqa_inside_a_string_is_not_a_directive() -> None:
    text = BAD.replace('{"url": url}', '{"url": "# noqa: CW101"}')
    assert codes(text) == ["CW101"]


def test_selection_most_specific_selector_wins() -> None:
    settings = Settings(select=["CW1"], ignore=["CW10"], extend_select=["CW101"])
    enabled = settings.enabled(["CW101", "CW103", "CW105", "CW201", "CW301"])
    assert enabled == {"CW101"}
    assert Settings(ignore=["CW3"]).enabled(["CW301", "CW101"]) == {"CW101"}


def test_per_file_ignores(tmp_path) -> None:
    settings = Settings(root=tmp_path, per_file_ignores={"legacy/*.py": ["CW1"]})
    selection = selection_for(settings)
    assert "CW101" not in selection.for_file(str(tmp_path / "legacy" / "old.py"))
    assert "CW101" in selection.for_file(str(tmp_path / "new.py"))


def test_rule_skipped_without_trigger_words() -> None:
    selection = selection_for(Settings())
    source = SourceFile("w.py", "x = 1\n")
    ctx = engine.FileContext(source, cst.parse_module(source.text), Settings())
    names = {type(v).__name__ for v in engine._visitors(ctx, selection.enabled)}
    assert "RunDataKwarg" not in names and "UvicornRun" not in names


def _stdlib_sample(count: int = 40) -> list[str]:
    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/*.py"))
    return files[:: max(1, len(files) // count)][:count]


@pytest.mark.parametrize("path", _stdlib_sample(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_walk_visits_names_in_libcst_order(path: str) -> None:
    """The field walk meets every Name LibCST's own visitor meets, in the same order
    (IfExp aside: the walk takes its test first, as Python evaluates it)."""
    module = cst.parse_module(open(path, encoding="utf-8").read())

    class Collect(cst.CSTVisitor):
        def __init__(self) -> None:
            self.names: list[int] = []
            self.in_ifexp: set[int] = set()  # names under an IfExp, whose order differs on purpose
            self.depth = 0

        def visit_IfExp(self, node: cst.IfExp) -> None:
            self.depth += 1

        def leave_IfExp(self, node: cst.IfExp) -> None:
            self.depth -= 1

        def visit_Name(self, node: cst.Name) -> None:
            self.names.append(id(node))
            if self.depth:
                self.in_ifexp.add(id(node))

    expected = Collect()
    module.visit(expected)

    class Ours:
        def __init__(self) -> None:
            self.names: list[int] = []

        def visit_Name(self, node: cst.Name) -> None:
            self.names.append(id(node))

    ours = Ours()
    walk(module, [ours], [])
    assert sorted(ours.names) == sorted(expected.names)
    outside = expected.in_ifexp
    assert [n for n in ours.names if n not in outside] == [n for n in expected.names if n not in outside]


def test_edit_overlap() -> None:
    assert Edit(0, 5, "").overlaps(Edit(4, 6, ""))
    assert not Edit(0, 5, "").overlaps(Edit(5, 6, ""))
    assert Edit(3, 3, "a").overlaps(Edit(3, 3, "b"))
