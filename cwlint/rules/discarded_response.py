from __future__ import annotations

import libcst as cst

from cwlint.context import FileContext, dotted_name
from cwlint.diagnostics import Applicability, Severity
from cwlint.rule import Invalid, Rule, Valid

#: Methods that send something: their answer says whether it was accepted.
WRITE_METHODS = frozenset({"post", "put", "patch", "delete", "request"})
ASYNC_CLIENTS = frozenset({"httpx.AsyncClient"})


class DiscardedResponse(Rule):
    """An awaited httpx `post`/`put`/`patch`/`delete` whose response is thrown away.

    ## What it does
    Reports `await http.post(...)` (and `put`, `patch`, `delete`, `request`) written as a
    statement of its own, when `http` is an `httpx.AsyncClient`: bound by
    `async with httpx.AsyncClient() as http`, assigned from `httpx.AsyncClient(...)` (also
    on `self`), or a parameter annotated `httpx.AsyncClient`. A response that is bound,
    returned, checked or passed on is not reported; nor are `get` calls (reading without
    using the result is another mistake, and rare).

    ## Why is this bad?
    httpx does not raise on 4xx/5xx. A webhook that answers 401, a CRM that rejects the
    payload with 422, an API that is down with 503: the workflow goes on, reports success,
    and the write never happened. Nothing in the logs says so.

    ## Example
    ```python
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(SLACK_WEBHOOK_URL, json={"text": summary})
    ```

    ## Use instead
    ```python
    async with httpx.AsyncClient(timeout=10) as http:
        (await http.post(SLACK_WEBHOOK_URL, json={"text": summary})).raise_for_status()
    ```

    ## Fix safety
    Unsafe: the fix wraps the call as `(await http.post(...)).raise_for_status()`, the
    smallest edit that keeps the statement one expression, so a 4xx/5xx now raises
    `httpx.HTTPStatusError` where the workflow used to go on. That is the point, but it
    changes what the workflow does when the outside API fails (often a 500 answer instead of
    a wrong 200), and a caller may have relied on carrying on.
    """

    code = "CW110"
    name = "discarded-response"
    severity = Severity.WARNING
    triggers = ("httpx",)
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import httpx

            async def notify(url: str, text: str) -> int:
                async with httpx.AsyncClient(timeout=10) as http:
                    resp = await http.post(url, json={"text": text})
                    resp.raise_for_status()
                    (await http.put(url, json={"seen": True})).raise_for_status()
                    await http.get(url)
                    return (await http.delete(url)).status_code
            """
        ),
        # Not an httpx client: aiohttp, the CodeWords client, a Slack SDK.
        Valid(
            """
            import aiohttp
            from codewords_client import AsyncCodewordsClient

            async def send(url: str, slack) -> None:
                async with aiohttp.ClientSession() as session:
                    await session.post(url, json={})
                async with AsyncCodewordsClient() as client:
                    await client.post("/hooks", json={})
                await slack.post("chat.postMessage", json={})
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import httpx

            async def notify(url: str, text: str) -> None:
                async with httpx.AsyncClient(timeout=10) as http:
                    await http.post(url, json={"text": text})
            """,
            expected=(("CW110", 5, 9),),
            unsafe=True,
            fixed="""
            import httpx

            async def notify(url: str, text: str) -> None:
                async with httpx.AsyncClient(timeout=10) as http:
                    (await http.post(url, json={"text": text})).raise_for_status()
            """,
        ),
        # A client on self and an annotated parameter; request() and a multi-line call.
        Invalid(
            """
            from httpx import AsyncClient

            class Crm:
                def __init__(self) -> None:
                    self.http = AsyncClient(base_url="https://crm.example.com")

                async def upsert(self, contact: dict) -> None:
                    await self.http.put(
                        f"/contacts/{contact['id']}",
                        json=contact,
                    )

            async def forget(http: AsyncClient, contact_id: str) -> None:
                await http.request("DELETE", f"/contacts/{contact_id}")
            """,
            expected=(("CW110", 8, 9), ("CW110", 14, 5)),
            unsafe=True,
            fixed="""
            from httpx import AsyncClient

            class Crm:
                def __init__(self) -> None:
                    self.http = AsyncClient(base_url="https://crm.example.com")

                async def upsert(self, contact: dict) -> None:
                    (await self.http.put(
                        f"/contacts/{contact['id']}",
                        json=contact,
                    )).raise_for_status()

            async def forget(http: AsyncClient, contact_id: str) -> None:
                (await http.request("DELETE", f"/contacts/{contact_id}")).raise_for_status()
            """,
        ),
    ]

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.clients: set[str] = set()
        #: (the expression statement's Await, the receiver's dotted name), judged at the end:
        #: a client bound on `self` in `__init__` may come after the method that uses it.
        self.pending: list[tuple[cst.Await, str, str]] = []

    def _is_client(self, expr: cst.BaseExpression) -> bool:
        return isinstance(expr, cst.Call) and self.ctx.imports.qualified(expr.func) in ASYNC_CLIENTS

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and self._is_client(node.item):
            name = dotted_name(node.asname.name)
            if name:
                self.clients.add(name)

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._is_client(node.value):
            for target in node.targets:
                name = dotted_name(target.target)
                if name:
                    self.clients.add(name)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and self._is_client(node.value):
            name = dotted_name(node.target)
            if name:
                self.clients.add(name)

    def visit_Param(self, node: cst.Param) -> None:
        if node.annotation is not None and self.ctx.imports.qualified(node.annotation.annotation) in ASYNC_CLIENTS:
            self.clients.add(node.name.value)

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Await) or not isinstance(value.expression, cst.Call):
            return
        func = value.expression.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in WRITE_METHODS:
            return
        receiver = dotted_name(func.value)
        if receiver is not None:
            self.pending.append((value, receiver, func.attr.value))

    def leave_Module(self, node: cst.Module) -> None:
        for awaited, receiver, method in self.pending:
            if receiver not in self.clients:
                continue
            fix = self.make_fix(
                "Call `.raise_for_status()` on the response",
                [self.ctx.insert_before(awaited, "("), self.ctx.insert_after(awaited, ").raise_for_status()")],
                Applicability.UNSAFE,
            )
            self.report(
                awaited,
                f"the response of `{receiver}.{method}(...)` is thrown away: httpx does not raise on 4xx/5xx,"
                " so a refused write goes unseen; check it (`.raise_for_status()`)",
                fix=fix,
            )
