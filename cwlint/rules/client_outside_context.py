from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from cwlint.context import dotted_name, is_main_guard
from cwlint.diagnostics import Severity
from cwlint.rule import Invalid, Rule, Valid

if TYPE_CHECKING:
    from cwlint.context import FileContext

#: Attributes whose use on a client closes it (called, or handed to a callback stack).
_CLOSERS = frozenset({"close", "aclose", "__aexit__", "__exit__"})
#: Parents of a bound name that neither close the client nor let it escape.
_HARMLESS = (
    cst.AssignTarget, cst.AsName, cst.Param, cst.AnnAssign, cst.For, cst.NamedExpr, cst.Del,
    cst.Comparison, cst.If, cst.While, cst.UnaryOperation, cst.IfExp, cst.Await, cst.Subscript,
    cst.ComparisonTarget,
)


@dataclass
class _Candidate:
    call: cst.Call
    name: str
    kind: str  #: AsyncCodewordsClient or CodewordsClient
    handled: bool = False


@dataclass
class _Frame:
    candidates: dict[str, list[_Candidate]] = field(default_factory=dict)
    #: Names declared ``global``/``nonlocal``: a client bound to one outlives the function.
    shared: set[str] = field(default_factory=set)


class ClientOutsideContext(Rule):
    """A CodeWords client created at import time, or created and never closed.

    ## What it does
    Reports `AsyncCodewordsClient()` (and the sync `CodewordsClient()`):

    - at module level, in a class body or a default argument: code that runs when the
      module is imported (not under `if __name__ == "__main__":`, not inside `try` with an
      `except`, not when an `api_key=` other than a bare `os.getenv(...)` is passed);
    - inside a function, when it is neither entered with `async with` nor closed
      (`close()`, `aclose()`), and does not leave the function (returned, yielded, stored on
      an object or a global, passed to a call): `await AsyncCodewordsClient().run(...)`, or
      `client = AsyncCodewordsClient()` used and dropped. This one is a warning.

    ## Why is this bad?
    The constructor raises `ValueError: CODEWORDS_API_KEY is not set` when the key is
    missing: at module level that kills the import, so tests, local runs and tools that
    only import the workflow fail before any handler runs. Every client also opens an httpx
    connection pool that only `close()` (or leaving `async with`) releases: a client per
    request that is never closed leaks connections on every call.

    ## Example
    ```python
    client = AsyncCodewordsClient()

    @app.post("/")
    async def scrape(request: ScrapeRequest):
        resp = await client.run(service_id="firecrawl", inputs={"url": request.url})
        return resp.json()
    ```

    ## Use instead
    ```python
    @app.post("/")
    async def scrape(request: ScrapeRequest):
        async with AsyncCodewordsClient() as client:
            resp = await client.run(service_id="firecrawl", inputs={"url": request.url})
            return resp.json()
    ```

    ## Fix safety
    No fix: where the client should live (per request, or for the app's lifetime in a
    lifespan handler) is a design choice.
    """

    code = "CW109"
    name = "client-outside-context"
    triggers = ("CodewordsClient",)

    VALID = [
        Valid(
            """
            from codewords_client import AsyncCodewordsClient

            async def scrape(url: str) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="firecrawl", inputs={"url": url})
                    return resp.json()

            async def cached(key: str) -> dict:
                client = AsyncCodewordsClient()
                try:
                    resp = await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": key})
                    return resp.json()
                finally:
                    await client.close()

            async def entered(key: str) -> None:
                client = AsyncCodewordsClient()
                async with client:
                    await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": key})
            """
        ),
        # Clients that leave the function: a lifespan, a factory, a global, an exit stack.
        Valid(
            """
            import contextlib
            from contextlib import asynccontextmanager
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI

            cw: AsyncCodewordsClient | None = None

            @asynccontextmanager
            async def lifespan(app: FastAPI):
                app.state.cw = AsyncCodewordsClient()
                yield
                await app.state.cw.close()

            def make_client() -> AsyncCodewordsClient:
                return AsyncCodewordsClient(default_timeout=600)

            async def startup() -> None:
                global cw
                cw = AsyncCodewordsClient()

            async def batch(urls: list[str]) -> None:
                async with contextlib.AsyncExitStack() as stack:
                    client = await stack.enter_async_context(AsyncCodewordsClient())
                    for url in urls:
                        await client.run(service_id="firecrawl", inputs={"url": url})
            """
        ),
        # Module level, but not at import: guarded, given a key, or under the main guard.
        Valid(
            """
            import asyncio
            import os
            from codewords_client import AsyncCodewordsClient

            try:
                shared = AsyncCodewordsClient()
            except ValueError:
                shared = None

            local = AsyncCodewordsClient(api_key=os.environ.get("CODEWORDS_API_KEY", ""))

            async def main(client: AsyncCodewordsClient) -> None:
                await client.run(service_id="lead_scorer_1a2b3c4d", inputs={"limit": 10})

            if __name__ == "__main__":
                client = AsyncCodewordsClient()
                asyncio.run(main(client))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI

            app = FastAPI()
            client = AsyncCodewordsClient()

            @app.post("/")
            async def scrape(url: str) -> dict:
                resp = await client.run(service_id="firecrawl", inputs={"url": url})
                return resp.json()
            """,
            expected=(("CW109", 5, 10),),
            message="runs at import",
        ),
        # Per-request clients that are never closed (warnings).
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def ask(prompt: str) -> str:
                resp = await AsyncCodewordsClient().run(service_id="openai", inputs={"model": "gpt-4o", "prompt": prompt})
                return resp.json()["response"]

            async def cached(key: str) -> dict:
                client = AsyncCodewordsClient()
                resp = await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": key})
                return resp.json()
            """,
            expected=(("CW109", 4, 18), ("CW109", 8, 14)),
            message="never closed",
        ),
        # Import time in disguise: a class attribute, a default argument; the sync client too.
        Invalid(
            """
            import codewords_client

            class Enricher:
                client = codewords_client.AsyncCodewordsClient()

            def lookup(email: str, client=codewords_client.CodewordsClient()) -> dict:
                return client.run(service_id="hunter", inputs={"email": email}).json()
            """,
            expected=(("CW109", 4, 14), ("CW109", 6, 31)),
        ),
        # An env lookup without a default is None when the key is missing: the same ValueError.
        Invalid(
            """
            import os
            from codewords_client import AsyncCodewordsClient

            client = AsyncCodewordsClient(api_key=os.getenv("CODEWORDS_API_KEY"))
            """,
            expected=(("CW109", 4, 10),),
        ),
    ]

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.frames: list[_Frame] = [_Frame()]
        self.tracked: set[str] = set()

    # -- frames ------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.frames.append(_Frame())

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._close_frame()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.frames.append(_Frame())

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._close_frame()

    def visit_Global(self, node: cst.Global) -> None:
        self.frames[-1].shared.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.frames[-1].shared.update(item.name.value for item in node.names)

    def leave_Module(self, node: cst.Module) -> None:
        self._close_frame()

    def _close_frame(self) -> None:
        frame = self.frames.pop()
        for candidates in frame.candidates.values():
            for candidate in candidates:
                if not candidate.handled:
                    self._report_unclosed(candidate.call, candidate.kind, candidate.name)

    # -- constructors ------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if not self.ctx.clients.is_constructor(node):
            return
        kind = (dotted_name(node.func) or "AsyncCodewordsClient").rsplit(".", 1)[-1]
        when = self._when(node)
        if when == "import":
            if self._guarded() or self._has_key(node):
                return
            self.report(
                node,
                f"`{kind}()` runs at import: it raises `ValueError: CODEWORDS_API_KEY is not set` when the key is "
                "missing (tests, local runs, tools that import the workflow) and its connection pool is never "
                f"closed; create it where it is used: {self._advice(kind)}",
            )
            return
        parent = self.ctx.ancestors[-1]
        if isinstance(parent, cst.WithItem) and parent.item is node:
            return
        if isinstance(parent, cst.Attribute) and parent.value is node:
            if parent.attr.value not in _CLOSERS and parent.attr.value not in ("__aenter__", "__enter__"):
                self._report_unclosed(node, kind, None)
            return
        target = self._target(parent, node)
        if target is None or target in self.frames[-1].shared:
            return  # stored on an object or a global, returned, passed on: its owner closes it
        candidate = _Candidate(node, target, kind)
        self.frames[-1].candidates.setdefault(target, []).append(candidate)
        self.tracked.add(target)

    def _when(self, current: cst.CSTNode) -> str:
        """"import" when ``current`` runs as the module is imported, else "later"."""
        ancestors = self.ctx.ancestors
        for index in range(len(ancestors) - 1, -1, -1):
            node = ancestors[index]
            child = ancestors[index + 1] if index + 1 < len(ancestors) else current
            if isinstance(node, (cst.FunctionDef, cst.Lambda)) and child is node.body:
                return "later"
            if isinstance(node, cst.If) and is_main_guard(node) and child is node.body:
                return "later"
        return "import"

    def _guarded(self) -> bool:
        ancestors = self.ctx.ancestors
        for index, node in enumerate(ancestors[:-1]):
            if isinstance(node, cst.Try) and node.handlers and ancestors[index + 1] is node.body:
                return True
        return False

    def _has_key(self, node: cst.Call) -> bool:
        """An ``api_key`` that is not a bare env lookup (``os.getenv(...)`` without a default is None)."""
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        key = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "api_key"), None)
        if key is None and len(positional) >= 2:
            key = positional[1]
        if key is None:
            return False
        if isinstance(key, cst.Call) and len(key.args) == 1:
            return self.ctx.imports.qualified(key.func) not in ("os.getenv", "os.environ.get")
        return True

    @staticmethod
    def _target(parent: cst.CSTNode, node: cst.Call) -> str | None:
        target: cst.BaseExpression
        if isinstance(parent, cst.Assign) and parent.value is node and len(parent.targets) == 1:
            target = parent.targets[0].target
        elif isinstance(parent, (cst.AnnAssign, cst.NamedExpr)) and parent.value is node:
            target = parent.target
        else:
            return None
        return target.value if isinstance(target, cst.Name) else None

    # -- uses of a bound client --------------------------------------------------------
    def visit_Name(self, node: cst.Name) -> None:
        if node.value not in self.tracked:
            return
        frame = next((f for f in reversed(self.frames) if node.value in f.candidates), None)
        if frame is None:
            return
        parent = self.ctx.ancestors[-1]
        if isinstance(parent, cst.Attribute):
            if parent.value is not node or parent.attr.value not in _CLOSERS:
                return  # client.run(...), or the name as an attribute of something else
        elif isinstance(parent, cst.WithItem) and parent.item is node:
            pass
        elif isinstance(parent, _HARMLESS):
            return
        for candidate in frame.candidates[node.value]:
            candidate.handled = True

    # -- reporting ---------------------------------------------------------------------
    @staticmethod
    def _advice(kind: str) -> str:
        if kind == "CodewordsClient":
            return "call `client.close()` in a `finally` block"
        return "use `async with AsyncCodewordsClient() as client:`"

    def _report_unclosed(self, call: cst.Call, kind: str, name: str | None) -> None:
        what = f"`{name} = {kind}()`" if name else f"`{kind}()`"
        how = self._advice(kind)
        if kind != "CodewordsClient":
            how += " (or `await client.close()` in a `finally` block)"
        self.report(
            call,
            f"{what} is never closed: its httpx connection pool leaks on every call; {how}",
            severity=Severity.WARNING,
        )
