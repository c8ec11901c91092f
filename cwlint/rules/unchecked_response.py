from __future__ import annotations

import libcst as cst

from cwlint.context import dotted_name
from cwlint.diagnostics import Applicability
from cwlint.rule import Invalid, Rule, Valid

HTTP_MODULES = ("httpx", "requests")
METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send"})
CLIENT_CLASSES = frozenset(
    {"httpx.AsyncClient", "httpx.Client", "requests.Session", "requests.session", "requests.sessions.Session"}
)
BODY_ATTRS = frozenset({"json", "text", "content", "iter_lines", "iter_bytes", "iter_text", "iter_raw",
                        "aiter_lines", "aiter_bytes", "aiter_text", "aiter_raw", "iter_content"})
CHECK_ATTRS = frozenset({"raise_for_status", "is_success", "is_error", "is_client_error", "is_server_error",
                         "status_code", "ok", "status"})


class _Scope:
    def __init__(self) -> None:
        #: name -> (the assignment statement line or None, checked?, reported?)
        self.responses: dict[str, list] = {}


class UncheckedResponse(Rule):
    """The body of an HTTP response read with no status check on the way.

    ## What it does
    Reports `.json()`, `.text`, `.content` or iteration over an httpx (or requests) response
    when nothing before it in the same function checked its status: `raise_for_status()`,
    `.is_success`, `.is_error`, `.ok`, a look at `.status_code`, or handing the response to
    a function of yours (which may check it). Responses of the CodeWords client's `run()`
    are exempt: it raises on HTTP errors itself in every 0.2+ version (0.4.11 returns 3xx).

    ## Why is this bad?
    httpx does not raise on 4xx/5xx. An expired key or a rate limit then surfaces as a
    `KeyError` or a `JSONDecodeError` three lines later, or worse as an error page parsed as
    data and sent on to an LLM or to Slack.

    ## Example
    ```python
    resp = await http.get(f"https://api.github.com/repos/{repo}")
    stars = resp.json()["stargazers_count"]
    ```

    ## Use instead
    ```python
    resp = await http.get(f"https://api.github.com/repos/{repo}")
    resp.raise_for_status()
    stars = resp.json()["stargazers_count"]
    ```

    ## Fix safety
    Unsafe: `raise_for_status()` turns a silent error into an exception, which changes what
    the workflow does on a failed request (often a 4xx/5xx answer instead of a wrong one).
    Offered only when the response is bound by a plain assignment statement.
    """

    code = "CW105"
    name = "unchecked-response"
    triggers = ("httpx", "requests")
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import httpx

            async def stars(repo: str) -> int:
                async with httpx.AsyncClient(timeout=10) as http:
                    resp = await http.get(f"https://api.github.com/repos/{repo}")
                    resp.raise_for_status()
                    return resp.json()["stargazers_count"]
            """
        ),
        Valid(
            """
            import httpx

            async def fetch(url: str) -> str | None:
                async with httpx.AsyncClient() as http:
                    resp = await http.get(url)
                    if resp.status_code == 404:
                        return None
                    return resp.text if resp.is_success else None
            """
        ),
        # The CodeWords client raises on HTTP errors itself.
        Valid(
            """
            from codewords_client import AsyncCodewordsClient

            async def summarize(text: str) -> str:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="openai", inputs={"model": "gpt-4o-mini", "prompt": text})
                    return resp.json()["response"]
            """
        ),
        # Handed to a helper that checks it.
        Valid(
            """
            import requests

            def load(url):
                resp = requests.get(url, timeout=5)
                ensure_ok(resp)
                return resp.json()
            """
        ),
        # A dict's get() is not a request.
        Valid(
            """
            def pick(options: dict) -> str:
                resp = options.get("resp")
                return resp.text
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import httpx

            async def stars(repo: str) -> int:
                async with httpx.AsyncClient(timeout=10) as http:
                    resp = await http.get(f"https://api.github.com/repos/{repo}")
                    return resp.json()["stargazers_count"]
            """,
            expected=(("CW105", 6, 16),),
            unsafe=True,
            fixed="""
            import httpx

            async def stars(repo: str) -> int:
                async with httpx.AsyncClient(timeout=10) as http:
                    resp = await http.get(f"https://api.github.com/repos/{repo}")
                    resp.raise_for_status()
                    return resp.json()["stargazers_count"]
            """,
        ),
        # Module-level httpx function, body read inline: reported, no fix.
        Invalid(
            """
            import httpx

            def rates() -> dict:
                return httpx.get("https://open.er-api.com/v6/latest/USD").json()["rates"]
            """,
            expected=(("CW105", 4, 12),),
        ),
        # The check comes after the use.
        Invalid(
            """
            import requests as rq

            def weather(city):
                r = rq.get("https://wttr.in/" + city, params={"format": "j1"})
                data = r.json()
                r.raise_for_status()
                return data
            """,
            expected=(("CW105", 5, 12),),
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.scopes: list[_Scope] = [_Scope()]
        self.http_clients: set[str] = set()

    # -- scopes ------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append(_Scope())

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    # -- what is an HTTP client, what is a request ---------------------------------------
    def _is_client_constructor(self, expr: cst.BaseExpression) -> bool:
        return isinstance(expr, cst.Call) and self.ctx.imports.qualified(expr.func) in CLIENT_CLASSES

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and self._is_client_constructor(node.item):
            name = dotted_name(node.asname.name)
            if name:
                self.http_clients.add(name)

    def visit_Param(self, node: cst.Param) -> None:
        if node.annotation is not None:
            qualified = self.ctx.imports.qualified(node.annotation.annotation)
            if qualified in CLIENT_CLASSES:
                self.http_clients.add(node.name.value)

    def _is_request(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute):
            return False
        if expr.func.attr.value not in METHODS:
            return False
        qualified = self.ctx.imports.qualified(expr.func)
        if qualified is not None:
            module = qualified.split(".")[0]
            return module in HTTP_MODULES and qualified.count(".") == 1
        receiver = dotted_name(expr.func.value)
        return receiver is not None and receiver in self.http_clients

    # -- bindings, checks and uses -------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        if self._is_client_constructor(node.value):
            for target in node.targets:
                name = dotted_name(target.target)
                if name:
                    self.http_clients.add(name)
            return
        scope = self.scopes[-1]
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                if self._is_request(node.value):
                    statement = self.ctx.ancestors[-1] if self.ctx.ancestors else None
                    line = statement if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 else None
                    scope.responses[target.target.value] = [line, False, False]
                else:
                    scope.responses.pop(target.target.value, None)

    def visit_Call(self, node: cst.Call) -> None:
        # A response handed to a function (not one of its own methods) may be checked there.
        scope = self.scopes[-1]
        for arg in node.args:
            if isinstance(arg.value, cst.Name) and arg.value.value in scope.responses:
                scope.responses[arg.value.value][1] = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        attr = node.attr.value
        if isinstance(node.value, cst.Name):
            state = self.scopes[-1].responses.get(node.value.value)
            if state is None:
                return
            if attr in CHECK_ATTRS:
                state[1] = True
            elif attr in BODY_ATTRS and not state[1] and not state[2]:
                state[2] = True
                self._report(node, node.value.value, state[0])
        elif attr in BODY_ATTRS and self._is_request(node.value):
            self._report(node, None, None)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.iter, cst.Name):
            state = self.scopes[-1].responses.get(node.iter.value)
            if state is not None and not state[1] and not state[2]:
                state[2] = True
                self._report(node.iter, node.iter.value, state[0])

    def _report(self, node: cst.CSTNode, name: str | None, statement: cst.SimpleStatementLine | None) -> None:
        fix = None
        if name is not None and statement is not None:
            _, end = self.ctx.statement_line_span(statement)
            indent = self.ctx.indentation(statement)
            prefix = "" if self.ctx.text[end - 1 : end] in ("\n", "\r") else self.ctx.newline
            fix = self.make_fix(
                f"Call `{name}.raise_for_status()` after the request",
                [self.ctx.insert_after_offset(end, f"{prefix}{indent}{name}.raise_for_status(){self.ctx.newline}")],
                Applicability.UNSAFE,
            )
        what = f"`{name}`" if name else "the response"
        self.report(
            node,
            f"body of {what} read without checking its status: httpx does not raise on 4xx/5xx;"
            " call `raise_for_status()` or check `.is_success` first",
            fix=fix,
        )
