"""Each check on a workflow made to fail it (or, for the deliberate 404, made not to), and the reports."""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
from pathlib import Path

import codewords_client  # noqa: F401 - patches FastAPI.__init__ like a workflow's import does
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field, field_validator

from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
from cwtest.simulator import SimulatedRuntime

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "fuzz"
FAST = {"shrink_time": 3.0}


def run(name: str, **options: object):
    config = FuzzConfig(**{**FAST, **options})  # type: ignore[arg-type]
    with InProcessTarget.from_path(FIXTURES / f"{name}.py", SimulatedRuntime()) as target:
        return fuzz(target, config)


def test_faults_find_a_keyerror_on_an_llm_answer_missing_an_optional_key() -> None:
    report = run("llm_optional_key")
    assert not [f for f in report.findings if f.check == "fuzz"]  # the normal answer has every key
    [missing] = [f for f in report.findings if f.exception and f.exception.message == "'labels'"]
    assert (missing.kind, missing.check, missing.exception.type) == ("unhandled-exception", "faults", "KeyError")
    assert missing.repro.fault == "openai: llm_missing_key"
    assert missing.location == f"{FIXTURES / 'llm_optional_key.py'}:61"
    assert missing.repro.shrunk and missing.repro.request.json_body == {"title": "aaa"}  # minLength 3, nothing optional
    # the scripted answer has only the required keys
    assert "respond({'response': {'category': " in missing.repro.inprocess_test and "'labels'" not in \
        missing.repro.inprocess_test.split("respond(")[1].split("#")[0]
    # the other faults: success false and the reply as a string are findings too; a timeout, a
    # connection error and the HTTP errors are the client's own errors
    kinds = {(f.repro.fault.split(": ")[1], f.exception.type) for f in report.findings if f.repro.fault and f.exception}
    assert {("llm_missing_key", "KeyError"), ("unsuccessful", "KeyError")} <= kinds
    # the reply as text (truncated, fenced, empty): one TypeError at one line, found once
    assert any(kind in ("llm_truncated", "llm_fenced", "llm_empty") and name == "TypeError" for kind, name in kinds)
    assert not any(kind == "malformed" for kind, _ in kinds)  # opt-in: the runtime never sends broken JSON
    stats = report.routes[0].search
    tolerated = {(fault, kind) for fault, kind, _loc in stats.tolerated}
    assert {("openai: timeout", "httpx.ReadTimeout"), ("openai: connection_error", "httpx.ConnectError")} <= tolerated
    assert stats.faults_injected == ["openai: http_error", "openai: rate_limited", "openai: timeout",
                                     "openai: connection_error", "openai: unsuccessful", "openai: llm_missing_key",
                                     "openai: llm_wrong_type", "openai: llm_truncated", "openai: llm_fenced",
                                     "openai: llm_empty"]


def test_a_deliberate_http_exception_404_is_not_a_finding() -> None:
    report = run("deliberate_404")
    assert report.findings == []
    stats = report.routes[0].search
    assert stats.statuses["fuzz"].get("4xx", 0) > 0 and stats.statuses["fuzz"].get("2xx", 0) > 0
    assert stats.faults_injected == ["firecrawl: http_error", "firecrawl: rate_limited", "firecrawl: timeout",
                                     "firecrawl: connection_error", "firecrawl: unsuccessful"]
    # 404 (http_error, rate_limited, success false) and 502 (timeout, connection error): on purpose
    assert stats.statuses["faults"] == {"4xx": 3, "5xx": 2}
    assert stats.tolerated == {}


def test_a_response_model_violation_is_found_and_shrunk() -> None:
    report = run("response_model")
    [failure] = report.findings
    assert (failure.kind, failure.check, failure.repro.status) == ("response-model", "fuzz", 200)
    assert failure.message == "the 200 body breaks the response model at longest_word: None is not of type 'string'"
    assert failure.repro.shrunk and failure.repro.request.json_body == {"text": ""}


