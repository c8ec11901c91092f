from __future__ import annotations

import libcst as cst

from cwlint.analysis.execution import chain, executing_scope, in_generator_expression, is_async
from cwlint.diagnostics import Applicability
from cwlint.edits import import_module
from cwlint.rule import Invalid, Rule, Valid

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class TopLevelAwait(Rule):
    """`await`, `async with` or `async for` outside an `async def`.

    ## What it does
    Reports `await` (and `async with`, `async for`, an `async for` comprehension) whose code
    runs at module level, in a class body, in a plain `def` or in a `lambda`. A generator
    expression may hold them anywhere (it becomes an async generator), and a default
    argument or decorator of a nested `def` runs in the enclosing function: both are
    judged as Python judges them. Inside a reported `async with`/`async for`, the `await`s
    are not reported again.

    ## Why is this bad?
    CPython rejects the file before running a line of it: `SyntaxError: 'await' outside
    function`. LibCST (and so the formatter and most editors) parse it happily, because
    notebooks and the asyncio REPL allow it, so the mistake survives until the workflow is
    deployed and never starts. Snippets copied from docs written for a notebook
    (`result = await client.run(...)`) are the usual source.

    ## Example
    ```python
    async def main() -> dict:
        async with AsyncCodewordsClient() as client:
            return (await client.run(service_id="my-automation", inputs={})).json()

    result = await main()
    ```

    ## Use instead
    ```python
    result = asyncio.run(main())
    ```

    ## Fix safety
    Unsafe, and only for `await <call>` directly at module level (in the main guard too):
    it becomes `asyncio.run(<call>)`, adding `import asyncio` when needed. Each
    `asyncio.run` starts and closes its own event loop, so objects tied to a loop (a client
    opened by one top-level await and used by the next) no longer work across them. No fix
    in functions (making one `async` changes every caller) nor for `async with`/`async for`.
    """

    code = "CW206"
    name = "top-level-await"
    triggers = ("await", "async")
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import asyncio

            from codewords_client import AsyncCodewordsClient

            async def main() -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="firecrawl", inputs={"url": "https://example.com"})
                    return resp.json()

            if __name__ == "__main__":
                print(asyncio.run(main()))
            """
        ),
        # Comprehensions in an async def may await; a generator expression may anywhere.
        Valid(
            """
            async def fetch_all(client, urls):
                pages = [await client.get(u) for u in urls]
                return {u: p.status_code async for u, p in pair(urls, pages)}

            def lazily(client, urls):
                return (await client.get(u) for u in urls)
            """
        ),
        # Defaults and decorators of a nested def run in the enclosing async def.
        Valid(
            """
            async def build(registry):
                @registry.register(await registry.next_id())
                def handler(event, retries=await registry.default_retries()):
                    return event
                return handler
            """
        ),
        # `await` as a plain name or attribute is not an await expression.
        Valid(
            """
            class Job:
                def wait(self, timeout=None):
                    return self.waiter.await_result(timeout)
            """
        ),
    ]
    INVALID = [
        # The docs' API example pasted into a script.
        Invalid(
            """
            import os

            from codewords_client import AsyncCodewordsClient

            async def bulletproof_call(service_id: str, inputs: dict) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id=service_id, inputs=inputs)
                    return resp.json()

            result = await bulletproof_call("csv-processor", {"file_url": os.environ["CSV_URL"]})
            print(result)
            """,
            expected=(("CW206", 10, 10),),
            unsafe=True,
            fixed="""
            import os

            from codewords_client import AsyncCodewordsClient
            import asyncio

            async def bulletproof_call(service_id: str, inputs: dict) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id=service_id, inputs=inputs)
                    return resp.json()

            result = asyncio.run(bulletproof_call("csv-processor", {"file_url": os.environ["CSV_URL"]}))
            print(result)
            """,
        ),
        # In the main guard, with asyncio already imported under an alias.
        Invalid(
            """
            import asyncio as aio

            async def main() -> None:
                await aio.sleep(0)

            if __name__ == "__main__":
                await main()
            """,
            expected=(("CW206", 7, 5),),
            unsafe=True,
            fixed="""
            import asyncio as aio

            async def main() -> None:
                await aio.sleep(0)

            if __name__ == "__main__":
                aio.run(main())
            """,
        ),
        # A plain def, a lambda and a class body: reported, not fixed.
        Invalid(
            """
            async def post(client, url):
                return await client.post(url)

            def notify(client, url):
                resp = await post(client, url)
                return resp.status_code

            async def handler(client, urls):
                send = lambda u: await post(client, u)
                class Batch:
                    first = await post(client, urls[0])
                return [send(u) for u in urls]
            """,
            expected=(("CW206", 5, 12), ("CW206", 9, 22), ("CW206", 11, 17)),
            message="`def notify`",
        ),
        # `async with` at module level: one finding, not one per await inside it.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async with AsyncCodewordsClient() as client:
                resp = await client.run(service_id="openai", inputs={"prompt": "hi", "model": "gpt-4o-mini"})
                print(resp.json())

            def rows(cursor):
                return [row async for row in cursor]
            """,
            expected=(("CW206", 3, 1), ("CW206", 8, 17)),
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        #: `async with`/`async for` statements already reported: awaits inside are not.
        self.reported_blocks: set[int] = set()
        self.awaits: list[tuple[cst.Await, cst.CSTNode | None, bool]] = []

    # -- async with / async for -----------------------------------------------------------
    def visit_With(self, node: cst.With) -> None:
        if node.asynchronous is not None:
            self._check_block(node, "async with")

    def visit_For(self, node: cst.For) -> None:
        if node.asynchronous is not None:
            self._check_block(node, "async for")

    def _check_block(self, node: cst.With | cst.For, keyword: str) -> None:
        nodes = chain(self.ctx, node)
        scope = executing_scope(nodes)
        if is_async(scope) or self._inside_reported(nodes):
            return
        self.reported_blocks.add(id(node))
        self.report(node, f"`{keyword}` {self._where(scope)}: a SyntaxError when the script runs")

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if node.asynchronous is None:
            return
        nodes = chain(self.ctx, node)
        if in_generator_expression(nodes) or is_async(executing_scope(nodes)) or self._inside_reported(nodes):
            return
        scope = executing_scope(nodes)
        self.report(node.asynchronous, f"asynchronous comprehension {self._where(scope)}: a SyntaxError when the script runs")

    # -- await ----------------------------------------------------------------------------
    def visit_Await(self, node: cst.Await) -> None:
        nodes = chain(self.ctx, node)
        scope = executing_scope(nodes)
        if is_async(scope) or in_generator_expression(nodes) or self._inside_reported(nodes):
            return
        fixable = scope is None and isinstance(node.expression, cst.Call) and not any(
            isinstance(n, _COMPREHENSIONS) for n in nodes[:-1]
        )
        self.awaits.append((node, scope, fixable))

    def leave_Module(self, node: cst.Module) -> None:
        # Reported at the end so that the fix sees every import, even one made later.
        for await_node, scope, fixable in self.awaits:
            fix = self._fix(await_node) if fixable else None
            self.report(await_node, f"`await` {self._where(scope)}: a SyntaxError when the script runs", fix=fix)

    # -- helpers --------------------------------------------------------------------------
    def _inside_reported(self, nodes: list[cst.CSTNode]) -> bool:
        for node in reversed(nodes[:-1]):
            if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
                return False
            if id(node) in self.reported_blocks:
                return True
        return False

    @staticmethod
    def _where(scope: cst.CSTNode | None) -> str:
        if scope is None:
            return "outside a function"
        if isinstance(scope, cst.Lambda):
            return "in a `lambda` (lambdas cannot be async)"
        if isinstance(scope, cst.ClassDef):
            return f"in the body of `class {scope.name.value}`"
        assert isinstance(scope, cst.FunctionDef)
        return f"in `def {scope.name.value}`, which is not `async def`"

    def _fix(self, node: cst.Await):
        ctx = self.ctx
        local = ctx.imports.local_name("asyncio")
        edits = []
        if local is None:
            local = "asyncio"
            edits.extend(import_module(ctx, "asyncio"))
        edits.append(ctx.replace(node, f"{local}.run({ctx.code(node.expression)})"))
        return self.make_fix("Run the coroutine with `asyncio.run(...)`", edits, Applicability.UNSAFE)
