from __future__ import annotations

import libcst as cst

from cwlint.context import service_call
from cwlint.diagnostics import Applicability
from cwlint.rule import Invalid, Rule, Valid


class RunDataKwarg(Rule):
    """`data=` passed to a CodeWords client's `run` or `start_service`.

    ## What it does
    Reports the `data` keyword in a call of `run()` or `start_service()` on a CodeWords
    client, whatever name the client is bound to (`client`, an alias, `self.client`), and in
    any `.run(service_id=...)` call.

    ## Why is this bad?
    The client's `run()` takes the service's input as `inputs=`; it has no `data` parameter,
    so the call raises `TypeError: run() got an unexpected keyword argument 'data'` on every
    request. Older docs and many AI-written workflows still use `data=`.

    ## Example
    ```python
    async with AsyncCodewordsClient() as client:
        resp = await client.run(service_id="firecrawl", data={"url": url})
    ```

    ## Use instead
    ```python
    async with AsyncCodewordsClient() as client:
        resp = await client.run(service_id="firecrawl", inputs={"url": url})
    ```

    ## Fix safety
    Safe: renaming the keyword turns a call that always fails into the call the author meant;
    nothing that worked before changes. No fix when the call already passes `inputs=`.
    """

    code = "CW101"
    name = "run-data-kwarg"
    triggers = ("data",)
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            from codewords_client import AsyncCodewordsClient

            async def scrape(url: str) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="firecrawl", inputs={"url": url})
                    return resp.json()
            """
        ),
        # httpx's own `data=` is a form body, not a CodeWords call.
        Valid(
            """
            import httpx

            async def post(url: str) -> None:
                async with httpx.AsyncClient() as http:
                    await http.post(url, data={"a": "b"})
            """
        ),
        # A run() of something that is not a CodeWords client.
        Valid(
            """
            import asyncio
            from prefect import flow

            def go(f) -> None:
                f.run(data={"x": 1})
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def scrape(url: str) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="firecrawl", data={"url": url})
                    return resp.json()
            """,
            expected=(("CW101", 5, 57),),
            fixed="""
            from codewords_client import AsyncCodewordsClient

            async def scrape(url: str) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="firecrawl", inputs={"url": url})
                    return resp.json()
            """,
        ),
        # An aliased import and an attribute binding.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient as CW

            class Enricher:
                def __init__(self) -> None:
                    self.cw = CW()

                async def enrich(self, email: str) -> None:
                    await self.cw.start_service("hunter", data={"email": email})
            """,
            expected=(("CW101", 8, 47),),
            fixed="""
            from codewords_client import AsyncCodewordsClient as CW

            class Enricher:
                def __init__(self) -> None:
                    self.cw = CW()

                async def enrich(self, email: str) -> None:
                    await self.cw.start_service("hunter", inputs={"email": email})
            """,
        ),
        # A helper that receives the client unannotated: service_id= identifies the call.
        Invalid(
            """
            async def ask(client, prompt):
                return await client.run(service_id="openai", data={"prompt": prompt, "model": "gpt-4o"})
            """,
            expected=(("CW101", 2, 50),),
            fixed="""
            async def ask(client, prompt):
                return await client.run(service_id="openai", inputs={"prompt": prompt, "model": "gpt-4o"})
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None:
            return
        keywords = [arg.keyword for arg in node.args if arg.keyword is not None]
        data = next((keyword for keyword in keywords if keyword.value == "data"), None)
        if data is None:
            return
        has_inputs = any(keyword.value == "inputs" for keyword in keywords) or len(
            [arg for arg in node.args if arg.keyword is None]
        ) >= 2
        fix = None
        if not has_inputs:
            fix = self.make_fix(
                "Rename `data=` to `inputs=`",
                [self.ctx.replace(data, "inputs")],
                Applicability.SAFE,
            )
        self.report(
            data,
            f"`{call.method}()` has no `data` parameter (TypeError at run time); pass the service's input as `inputs=`",
            fix=fix,
        )
