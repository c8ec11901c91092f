from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from cwlint.analysis.execution import chain, executing_scope, is_logging_call, is_route_handler, status_code_value
from cwlint.context import dict_items, dotted_name, service_call, string_value
from cwlint.rule import Invalid, Rule, Valid

BROAD = frozenset({"Exception", "BaseException"})
RESPONSE_CLASSES = frozenset(
    {"Response", "JSONResponse", "PlainTextResponse", "HTMLResponse", "ORJSONResponse", "UJSONResponse",
     "StreamingResponse", "FileResponse", "RedirectResponse"}
)
#: Keys (and keyword arguments) that carry the failure to the caller.
ERROR_KEYS = frozenset({"error", "errors", "error_message", "error_msg", "exception", "detail", "failure", "failed"})
SUCCESS_FLAGS = frozenset({"success", "ok", "succeeded"})
STATUS_KEYS = frozenset({"status", "state", "result"})
SUCCESS_WORDS = frozenset({"ok", "success", "succeeded", "successful", "completed", "complete", "done", "processed"})
#: Modules whose calls do I/O: a `try` around one of them guards an operation, not a parse.
IO_MODULES = frozenset(
    {"requests", "httpx", "urllib", "aiohttp", "smtplib", "subprocess", "redis", "pymysql", "psycopg2",
     "psycopg", "pymongo", "boto3", "openai", "anthropic", "slack_sdk", "googleapiclient", "socket",
     "codewords_client", "ftplib", "asyncpg", "motor"}
)


def _is_broad(expr: cst.BaseExpression | None) -> bool:
    if expr is None:
        return True
    if isinstance(expr, cst.Name):
        return expr.value in BROAD
    if isinstance(expr, cst.Tuple):
        return any(_is_broad(element.value) for element in expr.elements)
    return False


@dataclass
class _Handler:
    node: cst.ExceptHandler
    depth: int
    name: str | None  #: the `as e` name
    route: cst.FunctionDef | None  #: the route handler the except sits in, if any
    raised: bool = False
    logged: bool = False
    used: bool = False  #: the exception object used outside a `return` (stored, sent on)
    status_set: bool = False  #: `response.status_code = ...` in the body: not a 2xx answer
    returns: list[cst.Return] = field(default_factory=list)


