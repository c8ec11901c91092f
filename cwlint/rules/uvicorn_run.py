from __future__ import annotations

import libcst as cst

from cwlint.context import string_value
from cwlint.diagnostics import Applicability, Edit
from cwlint.edits import import_from
from cwlint.rule import Invalid, Rule, Valid

#: Arguments run_service() passes to uvicorn.run itself; passing them again is a TypeError.
DERIVED = frozenset({"host", "port", "loop"})


class UvicornRun(Rule):
    """`uvicorn.run(app, ...)` starting the service instead of `run_service(app)`.

    ## What it does
    Reports a call of `uvicorn.run` (however uvicorn or `run` was imported), except in an
    `ImportError` fallback for running the file where `codewords_client` is not installed.

    ## Why is this bad?
    The platform starts a workflow on the port it puts in `PORT`; `run_service(app)` reads
    it, binds `0.0.0.0` and uses uvloop, as the runtime expects. A hard-coded
    `uvicorn.run(app, host="127.0.0.1", port=8000)` listens where nobody calls it.

    ## Example
    ```python
    import uvicorn

    if __name__ == "__main__":
        uvicorn.run(app, host="0.0.0.0", port=8000, log_level="info")
    ```

    ## Use instead
    ```python
    from codewords_client import run_service

    if __name__ == "__main__":
        run_service(app, log_level="info")
    ```

    ## Fix safety
    Safe: `run_service` does what the call did on the platform. `host`, `port` and `loop`
    are dropped because `run_service` sets them itself (passing them again raises
    `TypeError`); other keyword arguments are kept. The `run_service` import is added or an
    existing `from codewords_client import ...` extended, and `import uvicorn` is removed
    when nothing else uses it. No fix for the `"module:app"` string form, for extra
    positional arguments, or for `**kwargs` (they may hold a host or port).
    """

    code = "CW201"
    name = "uvicorn-run"
    triggers = ("uvicorn",)
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            from codewords_client import run_service

            if __name__ == "__main__":
                run_service(app)
            """
        ),
        # The fallback for running locally without the client.
        Valid(
            """
            try:
                from codewords_client import run_service
            except ImportError:
                import uvicorn

                def run_service(app):
                    uvicorn.run(app, host="0.0.0.0", port=8000)
            """
        ),
        # Another object's run().
        Valid(
            """
            import asyncio

            asyncio.run(main())
            server.run(app)
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import os

            import uvicorn
            from codewords_client import AsyncCodewordsClient, logger
            from fastapi import FastAPI

            app = FastAPI()

            if __name__ == "__main__":
                uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("PORT", 8000)), log_level="info")
            """,
            expected=(("CW201", 10, 5),),
            fixed="""
            import os

            from codewords_client import AsyncCodewordsClient, logger, run_service
            from fastapi import FastAPI

            app = FastAPI()

            if __name__ == "__main__":
                run_service(app, log_level="info")
            """,
        ),
        # Imported inside the main block, as older docs did; no codewords_client import yet.
        Invalid(
            """
            from fastapi import FastAPI

            app = FastAPI()

            if __name__ == "__main__":
                import uvicorn
                uvicorn.run(app)
            """,
            expected=(("CW201", 7, 5),),
            fixed="""
            from fastapi import FastAPI
            from codewords_client import run_service

            app = FastAPI()

            if __name__ == "__main__":
                run_service(app)
            """,
        ),
        # `from uvicorn import run as serve`; uvicorn is used elsewhere, so that import stays.
        Invalid(
            """
            import uvicorn
            from uvicorn import run as serve
            from codewords_client import run_service as start

            config = uvicorn.Config(app)

            if __name__ == "__main__":
                serve(app, port=9000)
            """,
            expected=(("CW201", 8, 5),),
            fixed="""
            import uvicorn
            from codewords_client import run_service as start

            config = uvicorn.Config(app)

            if __name__ == "__main__":
                start(app)
            """,
        ),
        # The client imported under an alias: the import is extended after the alias.
        Invalid(
            """
            import uvicorn
            from codewords_client import AsyncCodewordsClient as CW

            if __name__ == "__main__":
                uvicorn.run(app, host="0.0.0.0", port=8000)
            """,
            expected=(("CW201", 5, 5),),
            fixed="""
            from codewords_client import AsyncCodewordsClient as CW, run_service

            if __name__ == "__main__":
                run_service(app)
            """,
        ),
        # The string form: reported, not fixed.
        Invalid(
            """
            import uvicorn

            if __name__ == "__main__":
                uvicorn.run("main:app", host="0.0.0.0", port=8080, reload=True)
            """,
            expected=(("CW201", 4, 5),),
            message="string form",
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.calls: list[cst.Call] = []
        self.uses: dict[str, int] = {}
        self.import_lines: list[tuple[cst.SimpleStatementLine, str]] = []

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) != 1:
            return
        statement = node.body[0]
        if isinstance(statement, cst.Import) and len(statement.names) == 1 and statement.names[0].asname is None:
            alias = statement.names[0]
            if isinstance(alias.name, cst.Name) and alias.name.value == "uvicorn":
                self.import_lines.append((node, "uvicorn"))
        elif isinstance(statement, cst.ImportFrom) and isinstance(statement.module, cst.Name):
            if statement.module.value == "uvicorn" and not isinstance(statement.names, cst.ImportStar) and len(statement.names) == 1:
                alias = statement.names[0]
                local = alias.asname.name if alias.asname else alias.name
                if isinstance(local, cst.Name) and isinstance(alias.name, cst.Name) and alias.name.value == "run":
                    self.import_lines.append((node, local.value))

    def visit_Name(self, node: cst.Name) -> None:
        self.uses[node.value] = self.uses.get(node.value, 0) + 1

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.imports.qualified(node.func) == "uvicorn.run" and not self.ctx.in_import_error_handler():
            self.calls.append(node)

    def leave_Module(self, node: cst.Module) -> None:
        for call in self.calls:
            self._check(call)

    def _check(self, call: cst.Call) -> None:
        positional = [arg for arg in call.args if arg.keyword is None]
        first = positional[0].value if positional else None
        if first is not None and string_value(first) is not None:
            self.report(
                call.func,
                "start the service with `run_service(app)` instead of `uvicorn.run`"
                " (no fix for the \"module:app\" string form: pass the app object)",
            )
            return
        fixable = len(positional) == 1 and not any(arg.star for arg in call.args)
        fix = None
        if fixable:
            fix = self.make_fix("Replace with `run_service(app)`", self._edits(call), Applicability.SAFE)
        self.report(
            call.func,
            "start the service with `run_service(app)` instead of `uvicorn.run`:"
            " it listens on the platform's PORT on 0.0.0.0 with uvloop",
            fix=fix,
        )

    def _edits(self, call: cst.Call) -> list[Edit]:
        ctx = self.ctx
        local = ctx.imports.local_name("codewords_client.run_service")
        edits: list[Edit] = []
        if local is None:
            local = "run_service"
            edits.extend(import_from(ctx, "codewords_client", "run_service"))
        kept = [arg for arg in call.args if not (arg.keyword is not None and arg.keyword.value in DERIVED)]
        if len(kept) == len(call.args):
            edits.append(ctx.replace(call.func, local))
        else:
            parts = []
            for arg in kept:
                value = ctx.code(arg.value)
                parts.append(f"{arg.keyword.value}={value}" if arg.keyword is not None else value)
            edits.append(ctx.replace(call, f"{local}({', '.join(parts)})"))
        # Drop imports whose only use was this call (one call: later rounds see the rest).
        func_name = call.func.value.value if isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name) else (
            call.func.value if isinstance(call.func, cst.Name) else None
        )
        for statement, name in self.import_lines:
            if name == func_name and self.uses.get(name, 0) == 2 and len(self.calls) == 1:
                # Two uses: the import itself and this call.
                start, end = ctx.statement_line_span(statement)
                edits.append(Edit(start, end, ""))
        return edits
