"""The service-and-runtime rules (CW202-CW206, CW208) beyond their embedded examples.

- CW206 against CPython's own compiler: every placement of `await`/`async with`/`async for`
  in every kind of scope, and a sample of the stdlib (which compiles, so must be clean).
- CW205's verdict for each client version, pinned or configured.
- CW203's name resolution: aliases caught, look-alikes left alone.
- CW202 beside CW201, and its fix on unusual files; CW204's fix with two apps; CW208 edges.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cwlint.config import Settings
from cwlint.diagnostics import Severity
from cwlint.engine import fix_source, lint_source
from cwlint.source import SourceFile


def lint(code: str, *codes: str, **settings) -> list:
    source = SourceFile("workflow.py", textwrap.dedent(code).lstrip("\n"))
    return lint_source(source, Settings(select=list(codes), **settings))


def fix(code: str, *codes: str, unsafe: bool = False) -> str:
    source = SourceFile("workflow.py", code)
    outcome = fix_source(source, Settings(select=list(codes)), unsafe=unsafe)
    assert outcome.failure is None
    return outcome.text


# -- CW206 against compile() ---------------------------------------------------------------
CONSTRUCTS = {
    "await": ("expr", "await x()"),
    "async with": ("stmt", "async with x() as y:\n    pass"),
    "async for": ("stmt", "async for i in x():\n    pass"),
    "async listcomp": ("expr", "[i async for i in x()]"),
    "async genexp": ("expr", "list(i async for i in x())"),
    "await in genexp": ("expr", "list(await i for i in x())"),
    "await in listcomp": ("expr", "[await i for i in x()]"),
}

# Each context places `{stmt}` (a statement) or `{expr}` (an expression) somewhere.
CONTEXTS = {
    "module": "{stmt}",
    "main guard": 'if __name__ == "__main__":\n{stmt4}',
    "def": "def f():\n{stmt4}",
    "async def": "async def f():\n{stmt4}",
    "method": "class A:\n    def m(self):\n{stmt8}",
    "async method": "class A:\n    async def m(self):\n{stmt8}",
    "class body": "class A:\n{stmt4}",
    "class in async def": "async def f():\n    class A:\n{stmt8}",
    "lambda in async def": "async def f():\n    g = lambda: {expr}",
    "def in async def": "async def f():\n    def g():\n{stmt8}",
    "default in async def": "async def f():\n    def g(a={expr}):\n        pass",
    "decorator in async def": "async def f():\n    @d({expr})\n    def g():\n        pass",
    "default at module": "def g(a={expr}):\n    pass",
    "async def in def": "def f():\n    async def g():\n{stmt8}",
    "comprehension in async def": "async def f():\n    return [{expr} for _ in range(2)]",
    "comprehension in def": "def f():\n    return [{expr} for _ in range(2)]",
    "genexp in def": "def f():\n    return list({expr} for _ in range(2))",
}


def _place(context: str, kind: str, text: str) -> str | None:
    if kind == "stmt" and "{stmt" not in context:
        return None  # a statement cannot go where an expression is expected
    return context.format(
        stmt=text,
        stmt4=textwrap.indent(text, "    "),
        stmt8=textwrap.indent(text, "        "),
        expr=text,
    )


def _compiles(code: str) -> bool:
    try:
        compile(code, "<cw206>", "exec")
    except SyntaxError:
        return False
    return True


PLACEMENTS = [
    pytest.param(code, id=f"{construct} / {context}")
    for context, template in CONTEXTS.items()
    for construct, (kind, text) in CONSTRUCTS.items()
    if (code := _place(template, kind, text)) is not None
]


@pytest.mark.parametrize("code", PLACEMENTS)
def test_cw206_agrees_with_the_compiler(code: str) -> None:
    found = [d for d in lint(code, "CW206") if d.code == "CW206"]
    assert bool(found) == (not _compiles(code)), code


def _stdlib_sample(count: int = 100) -> list[Path]:
    root = Path(textwrap.__file__).parent
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size < 200_000)
    step = max(1, len(files) // count)
    return files[::step][:count]


def test_cw206_is_silent_on_the_stdlib() -> None:
    """Modules that compile hold no await/async outside an async function."""
    sample = _stdlib_sample()
    assert len(sample) >= 50
    for path in sample:
        text = path.read_text(encoding="utf-8")
        assert _compiles(text)
        found = lint_source(SourceFile(str(path), text), Settings(select=["CW206"]))
        assert [d for d in found if d.code == "CW206"] == [], path


# -- CW205 and the client version ------------------------------------------------------------
def _logger_file(pin: str | None, body: str = 'logger.info("got", event=kind)') -> str:
    header = f'# /// script\n# dependencies = ["codewords-client=={pin}"]\n# ///\n' if pin else ""
    return header + f"from codewords_client import logger\n\ndef on(kind):\n    {body}\n"


@pytest.mark.parametrize(
    ("pin", "severity"),
    [
        (None, Severity.ERROR),  # no pin: the docs' 0.3.4
        ("0.2.4", Severity.ERROR),
        ("0.3.4", Severity.ERROR),
        ("0.4.8", Severity.ERROR),  # the last release without the rename
        ("0.4.10", Severity.WARNING),
        ("0.4.11", Severity.WARNING),
        ("0.5.0", Severity.WARNING),
    ],
)
def test_cw205_severity_follows_the_pin(pin: str | None, severity: Severity) -> None:
    [finding] = lint(_logger_file(pin), "CW205")
    assert finding.severity is severity
    if pin is not None:
        assert pin in finding.message


def test_cw205_configured_target_version() -> None:
    [finding] = lint(_logger_file(None), "CW205", target_client_version=(0, 4, 11))
    assert finding.severity is Severity.WARNING
    # The header's pin wins over the configured target.
    [finding] = lint(_logger_file("0.3.4"), "CW205", target_client_version=(0, 4, 11))
    assert finding.severity is Severity.ERROR


@pytest.mark.parametrize(
    "body",
    [
        'logger.fatal("got", event=kind)',  # not wrapped by the client's logger
        'await logger.ainfo("got", event=kind)',  # structlog's async methods neither
    ],
)
def test_cw205_unwrapped_methods_are_errors_on_new_clients(body: str) -> None:
    code = _logger_file("0.4.11", body).replace("def on", "async def on")
    [finding] = lint(code, "CW205")
    assert finding.severity is Severity.ERROR


@pytest.mark.parametrize(
    "configure",
    ["import structlog\nstructlog.configure(processors=[])", "from structlog import configure\nconfigure(processors=[])"],
)
def test_cw205_own_structlog_config_is_an_error_on_new_clients(configure: str) -> None:
    code = _logger_file("0.4.11") + f"\n{configure}\n"
    [finding] = lint(code, "CW205")
    assert finding.severity is Severity.ERROR
    assert "configures structlog" in finding.message


@pytest.mark.parametrize(
    "body",
    [
        'logger.info(event="got")',  # the message as event=: structlog's own form
        'logger.info("got", event_type=kind)',
        'logger.info(*parts, event=kind)',  # unknown arity: not judged
        'logger.log(20, event=kind)',  # log(level, ...) without a message
    ],
)
def test_cw205_near_misses(body: str) -> None:
    assert lint(_logger_file("0.3.4", body), "CW205") == []


# -- CW203: names resolved through imports ----------------------------------------------------
BLOCKING = [
    ("import requests as rq", "rq.post(url, json={})"),
    ("from requests import get", "get(url)"),
    ("from time import sleep", "sleep(1)"),
    ("from time import sleep as nap", "nap(1)"),
    ("import urllib.request", "urllib.request.urlopen(url)"),
    ("from urllib.request import urlopen", "urlopen(url)"),
    ("import subprocess as sp", 'sp.run(["ls"])'),
    ("import httpx", "httpx.get(url)"),
    ("from httpx import Client", "Client()"),
    ("import psycopg2", "psycopg2.connect(url)"),
    ("import pymysql", "pymysql.connect(host=url)"),
    ("import codewords_client", "codewords_client.CodewordsClient()"),
    ("import os", "os.system('ls')"),
    ("import smtplib", "smtplib.SMTP('smtp.example.com')"),
]
LOOK_ALIKES = [
    ("import asyncio", "asyncio.sleep(1)"),
    ("import trio", "trio.sleep(1)"),
    ("import aiofiles", "aiofiles.open(url)"),
    ("from aiofiles import open", "open(url)"),
    ("import requests", "requests.exceptions.HTTPError('x')"),
    ("import requests", "requests.utils.quote(url)"),
    ("import httpx", "httpx.AsyncClient()"),
    ("import redis.asyncio as redis", "redis.Redis()"),
    ("from redis import asyncio as aioredis", "aioredis.from_url(url)"),
    ("import time", "time.monotonic()"),
    ("import subprocess", "subprocess.Popen"),  # not called
    ("data = {}", "data.get(url)"),
    ("import asyncio\nimport requests", "asyncio.to_thread(requests.get, url)"),
]


@pytest.mark.parametrize(("imports", "call"), BLOCKING, ids=[c for _, c in BLOCKING])
def test_cw203_catches_aliases(imports: str, call: str) -> None:
    code = f"{imports}\n\nasync def handler(url):\n    return {call}\n"
    found = lint(code, "CW203")
    assert [d.code for d in found] == ["CW203"], code
    # The same call in a plain def is fine.
    assert lint(code.replace("async def", "def"), "CW203") == []


@pytest.mark.parametrize(("imports", "call"), LOOK_ALIKES, ids=[c for _, c in LOOK_ALIKES])
def test_cw203_leaves_look_alikes(imports: str, call: str) -> None:
    code = f"{imports}\n\nasync def handler(url):\n    return {call}\n"
    assert lint(code, "CW203") == [], code


def test_cw203_open_is_a_warning() -> None:
    [finding] = lint("async def read(path):\n    with open(path) as fh:\n        return fh.read()\n", "CW203")
    assert finding.severity is Severity.WARNING


def test_cw203_sleep_fix_reuses_an_asyncio_alias() -> None:
    code = "import asyncio as aio\nimport time\n\nasync def wait():\n    time.sleep(0.5)\n"
    assert fix(code, "CW203", unsafe=True) == "import asyncio as aio\nimport time\n\nasync def wait():\n    await aio.sleep(0.5)\n"
    assert fix(code, "CW203") == code  # unsafe only


def test_cw203_sleep_fix_on_an_awaited_time_sleep() -> None:
    code = "import time\n\nasync def wait():\n    await time.sleep(0.5)\n"
    assert fix(code, "CW203", unsafe=True) == "import time\nimport asyncio\n\nasync def wait():\n    await asyncio.sleep(0.5)\n"


# -- CW202 ---------------------------------------------------------------------------------
HEADER = '# /// script\n# dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]\n# ///\n'


def test_cw202_leaves_uvicorn_run_to_cw201() -> None:
    code = HEADER + (
        "import uvicorn\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n"
        'if __name__ == "__main__":\n    uvicorn.run(app, host="0.0.0.0", port=8000)\n'
    )
    found = lint(code, "CW201", "CW202")
    assert [d.code for d in found] == ["CW201"]
    fixed = fix(code, "CW201", "CW202")
    assert fixed.count("run_service(app)") == 1 and "uvicorn.run" not in fixed


def test_cw202_fix_without_trailing_newline_and_with_crlf() -> None:
    code = HEADER + "from fastapi import FastAPI\n\napp = FastAPI()\n\n@app.get('/')\nasync def root():\n    return {}"
    fixed = fix(code, "CW202")
    assert fixed.endswith('    return {}\n\n\nif __name__ == "__main__":\n    run_service(app)\n')
    assert "from codewords_client import run_service\n" in fixed
    crlf = code.replace("\n", "\r\n") + "\r\n"
    fixed = fix(crlf, "CW202")
    assert fixed.endswith('\r\n\r\n\r\nif __name__ == "__main__":\r\n    run_service(app)\r\n')
    assert "\n" not in fixed.replace("\r\n", "")


def test_cw202_needs_a_module_level_app_in_a_workflow() -> None:
    # A test module that imports the app from the workflow defines none.
    assert lint(HEADER + "from workflow import app\n\ndef test_app():\n    assert app\n", "CW202") == []
    # Not a workflow at all: scope keeps it out.
    assert lint("from fastapi import FastAPI\n\napp = FastAPI()\n", "CW202") == []


# -- CW204 ---------------------------------------------------------------------------------
def test_cw204_fix_moves_the_import_above_the_first_app() -> None:
    code = (
        "from fastapi import FastAPI\n\n"
        "public = FastAPI()\n"
        "admin = FastAPI()\n\n"
        "from codewords_client import logger, run_service\n"
    )
    assert [(d.code, d.start.line) for d in lint(code, "CW204")] == [("CW204", 3), ("CW204", 4)]
    fixed = fix(code, "CW204", unsafe=True)
    assert fixed == (
        "from fastapi import FastAPI\n\n"
        "from codewords_client import logger, run_service\n"
        "public = FastAPI()\n"
        "admin = FastAPI()\n\n"
    )
    assert lint(fixed, "CW204") == []


def test_cw204_auto_setup_false_is_not_its_business() -> None:
    # Without any client import there is no patch to miss.
    assert lint("from fastapi import FastAPI\n\napp = FastAPI()\n", "CW204") == []


# -- CW208 ---------------------------------------------------------------------------------
ROUTE = """
from fastapi import FastAPI, status
from fastapi.responses import JSONResponse