def test_the_contract_check_names_the_key() -> None:
    report = run("contract_key")
    [failure] = report.findings
    assert (failure.kind, failure.repro.key) == ("service-contract", "tll")
    assert failure.message == 'redis_coordinator: "tll" is not an input of redis_coordinator; did you mean "ttl"?'
    assert failure.repro.shrunk and failure.repro.request.json_body == {"url": "https://example.com",
                                                                        "expires_in_days": 1}
    [call] = failure.repro.calls
    assert (call.service, call.status) == ("redis_coordinator", 422)


class Tagged(BaseModel):
    name: str = Field(max_length=20)
    tags: str = ""

    @field_validator("tags", mode="before")
    @classmethod
    def strip(cls, value):  # type: ignore[no-untyped-def]
        return value.strip()  # AttributeError (not a ValidationError) for anything but a string


def test_an_invalid_request_answered_with_a_5xx_is_found() -> None:
    app = FastAPI()

    @app.post("/tag")
    async def tag(item: Tagged) -> dict:
        return {"name": item.name, "tags": item.tags.split(",")}

    with InProcessTarget(app, SimulatedRuntime(), lifespan=False) as target:
        report = fuzz(target, FuzzConfig(**FAST))
    [failure] = report.findings
    assert (failure.check, failure.exception.type, failure.repro.status) == ("invalid", "AttributeError", 500)
    assert failure.repro.request.defect is not None and failure.repro.request.defect.startswith("body.tags is ")
    assert failure.location is not None and failure.location.endswith(f"test_fuzz_checks.py:{strip_line()}")


def strip_line() -> int:
    import inspect

    return inspect.getsourcelines(Tagged.strip)[1] + 3


class Order(BaseModel):
    quantity: int = Field(ge=0, le=10)


def per_unit(total: float, quantity: int) -> float:
    return total / quantity  # ZeroDivisionError at quantity 0, from either route


def test_one_failure_per_exception_type_and_location_across_routes() -> None:
    app = FastAPI()

    @app.post("/price")
    async def price(order: Order) -> dict:
        return {"unit": per_unit(100.0, order.quantity)}

    @app.post("/shipping")
    async def shipping(order: Order) -> dict:
        return {"unit": per_unit(12.5, order.quantity)}

    with InProcessTarget(app, SimulatedRuntime(), lifespan=False) as target:
        report = fuzz(target, FuzzConfig(**FAST, checks=("fuzz",)))
    [failure] = report.findings
    assert failure.exception.type == "ZeroDivisionError" and failure.route == "POST /price"
    assert failure.repro.request.json_body == {"quantity": 0}
    # the smoke call's minimal quantity is the minimum, 0: found there, on both routes
    assert failure.check == "smoke" and failure.repro.seen_in[0] == "smoke POST /price"
    assert "smoke POST /shipping" in failure.repro.seen_in


class Batch(BaseModel):
    items: list[str] = Field(min_length=1, max_length=40)


def test_shrinking_is_capped_by_shrink_time() -> None:
    app = FastAPI()

    @app.post("/slow")
    async def slow(body: Batch) -> dict:
        await asyncio.sleep(0.02)
        if sum(len(item) for item in body.items) > 25:
            raise ValueError("batch too large")
        return {"ok": True}

    with InProcessTarget(app, SimulatedRuntime(), lifespan=False) as target:
        capped = fuzz(target, FuzzConfig(checks=("fuzz",), shrink_time=1.0, examples=20))
        free = fuzz(target, FuzzConfig(checks=("fuzz",), shrink_time=3.0, examples=20))
        unshrunk = fuzz(target, FuzzConfig(checks=("fuzz",), shrink_time=0, examples=20))
    [failure] = capped.findings
    assert failure.exception.type == "ValueError"
    # no wall-clock limit asserted (a shared machine makes any bound flaky): the cap is seen in what it
    # stopped, a shrink that had further to go
    assert free.requests > capped.requests + 30
    [raw] = unshrunk.findings
    assert not raw.repro.shrunk and unshrunk.requests == 21  # the smoke call and 20 generated


