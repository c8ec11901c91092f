"""Issue 17: findings a person can act on. A ``service-contract`` finding names the workflow line of
the call and the cwlint rule for the same mistake; paths into cwtest's environment cache read
``<env>/site-packages/...``; the workflow's own files are relative."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
from cwtest.results import Finding, display_path, display_text
from cwtest.simulator import SimulatedRuntime
from cwtest.simulator.validation import LINT_RULES, lint_code

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fuzz"


def test_a_contract_break_names_the_line_of_the_call_and_the_cwlint_rule() -> None:
    with InProcessTarget.from_path(FIXTURES / "contract_key.py", SimulatedRuntime()) as target:
        report = fuzz(target, FuzzConfig(examples=5, seed=0, shrink_time=0, checks=("fuzz", "contract")))
    [finding] = report.findings
    assert finding.kind == "service-contract"
    line = next(i for i, text in enumerate((FIXTURES / "contract_key.py").read_text().splitlines(), 1)
                if "await client.run(" in text)
    assert finding.location == f"{FIXTURES / 'contract_key.py'}:{line}"
    assert finding.lint == "CW104"
    text = report.render()
    assert f"at {display_path(finding.location)}" in text and "cwlint's rule for this mistake: CW104" in text
    assert report.as_json()["findings"][0]["lint"] == "CW104"


def test_each_problem_kind_names_a_rule_whose_code_is_read_from_the_rule() -> None:
    from cwlint.rules.invalid_service_inputs import InvalidServiceInputs
    from cwlint.rules.renamed_input_key import RenamedInputKey

    assert lint_code("renamed") == RenamedInputKey.code == "CW103"
    assert {lint_code(kind) for kind in LINT_RULES if kind != "renamed"} == {InvalidServiceInputs.code}
    assert lint_code(None) is None and lint_code("gap") is None


def test_a_call_at_import_names_its_line_and_rule_too() -> None:
    """A call no checked request made (at import, in the lifespan) is reported by ``collect_runtime``,
    with the line the child sent (``x-cwtest-location``) and the kind's rule (a renamed key: CW103)."""
    from starlette.testclient import TestClient

    from cwtest.harness.collect import collect_runtime
    from cwtest.results import WorkflowResult

    runtime = SimulatedRuntime()
    client = TestClient(runtime.app)
    client.post("/run/redis_coordinator", json={"action": "get", "key": "k"},
                headers={"authorization": f"Bearer {runtime.api_key}", "x-cwtest-location": "/w/flow.py:12"})
    result = WorkflowResult("/w/flow.py")
    collect_runtime(runtime, result, ())
    [finding] = [f for f in result.findings if f.kind == "service-contract"]
    assert (finding.location, finding.lint) == ("/w/flow.py:12", "CW103"), finding
    assert '"action"' in finding.message


@pytest.mark.parametrize(("raw", "shown"), [
    ('File "../../../root/.cache/cwtest/envs/072b4abf757666fcfb99/lib/python3.11/site-packages/httpx/_models.py", '
     'line 3, in x', 'File "<env>/site-packages/httpx/_models.py", line 3, in x'),
    ("/var/cache/cwtest/envs/072b4abf757666fcfb99/lib/python3.11/site-packages/openai/_base.py:12 in post",
     "<env>/site-packages/openai/_base.py:12 in post"),
    ("/root/.cache/cwtest/envs/1c1b7b26b8061b72511a/bin/python", "<env>/bin/python"),
    ("no path here", "no path here"),
])
def test_environment_cache_paths_are_shortened(raw: str, shown: str) -> None:
    assert display_text(raw) == shown


def test_display_path_is_relative_below_the_current_directory_and_shortens_the_env() -> None:
    here = os.getcwd()
    assert display_path(f"{here}/workflows/a.py:12") == "workflows/a.py:12"
    assert display_path("/elsewhere/b.py:3") == "/elsewhere/b.py:3"
    assert display_path("/root/.cache/cwtest/envs/0123456789abcdef0123/lib/python3.12/site-packages/x/y.py:7") == \
        "<env>/site-packages/x/y.py:7"
    assert display_text(f"at {here}/workflows/a.py:12") == "at workflows/a.py:12"


def test_the_full_report_shows_env_paths_short(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from cwtest.harness.report import render_full, render_junit
    from cwtest.harness.sandbox import choose
    from cwtest.results import RunReport, WorkflowResult

    result = WorkflowResult(str(tmp_path / "w.py"))
    result.add(Finding("boot-crash", "RuntimeError: boom", stack=[
        "/root/.cache/cwtest/envs/0123456789abcdef0123/lib/python3.11/site-packages/uvicorn/main.py:3 in run"]))
    report = RunReport(choose("off"), [result])
    buffer = io.StringIO()
    render_full(report, Console(file=buffer, no_color=True, width=200))
    assert "<env>/site-packages/uvicorn/main.py:3 in run" in buffer.getvalue()
    assert "cwtest/envs" not in buffer.getvalue() and "cwtest/envs" not in render_junit(report)
