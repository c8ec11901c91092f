from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from cwlint.analysis.execution import chain, executing_scope, is_async
from cwlint.context import dotted_name
from cwlint.diagnostics import Applicability, Severity
from cwlint.edits import import_module
from cwlint.rule import Invalid, Rule, Valid

HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")

_USE_HTTPX = "use `httpx.AsyncClient` (`async with httpx.AsyncClient() as http: await http.get(...)`)"
_USE_THREAD = "or run it with `await asyncio.to_thread(...)`"

#: Blocking callables by qualified name: what to use instead.
BLOCKING: dict[str, str] = {
    **{f"requests.{verb}": _USE_HTTPX for verb in HTTP_VERBS},
    **{f"requests.api.{verb}": _USE_HTTPX for verb in HTTP_VERBS},
    "requests.Session": _USE_HTTPX,
    "requests.session": _USE_HTTPX,
    **{f"httpx.{verb}": _USE_HTTPX for verb in (*HTTP_VERBS, "stream")},
    "httpx.Client": "use `httpx.AsyncClient`",
    "urllib.request.urlopen": _USE_HTTPX,
    "time.sleep": "use `await asyncio.sleep(...)`",
    "subprocess.run": f"use `asyncio.create_subprocess_exec` {_USE_THREAD}",
    "subprocess.call": f"use `asyncio.create_subprocess_exec` {_USE_THREAD}",
    "subprocess.check_call": f"use `asyncio.create_subprocess_exec` {_USE_THREAD}",
    "subprocess.check_output": f"use `asyncio.create_subprocess_exec` {_USE_THREAD}",
    "subprocess.getoutput": f"use `asyncio.create_subprocess_shell` {_USE_THREAD}",
    "subprocess.getstatusoutput": f"use `asyncio.create_subprocess_shell` {_USE_THREAD}",
    "os.system": f"use `asyncio.create_subprocess_shell` {_USE_THREAD}",
    "codewords_client.CodewordsClient": "use `AsyncCodewordsClient` (`async with AsyncCodewordsClient() as client`)",
    "pymysql.connect": f"use an async driver (aiomysql) {_USE_THREAD}",
    "pymysql.Connect": f"use an async driver (aiomysql) {_USE_THREAD}",
    "pymysql.connections.Connection": f"use an async driver (aiomysql) {_USE_THREAD}",
    "mysql.connector.connect": f"use an async driver (aiomysql) {_USE_THREAD}",
    "psycopg2.connect": f"use an async driver (asyncpg, psycopg's AsyncConnection) {_USE_THREAD}",
    "psycopg.connect": "use `await psycopg.AsyncConnection.connect(...)`",
    "psycopg.Connection.connect": "use `await psycopg.AsyncConnection.connect(...)`",
    "pymongo.MongoClient": f"use motor's `AsyncIOMotorClient` {_USE_THREAD}",
    "redis.Redis": "use `redis.asyncio` or the client's `redis_client()`",
    "redis.StrictRedis": "use `redis.asyncio` or the client's `redis_client()`",
    "redis.from_url": "use `redis.asyncio.from_url` or the client's `redis_client()`",
    "redis.client.Redis": "use `redis.asyncio` or the client's `redis_client()`",
    "openai.OpenAI": "use `AsyncOpenAI`",
    "anthropic.Anthropic": "use `AsyncAnthropic`",
    "slack_sdk.WebClient": "use `slack_sdk.web.async_client.AsyncWebClient`",
    "slack_sdk.web.WebClient": "use `slack_sdk.web.async_client.AsyncWebClient`",
    "smtplib.SMTP": f"use aiosmtplib {_USE_THREAD}",
    "smtplib.SMTP_SSL": f"use aiosmtplib {_USE_THREAD}",
    "googleapiclient.discovery.build": f"build and call it {_USE_THREAD.removeprefix('or ')}",
}

#: Reported as warnings: a local file read or write is short, but still stalls the loop.
FILE_CALLS = frozenset({"open", "io.open"})


