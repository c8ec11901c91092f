"""The plugin's parts that need no pytest run of their own: static routes, exception events, seeds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cwtest.fuzz.repro import Failure
from cwtest.fuzz.target import exception_info
from cwtest.harness.child import protocol, stacks
from cwtest.results import Request
from cwtest.plugin.items import item_seed
from cwtest.harness.pool import json_loads, mock_spec
from cwtest.plugin.routes import find_routes

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

def event(raise_it: str, line: int = 68, function: str = "quote") -> protocol.ExceptionReport:
    """The message the real child sends for an exception raised at ``buggy.py:line`` in ``function``,
    as the parent decodes it."""
    workflow = str(WORKFLOWS / "buggy.py")
    code = "\n" * (line - 2) + f"def {function}():\n    {raise_it}\n"
    namespace: dict[str, object] = {}
    exec(compile(code, workflow, "exec"), namespace)  # the frame is buggy.py's line, as at run time
    try:
        namespace[function]()  # type: ignore[operator]
    except Exception as exc:  # any exception: that is the point
        sent = protocol.encode(protocol.ExceptionReport(**stacks.exception_report(exc, workflow)))
        decoded = protocol.decode(sent.rstrip(b"\n"), protocol.CHILD)
        assert isinstance(decoded, protocol.ExceptionReport)
        return decoded
    raise AssertionError("nothing was raised")


ROUTER_TWICE = """
from fastapi import APIRouter, FastAPI
app = FastAPI()
router = APIRouter()

@router.get("/items")
def items(): ...

@router.post("/items")
def add(): ...

app.include_router(router, prefix="/v1")
app.include_router(router, prefix="/v2")
app.include_router(router, prefix="/a")
app.include_router(router, prefix="/zz")
"""


def test_the_route_order_is_the_same_in_every_process() -> None:
    """Item order must not follow string hashing (randomised per process): pytest-split's groups and
    xdist's workers each collect on their own and must agree."""
    script = ("import sys, textwrap\nfrom pathlib import Path\nfrom cwtest.plugin.routes import find_routes\n"
              "print(find_routes(Path('wf.py'), sys.stdin.read()).names)")
    orders = set()
    for seed in range(6):
        done = subprocess.run([sys.executable, "-c", script], input=ROUTER_TWICE, capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}, timeout=60, check=True)
        orders.add(done.stdout.strip())
    assert orders == {str(["GET /a/items", "GET /v1/items", "GET /v2/items", "GET /zz/items",
                           "POST /a/items", "POST /v1/items", "POST /v2/items", "POST /zz/items"])}


def test_a_childs_exception_message_becomes_the_engines_exception_info() -> None:
    info = exception_info(event("{}['yearly']"))
    assert (info.type, info.message) == ("KeyError", "'yearly'")
    assert info.is_a("LookupError") and not info.is_a("httpx.HTTPError")
    assert info.frames[0].function == "quote"
    assert info.frames[0].source == "return Quote(total=PRICES[request.plan] * request.seats, currency=CURRENCY)"
    assert info.location.endswith("buggy.py:68")


def test_module_qualified_names_are_kept_and_the_clients_errors_recognised() -> None:
    status = exception_info(event(
        "import httpx; request = httpx.Request('POST', 'http://runtime.cwtest.invalid/run/openai/'); "
        "raise httpx.HTTPStatusError(\"Server error '500 Internal Server Error'\", request=request, "
        "response=httpx.Response(500, request=request))"))
    assert status.type == "httpx.HTTPStatusError" and status.message.startswith("Server error '500")
    assert status.is_a("httpx.HTTPError")
    decode = exception_info(event("import json; json.loads('')"))
    assert (decode.type, decode.message) == ("json.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)")
    assert decode.is_a("ValueError") and "json" in decode.via
    # A class the workflow defines: its own name, an Exception, nothing imported to know it.
    own = exception_info(event("raise type('QuotaError', (Exception,), {'__module__': 'buggy'})('over quota')"))
    assert own.type == "buggy.QuotaError" and own.message == "over quota"
    assert own.mro == ("buggy.QuotaError", "builtins.Exception", "builtins.BaseException", "builtins.object")
    timeout = exception_info(event("import httpx; raise httpx.ReadTimeout('')"))
    assert timeout.type == "httpx.ReadTimeout" and timeout.is_a("httpx.HTTPError") and timeout.message == ""


def test_a_message_cut_at_its_start_is_kept_as_sent() -> None:
    """The child keeps the last 2,000 characters of a long message."""
    sent = event("raise ValueError('x' * 3000)")
    assert len(sent.message) == 2000 and not sent.message.startswith("ValueError")
    info = exception_info(sent)
    assert info.type == "ValueError" and info.message == "x" * 2000


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
    ("unhandled-exception", "fuzz", "escaped = list(response.exceptions)"),
    ("server-error", "fuzz", "assert response.status is not None and response.status < 500"),
    ("response-model", "fuzz", "problem = response_problem(workflow.schema, 'POST', '/quote', response)"),
    ("service-contract", "fuzz", "problems = [p for call in runtime.calls() for p in call.problems]"),
])
def test_the_regression_test_uses_the_cw_workflow_fixture(kind: str, check: str, assertion: str) -> None:
    request = Request("POST", "/quote", "/quote", json_body={"plan": "yearly", "seats": 1})
    failure = Failure(kind=kind, check=check, route="POST /quote", message="boom", signature=(kind,),
                      request=request, fault=None, status=500, exception=None, calls=[], shrunk=True)
    code = failure.finding("/work/workflows/buggy.py", "workflows/buggy.py").repro.regression_test
    compile(code, "test_regression.py", "exec")
    assert "(cw_workflow) -> None:" in code
    assert "workflow = cw_workflow('workflows/buggy.py')" in code
    assert "response = workflow.send('POST', '/quote', {'plan': 'yearly', 'seats': 1})" in code
    assert assertion in code


def test_a_mock_added_to_a_running_workflow_keeps_it_out_of_the_pool() -> None:
    """With a harness that can add a mock to a running process, the process leaves the pool after the test."""
    from cwtest.harness.pool import CwWorkflow, Pool, Settings, _Entry

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
    booted.dead = None
    booted.counts = lambda: {}
    entry = _Entry(key, booted, Stack())
    pool.entries[key] = entry
    pool.acquire = lambda path, mocks=(): entry  # type: ignore[method-assign]
    handle = CwWorkflow(pool, Path("/w.py"))
    assert handle.runtime is booted.runtime and entry.users == 1
    handle.mock_external("https://api.example.com/", {"ok": True})
    assert booted.mocks == [("https://api.example.com/", {"ok": True})]
    handle.close()
    assert Stack.closed and key not in pool.entries and entry.users == 0
