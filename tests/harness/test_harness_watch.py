"""Issue 17's runtime checks under the sandbox: a swallowed exception, a blocked event loop and work
that fails after the answer are found in fixtures/runtime/ with their repro, and the near misses
are clean. The same checks in-process: tests/fuzz/test_watch.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_support import WORKFLOWS

from cwtest.fuzz import FuzzConfig
from cwtest.harness.runner import Harness
from cwtest.results import WorkflowResult

pytestmark = pytest.mark.sandbox

RUNTIME = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"


@pytest.fixture(scope="module")
def results() -> dict[str, WorkflowResult]:
    harness = Harness(timeout=60, fuzz=FuzzConfig(examples=5, seed=0, shrink_time=0))
    report = harness.run(sorted(RUNTIME.glob("*.py")))
    found = {Path(r.path).stem: r for r in report.results}
    for result in found.values():
        assert result.booted and not result.harness_error, (result.path, result.harness_error, result.stderr_tail)
    return found


def kinds(result: WorkflowResult) -> list[tuple[str, str | None]]:
    return sorted((f.kind, f.route) for f in result.findings)


def test_a_swallowed_keyerror_is_a_finding_with_its_repro(results: dict[str, WorkflowResult]) -> None:
    result = results["swallowed_keyerror"]
    assert kinds(result) == [("swallowed-exception", "POST /")]
    [finding] = result.findings
    assert finding.message == ("KeyError: 'weight' (swallowed on 6 of 6 valid requests: caught by `except Exception "
                               "as exc` at line 52; POST / answered 200)")
    assert finding.location is not None and finding.location.endswith("swallowed_keyerror.py:45")
    assert finding.exception is not None and finding.exception.caught.endswith("swallowed_keyerror.py:52")
    repro = finding.repro
    assert repro is not None and repro.curl.startswith("curl -sS -X POST http://127.0.0.1:8000/ ")
    assert "cw_workflow(" in repro.regression_test
    assert "e.is_a('KeyError') and (e.caught or '').endswith('swallowed_keyerror.py:52')" in repro.regression_test
    assert result.route_verdict(result.routes[0]).value == "finding"


def test_a_blocked_loop_names_the_helpers_line_and_the_call(results: dict[str, WorkflowResult]) -> None:
    result = results["blocking_helper"]
    assert kinds(result) == [("blocking-call", "POST /crawl")]
    [finding] = result.findings
    assert finding.location is not None and finding.location.endswith("blocking_helper.py:31")
    assert finding.message.startswith("POST /crawl held the event loop ") and "in `time.sleep(PAUSE)`" in finding.message
    assert any("blocking_helper.py:38 in crawl" in line for line in finding.stack)
    assert finding.repro is not None and "response.blocks" in finding.repro.regression_test


def test_work_that_fails_after_the_answer_is_tied_to_its_request(results: dict[str, WorkflowResult]) -> None:
    result = results["background_failure"]
    assert kinds(result) == [("background-exception", "POST /refresh"), ("background-exception", "POST /signup")]
    by_route = {f.route: f for f in result.findings}
    assert by_route["POST /signup"].message.startswith("KeyError in a BackgroundTasks function, after the 202 answer")
    assert by_route["POST /refresh"].message.startswith("AttributeError in a task the request started")
    for finding in result.findings:
        assert finding.repro is not None and finding.repro.status == 202 and finding.check == "smoke"


def test_the_near_misses_get_no_finding(results: dict[str, WorkflowResult]) -> None:
    result = results["clean_near_misses"]
    assert result.findings == [], [(f.kind, f.message) for f in result.findings]
    assert {r.name: result.route_verdict(r).value for r in result.routes} == {
        "GET /items/{item_id}": "passed", "POST /amount": "passed", "POST /lenient": "passed", "POST /wait": "passed",
        "POST /notify": "passed", "GET /headers": "passed"}


def test_the_harness_own_forwarding_from_async_clients_does_not_block_the_loop() -> None:
    """Outbound requests of async clients go to the parent's outside world from an executor thread,
    never from the loop's thread: with a 20 ms threshold, none of them is a block."""
    harness = Harness(timeout=60, block_threshold=0.02)
    harness.mock_external("https://mocked.example.com/", {"price": 3})
    with harness.boot(WORKFLOWS / "outbound_kinds.py") as booted:
        assert booted is not None
        booted.send("GET", "/call", query={"kind": "mocked", "sync": False})  # warm-up: imports, SSL contexts
        responses = [booted.send("GET", "/call", query={"kind": kind, "sync": False})
                     for kind in ("mocked", "outside", "mocked", "outside")]
    assert [r.status for r in responses] == [200] * 4
    assert [r.blocks for r in responses] == [()] * 4


def test_block_threshold_zero_turns_the_watchdog_off_and_bad_values_are_usage_errors(tmp_path: Path) -> None:
    from cwtest.harness.cli import run_main

    out = tmp_path / "report.json"
    assert run_main([str(RUNTIME / "blocking_helper.py"), "--examples", "0", "--block-threshold", "0",
                     "--output-format", "json", "-o", str(out), "--no-progress"]) == 0
    import json

    [workflow] = json.loads(out.read_text())["workflows"]
    assert workflow["findings"] == [] and workflow["verdict"] == "passed"
    assert run_main([str(RUNTIME / "blocking_helper.py"), "--block-threshold", "-1"]) == 2


def test_a_warning_logged_during_a_2xx_is_seen_and_the_request_number_never_reaches_the_app() -> None:
    harness = Harness(timeout=60)
    with harness.boot(RUNTIME / "clean_near_misses.py") as booted:
        assert booted is not None
        notice = booted.send("POST", "/notify", {"text": "a longer notice"})
        lenient = booted.send("POST", "/lenient", {"text": "x"})
        seen = booted.send("GET", "/headers", headers={"x-correlation-id": "cwtest-1"})
    assert notice.status == 202 and notice.logs[0].startswith("WARNING near-misses: long notice: 15 characters (")
    assert (notice.swallowed, notice.blocks, notice.exceptions) == ((), (), ())
    assert [e.type for e in lenient.swallowed] == ["ValueError"] and lenient.body == {"ok": False}
    assert seen.status == 200 and "x-correlation-id" in seen.body["names"]
    assert not [name for name in seen.body["names"] if name.startswith("x-cwtest")] and booted.number == 3
