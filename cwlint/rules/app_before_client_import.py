from __future__ import annotations

import libcst as cst

from cwlint.analysis.execution import chain, executing_scope, is_fastapi_app
from cwlint.context import dotted_name
from cwlint.diagnostics import Applicability, Edit
from cwlint.rule import Invalid, Rule, Valid


def _is_client_module(name: str | None) -> bool:
    return name is not None and (name == "codewords_client" or name.startswith("codewords_client."))


class AppBeforeClientImport(Rule):
    """`FastAPI(...)` created before `codewords_client` is imported.

    ## What it does
    Reports a `FastAPI(...)` call that runs at import time (module level, also inside a
    module-level `if` or `try`) before the first module-level import of `codewords_client`
    in the file. An app built in a function (a factory called later) is not reported, nor
    is a file that never imports the client. An import that only happens inside a function
    comes too late: the app is reported then too.

    ## Why is this bad?
    Importing `codewords_client` patches `FastAPI.__init__`: apps created afterwards get
    the request-id middleware (correlation ids on every library call and log line) and the
    handlers that turn exceptions into the platform's error responses. An app created
    earlier silently gets neither: errors come back as bare 500s and the run's logs cannot
    be tied to its library calls.

    ## Example
    ```python
    from fastapi import FastAPI

    app = FastAPI(title="Ticket triage")

    from codewords_client import AsyncCodewordsClient, logger, run_service
    ```

    ## Use instead
    ```python
    from codewords_client import AsyncCodewordsClient, logger, run_service
    from fastapi import FastAPI

    app = FastAPI(title="Ticket triage")
    ```

    ## Fix safety
    Unsafe: the first `codewords_client` import statement moves up to just above the
    statement that creates the app (above that statement's comments). The client then
    configures logging and patches FastAPI earlier than before, before any code that sat
    in between (an `os.environ["LOGLEVEL"] = ...` placed there on purpose would now come
    too late). Offered only when that import is a plain module-level statement line of its
    own.
    """

    code = "CW204"
    name = "app-before-client-import"
    triggers = ("codewords_client",)
    scope = "workflow"
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            from codewords_client import AsyncCodewordsClient, logger, run_service
            from fastapi import FastAPI

            app = FastAPI(title="Ticket triage")
            """
        ),
        # An app factory runs after every module-level import.
        Valid(
            """
            from fastapi import FastAPI

            def create_app() -> FastAPI:
                return FastAPI(title="Ticket triage")

            import codewords_client

            app = create_app()
            """
        ),
        # The client imported inside a try at module level still comes first.
        Valid(
            """
            try:
                from codewords_client import logger, run_service
            except ImportError:
                import logging as logger
                run_service = None
            from fastapi import FastAPI as API

            app = API()
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import os

            from fastapi import FastAPI

            # The service
            app = FastAPI(title="Ticket triage")

            from codewords_client import AsyncCodewordsClient, logger, run_service


            @app.post("/")
            async def triage(ticket: dict) -> dict:
                return ticket
            """,
            expected=(("CW204", 6, 7),),
            unsafe=True,
            fixed="""
            import os

            from fastapi import FastAPI

            from codewords_client import AsyncCodewordsClient, logger, run_service
            # The service
            app = FastAPI(title="Ticket triage")



            @app.post("/")
            async def triage(ticket: dict) -> dict:
                return ticket
            """,
        ),
        # Imported only lazily in a handler: too late for the app, and nothing to move.
        Invalid(
            """
            import fastapi

            app = fastapi.FastAPI()

            @app.post("/")
            async def run(body: dict) -> dict:
                from codewords_client import AsyncCodewordsClient

                async with AsyncCodewordsClient() as client:
                    return (await client.run(service_id="openai", inputs=body)).json()
            """,
            expected=(("CW204", 3, 7),),
            message="only imported inside a function",
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.imported = False  #: a module-level client import has run
        self.lazy_import = False  #: a client import inside a function
        self.first_import: cst.CSTNode | None = None  #: the statement line to move, if movable
        self.apps: list[tuple[cst.Call, cst.CSTNode]] = []  #: app calls and their module statements

    def visit_Import(self, node: cst.Import) -> None:
        if any(_is_client_module(dotted_name(alias.name)) for alias in node.names):
            self._imported(node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if not node.relative and node.module is not None and _is_client_module(dotted_name(node.module)):
            self._imported(node)

    def _imported(self, node: cst.Import | cst.ImportFrom) -> None:
        nodes = chain(self.ctx, node)
        if executing_scope(nodes) is not None:
            self.lazy_import = True
            return
        if not self.imported:
            self.imported = True
            statement = nodes[-2] if len(nodes) == 3 else None
            if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
                self.first_import = statement

    def visit_Call(self, node: cst.Call) -> None:
        if self.imported or not is_fastapi_app(self.ctx, node):
            return
        nodes = chain(self.ctx, node)
        if executing_scope(nodes) is None:
            self.apps.append((node, nodes[1]))

    def leave_Module(self, node: cst.Module) -> None:
        if not self.apps or not (self.imported or self.lazy_import):
            return
        first_statement = self.apps[0][1]
        for call, _ in self.apps:
            if not self.imported:
                self.report(
                    call.func,
                    "`codewords_client` is only imported inside a function: this app never gets its"
                    " request-id middleware and error handlers; import it at the top, before the app",
                )
                continue
            fix = None
            if self.first_import is not None:
                fix = self.make_fix(
                    "Move the `codewords_client` import above the app",
                    self._move(self.first_import, first_statement),
                    Applicability.UNSAFE,
                )
            self.report(
                call.func,
                "the app is created before `codewords_client` is imported, so the client's FastAPI patch"
                " (request-id middleware, error handlers) never applies to it",
                fix=fix,
            )

    def _move(self, statement: cst.CSTNode, before: cst.CSTNode) -> list[Edit]:
        ctx = self.ctx
        start, end = ctx.statement_line_span(statement)
        text = ctx.text[start:end]
        if not text.endswith(("\n", "\r")):
            text += ctx.newline
        target, _ = ctx.statement_line_span(before)
        # Above the comments and blank lines that lead the app's statement.
        leading = getattr(before, "leading_lines", ())
        first_line = ctx.range(before)[0].line - len(leading)
        target = min(target, ctx.offset(first_line, 1))
        # Keep blank lines above the moved import: insert after the leading blank lines.
        for line in leading:
            if line.comment is not None:
                break
            target = ctx.offset(ctx.source_position(target).line + 1, 1)
        return [Edit(target, target, text), Edit(start, end, "")]