@dataclass(frozen=True)
class ClientKind:
    """Sync clients bound to a name at module level (or on `self`), and their I/O methods."""

    label: str
    instead: str
    methods: frozenset[str] | None  #: None: every method does I/O except ``quiet``
    quiet: frozenset[str] = frozenset()
    #: Methods reached through attributes (`client.chat.completions.create`).
    nested: frozenset[str] = frozenset()


_HTTP = ClientKind("HTTP", _USE_HTTPX, frozenset({*HTTP_VERBS, "send", "stream"}))
CLIENT_KINDS: dict[str, ClientKind] = {
    "requests.Session": _HTTP,
    "requests.session": _HTTP,
    "httpx.Client": _HTTP,
    "codewords_client.CodewordsClient": ClientKind(
        "CodeWords",
        "use `AsyncCodewordsClient`",
        frozenset({"run", "poll_result", "get_request_details", "get_logs", "create_file_upload",
                   "upload_file", "upload_file_content", "provision_request"}),
    ),
    **{
        name: ClientKind("Redis", "use `redis.asyncio` or the client's `redis_client()`", None,
                         quiet=frozenset({"pipeline", "lock", "pubsub", "register_script", "get_connection_kwargs"}))
        for name in ("redis.Redis", "redis.StrictRedis", "redis.from_url", "redis.client.Redis")
    },
    **{
        name: ClientKind("OpenAI" if name.startswith("openai") else "Anthropic",
                         "use `AsyncOpenAI`" if name.startswith("openai") else "use `AsyncAnthropic`",
                         frozenset(), nested=frozenset({"create", "parse", "stream", "retrieve", "list"}))
        for name in ("openai.OpenAI", "anthropic.Anthropic")
    },
    "slack_sdk.WebClient": ClientKind("Slack", "use `AsyncWebClient`", None, quiet=frozenset({"headers"})),
}


@dataclass
class _Frame:
    """A function being walked: its local names and the method calls to resolve later."""

    function: cst.FunctionDef | cst.Lambda | cst.ClassDef
    local: set[str]
    pending: list[tuple[cst.Call, str, str]]  #: the call, the receiver's dotted name, the method chain