def test_reports_carry_a_curl_command_that_sends_the_minimal_request() -> None:
    report = run("planted_bugs", checks=("fuzz",))
    by_type = {f.exception.type: f for f in report.findings}
    failure = by_type["IndexError"]
    words = shlex.split(failure.repro.curl)
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:8000/"]
    assert json.loads(words[words.index("--data-raw") + 1]) == failure.repro.request.json_body
    assert failure.repro.request.json_body["seats"] == 500
    text = report.render()
    assert "minimal input (shrunk): POST /" in text and "planted_bugs.py:95 in quote" in text


def _fix_planted_bugs(source: str) -> str:
    source = source.replace("Plan.TEAM: 19.0}", "Plan.TEAM: 19.0, Plan.ENTERPRISE: 39.0}")
    source = source.replace("[0.0, 0.05, 0.10, 0.15, 0.20]", "[0.0, 0.05, 0.10, 0.15, 0.20, 0.25]")
    return source.replace('.encode("ascii").decode()', '.encode("ascii", "replace").decode()')


def _run_test_source(source: str, workflow: Path) -> None:
    namespace: dict[str, object] = {}
    exec(compile(source, "<regression test>", "exec"), namespace)  # noqa: S102 - the generated module
    namespace["WORKFLOW"] = workflow
    [test] = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    test()


def test_regression_tests_fail_on_the_bug_and_pass_once_it_is_fixed(tmp_path: Path) -> None:
    report = run("planted_bugs", checks=("fuzz",))
    assert len(report.findings) == 3
    fixed = tmp_path / "planted_bugs.py"
    fixed.write_text(_fix_planted_bugs((FIXTURES / "planted_bugs.py").read_text()))
    for failure in report.findings:
        source = failure.repro.inprocess_test
        with pytest.raises(AssertionError, match=failure.exception.type.rpartition(".")[2]):
            _run_test_source(source, FIXTURES / "planted_bugs.py")
        _run_test_source(source, fixed)


def test_regression_tests_of_faults_contracts_and_models_reproduce(tmp_path: Path) -> None:
    for name in ("llm_optional_key", "contract_key", "response_model"):
        report = run(name)
        assert report.findings
        for failure in report.findings:
            source = failure.repro.inprocess_test
            with pytest.raises(AssertionError):
                _run_test_source(source, FIXTURES / f"{name}.py")


def test_a_written_regression_test_fails_under_pytest(tmp_path: Path) -> None:
    report = run("llm_optional_key")
    [failure] = [f for f in report.findings if f.repro.fault == "openai: llm_missing_key"]
    path = tmp_path / f"{failure.repro.test_name}.py"
    path.write_text(failure.repro.inprocess_test)
    assert "runtime.script('openai', '').respond({'response': {" in path.read_text()
    assert "not any(e.is_a(name) for name in ('httpx.HTTPError', 'openai.OpenAIError'" in path.read_text()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout and "KeyError: 'labels'" in result.stdout


def test_the_json_report_holds_everything_a_ci_needs() -> None:
    report = run("contract_key")
    data = json.loads(json.dumps(report.as_json()))
    assert data["version"] == 2 and data["seed"] == 0 and data["examples"] == 50
    assert [f["kind"] for f in data["findings"]] == ["service-contract"], [f["message"] for f in data["findings"]]
    [finding] = data["findings"]
    repro = finding["repro"]
    assert finding["kind"] == "service-contract" and repro["key"] == "tll" and repro["shrunk"] is True
    assert repro["input"] == {"method": "POST", "path": "/",
                              "json": {"url": "https://example.com", "expires_in_days": 1}}
    assert repro["calls"][0].endswith('"tll" is not an input of redis_coordinator; did you mean "ttl"?')
    assert repro["curl"].startswith("curl -sS -X POST") and "def test_post_root_service_contract_" in \
        repro["regression_test"]
    [route] = data["routes"]
    assert route["method"] == "POST" and route["verdict"] == "finding"
    assert route["search"]["fuzz_requests"] >= 50 and route["search"]["invalid_requests"] == 50


