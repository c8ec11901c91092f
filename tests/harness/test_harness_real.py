"""Issue 14's causes of false alarms, one fixture each (fixtures/real/): every one passes or is
inconclusive with the step that unblocks it, and none is a finding.

Each fixture's docstring says what it stands for: an outside API nobody answers, a deliberate
502, a catalog gap, placeholder env values, a raw-Request webhook, a free-text LLM answer, SDK
telemetry from library frames, a MySQL driver. The uvicorn versions are in test_harness_run.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cwtest.fuzz import FuzzConfig
from cwtest.harness.runner import Harness
from cwtest.results import WorkflowResult

pytestmark = pytest.mark.sandbox

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"


def run(name: str, path: Path | None = None, **options: object) -> WorkflowResult:
    harness = Harness(timeout=60, fuzz=FuzzConfig(examples=5, seed=0, shrink_time=0), **options)  # type: ignore[arg-type]
    [result] = harness.run([path or REAL / f"{name}.py"]).results
    assert result.booted and not result.harness_error, (result.findings, result.harness_error, result.stderr_tail)
    assert result.findings == [], [(f.kind, f.message) for f in result.findings]
    return result


def verdicts(result: WorkflowResult) -> dict[str, str]:
    return {route.name: result.route_verdict(route).value for route in result.routes}


def reason(result: WorkflowResult, route: str) -> str:
    found = result.route(route)
    assert found is not None and found.inconclusive is not None, verdicts(result)
    return found.inconclusive.render()


def test_an_outside_api_nobody_answers_makes_the_route_inconclusive_and_is_listed_as_egress() -> None:
    result = run("zoho_oauth")
    assert verdicts(result) == {"POST /": "inconclusive", "GET /health": "passed"}
    text = reason(result, "POST /")
    assert text.startswith("POST / stopped at the request to accounts.zoho.com (")
    assert "zoho_oauth.py:36); nothing answers it; record it with `cwtest record`, or use `--mock-external`" in text
    [egress] = result.egress
    assert (egress["host"], egress["method"], egress["library"]) == ("accounts.zoho.com", "POST", False)
    assert egress["answers"] == {"refused": egress["count"]} and egress["count"] >= 6  # smoke and search


def test_a_deliberate_502_after_a_refused_request_is_inconclusive() -> None:
    result = run("upstream_502")
    assert verdicts(result) == {"POST /": "inconclusive"}
    assert "stopped at the request to api.prices.example" in reason(result, "POST /")


def test_a_catalog_gap_is_inconclusive_and_names_the_path() -> None:
    result = run("catalog_gap")
    assert verdicts(result) == {"POST /": "inconclusive"}
    assert reason(result, "POST /").startswith("POST /: the simulator does not know whatsapp_trigger register")


def test_placeholders_fit_their_names_and_a_failure_on_one_names_the_variable(tmp_path: Path) -> None:
    result = run("placeholder_values")
    assert verdicts(result) == {"GET /settings": "passed", "POST /sign": "inconclusive"}
    assert result.route("GET /settings") is not None
    text = reason(result, "POST /sign")
    assert "failed on cwtest's placeholder value of SIGNING_KEY" in text and "--env SIGNING_KEY=VALUE" in text
    given = run("placeholder_values", env_values={"SIGNING_KEY": "c2VjcmV0"})
    assert verdicts(given) == {"GET /settings": "passed", "POST /sign": "passed"}
    dotenv = tmp_path / ".env"
    dotenv.write_text("SIGNING_KEY=c2VjcmV0\n")
    from cwtest.workflow_env import read_env_file

    assert read_env_file(dotenv) == {"SIGNING_KEY": "c2VjcmV0"}


def test_a_raw_request_webhook_gets_json_and_its_examples(tmp_path: Path) -> None:
    with_examples = run("raw_webhook")
    assert verdicts(with_examples) == {"POST /webhook": "passed"}
    route = with_examples.route("POST /webhook")
    assert route is not None and route.status == 200 and route.request.json_body["message"]["chat"]["id"] == 42
    assert route.search is not None and route.search.fuzz_requests == 5  # the examples, mutated
    alone = tmp_path / "raw_webhook.py"
    shutil.copy(REAL / "raw_webhook.py", alone)
    without = run("raw_webhook", path=alone)
    assert verdicts(without) == {"POST /webhook": "inconclusive"}
    assert without.route("POST /webhook").request.json_body == {}  # JSON, not an empty body
    assert "has no request schema; cwtest guessed the body" in reason(without, "POST /webhook")


def test_a_failure_after_a_free_text_llm_answer_is_inconclusive() -> None:
    result = run("free_text_json")
    assert verdicts(result) == {"POST /": "inconclusive"}
    assert "simulated openai answer in free text" in reason(result, "POST /")


def test_requests_from_library_frames_only_are_the_librarys_egress() -> None:
    result = run("library_telemetry")
    assert verdicts(result) == {"GET /": "passed"}
    [egress] = [e for e in result.egress if e["host"] == "telemetry.sdk.example"]
    assert egress["library"] and egress["location"] is None and egress["client"] == "urllib"


def test_a_database_driver_without_its_server_is_inconclusive_and_listed_as_egress() -> None:
    result = run("mysql_driver")
    assert verdicts(result) == {"GET /members/{member_id}": "inconclusive", "GET /health": "passed"}
    assert "needs a MySQL server at db-host.cwtest.invalid:3306" in reason(result, "GET /members/{member_id}")
    assert any(e["host"].startswith("db-host.cwtest.invalid") for e in result.egress)
