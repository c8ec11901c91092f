from __future__ import annotations

import functools
from dataclasses import dataclass, field

import libcst as cst

from cwlint.analysis.data import load, load_dir
from cwlint.analysis.execution import chain, executing_scope, is_async
from cwlint.context import FileContext, dotted_name
from cwlint.diagnostics import Applicability, Edit, Fix, Severity
from cwlint.edits import import_module
from cwlint.rule import Invalid, Rule, Valid

HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")

_USE_THREAD = "or run it with `await asyncio.to_thread(...)`"

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


@functools.cache
def blocking_calls() -> dict[str, tuple[str, str]]:
    """Qualified callable -> (kind of blocking, what to use instead), from ``rules/blocking/``."""
    out: dict[str, tuple[str, str]] = {}
    for _stem, data in load_dir("blocking"):
        for entry in data.get("call", ()):
            for name in entry["names"]:
                out[name] = (entry["kind"], entry["instead"])
    return out


@functools.cache
def client_kinds() -> dict[str, ClientKind]:
    """Constructor -> the kind of sync client it makes, from ``rules/blocking/clients.toml``."""
    out: dict[str, ClientKind] = {}
    for entry in load("blocking/clients.toml").get("client", ()):
        methods = entry.get("methods", "*")
        kind = ClientKind(
            entry["label"],
            entry["instead"],
            None if methods == "*" else frozenset(methods),
            frozenset(entry.get("quiet", ())),
            frozenset(entry.get("nested", ())),
        )
        for name in entry["constructors"]:
            out[name] = kind
    return out


@dataclass
class _Frame:
    """A function being walked: its local names and the method calls to resolve later."""

    function: cst.FunctionDef | cst.Lambda | cst.ClassDef
    local: set[str]
    pending: list[tuple[cst.Call, str, str]]  #: the call, the receiver's dotted name, the method chain
    #: Local names bound to a sync client in this function (`composio = Composio()`,
    #: `conn = _get_conn()` through a factory of this file, `with httpx.Client() as http`).
    clients: dict[str, ClientKind] = field(default_factory=dict)


