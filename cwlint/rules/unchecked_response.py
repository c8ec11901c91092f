from __future__ import annotations

import libcst as cst

from cwlint.context import dotted_name, string_value
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
#: Fields of a JSON body that carry the API's own verdict: Telegram's and Slack's `ok`, and
#: the `success`/`status`/`error` fields of many others.
STATUS_FIELDS = frozenset({"ok", "success", "successful", "succeeded", "status", "state", "error", "errors",
                           "error_code", "code", "status_code", "err", "failed", "failure"})


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
    So is a body bound by `result = resp.json()` when the very next statement tests the
    body's own status field (`if not result.get("ok"):`, `if result["status"] != "success":`,
    `if "error" in result:`), the presence of the field it is after (`if "id" in data:`,
    `if data.get("items"):`: an error body lacks it), or the response's status (`if resp.status_code == 200 and
    result.get("id"):`): APIs such as Telegram and Slack answer errors with such a field,
    and checking it is checking the response. (A body returned whole, `return resp.json()`,
    is still reported: whether the caller checks it is not followed.) Searching the raw text for a marker
    (`if "captcha" in resp.text:`) parses nothing out of it and is not reported either.

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
        # The body's own status field, tested right after the body is read (Telegram, Slack).
        Valid(
            """
            import httpx

            async def send(http: httpx.AsyncClient, token: str, chat_id: int, text: str) -> int:
                resp = await http.post(f"https://api.telegram.org/bot{token}/sendMessage", json={"chat_id": chat_id, "text": text})
                result = resp.json()
                if not result.get("ok"):
                    raise RuntimeError(result.get("description", "telegram error"))
                return result["result"]["message_id"]

            async def create(http: httpx.AsyncClient, url: str) -> str | None:
                resp = await http.post(url, json={"name": "launch"})
                data = resp.json()
                if resp.status_code == 200 and data.get("id"):
                    return data["id"]
                page = await http.get(url)
                return "blocked" if "captcha" in page.text.lower() else None

            async def post(http: httpx.AsyncClient, channel: str, text: str) -> str:
                data = (await http.post("https://slack.com/api/chat.postMessage", json={"channel": channel, "text": text})).json()
                if "error" in data or data["ok"] is not True:
                    raise RuntimeError(data.get("error"))
                return data["ts"]
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
        # A status field tested later, or a field that is not a status: not a check.
        Invalid(
            """
            import httpx

            async def send(http: httpx.AsyncClient, url: str, text: str) -> str:
                resp = await http.post(url, json={"text": text})
                result = resp.json()
                message_id = result["result"]["message_id"]
                if not result.get("ok"):
                    raise RuntimeError("failed")
                reply = await http.get(url)
                body = reply.json()
                if body["items"]:
                    return body["items"][0]
                return message_id
            """,
            expected=(("CW105", 5, 14), ("CW105", 10, 12)),
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
                if attr == "json" and self._status_checked_next(node, node.value.value):
                    state[1] = True
                    return
                if attr == "text" and self._searched(node):
                    state[2] = False
                    return
                self._report(node, node.value.value, state[0])
        elif attr in BODY_ATTRS and self._is_request(node.value):
            if attr == "json" and self._status_checked_next(node, None):
                return
            self._report(node, None, None)

    def _searched(self, node: cst.Attribute) -> bool:
        """``"marker" in resp.text`` (or ``.lower()`` of it): the raw body searched for a
        string, whatever the status; nothing is parsed out of it as data."""
        ancestors = self.ctx.ancestors
        child: cst.CSTNode = node
        for parent in reversed(ancestors):
            if isinstance(parent, cst.ComparisonTarget):
                return parent.comparator is child and isinstance(parent.operator, (cst.In, cst.NotIn))
            if isinstance(parent, cst.Attribute) and parent.value is child:
                child = parent
                continue
            if isinstance(parent, cst.Call) and parent.func is child:
                child = parent
                continue
            return False
        return False

    def _status_checked_next(self, node: cst.Attribute, response: str | None) -> bool:
        """``body = resp.json()`` whose next statement tests the body's own status field, or
        the response's status (``if resp.status_code == 200 and body.get("id")``)."""
        ancestors = self.ctx.ancestors
        if len(ancestors) < 4:
            return False
        call, assign, line, block = ancestors[-1], ancestors[-2], ancestors[-3], ancestors[-4]
        if not (isinstance(call, cst.Call) and call.func is node and not call.args):
            return False
        if isinstance(assign, cst.Assign) and assign.value is call and len(assign.targets) == 1:
            target = assign.targets[0].target
        elif isinstance(assign, cst.AnnAssign) and assign.value is call:
            target = assign.target
        else:
            return False
        if not isinstance(target, cst.Name) or not isinstance(line, cst.SimpleStatementLine):
            return False
        body = block.body if isinstance(block, (cst.IndentedBlock, cst.Module)) else None
        if not isinstance(body, (list, tuple)):
            return False
        for index, statement in enumerate(body):
            if statement is line:
                following = body[index + 1] if index + 1 < len(body) else None
                break
        else:
            return False
        if isinstance(following, cst.If):
            test: cst.CSTNode = following.test
        elif isinstance(following, cst.SimpleStatementLine) and isinstance(following.body[0], cst.Assert):
            test = following.body[0].test
        else:
            return False
        if _tests_status_field(test, target.value):
            return True
        return response is not None and _tests_response_status(test, response)

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


def _tests_response_status(test: cst.CSTNode, name: str) -> bool:
    """``name.status_code``, ``name.is_success``, ... anywhere in ``test``."""
    stack = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == name:
            if node.attr.value in CHECK_ATTRS:
                return True
        stack.extend(node.children)
    return False


def _tests_status_field(test: cst.CSTNode, name: str) -> bool:
    """``name.get("ok")``, ``name["status"]`` or ``"error" in name`` anywhere in ``test``: the
    body's own verdict, or the presence of a field (``"id" in data``, ``data.get("items")``),
    which an error body lacks."""
    stack = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get":
            if isinstance(node.func.value, cst.Name) and node.func.value.value == name and node.args:
                if string_value(node.args[0].value) is not None:
                    return True
        elif isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value == name:
            element = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(element, cst.Index) and string_value(element.value) in STATUS_FIELDS:
                return True
        elif isinstance(node, cst.Comparison) and string_value(node.left) is not None:
            for target in node.comparisons:
                if isinstance(target.operator, (cst.In, cst.NotIn)) and isinstance(target.comparator, cst.Name):
                    if target.comparator.value == name:
                        return True
        stack.extend(node.children)
    return False
