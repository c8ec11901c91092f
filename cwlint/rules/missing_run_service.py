from __future__ import annotations

import libcst as cst

from cwlint.analysis.execution import chain, executing_scope, is_fastapi_app
from cwlint.context import dotted_name, is_main_guard
from cwlint.diagnostics import Applicability, Edit
from cwlint.edits import import_from
from cwlint.rule import Invalid, Rule, Valid

#: Calls that start a server, whatever else the file does with them.
SERVER_CALLS = frozenset(
    {"uvicorn.run", "uvicorn.Server", "uvicorn.main.run", "hypercorn.asyncio.serve", "hypercorn.trio.serve"}
)


class MissingRunService(Rule):
    """A workflow's FastAPI app that nothing ever starts.

    ## What it does
    Reports the module-level `app = FastAPI(...)` of a workflow (a file with a PEP 723
    header, or one that imports `run_service`) when no call in the file starts a server:
    no `run_service(...)` (under any alias, or from a star import), no `uvicorn.run`,
    `uvicorn.Server` or hypercorn `serve`. Where the app is started does not matter to
    this rule: a `main()` called from the main guard is fine, and `uvicorn.run(app)` is
    CW201's finding (both fixes would start the app twice). The header must be written
    for CodeWords (a `codewords-client` dependency or a `[tool.env-checker]` table):
    a plain `uv run` script, or a file without a header that imports only the client (a
    Vercel or Docker app served by `uvicorn module:app`), is not reported.

    ## Why is this bad?
    The platform runs the workflow file as a script and waits for it to listen on
    `PORT`. Without `run_service(app)` the script defines the app, runs to the end and
    exits: every run fails before the first request, with nothing in the workflow's own
    logs to say why. A main guard that only runs a local test (`asyncio.run(test())`) is
    the common form of the mistake.

    ## Example
    ```python
    app = FastAPI(title="Lead enricher")

    @app.post("/")
    async def enrich(request: EnrichRequest) -> EnrichResponse:
        ...
    ```

    ## Use instead
    ```python
    from codewords_client import run_service

    if __name__ == "__main__":
        run_service(app)
    ```

    ## Fix safety
    Safe when the file has no main guard: the block `if __name__ == "__main__":
    run_service(app)` is appended (and `run_service` imported); importing the module is
    unchanged, and running it starts the service as the platform expects. Unsafe when a
    main guard exists: `run_service(app)` is appended to it, after whatever it does
    today (often a local test run that calls real services), which then also runs on the
    platform before the service starts; remove that part by hand.
    """

    code = "CW202"
    name = "missing-run-service"
    triggers = ("FastAPI",)
    scope = "workflow"
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # ///
            from codewords_client import logger, run_service
            from fastapi import FastAPI

            app = FastAPI(title="Echo")

            @app.post("/")
            async def echo(body: dict) -> dict:
                return body

            if __name__ == "__main__":
                run_service(app)
            """
        ),
        # Started from a main() the guard calls; a star import brings run_service.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.4.11", "fastapi==0.116.1"]
            # ///
            from codewords_client import *
            from fastapi import FastAPI

            api = FastAPI()

            def main() -> None:
                logger.info("starting")
                run_service(api, log_level="info")

            if __name__ == "__main__":
                main()
            """
        ),
        # uvicorn.run under the guard: CW201 reports it, not this rule.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1", "uvicorn==0.35.0"]
            # ///
            from fastapi import FastAPI

            app = FastAPI()

            if __name__ == "__main__":
                import uvicorn
                uvicorn.run(app, host="0.0.0.0", port=8000)
            """
        ),
        # No header and no run_service import: an app some other server imports.
        Valid(
            """
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI

            app = FastAPI()

            @app.get("/health")
            async def health() -> dict:
                return {"ok": True}
            """
        ),
        # A generic PEP 723 script served by `fastapi run`: not a CodeWords header.
        Valid(
            """
            # /// script
            # dependencies = ["fastapi[standard]==0.116.1"]
            # ///
            from fastapi import FastAPI

            app = FastAPI()
            """
        ),
        # An app factory: nothing at module level to start.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # ///
            from fastapi import FastAPI

            def create_app() -> FastAPI:
                return FastAPI()
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # ///
            from codewords_client import AsyncCodewordsClient, logger
            from fastapi import FastAPI

            app = FastAPI(title="Lead enricher")

            @app.post("/")
            async def enrich(body: dict) -> dict:
                logger.info("enriching", email=body.get("email"))
                return body
            """,
            expected=(("CW202", 8, 1),),
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # ///
            from codewords_client import AsyncCodewordsClient, logger, run_service
            from fastapi import FastAPI

            app = FastAPI(title="Lead enricher")

            @app.post("/")
            async def enrich(body: dict) -> dict:
                logger.info("enriching", email=body.get("email"))
                return body


            if __name__ == "__main__":
                run_service(app)
            """,
        ),
        # The guard only runs a local test: run_service is appended to it (unsafe).
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.4.11", "fastapi==0.116.1"]
            # ///
            import asyncio

            import fastapi
            from codewords_client import run_service as serve

            api = fastapi.FastAPI()

            @api.post("/")
            async def summarize(body: dict) -> dict:
                return {"summary": body["text"][:100]}

            if __name__ == "__main__":
                print(asyncio.run(summarize({"text": "hello"})))
            """,
            expected=(("CW202", 9, 1),),
            unsafe=True,
            fixed="""
            # /// script
            # dependencies = ["codewords-client==0.4.11", "fastapi==0.116.1"]
            # ///
            import asyncio

            import fastapi
            from codewords_client import run_service as serve

            api = fastapi.FastAPI()

            @api.post("/")
            async def summarize(body: dict) -> dict:
                return {"summary": body["text"][:100]}

            if __name__ == "__main__":
                print(asyncio.run(summarize({"text": "hello"})))
                serve(api)
            """,
        ),
        # The same without --unsafe-fixes: reported, left alone.
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.4.11", "fastapi==0.116.1"]
            # ///
            from fastapi import FastAPI

            app: FastAPI = FastAPI()

            if __name__ == "__main__":
                print(app.openapi())
            """,
            expected=(("CW202", 6, 1),),
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.app: tuple[cst.CSTNode, str] | None = None  #: the statement target and the app's name
        self.calls: list[cst.BaseExpression] = []
        self.guards: list[cst.If] = []

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1:
            self._app(node.targets[0].target, node.value, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._app(node.target, node.value, node)

    def _app(self, target: cst.BaseExpression, value: cst.BaseExpression, node: cst.CSTNode) -> None:
        if self.app is not None or not isinstance(target, cst.Name) or not is_fastapi_app(self.ctx, value):
            return
        if executing_scope(chain(self.ctx, node)) is None:
            self.app = (target, target.value)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node.func)

    def visit_If(self, node: cst.If) -> None:
        if len(self.ctx.ancestors) == 1 and is_main_guard(node):
            self.guards.append(node)

    def leave_Module(self, node: cst.Module) -> None:
        if self.app is None:
            return
        ctx = self.ctx
        if not self._is_codewords_service():
            return
        for func in self.calls:
            name = dotted_name(func)
            if name is not None and name.rsplit(".", 1)[-1] == "run_service":
                return
            qualified = ctx.imports.qualified(func)
            if qualified in SERVER_CALLS or qualified == "codewords_client.run_service":
                return
        target, app_name = self.app
        self.report(
            target,
            f"nothing starts the FastAPI app `{app_name}`: the workflow exits instead of serving;"
            f" add `if __name__ == \"__main__\": run_service({app_name})`",
            fix=self._fix(app_name),
        )

    def _is_codewords_service(self) -> bool:
        """A header written for CodeWords, or a `run_service` import.

        A PEP 723 header alone is any `uv run` script; a client import alone may be an
        app served elsewhere (Vercel, Docker) that calls workflows.
        """
        if self.ctx.imports.local_name("codewords_client.run_service") is not None:
            return True
        header = self.ctx.header
        if header is None:
            return False
        tool = header.data.get("tool")
        return "codewords-client" in header.distribution_names() or (isinstance(tool, dict) and "env-checker" in tool)

    def _fix(self, app_name: str):
        ctx = self.ctx
        local = ctx.imports.local_name("codewords_client.run_service")
        edits: list[Edit] = []
        if local is None:
            local = "run_service"
            edits.extend(import_from(ctx, "codewords_client", "run_service"))
        newline = ctx.newline
        if not self.guards:
            content_end = len(ctx.text.rstrip())
            indent = ctx.module.default_indent
            edits.append(
                Edit(
                    content_end,
                    len(ctx.text),
                    f"{newline}{newline}{newline}if __name__ == \"__main__\":{newline}{indent}{local}({app_name}){newline}",
                )
            )
            return self.make_fix("Start the app under the main guard", edits, Applicability.SAFE)
        guard = self.guards[-1]
        if not isinstance(guard.body, cst.IndentedBlock) or guard.orelse is not None or not guard.body.body:
            return None
        last = guard.body.body[-1]
        _, end = ctx.statement_line_span(last)
        text = ctx.text
        prefix = "" if end > 0 and text[end - 1] in "\r\n" else newline
        edits.append(Edit(end, end, f"{prefix}{ctx.indentation(last)}{local}({app_name}){newline}"))
        return self.make_fix("Start the app at the end of the main guard", edits, Applicability.UNSAFE)
