"""The plugin's parts that need no pytest run of their own: static routes, exception events, seeds."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cwtest.fuzz.report import Failure
from cwtest.fuzz.schema import RequestSpec
from cwtest.plugin.items import item_seed
from cwtest.plugin.pool import json_loads, mock_spec
from cwtest.plugin.report import regression_test
from cwtest.plugin.routes import find_routes
from cwtest.fuzz.sandbox_target import exception_info, hierarchy

WORKFLOWS = Path(__file__).resolve().parent / "workflows"


def routes_of(source: str) -> tuple[str | None, list[str], list[str]]:
    found = find_routes(Path("wf.py"), textwrap.dedent(source))
    return found.app, found.names, found.dynamic


def test_routes_are_read_from_the_decorators_of_the_served_app() -> None:
    app, names, dynamic = routes_of('''
        import fastapi
        from fastapi import APIRouter, FastAPI as Api

        admin = Api()          # not served: "app" is
        app = Api(title="x")
        api = APIRouter(prefix="/v1")
        BASE = "/files"

        @app.post("/")
        async def root(): ...

        @app.get("/items/{item_id}")
        async def item(item_id: int): ...

        @app.api_route("/both", methods=["GET", "POST", "HEAD"])
        async def both(): ...

        @app.get("/hidden", include_in_schema=False)
        async def hidden(): ...

        @app.get(BASE + "/{name:path}")
        async def files(name: str): ...

        @app.websocket("/ws")
        async def ws(socket): ...

        @admin.delete("/admin")
        async def admin_only(): ...

        @api.put("/things/{id}")
        async def thing(id: int): ...

        async def ping(): ...

        app.add_api_route("/ping", ping)
        app.include_router(api, prefix="/api")
    ''')
    assert app == "app"
    assert names == ["POST /", "GET /items/{item_id}", "GET /both", "POST /both", "GET /files/{name}",
                     "PUT /api/v1/things/{id}", "GET /ping"]
    assert dynamic == []


def test_what_cannot_be_read_statically_is_named() -> None:
    app, names, dynamic = routes_of('''
        from fastapi import FastAPI
        from routes import router

        app = FastAPI()

        def build():
            @app.get("/inner")
            async def inner(): ...

        for name in ("a", "b"):
            app.add_api_route(f"/{name}", build)

        app.include_router(router)
    ''')
    assert (app, names) == ("app", [])
    assert dynamic == ["wf.py:8: route get on app defined inside a function or class",
                       "wf.py:12: app route with a path cwtest cannot read statically",
                       "wf.py:14: a router cwtest cannot follow statically"]


def test_no_app_and_a_syntax_error_give_no_routes() -> None:
    assert routes_of("import fastapi\nx = 1\n") == (None, [], [])
    broken = find_routes(Path("wf.py"), "def (:\n")
    assert broken.routes == [] and broken.syntax_error is not None and "line 1" in broken.syntax_error


def test_the_test_workflows_routes() -> None:
    assert find_routes(WORKFLOWS / "buggy.py").names == ["GET /health", "POST /quote", "POST /triage"]
    assert find_routes(WORKFLOWS / "clean.py").names == ["GET /health", "POST /"]


# --- exception events -----------------------------------------------------------------------------

def event(exc_type: str, message: str, **extra: object) -> dict[str, object]:
    workflow = str(WORKFLOWS / "buggy.py")
    return {"type": "exception", "exc_type": exc_type, "message": message, "location": f"{workflow}:68",
            "stack": [f"{workflow}:68 in quote", "/usr/lib/python3.11/json/decoder.py:355 in raw_decode"], **extra}


def test_a_bootstrap_event_becomes_the_engines_exception_info() -> None:
    info = exception_info(event("KeyError", "KeyError: 'yearly'"))
    assert (info.type, info.message) == ("KeyError", "'yearly'")
    assert info.is_a("LookupError") and not info.is_a("httpx.HTTPError")
    assert info.frames[0].function == "quote"
    assert info.frames[0].source == "return Quote(total=PRICES[request.plan] * request.seats, currency=CURRENCY)"
    assert info.location.endswith("buggy.py:68")


def test_module_qualified_names_are_kept_and_the_clients_errors_recognised() -> None:
    status = exception_info(event("HTTPStatusError", "httpx.HTTPStatusError: Server error '500 Internal Server "
                                                     "Error' for url 'http://runtime.cwtest.invalid/run/openai/'"))
    assert status.type == "httpx.HTTPStatusError" and status.message.startswith("Server error '500")
    assert status.is_a("httpx.HTTPError")
    decode = exception_info(event("JSONDecodeError", "json.decoder.JSONDecodeError: Expecting value: line 1"))
    assert (decode.type, decode.message) == ("json.JSONDecodeError", "Expecting value: line 1")
    assert decode.is_a("ValueError")
    sdk = exception_info(event("RateLimitError", "openai.RateLimitError: Error code: 429"))
    assert sdk.type == "openai.RateLimitError" and sdk.is_a("openai.APIError")
    # A name the workflow defines is never imported here: it is only an Exception.
    own = exception_info(event("QuotaError", "buggy.QuotaError: over quota"))
    assert own.type == "buggy.QuotaError" and own.mro == ("buggy.QuotaError", "builtins.Exception",
                                                          "builtins.BaseException")
    # The message was cut at its start (the bootstrap keeps its last 2,000 characters).
    cut = exception_info(event("ReadTimeout", "...the end of a long message"))
    assert cut.type == "httpx.ReadTimeout" and cut.is_a("httpx.HTTPError") and cut.message.endswith("message")


def test_the_event_the_patched_bootstrap_sends_is_taken_as_is() -> None:
    workflow = str(WORKFLOWS / "buggy.py")
    info = exception_info({"type": "exception", "exc_type": "JSONDecodeError",
                           "message": "json.decoder.JSONDecodeError: Expecting value", "location": f"{workflow}:80",
                           "frames": [[workflow, 80, "triage", "payload = response.json()"]],
                           "mro": ["json.JSONDecodeError", "builtins.ValueError", "builtins.Exception"]})
    assert (info.type, info.message, info.frames[0].source) == ("json.JSONDecodeError", "Expecting value",
                                                                 "payload = response.json()")


def test_hierarchies_come_from_known_libraries_only() -> None:
    assert hierarchy("KeyError")[:2] == ("builtins.KeyError", "builtins.LookupError")
    assert "httpx.TransportError" in hierarchy("httpx.ReadTimeout")
    assert hierarchy("pydantic_core._pydantic_core.ValidationError")[0] == "pydantic_core.ValidationError"
    assert hierarchy("anthropic.APIStatusError")[:2] == ("anthropic.APIStatusError", "anthropic.APIError")


# --- seeds, mocks, regression tests -----------------------------------------------------------------

def test_each_items_seed_derives_from_the_run_seed_and_the_node_id() -> None:
    one = item_seed(0, "workflows/a.py::fuzz[POST /]")
    assert one == item_seed(0, "workflows/a.py::fuzz[POST /]")
    assert one != item_seed(1, "workflows/a.py::fuzz[POST /]")
    assert one != item_seed(0, "workflows/a.py::faults[POST /]")
    assert 0 <= one < 1 << 32


def test_a_mock_is_a_hashable_key_and_round_trips_to_the_harness() -> None:
    from cwtest.harness.runner import ExternalResponse

    spec = mock_spec("https://api.example.com/", {"b": 1, "a": [1, 2]})
    assert spec == mock_spec("https://api.example.com/", {"a": [1, 2], "b": 1})
    assert ExternalResponse(**json_loads(spec[2])) == ExternalResponse(json={"a": [1, 2], "b": 1})
    raw = mock_spec("https://x/", ExternalResponse(status=503, content=b"\xff\x00", headers={"x": "1"}), "get")
    assert raw[1] == "GET" and ExternalResponse(**json_loads(raw[2])).content == b"\xff\x00"


@pytest.mark.parametrize("kind, check, assertion", [
    ("unhandled-exception", "fuzz", "escaped = list(outcome.exceptions)"),
    ("server-error", "fuzz", "assert outcome.status is not None and outcome.status < 500"),
    ("response-model", "fuzz", "problem = response_problem(workflow.schema, 'POST', '/quote', outcome)"),
    ("service-contract", "fuzz", "problems = [p for call in runtime.calls() for p in call.problems]"),
])
def test_the_regression_test_uses_the_cw_workflow_fixture(kind: str, check: str, assertion: str) -> None:
    request = RequestSpec("POST", "/quote", "/quote", json_body={"plan": "yearly", "seats": 1})
    failure = Failure(kind=kind, check=check, route="POST /quote", message="boom", signature=(kind,),
                      request=request, fault=None, status=500, exception=None, calls=[], shrunk=True)
    code = regression_test(failure, "workflows/buggy.py")
    compile(code, "test_regression.py", "exec")
    assert "(cw_workflow) -> None:" in code
    assert "workflow = cw_workflow('workflows/buggy.py')" in code
    assert "outcome = workflow.send('POST', '/quote', {'plan': 'yearly', 'seats': 1})" in code
    assert assertion in code


def test_a_mock_added_to_a_running_workflow_keeps_it_out_of_the_pool() -> None:
    """With a harness that can add a mock to a running process, the process leaves the pool after the test."""
    from cwtest.plugin.pool import CwWorkflow, Pool, Settings, _Entry

    class Booted:
        def __init__(self) -> None:
            self.mocks: list[tuple[str, object]] = []
            self.runtime = type("Runtime", (), {"reset": lambda self: None})()

        def mock_external(self, url: str, response: object, method: str | None = None) -> None:
            self.mocks.append((url, response))

    class Stack:
        closed = False

        def close(self) -> None:
            Stack.closed = True

    pool = Pool(Settings())
    booted = Booted()
    key = (Path("/w.py"), ())
    entry = _Entry(key, booted, Stack(), target=type("T", (), {"dead": None, "counts": lambda self: {}})())
    pool.entries[key] = entry
    pool.acquire = lambda path, mocks=(): entry  # type: ignore[method-assign]
    handle = CwWorkflow(pool, Path("/w.py"))
    assert handle.runtime is booted.runtime and entry.users == 1
    handle.mock_external("https://api.example.com/", {"ok": True})
    assert booted.mocks == [("https://api.example.com/", {"ok": True})]
    handle.close()
    assert Stack.closed and key not in pool.entries and entry.users == 0