class BlockingCallInAsync(Rule):
    """A blocking call inside `async def`: the whole service waits for it.

    ## What it does
    Reports, in code that runs in an `async def` (not in a nested `def` or `lambda`, which
    is how work is handed to a thread), calls of:
    - `requests.get/post/...`, `requests.Session()`, `httpx.get/post/...`, `httpx.Client()`,
      `urllib.request.urlopen`;
    - `time.sleep`;
    - `subprocess.run/call/check_call/check_output/getoutput`, `os.system`;
    - the sync `CodewordsClient()`;
    - sync SDK clients: `pymysql`, `psycopg2`/`psycopg` and `mysql.connector` connections,
      `pymongo.MongoClient`, `redis.Redis`, `openai.OpenAI`, `anthropic.Anthropic`,
      slack's `WebClient`, `smtplib.SMTP`, `googleapiclient.discovery.build`;
    - methods of such a client bound at module level or on `self` in the same class
      (`session.get(...)`, `r.set(...)`, `self.ai.chat.completions.create(...)`), unless the
      name is local to the function or is bound to something else elsewhere;
    - `open(...)` (a warning: a local file is usually quick, but a large one is not).

    Names are resolved through the imports, so `import requests as rq` and
    `from time import sleep` are caught, and `asyncio.sleep`, `trio.sleep`, `aiofiles.open`
    or a `.get()` on a dict are not. Passing the function itself to
    `asyncio.to_thread`, `loop.run_in_executor` or `run_in_threadpool` is the fix, not a
    finding; calling it inside their parentheses (`to_thread(requests.get(url))`) still
    runs it on the event loop and is reported.

    ## Why is this bad?
    A workflow is one process with one event loop. While a blocking call waits on the
    network, a subprocess or a timer, nothing else runs: concurrent requests, `gather`ed
    library calls and the keep-alive of streaming responses all stall, and timeouts
    elsewhere fire for no visible reason.

    ## Example
    ```python
    @app.post("/")
    async def check(request: CheckRequest) -> CheckResponse:
        page = requests.get(request.url, timeout=30)
        time.sleep(2)
        ...
    ```

    ## Use instead
    ```python
    @app.post("/")
    async def check(request: CheckRequest) -> CheckResponse:
        async with httpx.AsyncClient(timeout=30) as http:
            page = await http.get(request.url)
        await asyncio.sleep(2)
        ...
    ```

    ## Fix safety
    Unsafe, and only for `time.sleep(x)`, which becomes `await asyncio.sleep(x)` (adding
    `import asyncio` when needed): other tasks now run during the pause, and the pause
    becomes a point where the task can be cancelled. The other calls need a different
    library or a thread; no fix is offered for them.
    """

    code = "CW203"
    name = "blocking-call-in-async"
    triggers = ("async",)
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import asyncio
            import time

            import httpx
            import requests

            async def fetch(url: str) -> str:
                async with httpx.AsyncClient(timeout=30) as http:
                    resp = await http.get(url)
                await asyncio.sleep(1)
                return resp.text

            def fetch_sync(url: str) -> str:
                time.sleep(1)
                return requests.get(url, timeout=30).text
            """
        ),
        # Handed to a thread: the function itself, a lambda, a nested def, a partial.
        Valid(
            """
            import asyncio
            import functools
            import subprocess

            import requests
            from starlette.concurrency import run_in_threadpool

            async def render(url: str, path: str) -> None:
                page = await asyncio.to_thread(requests.get, url, timeout=30)
                await asyncio.get_running_loop().run_in_executor(None, functools.partial(requests.post, url, json={}))
                await run_in_threadpool(lambda: subprocess.run(["convert", path, "out.png"], check=True))

                def write() -> None:
                    with open(path, "w") as fh:
                        fh.write(page.text)

                await asyncio.to_thread(write)
            """
        ),
        # Look-alikes: trio and asyncio sleeps, aiofiles.open, dict.get, an async redis.
        Valid(
            """
            import aiofiles
            import trio
            from redis import asyncio as aioredis

            cache = {}

            async def load(path: str, key: str) -> str:
                await trio.sleep(0.5)
                async with aiofiles.open(path) as fh:
                    text = await fh.read()
                r = aioredis.from_url("redis://localhost")
                await r.set(key, text)
                return cache.get(key, text)
            """
        ),
        # `self.client` is async in one class and sync in the other (as in codewords_client).
        Valid(
            """
            import httpx

            class AsyncApi:
                def __init__(self) -> None:
                    self.client = httpx.AsyncClient(timeout=30)

                async def fetch(self, url: str) -> bytes:
                    return (await self.client.get(url)).content

            class SyncApi:
                def __init__(self) -> None:
                    self.client = httpx.Client(timeout=30)

                def fetch(self, url: str) -> bytes:
                    return self.client.get(url).content
            """
        ),
        # A local aiohttp session named like a module-level requests session.
        Valid(
            """
            import aiohttp
            import requests

            session = requests.Session()

            def warm() -> None:
                session.get("https://example.com/health")

            async def crawl(url: str) -> str:
                async with aiohttp.ClientSession() as session:
                    async with session.get(url) as resp:
                        return await resp.text()
            """
        ),
    ]
    INVALID = [
        # requests and time.sleep under aliases, in a FastAPI handler.
        Invalid(
            """
            import requests as rq
            from time import sleep
            from fastapi import FastAPI

            app = FastAPI()

            @app.post("/")
            async def monitor(body: dict) -> dict:
                page = rq.get(body["url"], timeout=30)
                sleep(2)
                return {"status": page.status_code}
            """,
            expected=(("CW203", 9, 12), ("CW203", 10, 5)),
            unsafe=True,
            fixed="""
            import requests as rq
            from time import sleep
            from fastapi import FastAPI
            import asyncio

            app = FastAPI()

            @app.post("/")
            async def monitor(body: dict) -> dict:
                page = rq.get(body["url"], timeout=30)
                await asyncio.sleep(2)
                return {"status": page.status_code}
            """,
        ),
        # Sync clients: the CodeWords one, httpx.Client, a module-level session and redis.
        Invalid(
            """
            import httpx
            import redis
            import requests
            from codewords_client import CodewordsClient

            session = requests.Session()
            cache = redis.Redis(host="localhost")

            async def enrich(email: str) -> dict:
                client = CodewordsClient()
                found = client.run(service_id="hunter", inputs={"email": email}).json()
                with httpx.Client(timeout=10) as http:
                    profile = http.get(f"https://api.example.com/people/{email}").json()
                session.post("https://hooks.example.com/enriched", json=found)
                cache.set(email, profile["name"])
                return profile
            """,
            expected=(("CW203", 10, 14), ("CW203", 12, 10), ("CW203", 14, 5), ("CW203", 15, 5)),
        ),
        # Called inside to_thread's parentheses: it runs first, on the loop.
        Invalid(
            """
            import asyncio
            import subprocess
            import time as t

            async def convert(path: str) -> bytes:
                out = await asyncio.to_thread(subprocess.check_output(["pdftotext", path, "-"]))
                t.sleep(0.2)
                with open(path + ".txt", "wb") as fh:
                    fh.write(out)
                return out
            """,
            expected=(("CW203", 6, 35), ("CW203", 7, 5), ("CW203", 8, 10)),
            unsafe=True,
            fixed="""
            import asyncio
            import subprocess
            import time as t

            async def convert(path: str) -> bytes:
                out = await asyncio.to_thread(subprocess.check_output(["pdftotext", path, "-"]))
                await asyncio.sleep(0.2)
                with open(path + ".txt", "wb") as fh:
                    fh.write(out)
                return out
            """,
        ),
        # A sync OpenAI client on self, used from an async method.
        Invalid(
            """
            from openai import OpenAI
            import urllib.request

            class Summarizer:
                def __init__(self) -> None:
                    self.ai = OpenAI()

                async def summarize(self, url: str) -> str:
                    html = urllib.request.urlopen(url).read().decode()
                    reply = self.ai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": html}])
                    return reply.choices[0].message.content
            """,
            expected=(("CW203", 9, 16), ("CW203", 10, 17)),
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.frames: list[_Frame] = []
        self.classes: list[str] = []
        #: Sync clients bound at module level (`session`) or on `self` in a class
        #: (`Summarizer.self.ai`); and the same keys bound to anything else (not judged).
        self.bound: dict[str, ClientKind] = {}
        self.rebound: set[str] = set()
        self.pending: list[tuple[cst.Call, str, str]] = []
        self.sleeps: list[tuple[cst.Call, bool]] = []  #: time.sleep calls, and whether already awaited

    # -- scopes and local names -------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node.name.value)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def _key(self, name: str) -> str:
        """`self.x` belongs to the class it is written in; other names to the module."""
        if name.startswith("self.") and self.classes:
            return f"{self.classes[-1]}.{name}"
        return name

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._enter(node, node.params)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._leave()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._enter(node, node.params)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._leave()

    def _enter(self, node: cst.FunctionDef | cst.Lambda, params: cst.Parameters) -> None:
        names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                names.add(star.name.value)
        self.frames.append(_Frame(node, names, []))

    def _leave(self) -> None:
        frame = self.frames.pop()
        outer = self.frames[-1].pending if self.frames else self.pending
        for call, receiver, method in frame.pending:
            if ".self." in receiver or receiver.split(".", 1)[0] not in frame.local:
                outer.append((call, receiver, method))

    def _bind_local(self, target: cst.BaseExpression) -> None:
        if not self.frames:
            return
        if isinstance(target, cst.Name):
            self.frames[-1].local.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_local(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind_local(target.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_local(target.target)
            self._bind_client(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_local(node.target)
        if node.value is not None:
            self._bind_client(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_local(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_local(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._bind_local(node.name)

    def visit_For(self, node: cst.For) -> None:
        self._bind_local(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_local(node.target)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is None:
            name = dotted_name(node.name)
            if name:
                self._bind_local(cst.Name(name.split(".")[0]))

    def _bind_client(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        name = dotted_name(target)
        if name is None or (self.frames and not name.startswith("self.")):
            return
        kind = None
        if isinstance(value, cst.Call):
            kind = CLIENT_KINDS.get(self.ctx.imports.qualified(value.func) or "")
        key = self._key(name)
        if kind is None:
            self.rebound.add(key)
        else:
            self.bound[key] = kind

    # -- calls ------------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if not self.frames:
            return
        nodes = chain(self.ctx, node)
        if not is_async(executing_scope(nodes)):
            return
        qualified = self.ctx.imports.qualified(node.func)
        if qualified in BLOCKING:
            self._report_blocking(node, qualified)
            return
        if qualified is None and isinstance(node.func, cst.Name) and node.func.value in FILE_CALLS:
            self._report_file(node)
            return
        if qualified in FILE_CALLS:
            self._report_file(node)
            return
        name = dotted_name(node.func)
        if name is not None and "." in name:
            receiver, _, method = name.rpartition(".")
            self.frames[-1].pending.append((node, self._key(receiver), method))

    def _report_blocking(self, node: cst.Call, qualified: str) -> None:
        if qualified == "time.sleep":
            parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
            self.sleeps.append((node, isinstance(parent, cst.Await) and parent.expression is node))
            return
        function = self._function_name()
        shown = self.ctx.code(node.func)
        self.report(
            node.func,
            f"`{shown}()` blocks the event loop inside `async def {function}`: {BLOCKING[qualified]}",
        )

    def _report_file(self, node: cst.Call) -> None:
        self.report(
            node.func,
            f"`{self.ctx.code(node.func)}()` does blocking file I/O inside `async def {self._function_name()}`:"
            " use `await asyncio.to_thread(...)` or aiofiles for anything larger than a small local file",
            severity=Severity.WARNING,
        )

    def _function_name(self) -> str:
        for frame in reversed(self.frames):
            if isinstance(frame.function, cst.FunctionDef):
                return frame.function.name.value
        return "<lambda>"

    def leave_Module(self, node: cst.Module) -> None:
        for call, awaited in self.sleeps:
            self.report(
                call.func,
                f"`{self.ctx.code(call.func)}()` blocks the event loop inside an `async def`: use `await asyncio.sleep(...)`",
                fix=self._sleep_fix(call, awaited),
            )
        for call, receiver, method in self.pending:
            self._check_method(call, receiver, method)

    def _check_method(self, call: cst.Call, receiver: str, method: str) -> None:
        for split in range(receiver.count(".") + 1):
            parts = receiver.split(".")
            base = ".".join(parts[: len(parts) - split]) if split else receiver
            kind = self.bound.get(base)
            if kind is None:
                continue
            if base in self.rebound:
                return
            if split == 0:
                blocking = method not in kind.quiet and (kind.methods is None or method in kind.methods)
            else:
                blocking = method in kind.nested
            if blocking:
                self.report(
                    call.func,
                    f"`{self.ctx.code(call.func)}()` is a call on a sync {kind.label} client: it blocks the"
                    f" event loop inside an `async def`; {kind.instead}",
                )
            return

    def _sleep_fix(self, call: cst.Call, awaited: bool):
        ctx = self.ctx
        local = ctx.imports.local_name("asyncio")
        edits = []
        if local is None:
            local = "asyncio"
            edits.extend(import_module(ctx, "asyncio"))
        # `await time.sleep(1)` (a TypeError today) only needs the function replaced.
        edits.append(ctx.replace(call.func, f"{local}.sleep" if awaited else f"await {local}.sleep"))
        return self.make_fix("Use `await asyncio.sleep(...)`", edits, Applicability.UNSAFE)
