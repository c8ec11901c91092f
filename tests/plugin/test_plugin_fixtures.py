"""The fixtures in hand-written tests: the docs' website-monitor example, mocks, sharing, cw_runtime.

The docs' example is taken from ``docs/cwtest/plugin.md`` itself and run as written, so the page
cannot drift from what works.
"""

from __future__ import annotations

import re
import shutil

import pytest
from plugin_support import REPO, WORKFLOWS, Project

pytest_plugins = ["pytester"]

HAND_WRITTEN = '''
import httpx
import pytest

from cwtest.simulator import Call, HttpError

PIDS = []


def test_a_mocked_api_answers_the_workflow(cw_workflow):
    rates = cw_workflow("workflows/external.py")
    rates.mock_external("https://rates.example.com/", {"rates": {"GBP": 0.79}})
    response = rates.client.get("/rate", params={"currency": "GBP"})
    assert response.json() == {"currency": "GBP", "rate": 0.79}
    assert rates.findings() == []


def test_an_unmocked_api_is_a_finding_and_never_reached(cw_workflow):
    rates = cw_workflow("workflows/external.py")
    assert rates.client.get("/rate").status_code == 502
    [finding] = rates.findings()
    assert finding.kind == "outbound-http"
    assert "https://rates.example.com/v1/latest?base=USD&symbols=EUR" in finding.message
    assert finding.location.endswith("external.py:35")


def test_a_mock_added_after_the_first_use_reaches_the_running_workflow(cw_workflow):
    rates = cw_workflow("workflows/external.py")
    assert rates.client.get("/rate", params={"currency": "GBP"}).status_code == 502  # unmocked
    rates.mock_external("https://rates.example.com/", {"rates": {"GBP": 0.79}})
    response = rates.client.get("/rate", params={"currency": "GBP"})
    assert response.status_code == 200 and response.json() == {"currency": "GBP", "rate": 0.79}


@pytest.mark.parametrize("round", [1, 2])
def test_a_booted_workflow_is_shared_and_its_simulator_reset(cw_workflow, round):
    monitor = cw_workflow("workflows/website_monitor.py")
    assert monitor.runtime.calls() == [] and monitor.runtime.kv.get("anything") is None
    first = monitor.client.post("/", json={"url": "https://shop.example/", "slack_channel": "#a"})
    assert first.json()["changes_detected"] is False  # a first snapshot each time: the store was reset
    assert [c.service for c in monitor.runtime.calls()] == ["firecrawl", "redis_coordinator", "redis_coordinator"]
    PIDS.append(monitor.target.process.process.pid)
    assert len(set(PIDS)) == 1


def test_fresh_boots_a_process_of_its_own(cw_workflow):
    monitor = cw_workflow("workflows/website_monitor.py", fresh=True)
    assert monitor.target.process.process.pid not in PIDS


def test_cw_runtime_records_typed_calls_and_scripted_faults(cw_runtime):
    cw_runtime.pages.add("https://shop.example/pricing", "# Pricing\\n\\nPremium: $99")
    cw_runtime.script("openai").fail(HttpError(429, "slow down"))
    with httpx.Client(base_url=cw_runtime.url, headers={"Authorization": cw_runtime.api_key}) as client:
        page = client.post("/run/firecrawl/", json={"url": "https://shop.example/pricing", "formats": ["markdown"]})
        client.post("/run/redis_coordinator/", json={"operation": "set", "key": "seen", "value": "v1", "ttl": 60})
        read = client.post("/run/redis_coordinator/", json={"operation": "get", "key": "seen"})
        refused = client.post("/run/openai/", json={"model": "gpt-4o-mini", "prompt": "hi"})
        unconnected = client.post("/run/pipedream/", json={"app": "slack", "action": "send-message",
                                                          "props": {"channel": "#a", "text": "hi"}})
    assert page.json()["data"]["markdown"] == "# Pricing\\n\\nPremium: $99"
    assert read.json()["value"] == "v1" and cw_runtime.kv.get("seen") == "v1"
    assert refused.status_code == 429 and unconnected.status_code == 403
    calls = cw_runtime.calls()
    assert all(isinstance(call, Call) for call in calls)
    assert [c.service for c in calls] == ["firecrawl", "redis_coordinator", "redis_coordinator", "openai", "pipedream"]
    assert calls[3].fault is not None and calls[3].status == 429


def test_cw_runtime_starts_empty(cw_runtime):
    assert cw_runtime.calls() == [] and cw_runtime.kv.get("seen") is None


@pytest.mark.cw_runtime(connected_apps=["slack"], seed=7)
def test_the_marker_builds_a_runtime_with_those_arguments(cw_runtime):
    assert cw_runtime.seed == 7
    with httpx.Client(base_url=cw_runtime.url, headers={"Authorization": cw_runtime.api_key}) as client:
        sent = client.post("/run/pipedream/", json={"app": "slack", "action": "send-message",
                                                   "props": {"channel": "#a", "text": "hi"}})
    assert sent.status_code == 200
'''

