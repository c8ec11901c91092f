"""`cwtest run` searches every route after the smoke call: findings with a minimal input and a repro."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness_support import REPO, WORKFLOWS

from cwtest.fuzz import FuzzConfig
from cwtest.harness.cli import run_main
from cwtest.harness.runner import Harness

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("clean_host")]
FUZZ = REPO / "fixtures" / "fuzz"


def run_json(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "report.json"
    code = run_main([*args, "--no-progress", "--output-format", "json", "-o", str(out),
                     "--cache-dir", str(tmp_path / "cache")])
    return code, json.loads(out.read_text())


def test_run_finds_the_planted_bugs_and_writes_regression_tests_that_fail(tmp_path: Path) -> None:
    tests = tmp_path / "regressions"
    code, report = run_json(tmp_path, str(FUZZ / "planted_bugs.py"), "--shrink-time", "3",
                            "--write-tests", str(tests))
    assert code == 1
    [workflow] = report["workflows"]
    assert workflow["fuzz"]["examples"] == 50 and workflow["fuzz"]["requests"] >= 150
    found = {f["message"].split(":")[0]: f for f in workflow["findings"]}
    assert sorted(found) == ["IndexError", "KeyError", "UnicodeEncodeError"]
    for finding in found.values():
        assert finding["kind"] == "unhandled-exception" and finding["check"] == "fuzz"
        assert finding["route"] == "POST /" and finding["repro"]["shrunk"]
        assert finding["repro"]["curl"].startswith("curl -sS -X POST http://127.0.0.1:8000/")
    assert found["IndexError"]["repro"]["input"]["json"]["seats"] == 500
    assert found["KeyError"]["location"].endswith("planted_bugs.py:94")
    assert "\\u0080" in found["UnicodeEncodeError"]["repro"]["curl"]  # copy-pasteable, not an invisible byte
    # The regression tests reproduce each bug through the plugin's sandboxed cw_workflow fixture.
    written = sorted(p.name for p in tests.glob("test_*.py"))
    assert len(written) == 3
    env = {**os.environ, "CWTEST_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert "3 failed" in done.stdout, done.stdout[-3000:]
    assert "IndexError: list index out of range" in done.stdout


def test_saved_failures_are_replayed_first(tmp_path: Path) -> None:
    """With one example per route, the bugs a previous run saved in the cache folder are found again."""
    harness = Harness(cache_dir=tmp_path / "envs", fuzz=FuzzConfig(examples=50, seed=1, shrink_time=2,
                                                                   cache_dir=tmp_path / "cache"))
    first = harness.run([FUZZ / "planted_bugs.py"]).results[0]
    assert len(first.findings) == 3 and any((tmp_path / "cache" / "examples").iterdir())
    harness.fuzz = FuzzConfig(examples=1, seed=2, shrink_time=2, cache_dir=tmp_path / "cache")
    again = harness.run([FUZZ / "planted_bugs.py"]).results[0]
    assert sorted(f.message.split(":")[0] for f in again.findings) == ["IndexError", "KeyError",
                                                                       "UnicodeEncodeError"]
    harness.fuzz = FuzzConfig(examples=1, seed=2, shrink_time=2, cache_dir=None)  # no database: not all found
    cold = harness.run([FUZZ / "planted_bugs.py"]).results[0]
    assert len(cold.findings) < 3


def test_a_service_fault_and_a_contract_break_are_findings_with_their_repro(tmp_path: Path) -> None:
    code, report = run_json(tmp_path, str(FUZZ / "llm_optional_key.py"), str(FUZZ / "contract_key.py"),
                            "--shrink-time", "2")
    assert code == 1
    llm, contract = report["workflows"]
    faults = [f for f in llm["findings"] if f["check"] == "faults"]
    labels = {(f["repro"]["fault"], f["message"]) for f in faults}
    assert any(fault.endswith("llm_minimal") and message == "KeyError: 'labels'" for fault, message in labels), labels
    assert all("runtime.script(" in f["repro"]["regression_test"] for f in faults)
    [broken] = [f for f in contract["findings"] if f["kind"] == "service-contract"]  # once, not per call
    assert broken["check"] == "fuzz" and broken["repro"]["key"] == "tll", broken  # found by a generated request
    assert "tll" in broken["message"] and broken["route"]


def test_a_hang_found_by_the_search_is_a_timeout_with_its_input(tmp_path: Path) -> None:
    code, report = run_json(tmp_path, str(WORKFLOWS / "hang_on_large.py"), "--timeout", "3", "--shrink-time", "0")
    assert code == 1
    [workflow] = report["workflows"]
    assert [r["status"] for r in workflow["routes"]] == [200]  # the smoke call passed
    [hang] = workflow["findings"]
    assert hang["kind"] == "timeout" and hang["check"] == "fuzz"
    assert hang["repro"]["input"]["json"]["quantity"] > 1000
    assert any("hang_on_large.py:" in line for line in hang["stack"])


def test_examples_zero_is_the_smoke_run_alone_and_bad_options_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(tmp_path, str(FUZZ / "planted_bugs.py"), "--examples", "0")
    assert code == 0 and report["workflows"][0]["fuzz"] is None
    for bad in (["--examples", "-1"], ["--checks", "fuzz,nope"], ["--shrink-time", "soon"]):
        assert run_main([str(FUZZ / "planted_bugs.py"), *bad]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "error: argument" in err