class BlockingCallInAsync(Rule):
    """A blocking call inside `async def`: the whole service waits for it.

    ## What it does
    Reports, in code that runs in an `async def` (not in a nested `def` or `lambda`, which
    is how work is handed to a thread), calls that block, as listed in the data files
    `rules/blocking/*.toml` (each entry with its kind of blocking and its source):
    - sync HTTP: `requests.*`, `httpx.get/post/...`, `httpx.Client()`, `urllib.request`,
      `urllib3`, `http.client`;
    - the standard library: `time.sleep`, `subprocess.*`, `os.system`, `smtplib`,
      `shutil` copies, `sqlite3`;
    - database drivers: PyMySQL, MySQL Connector, psycopg2/psycopg's sync API, PyMongo,
      the sync redis client;
    - cloud SDKs: boto3, `googleapiclient.discovery.build`, google-cloud-* clients;
    - vendor SDKs' sync clients: `CodewordsClient`, `OpenAI`, `Anthropic`, Slack's
      `WebClient`, Composio's `tools.execute`, firecrawl's `FirecrawlApp`;
    - CPU- and disk-heavy calls: Pillow `Image.open` and an image's `resize`/`save`,
      `bcrypt`, pandas `read_*`, openpyxl `load_workbook` and `save`, PyPDF2/pypdf, OpenCV;
    - methods of a sync client bound at module level, on `self` in the same class, or in
      the function itself (`session.get(...)`, `self.ai.chat.completions.create(...)`,
      `composio.tools.execute(...)`), also through a factory function of the file
      (`def _composio(): return Composio()`);
    - `open(...)` (a warning: a local file is usually quick, but a large one is not).

    It also follows the file's own helpers: a module-level sync `def` (or `@contextmanager`)
    that makes such a call, or calls another helper that does, called from an `async def`
    is reported at the call site with the blocking call it makes (`with db() as cur:` on
    PyMySQL, `fetch_unread_leads()` calling `composio.tools.execute`).

    ruff's ASYNC rules (ASYNC210 HTTP, ASYNC220/221/222 subprocess, ASYNC230 `open`,
    ASYNC251 `time.sleep`) see direct calls of about a dozen standard and HTTP APIs; this
    rule sees those, the libraries above, client methods and the file's helpers.

    At run time, `cwtest run` reports the same mistake as a `blocking-call` finding (its
    watchdog samples the event loop's thread while a callback holds it longer than
    `--block-threshold`): through libraries and helpers this rule does not know, on the
    routes the run reaches (docs/cwtest/harness.md, "What a 2xx hides").

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
        # Helpers handed to a thread, or that do not block; a helper named like a blocking one
        # but defined in another class.
        Valid(
            """
            import asyncio
            from contextlib import contextmanager

            import pymysql

            @contextmanager
            def db():
                conn = pymysql.connect(host="db", user="app", password="", database="app")
                try:
                    yield conn.cursor()
                finally:
                    conn.close()

            def count_users() -> int:
                with db() as cur:
                    cur.execute("SELECT COUNT(*) FROM users")
                    return cur.fetchone()[0]

            def slug(text: str) -> str:
                return text.lower().replace(" ", "-")

            async def stats() -> dict:
                users = await asyncio.to_thread(count_users)
                return {"users": users, "slug": slug("Weekly Stats")}
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
            expected=(("CW203", 10, 14), ("CW203", 11, 13), ("CW203", 12, 10), ("CW203", 13, 19), ("CW203", 14, 5), ("CW203", 15, 5)),
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
        # The file's own helpers: a @contextmanager over PyMySQL (through a factory), a helper
        # calling Composio's tools.execute through a factory, a bcrypt helper.
        Invalid(
            """
            from contextlib import contextmanager

            import bcrypt
            import pymysql
            from composio import Composio

            def _conn():
                return pymysql.connect(host="db", user="app", password="", database="app")

            @contextmanager
            def db():
                conn = _conn()
                try:
                    yield conn.cursor()
                finally:
                    conn.close()

            def _composio():
                return Composio()

            def fetch_unread() -> list:
                return _composio().tools.execute("GMAIL_FETCH_EMAILS", user_id="me", arguments={})["data"]

            def _hash(password: str) -> str:
                return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()

            async def register(email: str, password: str) -> dict:
                with db() as cur:
                    cur.execute("INSERT INTO users VALUES (%s, %s)", (email, _hash(password)))
                return {"unread": len(fetch_unread())}
            """,
            expected=(("CW203", 28, 10), ("CW203", 29, 66), ("CW203", 30, 27)),
            message="`with db()` enters a sync context manager of this file",
        ),
        # A factory of the file: the call on the client it makes is reported, not the factory.
        Invalid(
            """
            from openai import OpenAI

            def get_client():
                return OpenAI()

            async def answer(q: str) -> str:
                client = get_client()
                reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": q}])
                return reply.choices[0].message.content
            """,
            expected=(("CW203", 8, 13),),
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

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.frames: list[_Frame] = []
        self.classes: list[str] = []
        #: Sync clients bound at module level (`session`) or on `self` in a class
        #: (`Summarizer.self.ai`); and the same keys bound to anything else (not judged).
        self.bound: dict[str, ClientKind] = {}
        self.rebound: set[str] = set()
        self.pending: list[tuple[cst.Call, str, str]] = []
        self.sleeps: list[tuple[cst.Call, bool]] = []  #: time.sleep calls, and whether already awaited
        #: Module-level sync helpers (and @contextmanager functions) that block: name -> the
        #: blocking call inside, as written; their method calls to resolve at the end; and the
        #: calls of bare names from async code: (call, name, the async function's name).
        self.helper_blocking: dict[str, str] = {}
        self.helper_pending: list[tuple[str, cst.Call, str, str]] = []
        self.helper_calls: list[tuple[cst.Call, str, str, bool]] = []  #: ..., and entered by `with`
        #: Helpers calling helpers (caller, callee): a helper that calls a blocking one blocks.
        self.helper_edges: list[tuple[str, str]] = []
        #: Module-level sync functions returning a sync client (`def _composio(): return Composio()`).
        self.factories: dict[str, ClientKind] = {}

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
        function = frame.function
        if not self.frames and not self.classes and isinstance(function, cst.FunctionDef) and function.asynchronous is None:
            # A module-level sync helper: its calls on sync clients make it blocking.
            for call, receiver, method in frame.pending:
                if ".self." in receiver or receiver.split(".", 1)[0] not in frame.local:
                    self.helper_pending.append((function.name.value, call, receiver, method))
            return
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

    def _client_of(self, value: cst.BaseExpression) -> ClientKind | None:
        """The sync client kind a call makes: a constructor, or a factory of this file."""
        if not isinstance(value, cst.Call):
            return None
        kind = client_kinds().get(self.ctx.imports.qualified(value.func) or "")
        if kind is None and isinstance(value.func, cst.Name):
            kind = self.factories.get(value.func.value)
        return kind

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if self.frames and node.asname is not None and isinstance(node.asname.name, cst.Name):
            kind = self._client_of(node.item)
            if kind is not None:
                self.frames[-1].clients[node.asname.name.value] = kind

    def visit_Return(self, node: cst.Return) -> None:
        if len(self.frames) == 1 and not self.classes and node.value is not None:
            function = self.frames[0].function
            if isinstance(function, cst.FunctionDef) and function.asynchronous is None:
                value = node.value
                kind = self._client_of(value)
                if kind is None and isinstance(value, cst.Name):
                    kind = self.frames[0].clients.get(value.value)
                if kind is not None:
                    self.factories[function.name.value] = kind

    def _bind_client(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        name = dotted_name(target)
        if self.frames and isinstance(target, cst.Name):
            kind = self._client_of(value)
            if kind is not None:
                self.frames[-1].clients[target.value] = kind
            else:
                self.frames[-1].clients.pop(target.value, None)
            return
        if name is None or (self.frames and not name.startswith("self.")):
            return
        kind = None
        if isinstance(value, cst.Call):
            kind = client_kinds().get(self.ctx.imports.qualified(value.func) or "")
        key = self._key(name)
        if kind is None:
            self.rebound.add(key)
        else:
            self.bound[key] = kind

    # -- calls ------------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if not self.frames:
            return
        scope = executing_scope(chain(self.ctx, node))
        helper = None
        if not is_async(scope):
            helper = self._helper_name(scope)
            if helper is None:
                return
        qualified = self.ctx.imports.qualified(node.func)
        if qualified in blocking_calls():
            if helper is not None:
                self.helper_blocking.setdefault(helper, self.ctx.code(node.func))
            else:
                self._report_blocking(node, qualified)
            return
        if helper is None and (
            qualified in FILE_CALLS or (qualified is None and isinstance(node.func, cst.Name) and node.func.value in FILE_CALLS)
        ):
            self._report_file(node)
            return
        if isinstance(node.func, cst.Name) and qualified is None:
            if helper is None:
                parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
                entered = isinstance(parent, cst.WithItem) and parent.item is node
                self.helper_calls.append((node, node.func.value, self._function_name(), entered))
            elif node.func.value != helper:
                self.helper_edges.append((helper, node.func.value))
        kind = self._local_client_call(node)
        if kind is not None:
            if helper is not None:
                self.helper_blocking.setdefault(helper, self.ctx.code(node.func))
            else:
                self.report(
                    node.func,
                    f"`{self.ctx.code(node.func)}()` is a call on a sync {kind.label} client: it blocks the"
                    f" event loop inside `async def {self._function_name()}`; {kind.instead}",
                )
            return
        name = dotted_name(node.func)
        if name is not None and "." in name:
            receiver, _, method = name.rpartition(".")
            self.frames[-1].pending.append((node, self._key(receiver), method))

    def _local_client_call(self, node: cst.Call) -> ClientKind | None:
        """``client.method(...)`` on a client local to this function, or on a factory's
        result (``_composio().tools.execute(...)``), when the method does I/O."""
        func = node.func
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        depth = 0
        base: cst.BaseExpression = func.value
        while isinstance(base, cst.Attribute):
            base, depth = base.value, depth + 1
        if isinstance(base, cst.Name):
            kind = self.frames[-1].clients.get(base.value)
        else:
            kind = self._client_of(base)
        if kind is None:
            return None
        if depth == 0:
            blocking = method not in kind.quiet and (kind.methods is None or method in kind.methods)
        else:
            blocking = method in kind.nested
        return kind if blocking else None

    def _helper_name(self, scope: cst.CSTNode | None) -> str | None:
        """The name of a module-level sync ``def`` (a helper, or a ``@contextmanager``) whose
        body runs the current node; None elsewhere (a method, a nested function)."""
        if self.classes or len(self.frames) != 1 or not isinstance(scope, cst.FunctionDef):
            return None
        if self.frames[0].function is not scope:
            return None
        return scope.name.value

    def _report_blocking(self, node: cst.Call, qualified: str) -> None:
        if qualified == "time.sleep":
            parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
            self.sleeps.append((node, isinstance(parent, cst.Await) and parent.expression is node))
            return
        function = self._function_name()
        shown = self.ctx.code(node.func)
        self.report(
            node.func,
            f"`{shown}()` blocks the event loop inside `async def {function}` ({blocking_calls()[qualified][0]}): {blocking_calls()[qualified][1]}",
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
        for helper, call, receiver, method in self.helper_pending:
            if helper not in self.helper_blocking and self._method_kind(receiver, method) is not None:
                self.helper_blocking[helper] = self.ctx.code(call.func)
        changed = True
        while changed:  # a helper calling a blocking helper blocks (`db()` -> `_get_conn()`)
            changed = False
            for caller, callee in self.helper_edges:
                if caller not in self.helper_blocking and callee in self.helper_blocking:
                    self.helper_blocking[caller] = callee
                    changed = True
        for call, name, function, entered in self.helper_calls:
            inner = self.helper_blocking.get(name)
            if inner is None or name in self.factories:
                continue  # a factory only makes the client: the calls on it are reported
            if entered:
                message = (
                    f"`with {name}()` enters a sync context manager of this file that calls `{inner}()`, which blocks:"
                    f" inside `async def {function}` it stalls the event loop; move the `with` block into a function"
                    " run with `await asyncio.to_thread(...)`, or use an async driver"
                )
            else:
                message = (
                    f"`{name}()` is a sync function of this file that calls `{inner}()`, which blocks: called from"
                    f" `async def {function}`, it stalls the event loop; run it with `await asyncio.to_thread({name}, ...)`"
                    " or make it async"
                )
            self.report(call.func, message)

    def _method_kind(self, receiver: str, method: str) -> ClientKind | None:
        """The sync client kind when ``receiver.method(...)`` is one of its blocking calls."""
        for split in range(receiver.count(".") + 1):
            parts = receiver.split(".")
            base = ".".join(parts[: len(parts) - split]) if split else receiver
            kind = self.bound.get(base)
            if kind is None:
                continue
            if base in self.rebound:
                return None
            if split == 0:
                blocking = method not in kind.quiet and (kind.methods is None or method in kind.methods)
            else:
                blocking = method in kind.nested
            return kind if blocking else None
        return None

    def _check_method(self, call: cst.Call, receiver: str, method: str) -> None:
        kind = self._method_kind(receiver, method)
        if kind is not None:
            self.report(
                call.func,
                f"`{self.ctx.code(call.func)}()` is a call on a sync {kind.label} client: it blocks the"
                f" event loop inside an `async def`; {kind.instead}",
            )

    def _sleep_fix(self, call: cst.Call, awaited: bool) -> Fix:
        ctx = self.ctx
        local = ctx.imports.local_name("asyncio")
        edits: list[Edit] = []
        if local is None:
            local = "asyncio"
            edits.extend(import_module(ctx, "asyncio"))
        # `await time.sleep(1)` (a TypeError today) only needs the function replaced.
        edits.append(ctx.replace(call.func, f"{local}.sleep" if awaited else f"await {local}.sleep"))
        return self.make_fix("Use `await asyncio.sleep(...)`", edits, Applicability.UNSAFE)