MOCK_HOOK = '''
def pytest_cwtest_mock_external(path, config):
    if path.name == "external.py":
        return {"https://rates.example.com/": {"rates": {"EUR": 0.92, "GBP": 0.79}}}
'''


def docs_example() -> str:
    page = (REPO / "docs" / "cwtest" / "plugin.md").read_text()
    match = re.search(r"```python\n(# tests/test_website_monitor\.py\n.*?)```", page, re.S)
    assert match, "the website-monitor example is missing from docs/cwtest/plugin.md"
    return match.group(1)


def test_the_docs_example_and_the_fixtures_in_hand_written_tests(project: Project) -> None:
    project.add("external")
    shutil.copy(REPO / "fixtures" / "design" / "website_monitor.py", project.path / "workflows")
    tests = project.path / "tests"
    tests.mkdir()
    (tests / "test_website_monitor.py").write_text(docs_example())
    (tests / "test_fixtures.py").write_text(HAND_WRITTEN)
    (project.path / "conftest.py").write_text(MOCK_HOOK)
    result, cases = project.junit("--cwtest", "workflows/external.py", "tests", "--cwtest-examples", "10")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-5000:]
    assert cases["tests/test_website_monitor.py::test_a_change_on_the_second_run_alerts_the_channel"].outcome \
        == "passed"
    # the hook answered the items' outbound requests: every item of the workflow passes
    assert {n: c.outcome for n, c in cases.items() if n.startswith("workflows/")} == {
        "workflows/external.py::lint": "passed", "workflows/external.py::boot": "passed",
        "workflows/external.py::fuzz[GET /rate]": "passed", "workflows/external.py::faults[GET /rate]": "passed"}
    result.assert_outcomes(passed=4 + 10)


def test_an_unanswered_outbound_request_fails_the_item_naming_the_url(project: Project) -> None:
    project.add("external")
    _result, cases = project.junit("--cwtest", "workflows", "--cwtest-examples", "5", "-k", "fuzz")
    case = cases["workflows/external.py::fuzz[GET /rate]"]
    assert case.outcome == "failed"
    assert case.message.startswith("[outbound-http] GET https://rates.example.com/v1/latest?base=USD&symbols=")
    assert "sandbox findings while this item ran:" in case.text
    assert "✗ [server-error] GET /rate — GET /rate answered 502" in case.text  # what the 599 led to, too
    assert "pytest_cwtest_mock_external" in case.text


def test_a_workflow_path_is_found_from_the_rootdir_or_the_tests_folder(project: Project) -> None:
    (project.path / "tests").mkdir()
    shutil.copy(WORKFLOWS / "clean.py", project.path / "tests" / "headline.py")
    (project.path / "tests" / "test_here.py").write_text(
        "def test_beside_the_test(cw_workflow):\n"
        "    assert cw_workflow('headline.py').client.get('/health').json() == {'status': 'ok'}\n\n"
        "def test_missing(cw_workflow):\n"
        "    import pytest\n"
        "    with pytest.raises(FileNotFoundError, match='no workflow at nowhere.py'):\n"
        "        cw_workflow('nowhere.py').client\n")
    project.run("tests").assert_outcomes(passed=2)
