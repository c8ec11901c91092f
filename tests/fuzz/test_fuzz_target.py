"""InProcessTarget: a workflow's app in this process, its client routed to the in-process simulator."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import codewords_client  # noqa: F401 - patches FastAPI.__init__ like a workflow's import does
import httpx
import pytest
from codewords_client import AsyncCodewordsClient, CodewordsClient
from fastapi import BackgroundTasks, FastAPI, HTTPException
from pydantic import BaseModel

from cwtest.fuzz import InProcessTarget, timeout_fault
from cwtest.simulator import DropConnection, HttpError, SimulatedRuntime

HERE = Path(__file__).resolve()
FIXTURES = HERE.parent.parent.parent / "fixtures" / "fuzz"


class Ask(BaseModel):
    prompt: str


def build_app(events: list[str]) -> FastAPI:
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.post("/crash")
    async def crash(body: Ask) -> dict:
        table = {"known": 1}
        return {"value": table[body.prompt]}  # KeyError for anything else

    @app.get("/missing")
    async def missing() -> dict:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.post("/ask")
    async def ask(body: Ask) -> dict:
        async with AsyncCodewordsClient() as client:
            response = await client.run(service_id="openai", inputs={"model": "gpt-4o-mini", "prompt": body.prompt})
        response.raise_for_status()  # an unhandled HTTPStatusError: the client's handler answers with its status
        return {"answer": response.json()["response"]}

    @app.post("/ask-caught")
    async def ask_caught(body: Ask) -> dict:
        started = time.perf_counter()
        try:
            async with AsyncCodewordsClient() as client:
                await client.run(service_id="openai", inputs={"model": "gpt-4o-mini", "prompt": body.prompt})
        except httpx.HTTPError as exc:
            return {"error": type(exc).__name__, "seconds": time.perf_counter() - started}
        return {"error": None, "seconds": time.perf_counter() - started}

    @app.post("/ask-sync")
    def ask_sync(body: Ask) -> dict:  # a plain def: FastAPI runs it in its thread pool
        response = CodewordsClient().run(service_id="openai", inputs={"model": "gpt-4o-mini", "prompt": body.prompt})
        return {"status": response.status_code, "answer": response.json()["response"]}

    @app.get("/outside")
    async def outside() -> dict:
        async with httpx.AsyncClient() as client:
            response = await client.get("https://api.example.com/v1/price")
        if response.status_code == 599:
            return {"status": 599}
        return {"status": response.status_code, "body": response.json()}

    @app.post("/later")
    async def later(tasks: BackgroundTasks) -> dict:
        def fail_after_answer() -> None:
            raise ValueError("the background task failed")

        tasks.add_task(fail_after_answer)
        return {"queued": True}

    @app.get("/env")
    async def env() -> dict:
        return {"uri": os.environ.get("CODEWORDS_RUNTIME_URI")}

    return app


@pytest.fixture
def target():
    events: list[str] = []
    runtime = SimulatedRuntime()
    with InProcessTarget(build_app(events), runtime) as opened:
        opened.events = events  # type: ignore[attr-defined]
        yield opened
    assert events == ["startup", "shutdown"]


def test_an_escaped_exception_is_captured_with_the_workflows_frames(target: InProcessTarget) -> None:
    outcome = target.send("POST", "/crash", {"prompt": "other"})
    assert outcome.status == 500
    assert "Internal server error" in outcome.text  # the client's patched handler answered
    [exc] = outcome.exceptions
    assert exc.type == "KeyError" and exc.message == "'other'"
    assert exc.location is not None and exc.location.startswith(f"{HERE}:")
    assert exc.frames and all(f.file == str(HERE) for f in exc.frames)
    assert exc.frames[-1].source == 'return {"value": table[body.prompt]}  # KeyError for anything else'
    assert exc.is_a("LookupError") and not exc.is_a("httpx.HTTPError")
    assert target.workflow_file == str(HERE)


def test_deliberate_http_exceptions_and_the_clients_status_errors_are_not_captured(target: InProcessTarget) -> None:
    outcome = target.send("GET", "/missing")
    assert (outcome.status, outcome.body, outcome.exceptions) == (404, {"detail": "no such thing"}, ())
    target.runtime.script("openai").fail(HttpError(429, "slow down"))
    outcome = target.send("POST", "/ask", {"prompt": "hi"})
    assert outcome.status == 429 and outcome.exceptions == ()
    [call] = target.runtime.calls("openai")
    assert call.fault == "http_error"


def test_a_timeout_fault_is_the_clients_read_timeout_at_once(target: InProcessTarget) -> None:
    target.runtime.script("openai").respond(answer=timeout_fault())
    started = time.perf_counter()
    outcome = target.send("POST", "/ask-caught", {"prompt": "hi"})
    assert outcome.body["error"] == "ReadTimeout"
    assert time.perf_counter() - started < 1.0
    # uncaught, it escapes as the client's own error (httpx.HTTPError), which the engine tolerates
    outcome = target.send("POST", "/ask", {"prompt": "hi"})
    [exc] = outcome.exceptions
    assert exc.type == "httpx.ReadTimeout" and exc.is_a("httpx.HTTPError") and exc.is_a("httpx.TimeoutException")


def test_a_dropped_connection_is_a_remote_protocol_error(target: InProcessTarget) -> None:
    target.runtime.script("openai").fail(DropConnection())
    outcome = target.send("POST", "/ask-caught", {"prompt": "hi"})
    assert outcome.body["error"] == "RemoteProtocolError"


def test_the_sync_client_reaches_the_simulator_from_the_thread_pool(target: InProcessTarget) -> None:
    target.runtime.script("openai").respond({"response": "from the sync client"})
    outcome = target.send("POST", "/ask-sync", {"prompt": "hi"})
    assert outcome.body == {"status": 200, "answer": "from the sync client"}
    assert [c.service for c in target.runtime.calls()] == ["openai"]


def test_other_hosts_are_answered_599_and_recorded_never_sent(target: InProcessTarget) -> None:
    outcome = target.send("GET", "/outside")
    assert outcome.body == {"status": 599}
    assert target.external == [{"method": "GET", "url": "https://api.example.com/v1/price", "mocked": False}]


def test_mock_external_answers_outbound_requests_as_the_harness_does(target: InProcessTarget) -> None:
    target.mock_external("https://api.example.com/", {"price": 1})
    target.mock_external("https://api.example.com/v1/", {"price": 3})  # the longest prefix wins
    target.mock_external("https://api.example.com/v1/price", {"price": 4}, method="POST")  # not for a GET
    outcome = target.send("GET", "/outside")
    assert outcome.body == {"status": 200, "body": {"price": 3}}
    assert target.external == [{"method": "GET", "url": "https://api.example.com/v1/price", "mocked": True}]


def test_a_background_task_failing_after_the_answer_counts_for_its_request(target: InProcessTarget) -> None:
    outcome = target.send("POST", "/later")
    assert outcome.status == 200
    assert [e.type for e in outcome.exceptions] == ["ValueError"]
    assert target.send("GET", "/missing").exceptions == ()


def test_environment_transports_and_ssl_are_restored_on_close() -> None:
    from httpx._transports import default

    before_env = os.environ.get("CODEWORDS_RUNTIME_URI")
    original = (httpx.AsyncHTTPTransport.handle_async_request, httpx.HTTPTransport.handle_request,
                default.create_ssl_context)
    with InProcessTarget.from_path(FIXTURES / "planted_bugs.py", SimulatedRuntime()) as target:
        module = target.module
        assert module is not None and sys.modules[module.__name__] is module
        assert os.environ["CODEWORDS_RUNTIME_URI"] == target.runtime_url
        assert os.environ["LOGLEVEL"] == "WARNING"  # the header's declared default
        assert default.create_ssl_context() is default.create_ssl_context()  # one context, ~80 ms saved per client
        body = {"company": "Acme", "contact": "ops@acme.io", "plan": "team", "seats": 12}
        outcome = target.send("POST", "/", body)
        assert outcome.status == 200 and outcome.body["reference"] == "Q-ACME-012"
        assert [c.service for c in target.runtime.calls()] == ["openai"]
    assert os.environ.get("CODEWORDS_RUNTIME_URI") == before_env
    assert module.__name__ not in sys.modules
    assert (httpx.AsyncHTTPTransport.handle_async_request, httpx.HTTPTransport.handle_request,
            default.create_ssl_context) == original


def test_two_open_targets_each_reach_their_own_runtime() -> None:
    first, second = SimulatedRuntime(), SimulatedRuntime()
    first.script("openai").respond({"response": "first"})
    second.script("openai").respond({"response": "second"})
    with InProcessTarget(build_app([]), first) as a, InProcessTarget(build_app([]), second) as b:
        assert b.send("POST", "/ask", {"prompt": "x"}).body == {"answer": "second"}
        assert a.send("POST", "/ask", {"prompt": "x"}).body == {"answer": "first"}
        assert a.send("GET", "/env").body == {"uri": a.runtime_url}
    assert len(first.calls()) == 1 and len(second.calls()) == 1


def test_a_module_level_client_keeps_working_across_requests() -> None:
    """The target keeps one event loop, so objects bound to it at the first request stay usable."""
    app = FastAPI()
    state: dict[str, asyncio.AbstractEventLoop] = {}

    @app.get("/loop")
    async def loop() -> dict:
        state.setdefault("loop", asyncio.get_running_loop())
        return {"same": state["loop"] is asyncio.get_running_loop()}

    with InProcessTarget(app, SimulatedRuntime(), lifespan=False) as target:
        assert [target.send("GET", "/loop").body for _ in range(3)] == [{"same": True}] * 3
