from __future__ import annotations

from typing import Literal

import libcst as cst

from cwlint.context import service_call
from cwlint.diagnostics import Applicability, Edit
from cwlint.rule import Invalid, Rule, Valid

DICT_METHODS = frozenset({"get", "keys", "items", "values"})


class ResponseUsedAsDict(Rule):
    """`.get(...)` or `[...]` on the response of a CodeWords client's `run()`.

    ## What it does
    Reports a subscript or a dict method (`get`, `keys`, `items`, `values`) applied to what
    `client.run(...)` returned, directly or through a variable, before `.json()`.

    ## Why is this bad?
    `run()` returns the `httpx.Response`, not its JSON: `resp["response"]` raises
    `TypeError: 'Response' object is not subscriptable` and `resp.get("success")` raises
    `AttributeError`, on every request. The docs' own examples had this bug before adding
    `.json()`.

    ## Example
    ```python
    resp = await client.run(service_id="openai", inputs={"model": "gpt-4o", "prompt": prompt})
    answer = resp["response"]
    ```

    ## Use instead
    ```python
    resp = await client.run(service_id="openai", inputs={"model": "gpt-4o", "prompt": prompt})
    answer = resp.json()["response"]
    ```

    ## Fix safety
    Safe: the expression always raised before; with `.json()` it reads the body as meant.
    Not reported for `in_background=True` runs, whose handle has no `.json()` either.
    """

    code = "CW106"
    name = "response-used-as-dict"
    triggers = ("run(", "start_service(")
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            async def ask(client, prompt: str) -> str:
                resp = await client.run(service_id="openai", inputs={"model": "gpt-4o", "prompt": prompt})
                data = resp.json()
                return data.get("response", "")
            """
        ),
        # Rebound to the JSON before use.
        Valid(
            """
            async def page(client, url: str) -> str:
                resp = await client.run(service_id="firecrawl", inputs={"url": url})
                resp = resp.json()
                return resp["data"]["markdown"]
            """
        ),
        # An httpx response's own get() is a different object; a dict called resp too.
        Valid(
            """
            def first(resp: dict) -> str:
                return resp["items"][0]
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def ask(prompt: str) -> str:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="openai", inputs={"model": "gpt-4o", "prompt": prompt})
                    if not resp.get("success", True):
                        raise RuntimeError("LLM failed")
                    return resp["response"]
            """,
            expected=(("CW106", 6, 16), ("CW106", 8, 16)),
            fixed="""
            from codewords_client import AsyncCodewordsClient

            async def ask(prompt: str) -> str:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="openai", inputs={"model": "gpt-4o", "prompt": prompt})
                    if not resp.json().get("success", True):
                        raise RuntimeError("LLM failed")
                    return resp.json()["response"]
            """,
        ),
        Invalid(
            """
            async def page(client, url: str) -> str:
                return (await client.run(service_id="firecrawl", inputs={"url": url}))["data"]["markdown"]
            """,
            expected=(("CW106", 2, 13),),
            fixed="""
            async def page(client, url: str) -> str:
                return (await client.run(service_id="firecrawl", inputs={"url": url})).json()["data"]["markdown"]
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.scopes: list[set[str]] = [set()]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append(set())

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def _run_call(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if not isinstance(expr, cst.Call):
            return False
        call = service_call(self.ctx, expr)
        return call is not None and call.method == "run" and not call.in_background

    def visit_Assign(self, node: cst.Assign) -> None:
        responses = self.scopes[-1]
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                if self._run_call(node.value):
                    responses.add(target.target.value)
                else:
                    responses.discard(target.target.value)

    def _target(self, value: cst.BaseExpression) -> Edit | None | Literal[False]:
        """The edit inserting `.json()` after ``value``; False when it is not a response."""
        if isinstance(value, cst.Name) and value.value in self.scopes[-1]:
            return self.ctx.insert_after(value, ".json()")
        if self._run_call(value):
            if isinstance(value, cst.Await) and not value.lpar:
                return None  # `await client.run(...)[...]` subscripts the coroutine: no simple fix
            _, end = self.ctx.span(value)
            if value.rpar:  # positions exclude parentheses: step past the closing one
                end = self.ctx.text.index(")", end) + 1
            return Edit(end, end, ".json()")
        return False

    def visit_Subscript(self, node: cst.Subscript) -> None:
        edit = self._target(node.value)
        if edit is not False:
            self._report(node.value, edit, "subscripted")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in DICT_METHODS:
            edit = self._target(func.value)
            if edit is not False:
                self._report(func.value, edit, f"`.{func.attr.value}()` called on it")

    def _report(self, node: cst.CSTNode, edit: Edit | None, how: str) -> None:
        fix = self.make_fix("Insert `.json()`", [edit], Applicability.SAFE) if isinstance(edit, Edit) else None
        self.report(
            node,
            f"`run()` returns an httpx.Response, not a dict ({how}); read the body with `.json()` first",
            fix=fix,
        )
