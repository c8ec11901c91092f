"""Issue 17: the plugin's route items run their checks again on a copy with cwlint's safe fixes
(on by default; ``cwtest_lint_fix = false`` or ``--cwtest-no-lint-fix`` turns it off), so a
``data=`` TypeError does not hide the IndexError behind it."""

from __future__ import annotations

from plugin_support import REPO, Project

pytest_plugins = ["pytester"]

FAST = ("--cwtest-examples", "10", "--cwtest-shrink-time", "2", "--cwtest-seed", "0")
HIDES = REPO / "fixtures" / "real"


def test_a_fuzz_item_reports_what_the_fixes_reveal_and_the_switch_turns_it_off(project: Project) -> None:
    project.add("data_kwarg_hides_index", source=HIDES)
    before = (project.path / "workflows" / "data_kwarg_hides_index.py").read_bytes()
    node = "workflows/data_kwarg_hides_index.py::fuzz[POST /]"
    _result, cases = project.junit("--cwtest", node, *FAST, name="on.xml")
    fuzz = cases[node]
    assert fuzz.outcome == "failed"
    assert fuzz.message.startswith("[unhandled-exception] TypeError: AsyncCodewordsClient.run() got an unexpected "
                                   "keyword argument 'data'")
    assert "cwlint CW101 fixes it" in fuzz.text
    assert "✗ [unhandled-exception] (after cwlint's safe fixes) POST / — IndexError: list index out of range" \
        in fuzz.text
    assert "seen after cwlint's safe fixes" in fuzz.text and "cwtest-lint-fix-" not in fuzz.text
    assert "workflows/data_kwarg_hides_index.py:" in fuzz.text
    assert fuzz.properties["cwtest.lint_fix"] == "CW101"
    assert (project.path / "workflows" / "data_kwarg_hides_index.py").read_bytes() == before

    _result, off = project.junit("--cwtest", node, *FAST, "-o", "cwtest_lint_fix=false", name="off.xml")
    assert off[node].outcome == "failed" and "IndexError" not in off[node].text
    assert "cwtest.lint_fix" not in off[node].properties