app = FastAPI()

@app.post("/")
async def handler(body: dict):
    try:
        return await work(body)
    except Exception as exc:
        {body}
"""


@pytest.mark.parametrize(
    ("body", "reported"),
    [
        ('return {"error": str(exc)}', True),
        ("return None", True),
        ('return JSONResponse({"error": "x"})', True),  # 200 by default
        ('return JSONResponse({"error": "x"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)', False),
        ('return JSONResponse({"error": "x"}, 503)', False),
        ('return JSONResponse({"error": "x"}, status_code=code_for(exc))', False),  # unknown: not judged
        ('return JSONResponse({"ok": True}, status_code=200)', True),
        ('print("failed", exc)\n        return {"ok": True}', False),
        ('errors.append(str(exc))\n        return {"ok": True}', False),
        ('raise', False),
    ],
)
def test_cw208_route_returns(body: str, reported: bool) -> None:
    found = lint(ROUTE.format(body=body), "CW208")
    assert bool(found) == reported


@pytest.mark.parametrize(
    ("guarded", "reported"),
    [
        ('requests.post(url, json=payload, timeout=10)', True),  # sync HTTP is I/O too
        ('client.run(service_id="hunter", inputs=payload)', True),  # a library service call
        ("json.loads(payload)", False),  # a parse: not judged
        ("int(payload)", False),
    ],
)
def test_cw208_only_judges_a_try_around_io(guarded: str, reported: bool) -> None:
    code = f"""
    import json
    import requests

    def push(client, url, payload):
        try:
            {guarded}
        except Exception:
            return {{"success": True}}
        return {{"success": True}}
    """
    assert bool(lint(code, "CW208")) == reported


def test_cw208_nested_function_returns_are_not_the_handlers() -> None:
    code = """
    def outer():
        try:
            work()
        except Exception:
            def fallback():
                return True
            return fallback
    """
    assert lint(code, "CW208") == []
