"""Issue 17: the next layer. ``--lint-fix`` boots a scratch copy with cwlint's safe fixes, and the
faults check still runs when every valid request fails.

``fixtures/real/data_kwarg_hides_index.py``: ``client.run(..., data=...)`` (CW101) fails every
request with a TypeError before the code that raises ``IndexError`` for a blank post can run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cwtest.harness.lint_fix import FixedCopy, _line_map, fixed_copy, merge, remap
from cwtest.results import ExceptionInfo, Finding, Frame, WorkflowResult

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"
HIDES = REAL / "data_kwarg_hides_index.py"


def _line_of(text: str, path: Path = HIDES) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --- units: the copy, the line map, the merge -------------------------------------------------------


def test_the_fixed_copy_is_cwlints_safe_fixes_in_memory_and_the_file_is_untouched() -> None:
    before = HIDES.read_bytes()
    copy = fixed_copy(HIDES)
    assert copy is not None and copy.codes == ["CW101"]
    assert "inputs={\"operation\": \"set\"" in copy.text and "data={" not in copy.text
    assert HIDES.read_bytes() == before
    assert copy.code_for(_line_of("saved = await client.run(")) == "CW101"


def test_no_copy_without_a_safe_fix() -> None:
    assert fixed_copy(REAL / "key_in_query.py") is None


def test_lines_of_the_copy_map_back_to_the_original() -> None:
    before = "import os\n\nx = 1\ny = 2\nprint(x)\n"
    after = "import os\nimport sys\n\nx = 1\ny = 3\nprint(x)\n"
    mapping = _line_map(before, after)
    assert mapping[1] == 1 and mapping[3] == 2 and mapping[4] == 3 and mapping[5] == 4 and mapping[6] == 5
    assert mapping[2] in (1, 2)  # an inserted line maps next to where it went


def _finding(kind: str, message: str, location: str | None, route: str = "POST /") -> Finding:
    return Finding(kind, message, location, route=route, check="fuzz")


def test_merge_reports_each_finding_once_labels_the_new_and_names_the_fix_of_the_removed() -> None:
    copy = FixedCopy(Path("/w/flow.py"), "", [("CW101", "Rename")], [(51, "CW101")])
    original = WorkflowResult("/w/flow.py", booted=True)
    original.findings = [_finding("unhandled-exception", "TypeError: run() got data", "/w/flow.py:49"),
                         _finding("unhandled-exception", "KeyError: 'response'", "/w/flow.py:48")]
    fixed = WorkflowResult("/w/flow.py", booted=True)
    fixed.findings = [_finding("unhandled-exception", "KeyError: 'response'", "/w/flow.py:48"),
                      _finding("unhandled-exception", "IndexError: list index out of range", "/w/flow.py:54")]
    merge(original, fixed, copy)
    assert [(f.message.split(":")[0], f.variant, f.lint) for f in original.findings] == [
        ("TypeError", None, "CW101"), ("KeyError", None, None), ("IndexError", "fixed", None)]
    assert original.lint_fix == {"applied": ["CW101"], "fixes": 1, "booted": True, "only_after_fixes": 1,
                                 "removed_by_fixes": 1, "harness_error": None}


def test_remap_names_the_original_file_and_line_everywhere() -> None:
    copy = FixedCopy(Path("/w/flow.py"), "", [("CW9", "x")], [], {10: 9, 11: 10})
    result = WorkflowResult("/w/flow.py")
    exc = ExceptionInfo("IndexError", "list index out of range", (Frame("/tmp/s/flow.py", 11, "tag", "x[0]"),),
                        location="/tmp/s/flow.py:11")
    result.findings = [Finding("unhandled-exception", "IndexError at /tmp/s/flow.py:10", "/tmp/s/flow.py:11",
                               ['File "/tmp/s/flow.py", line 10, in tag'], exception=exc)]
    [finding] = remap(result, "/tmp/s/flow.py", "/w/flow.py", copy).findings
    assert finding.location == "/w/flow.py:10" and finding.message == "IndexError at /w/flow.py:9"
    assert finding.stack == ['File "/w/flow.py", line 9, in tag']
    assert finding.exception is not None and finding.exception.frames[0] == Frame("/w/flow.py", 10, "tag", "x[0]")
    assert finding.exception.location == "/w/flow.py:10"


# --- sandboxed: the fixture ----------------------------------------------------------------------------


def _run(lint_fix: bool) -> WorkflowResult:
    from cwtest.fuzz import FuzzConfig
    from cwtest.harness.runner import Harness

    harness = Harness(timeout=30, fuzz=FuzzConfig(examples=10, seed=0, shrink_time=2), lint_fix=lint_fix)
    [result] = harness.run([HIDES]).results
    assert result.booted and not result.harness_error, (result.harness_error, result.stderr_tail)
    return result


@pytest.mark.sandbox
def test_without_lint_fix_the_type_error_hides_the_index_error_and_faults_still_run() -> None:
    result = _run(lint_fix=False)
    messages = [f.message for f in result.findings]
    assert any(m.startswith("TypeError: AsyncCodewordsClient.run() got an unexpected keyword argument 'data'")
               for m in messages), messages
    assert not any(m.startswith("IndexError") for m in messages)
    assert result.lint_fix is None
    [route] = result.routes
    assert route.search is not None
    note = (f"faults: every valid request failed at fixtures/real/data_kwarg_hides_index.py:"
            f"{_line_of('saved = await client.run(')}; faults were injected into the 1 call(s) made before it")
    assert note in route.search.notes, route.search.notes
    assert "faults: no valid request called a library service" not in route.search.notes
    assert route.search.fault_requests > 0 and route.search.faults_injected
    assert any(f.check == "faults" for f in result.findings)  # the LLM call before the failure, faulted


@pytest.mark.sandbox
def test_lint_fix_reaches_the_index_error_and_says_so() -> None:
    before = hashlib.sha256(HIDES.read_bytes()).hexdigest()
    result = _run(lint_fix=True)
    assert hashlib.sha256(HIDES.read_bytes()).hexdigest() == before  # the user's file is never written
    [type_error] = [f for f in result.findings if f.message.startswith("TypeError: AsyncCodewordsClient.run()")]
    assert type_error.variant is None and type_error.lint == "CW101"
    [index_error] = [f for f in result.findings if f.message.startswith("IndexError")]
    assert index_error.variant == "fixed" and index_error.check in ("smoke", "fuzz")
    line = _line_of('"main_hashtag": hashtags[0]')
    assert index_error.location == f"{HIDES}:{line}"
    assert index_error.repro is not None and "#" not in index_error.repro.request.json_body["text"]
    assert result.lint_fix is not None and result.lint_fix["applied"] == ["CW101"]
    assert result.lint_fix["only_after_fixes"] >= 1 and result.lint_fix["removed_by_fixes"] == 1
    # each finding once: none of the original's repeated by the copy
    keys = [(f.kind, f.location, f.message.split(":")[0]) for f in result.findings]
    assert len(keys) == len(set(keys)), keys

    import io

    from rich.console import Console

    from cwtest.harness.report import render_full, render_json, render_junit
    from cwtest.harness.sandbox import choose
    from cwtest.results import RunReport

    report = RunReport(choose("auto"), [result])
    buffer = io.StringIO()
    render_full(report, Console(file=buffer, no_color=True, width=250))
    full = buffer.getvalue()
    assert "unhandled-exception (after cwlint's safe fixes): IndexError" in full
    assert "cwlint CW101 fixes it" in full and "lint-fix: booted a copy with cwlint's safe fixes (CW101" in full
    assert "cwtest-lint-fix-" not in full  # no scratch path: every location names the user's file
    data = json.loads(render_json(report))["workflows"][0]
    assert {f["variant"] for f in data["findings"]} == {None, "fixed"} and data["lint_fix"]["applied"] == ["CW101"]
    assert "(after cwlint's safe fixes) IndexError" in render_junit(report)
