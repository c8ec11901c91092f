"""The design page's example workflows, end to end against the served simulator.

Each workflow runs in an environment built from its own PEP 723 header (its pinned client,
FastAPI and pydantic), is imported in a subprocess and driven in-process over ASGI; its outbound
calls reach the simulator over loopback. The tests assert on the workflow's answers and on the
calls the simulator recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client_envs import build_env, script_dependencies
from cwtest_support import REPO, run_python
from cwtest import SimulatedRuntime

pytestmark = pytest.mark.protocol

DESIGN = REPO / "fixtures" / "design"
DRIVER = Path(__file__).resolve().parent / "clients" / "drive_workflow.py"
URL = "https://shop.example/pricing"


@pytest.fixture(scope="session")
def design_python() -> Path:
    """All design fixtures pin the same dependencies, so one environment serves them all."""
    pinned = {tuple(script_dependencies(path)) for path in DESIGN.glob("*.py")}
    assert len(pinned) == 1, f"design fixtures disagree on their pins: {pinned}"
    return build_env(list(pinned.pop()))


def drive(python: Path, runtime: SimulatedRuntime, script: str, requests: list[dict], cwd: Path) -> list[dict]:
    stdout = run_python(python, [str(DRIVER), str(DESIGN / script), json.dumps(requests)],
                        {**runtime.env(), "HOME": str(cwd), "PORT": "8000"}, cwd)
    [line] = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def test_website_monitor_stores_then_alerts_slack_on_a_change(design_python, runtime, tmp_path):
    before, after = "# Pricing\n\nPremium: $99", "# Pricing\n\nPremium: $129"
    runtime.script("firecrawl").queue(
        {"success": True, "data": {"markdown": before}}, {"success": True, "data": {"markdown": after}})
    runtime.script("anthropic").respond(
        {"response": {"changes_detected": True, "summary": "Premium went from $99 to $129"}})
    body = {"url": URL, "slack_channel": "#pricing-alerts"}
    first, second = drive(design_python, runtime, "website_monitor.py", [
        {"json": body, "headers": {"X-Correlation-Id": "corr-run-1"}},
        {"json": body, "headers": {"X-Correlation-Id": "corr-run-2"}},
    ], tmp_path)

    assert first["status"] == 200 and first["json"]["changes_detected"] is False
    assert first["json"]["message"].startswith("Initial snapshot stored")
    assert second["status"] == 200 and second["json"] == {
        "message": "Changes detected and notification sent", "changes_detected": True,
        "summary": "Premium went from $99 to $129"}

    redis_ops = [(c.inputs["operation"], c.inputs.get("value")) for c in runtime.calls("redis_coordinator")]
    assert redis_ops == [("get", None), ("set", before), ("get", None), ("set", after)]
    [comparison] = runtime.calls("anthropic")
    assert before in comparison.inputs["prompt"] and after in comparison.inputs["prompt"]
    [alert] = runtime.calls("pipedream")
    assert (alert.inputs["app"], alert.inputs["action"]) == ("slack", "send-message")
    assert alert.inputs["props"]["channel"] == "#pricing-alerts"
    assert "Premium went from $99 to $129" in alert.inputs["props"]["text"] and alert.status == 200
    assert list(runtime.kv.snapshot().values()) == [after]
    # every call of the second run carries the correlation id the workflow received
    second_run = [c for c in runtime.calls() if c.correlation_id == "corr-run-2"]
    assert [c.service for c in second_run] == ["firecrawl", "redis_coordinator", "anthropic", "pipedream",
                                               "redis_coordinator"]
    assert all(c.status == 200 and not c.problems for c in runtime.calls())


def test_website_monitor_reports_no_change_without_alerting(design_python, runtime, tmp_path):
    runtime.pages.add(URL, "# Pricing\n\nPremium: $99")
    runtime.script("anthropic").respond({"response": {"changes_detected": False, "summary": ""}})
    body = {"url": URL, "slack_channel": "#pricing-alerts"}
    _, second = drive(design_python, runtime, "website_monitor.py", [{"json": body}, {"json": body}], tmp_path)
    assert second["json"]["message"] == "No significant changes detected"
    assert runtime.calls("pipedream") == []


def test_ticket_analyzer_routes_with_a_schema_shaped_answer(design_python, runtime, tmp_path):
    ticket = {"ticket_id": "T-1001", "subject": "Charged twice", "content": "My card was billed twice.",
              "customer_email": "dana@example.com", "customer_tier": "enterprise"}
    [answer] = drive(design_python, runtime, "support_ticket_analyzer.py", [{"json": ticket}], tmp_path)
    assert answer["status"] == 200, answer
    analysis = answer["json"]["analysis"]
    assert analysis["category"] in {"billing", "technical", "feature_request", "bug_report", "general"}
    assert analysis["priority"] in {"low", "medium", "high", "urgent"}
    [llm] = runtime.calls("openai")
    assert llm.inputs["example_output"]["title"] == "TicketAnalysis"
    assert llm.response["response"] == analysis  # the generated answer is what the workflow used
    [crm] = runtime.calls("pipedream")
    assert crm.inputs["app"] == "hubspot" and crm.inputs["props"]["ticket_id"] == "T-1001"
    assert crm.inputs["props"]["properties"]["hs_ticket_category"] == analysis["category"]
    assert crm.status == 200


def test_ticket_analyzer_swallows_a_refused_crm_update(design_python, tmp_path):
    """HubSpot not connected: the platform refuses, and the workflow only logs it (its own pitfall)."""
    ticket = {"ticket_id": "T-7", "subject": "Bug", "content": "Crash on save", "customer_email": "a@b.example"}
    with SimulatedRuntime(connected_apps=()) as runtime:
        [answer] = drive(design_python, runtime, "support_ticket_analyzer.py", [{"json": ticket}], tmp_path)
        [crm] = runtime.calls("pipedream")
    assert answer["status"] == 200
    assert crm.status == 403 and "PIPEDREAM_HUBSPOT_ACCESS" in crm.response["detail"]


def test_ticket_analyzer_fails_loudly_on_an_llm_answer_off_the_schema(design_python, runtime, tmp_path):
    runtime.script("openai").respond({"response": {"category": "refund"}})
    ticket = {"ticket_id": "T-9", "subject": "?", "content": "?", "customer_email": "c@d.example"}
    [answer] = drive(design_python, runtime, "support_ticket_analyzer.py", [{"json": ticket}], tmp_path)
    assert answer["status"] == 500 and "validation error" in answer["json"]["detail"]


def test_action_key_mistake_gets_the_clear_422(design_python, runtime, tmp_path):
    [answer] = drive(design_python, runtime, "snapshot_store_action_key.py",
                     [{"json": {"key": "home", "text": "hello"}}], tmp_path)
    expected = '"action" is not an input of redis_coordinator; did you mean "operation"?'
    assert answer["status"] == 422 and answer["json"]["detail"] == expected
    assert answer["headers"]["error-origin"] == "service"
    [call] = runtime.calls("redis_coordinator")
    assert call.status == 422 and call.problems == (expected,)


def test_data_kwarg_mistake_fails_inside_the_client(design_python, runtime, tmp_path):
    [answer] = drive(design_python, runtime, "summarize_data_kwarg.py", [{"json": {"text": "hi"}}], tmp_path)
    assert answer["status"] == 500
    assert "unexpected keyword argument 'data'" in answer["json"]["detail"]
    assert runtime.calls() == []  # nothing reached the runtime

