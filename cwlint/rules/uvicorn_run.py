from __future__ import annotations

import libcst as cst

from cwlint.context import _names_import_error, dotted_name, string_value
from cwlint.diagnostics import Applicability, Edit
from cwlint.edits import import_from
from cwlint.rule import Invalid, Rule, Valid

#: Arguments run_service() passes to uvicorn.run itself; passing them again is a TypeError.
DERIVED = frozenset({"host", "port", "loop"})


class UvicornRun(Rule):
    """`uvicorn.run(app, ...)` starting the service instead of `run_service(app)`.

    ## What it does
    Reports a call of `uvicorn.run` (however uvicorn or `run` was imported), except in an
    `ImportError` fallback for running the file where `codewords_client` is not installed:
    inside the `except ImportError` handler itself, or in the branch of an `if` that runs
    only when the import failed, told by a flag the handler sets (`HAS_CODEWORDS = False`,
    or `run_service = None`) and the `try` body leaves set: `if HAS_CODEWORDS:
    run_service(app) else: uvicorn.run(app)`, `if not HAS_CODEWORDS: uvicorn.run(app)`,
    `if run_service is None: ...`.

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
        # A flag set by the ImportError handler picks the fallback branch.
        Valid(
            """
            import uvicorn
            from fastapi import FastAPI

            try:
                from codewords_client import logger, run_service
                HAS_CODEWORDS = True
            except ImportError:
                HAS_CODEWORDS = False
                run_service = None

            app = FastAPI()

            if __name__ == "__main__":
                if HAS_CODEWORDS:
                    run_service(app)
                else:
                    uvicorn.run(app, host="0.0.0.0", port=8000)
                if not HAS_CODEWORDS:
                    uvicorn.run(app)
                if run_service is None:
                    uvicorn.run(app)
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
        # A flag that says nothing about the import (an env var), and the branch of a client
        # flag that runs when the client *is* there: both still start uvicorn on the platform.
        Invalid(
            """
            import os

            import uvicorn

            try:
                from codewords_client import run_service
                HAS_CODEWORDS = True
            except ImportError:
                HAS_CODEWORDS = False

            LOCAL = os.getenv("LOCAL_DEV") == "1"

            if __name__ == "__main__":
                if LOCAL:
                    uvicorn.run("main:app", reload=True)
                if HAS_CODEWORDS:
                    uvicorn.run("main:app", port=8000)
            """,
            expected=(("CW201", 15, 9), ("CW201", 17, 9)),
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
        #: Names whose truth says the client imported (`HAS_CODEWORDS`, `run_service` set to
        #: None by the handler), and names whose truth says it did not (`LOCAL_MODE = True`).
        self.present_flags: set[str] = set()
        self.missing_flags: set[str] = set()
        #: Each call, with the `if` branches around it: (the If, in its body?).
        self.branches: dict[int, list[tuple[cst.If, bool]]] = {}

    def visit_Try(self, node: cst.Try) -> None:
        """A `try` importing codewords_client with an ImportError handler: the flags it sets."""
        if not any(handler.type is not None and _names_import_error(handler.type) for handler in node.handlers):
            return
        if not _imports_client(node.body):
            return
        tried = _constants(node.body)
        if node.orelse is not None:
            tried.update(_constants(node.orelse.body))
        for handler in node.handlers:
            if handler.type is None or not _names_import_error(handler.type):
                continue
            for name, value in _constants(handler.body).items():
                if value in ("False", "None") and tried.get(name) != value:
                    self.present_flags.add(name)
                elif value == "True" and tried.get(name) != "True":
                    self.missing_flags.add(name)

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
            ancestors = self.ctx.ancestors
            branches = []
            for index, ancestor in enumerate(ancestors[:-1]):
                if isinstance(ancestor, cst.If):
                    branches.append((ancestor, ancestors[index + 1] is ancestor.body))
            self.branches[id(node)] = branches

    def leave_Module(self, node: cst.Module) -> None:
        for call in self.calls:
            if any(self._only_without_client(test, body) for test, body in self.branches.get(id(call), ())):
                continue
            self._check(call)

    def _only_without_client(self, node: cst.If, in_body: bool) -> bool:
        """Whether this branch of ``node`` runs only when the client failed to import."""
        test: cst.BaseExpression = node.test
        truthy = True  # the branch runs when `test` is true
        if not in_body:
            truthy = False
        while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, truthy = test.expression, not truthy
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            target = test.comparisons[0]
            if isinstance(target.comparator, cst.Name) and target.comparator.value in ("None", "False"):
                if isinstance(target.operator, (cst.Is, cst.Equal)):
                    test, truthy = test.left, not truthy
                elif isinstance(target.operator, (cst.IsNot, cst.NotEqual)):
                    test = test.left
        if not isinstance(test, cst.Name):
            return False
        if test.value in self.present_flags:
            return not truthy
        if test.value in self.missing_flags:
            return truthy
        return False

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


def _imports_client(body: cst.BaseSuite) -> bool:
    for statement in body.body if isinstance(body, cst.IndentedBlock) else ():
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.ImportFrom) and small.module is not None:
                if (dotted_name(small.module) or "").split(".")[0] == "codewords_client":
                    return True
            elif isinstance(small, cst.Import):
                if any((dotted_name(alias.name) or "").split(".")[0] == "codewords_client" for alias in small.names):
                    return True
    return False


def _constants(body: cst.BaseSuite) -> dict[str, str]:
    """``NAME = True/False/None`` statements directly in ``body``: name -> constant."""
    out: dict[str, str] = {}
    for statement in body.body if isinstance(body, cst.IndentedBlock) else ():
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Name) and small.value.value in ("True", "False", "None"):
                for target in small.targets:
                    if isinstance(target.target, cst.Name):
                        out[target.target.value] = small.value.value
    return out