def test_a_tests_own_scripts_survive_the_faults() -> None:
    from cwtest.fuzz import Fault, injected

    runtime = SimulatedRuntime()
    script = runtime.script("openai", "")
    script.respond({"response": "a note the test scripted"})
    script.queue({"response": "queued"})
    with injected(runtime, Fault("unsuccessful", "openai", "")):
        assert script.pending == 0  # the fault answers every call while it is injected
    assert script.pending == 1
    with InProcessTarget.from_path(FIXTURES / "planted_bugs.py", runtime) as target:
        script.reset()
        script.respond({"response": "a note the test scripted"})
        report = fuzz(target, FuzzConfig(checks=("faults",), examples=5, shrink_time=0))
        assert len(report.routes[0].search.faults_injected) == 6
        body = {"company": "Acme", "contact": "ops@acme.io", "plan": "team", "seats": 12}
        assert target.send("POST", "/", body).body["welcome_note"] == "a note the test scripted"


class Dies(RuntimeError):
    pass


def test_a_target_that_stops_ends_the_run_with_its_error_and_keeps_what_was_found() -> None:
    from cwtest.fuzz import Fuzzer

    with InProcessTarget.from_path(FIXTURES / "planted_bugs.py", SimulatedRuntime()) as target:
        sent = []
        original = target.send

        def send(*args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append(args)
            if len(sent) > 120:
                raise Dies("the workflow process died")
            return original(*args, **kwargs)

        target.send = send  # type: ignore[method-assign]
        fuzzer = Fuzzer(target, FuzzConfig(seed=0, shrink_time=2.0))
        report = fuzzer.run()
    assert len(sent) == 121  # no request after the failing one, inside Hypothesis or out
    assert report.findings and report.requests == 119  # 121 sends: the document, 119, the failing one
    assert "died" in (fuzzer.stopped or "")


def test_an_exception_from_the_client_librarys_own_code_is_the_clients_failure() -> None:
    """redis_client() raises KeyError('redis_host') on a coordinator's success: false: not the workflow's bug."""
    from cwtest.fuzz.classify import Judge
    from cwtest.fuzz.engine import TOLERATED
    from cwtest.results import ExceptionInfo, Frame

    judge = Judge({}, frozenset(), TOLERATED, ("codewords_client",))
    workflow = Frame("/work/app/workflow.py", 195, "status", "async with redis_client() as (redis, ns):")
    library = Frame("/env/lib/python3.11/site-packages/codewords_client/redis.py", 40, "redis_client")
    raised_inside = ExceptionInfo(type="KeyError", message="'redis_host'", frames=(workflow, library))
    raised_here = ExceptionInfo(type="KeyError", message="'labels'", frames=(workflow,))
    look_alike = ExceptionInfo(type="KeyError", message="'x'",
                               frames=(Frame("/work/app/my_codewords_client_helpers.py", 3, "f"),))
    # through a context manager: contextlib is below the workflow, json raised, the client was in between
    through = ExceptionInfo(type="json.JSONDecodeError", message="Expecting value",
                            frames=(workflow, Frame("/usr/lib/python3.11/json/decoder.py", 353, "raw_decode")),
                            via=("contextlib", "codewords_client", "httpx", "json", "decoder"))
    assert judge.is_clients_own(raised_inside) and judge.is_clients_own(through)
    assert not judge.is_clients_own(raised_here) and not judge.is_clients_own(look_alike)
    assert not judge.is_clients_own(ExceptionInfo(type="KeyError", message="", frames=(workflow,), via=("json",)))


def test_the_packages_an_exception_passed_through_are_recorded() -> None:
    from cwtest.fuzz.target import exception_of, package_of

    assert package_of("/env/lib/python3.11/site-packages/codewords_client/redis.py") == "codewords_client"
    assert package_of("/env/lib/python3.11/site-packages/six.py") == "six"
    assert package_of("/usr/lib/python3.11/contextlib.py", stdlib="/usr/lib/python3.11") == "contextlib"
    assert package_of("/usr/lib/python3.11/json/decoder.py", stdlib="/usr/lib/python3.11") == "json"
    assert package_of("/srv/app/helpers.py", stdlib="/usr/lib/python3.11") == "helpers"

    def call_into_json() -> None:
        import json

        json.loads("{")

    try:
        call_into_json()
    except ValueError as exc:
        info = exception_of(exc, __file__)
    assert info.via == ("json",)  # json/__init__.py, then json/decoder.py


def test_a_deliberate_5xx_after_a_refused_outbound_request_is_inconclusive_not_a_server_error() -> None:
    """A workflow that answers 502 when its upstream call is refused has handled the failure: the
    route is inconclusive (cwtest stood in for the upstream), never a server-error; a 5xx with no
    stand-in behind it still is one."""
    import httpx
    from fastapi import FastAPI, HTTPException

    from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
    from cwtest.simulator import SimulatedRuntime

    app = FastAPI()

    @app.get("/quote")
    async def quote(symbol: str) -> dict:
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get("https://api.example.com/q", params={"s": symbol})
        except httpx.ConnectError:
            raise HTTPException(502, "upstream failed") from None
        return response.json()

    @app.get("/raw")
    async def raw(symbol: str) -> dict:
        async with httpx.AsyncClient() as client:  # the client's error escapes
            return (await client.get("https://api.example.com/q", params={"s": symbol})).json()

    @app.get("/rate")
    async def rate(pair: str) -> dict:
        raise HTTPException(503, "the exchange is down")  # a 5xx of the workflow's own

    with InProcessTarget(app, SimulatedRuntime()) as target:
        report = fuzz(target, FuzzConfig(examples=10, seed=0, checks=("fuzz",), shrink_time=0))
    [failure] = report.findings
    assert failure.kind == "server-error" and failure.route == "GET /rate" and "exchange is down" in failure.message
    for name in ("GET /quote", "GET /raw"):
        route = next(r for r in report.routes if r.name == name)
        assert route.inconclusive is not None, name
        assert route.inconclusive.reason.startswith(f"{name} stopped at the request to api.example.com")
        assert "cwtest record" in route.inconclusive.unblock and "--mock-external" in route.inconclusive.unblock
        assert route.search.blocked["fuzz"][1] == 10  # every generated request, none a finding


def test_a_call_to_an_endpoint_the_simulator_lacks_is_a_visible_note() -> None:
    """whatsapp_trigger/register is not in the catalog: the 404 stops the route, and the summary says so."""
    from fastapi import FastAPI

    from codewords_client import AsyncCodewordsClient  # noqa: F401 - the in-process target routes it
    from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
    from cwtest.simulator import SimulatedRuntime

    app = FastAPI()

    @app.post("/configure")
    async def configure(phone: str) -> dict:
        async with AsyncCodewordsClient() as client:
            response = await client.run(service_id="whatsapp_trigger", path="/register", inputs={"phone": phone})
        return {"status": response.status_code}

    with InProcessTarget(app, SimulatedRuntime()) as target:
        report = fuzz(target, FuzzConfig(examples=3, seed=0, checks=("fuzz",), shrink_time=0))
    stats = report.routes[0].search
    assert any("whatsapp_trigger/register: the simulator does not know this endpoint" in n for n in stats.notes), \
        stats.notes