class BroadExceptMasksError(Rule):
    """`except Exception` that swallows the error and returns as if all went well.

    ## What it does
    Reports a bare `except`, `except Exception` or `except BaseException` (alone or in a
    tuple) whose `try` does I/O (awaits something, calls a library service, or calls an
    HTTP, database, mail or subprocess library) and whose body:
    - does not re-raise;
    - does not log (any `logger.<level>()`, `logging.*`, `print`, `traceback.*`,
      `capture_exception`);
    - does not pass the exception object on (storing or sending `e` handles it);
    - does not set `response.status_code`;
    - and returns a success-shaped value. In a route handler (`@app.post(...)` and
      friends) that is any return answering 2xx: a dict, a model, `None`, even
      `{"error": str(e)}` (the docs' own example), but not a response with an explicit
      status of 300 or more. Elsewhere it is a dict or model call that says it succeeded
      (`"success": True`, `status="completed"`) without an error key.

    Logging and falling back is fine, and so is a helper returning `None`, `[]` or `False`
    as its documented failure value. A handler that returns nothing and does nothing
    (`except Exception: pass`, `...` or `continue`) is CW209's (swallowed-exception): this
    rule reports the handlers that *return* a success-shaped value, CW209 those that *do
    nothing*, so the code after the `try` runs on as if it had worked. A `try` around a
    parse or a conversion only (`json.loads`, `int(...)`) is not judged: falling back to
    the raw value there is a decision, not a hidden failure. Nor is a bare `return True`
    outside a route: predicates answer `True` on error on purpose ("assume it is fine
    unless we know otherwise").

    ## Why is this bad?
    The platform records the run as successful, the caller gets a normal-looking answer,
    and the exception (its type and traceback) is gone: a wrong API key, a renamed field
    or a crashed library service looks like "no results". The docs list the blanket
    `except Exception: return {"error": ...}` among the habits that hide the real issue.

    ## Example
    ```python
    @app.post("/")
    async def enrich(request: EnrichRequest) -> dict:
        try:
            return await enrich_profile(request.url)
        except Exception as e:
            return {"error": str(e)}
    ```

    ## Use instead
    ```python
    @app.post("/")
    async def enrich(request: EnrichRequest) -> dict:
        try:
            return await enrich_profile(request.url)
        except Exception as e:
            logger.exception("enrichment failed", url=str(request.url))
            raise HTTPException(status_code=502, detail=str(e)) from e
    ```

    ## Fix safety
    No fix: whether to log and fall back, answer an error status or let the exception
    propagate is the author's decision.
    """

    code = "CW208"
    name = "broad-except-masks-error"
    triggers = ("except",)

    VALID = [
        # Log and fall back.
        Valid(
            """
            from codewords_client import logger
            from fastapi import FastAPI

            app = FastAPI()

            @app.post("/")
            async def picks(body: dict) -> dict:
                try:
                    ranked = await rank_with_ai(body["matches"])
                except Exception as e:
                    logger.warning("AI fallback", error=str(e))
                    ranked = body["matches"][:6]
                return {"picks": ranked}
            """
        ),
        # An explicit error status, a re-raise, skipping bad items, a None sentinel.
        Valid(
            """
            from fastapi import FastAPI, HTTPException
            from fastapi.responses import JSONResponse

            app = FastAPI()

            @app.post("/webhook")
            async def webhook(body: dict):
                try:
                    handle(body)
                except Exception:
                    return JSONResponse({"ok": False}, status_code=500)
                try:
                    store(body)
                except Exception as exc:
                    raise HTTPException(status_code=502, detail="store failed") from exc
                return {"ok": True}

            def parse_rows(rows):
                out = []
                for row in rows:
                    try:
                        out.append(float(row["price"]))
                    except Exception:
                        continue
                return out

            def to_int(value):
                try:
                    return int(value)
                except Exception:
                    return None
            """
        ),
        # The status set on the injected response.
        Valid(
            """
            from fastapi import FastAPI, Response

            app = FastAPI()

            @app.post("/execute")
            async def execute(body: dict, response: Response) -> dict:
                try:
                    return await run_job(body)
                except Exception:
                    response.status_code = 500
                    return {"message": "There was an error processing the job"}
            """
        ),
        # A parse with a fallback to the raw text: no I/O in the try.
        Valid(
            """
            import json
            import subprocess

            def run_tool(args: list[str]) -> dict:
                proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
                if proc.returncode != 0:
                    return {"error": proc.stderr.strip()}
                out = proc.stdout.strip()
                try:
                    return {"ok": True, "result": json.loads(out)}
                except Exception:
                    return {"ok": True, "result": out}
            """
        ),
        # A predicate's conservative answer.
        Valid(
            """
            import ast
            import inspect

            def uses_first_param(func) -> bool:
                try:
                    tree = ast.parse(inspect.getsource(func))
                except Exception:
                    return True  # assume it does unless we know otherwise
                return any(isinstance(node, ast.Name) for node in ast.walk(tree))
            """
        ),
        # The error is passed on (sent to the user), and a narrow except.
        Valid(
            """
            async def handle_update(update: dict) -> dict:
                try:
                    await process(update)
                except Exception as e:
                    await send_message(update["chat_id"], f"Something went wrong: {e}")
                    return {"ok": True}
                try:
                    price = float(update["text"])
                except ValueError:
                    return {"ok": True}
                return {"ok": True, "price": price}
            """
        ),
    ]
    INVALID = [
        # The docs' blanket handler: HTTP 200 with the error in the body.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI

            app = FastAPI()

            @app.post("/")
            async def scrape(body: dict) -> dict:
                try:
                    async with AsyncCodewordsClient() as client:
                        resp = await client.run(service_id="firecrawl", inputs={"url": body["url"]})
                        return resp.json()
                except Exception as e:
                    return {"error": str(e)}
            """,
            expected=(("CW208", 12, 12),),
            message="HTTP 200",
        ),
        # A webhook that always says ok, with a bare except; and a helper claiming success.
        Invalid(
            """
            from fastapi import APIRouter, Request

            router = APIRouter()

            @router.post("/telegram")
            async def telegram(request: Request):
                try:
                    update = await request.json()
                    await route_update(update)
                except:
                    pass
                    return {"ok": True}
                return {"ok": True}

            async def sync_crm(contact: dict) -> dict:
                try:
                    await push_contact(contact)
                except (TimeoutError, Exception):
                    return {"status": "completed", "contact": contact["email"]}
                return {"status": "completed", "contact": contact["email"]}
            """,
            expected=(("CW208", 10, 5), ("CW208", 18, 13)),
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.depth = 0
        self.in_return = 0
        self.handlers: list[_Handler] = []
        #: `try` statements whose body does I/O (by identity).
        self.io_tries: set[int] = set()
        self.tries = 0

    # -- scopes -----------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.depth += 1

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.depth -= 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth += 1

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth -= 1

    def _open(self):
        return (handler for handler in self.handlers if handler.depth == self.depth)

    # -- what the try guards -----------------------------------------------------------------
    def visit_Try(self, node: cst.Try) -> None:
        self.tries += 1

    def leave_Try(self, node: cst.Try) -> None:
        self.tries -= 1

    def visit_Await(self, node: cst.Await) -> None:
        if self.tries:
            self._mark_io()

    def _mark_io(self) -> None:
        """Mark every `try` whose body (not a handler) holds the current node."""
        ancestors = self.ctx.ancestors
        for index in range(len(ancestors) - 1):
            node = ancestors[index]
            if isinstance(node, cst.Try) and ancestors[index + 1] is node.body:
                self.io_tries.add(id(node))

    def _does_io(self, call: cst.Call) -> bool:
        qualified = self.ctx.imports.qualified(call.func)
        if qualified is not None and qualified.split(".", 1)[0] in IO_MODULES:
            return True
        return service_call(self.ctx, call) is not None

    # -- handlers ---------------------------------------------------------------------------
    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if not _is_broad(node.type):
            return
        parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
        if not isinstance(parent, cst.Try) or id(parent) not in self.io_tries:
            return
        scope = executing_scope(chain(self.ctx, node))
        route = scope if isinstance(scope, cst.FunctionDef) and is_route_handler(scope) else None
        name = node.name.name.value if node.name is not None and isinstance(node.name.name, cst.Name) else None
        self.handlers.append(_Handler(node, self.depth, name, route))

    def leave_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if not self.handlers or self.handlers[-1].node is not node:
            return
        handler = self.handlers.pop()
        if handler.raised or handler.logged or handler.used or handler.status_set or not handler.returns:
            return
        if not any(self._success_shaped(ret.value, handler.route is not None) for ret in handler.returns):
            return
        shown = "except" if node.type is None else f"except {self.ctx.code(node.type)}"
        target = node if node.type is None else node.type
        if handler.route is not None:
            message = (
                f"`{shown}` swallows the error and answers HTTP 200 from `{handler.route.name.value}`:"
                " it is neither re-raised nor logged, so the run looks successful and the cause is lost;"
                " log it (`logger.exception(...)`) or raise `HTTPException`"
            )
        else:
            message = (
                f"`{shown}` swallows the error and returns a success value: it is neither re-raised nor"
                " logged, so callers cannot tell it failed; log it or let it propagate"
            )
        self.report(target, message)

    def visit_Assign(self, node: cst.Assign) -> None:
        if self.handlers and any(
            isinstance(t.target, cst.Attribute) and t.target.attr.value == "status_code" for t in node.targets
        ):
            for handler in self._open():
                handler.status_set = True

    def visit_Raise(self, node: cst.Raise) -> None:
        for handler in self._open():
            handler.raised = True

    def visit_Call(self, node: cst.Call) -> None:
        if self.tries and self._does_io(node):
            self._mark_io()
        if self.handlers and is_logging_call(self.ctx, node):
            for handler in self._open():
                handler.logged = True

    def visit_Return(self, node: cst.Return) -> None:
        self.in_return += 1
        for handler in self._open():
            handler.returns.append(node)

    def leave_Return(self, node: cst.Return) -> None:
        self.in_return -= 1

    def visit_Name(self, node: cst.Name) -> None:
        if not self.handlers or self.in_return or isinstance(self.ctx.ancestors[-1], cst.AsName):
            return
        for handler in self._open():
            if handler.name == node.value:
                handler.used = True

    # -- what a return says -----------------------------------------------------------------
    def _success_shaped(self, value: cst.BaseExpression | None, route: bool) -> bool:
        if isinstance(value, cst.Call):
            response = self._response_status(value)
            if response is not None:
                status, known = response
                return known and status < 300
        if route:
            return True
        if isinstance(value, cst.Dict):
            items = dict_items(value)
            return self._says_success({key: element.value for key, element in items})
        if isinstance(value, cst.Call):
            keywords = {arg.keyword.value: arg.value for arg in value.args if arg.keyword is not None}
            return self._says_success(keywords)
        return False

    @staticmethod
    def _says_success(fields: dict[str, cst.BaseExpression]) -> bool:
        if any(key in ERROR_KEYS for key in fields):
            return False
        for key, value in fields.items():
            if key in SUCCESS_FLAGS and isinstance(value, cst.Name) and value.value == "True":
                return True
            if key in STATUS_KEYS:
                text = string_value(value)
                if text is not None and text.lower() in SUCCESS_WORDS:
                    return True
        return False

    @staticmethod
    def _response_status(call: cst.Call) -> tuple[int, bool] | None:
        """For a Starlette/FastAPI response: (status, whether it is known); else None."""
        name = dotted_name(call.func)
        if name is None or name.rsplit(".", 1)[-1] not in RESPONSE_CLASSES:
            return None
        if name.endswith("RedirectResponse"):
            default = 307
        else:
            default = 200
        status_arg = next((arg.value for arg in call.args if arg.keyword is not None and arg.keyword.value == "status_code"), None)
        positional = [arg.value for arg in call.args if arg.keyword is None]
        if status_arg is None and len(positional) >= 2 and not name.endswith(("RedirectResponse", "FileResponse")):
            status_arg = positional[1]
        if status_arg is None:
            return default, True
        status = status_code_value(status_arg)
        return (status, True) if status is not None else (0, False)
