from __future__ import annotations

import re
import tomllib
from pathlib import PurePath

import libcst as cst

from cwlint.analysis.header_layout import HeaderLayout, content_lines, report_at, scan
from cwlint.diagnostics import Applicability, Edit
from cwlint.rule import Invalid, Rule, Valid
from cwlint.source import line_starts

_POSITION = re.compile(r"\s*\(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)")
_MISPLACED = ("requires-python", "dependencies")
_DEPLOYED = re.compile(r"\bFastAPI\s*\(|\brun_service\b|\buvicorn\b")


def _is_test_file(path: str) -> bool:
    name = PurePath(path).name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


class _LazyLayout:
    """Scans the header only when a problem needs a position (clean headers are the rule)."""

    def __init__(self, text: str, header) -> None:
        self.text, self.header = text, header
        self._layout: HeaderLayout | None = None

    def __getattr__(self, name: str):
        if self._layout is None:
            self._layout = scan(self.text, self.header)
        return getattr(self._layout, name)


class InvalidHeader(Rule):
    """The `# /// script` header is missing, broken, or puts its keys in the wrong table.

    ## What it does
    Reports, in a workflow:
    - no `# /// script` block in a file that imports `codewords_client` and serves an app
      (`FastAPI(...)`, `run_service`, `uvicorn`); test files and helper modules are exempt;
    - a block that is never closed with `# ///`, or whose lines stop starting with `# `;
    - a second `# /// script` block;
    - invalid TOML, at the file line and column of the error;
    - `requires-python` or `dependencies` written after `[tool.env-checker]`;
    - `dependencies` or `env_vars` that are not arrays of strings, a `requires-python` that is
      not a string.

    Comments before the block, comments inside arrays and an `env_vars` list at the top level
    (without the `[tool.env-checker]` table) are accepted: real workflows use them.

    ## Why is this bad?
    The platform installs the header's `dependencies` and injects the env vars it lists; a
    workflow whose header cannot be read gets neither, and fails at import or start-up. A TOML
    table header captures every key below it: `dependencies = [...]` written after
    `[tool.env-checker]` is `tool.env-checker.dependencies`, which nothing reads, so the
    packages are never installed even though the file looks right.

    ## Example
    ```python
    # /// script
    # [tool.env-checker]
    # env_vars = ["PORT=8000"]
    # requires-python = "==3.11.*"
    # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
    # ///
    ```

    ## Use instead
    ```python
    # /// script
    # requires-python = "==3.11.*"
    # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
    # [tool.env-checker]
    # env_vars = ["PORT=8000"]
    # ///
    ```

    ## Fix safety
    Unsafe, and only for misplaced keys: their lines move, unchanged, above the
    `[tool.env-checker]` line. The packages then start being installed (at the pinned
    versions, which may differ from whatever the environment had), so behaviour can change.
    No fix when the top level already has the key. The other problems need a decision
    (which versions, where the block ends) and are not fixed.
    """

    code = "CW401"
    name = "invalid-header"
    scope = "workflow"
    triggers = ("# ///", "codewords_client")
    fix_availability = Applicability.UNSAFE

    VALID = [
        # The canonical header, with a shebang and comments before it and inside arrays.
        Valid(
            """
            #!/usr/bin/env python3
            # Website monitor: compares snapshots and posts changes to Slack.
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #     "codewords-client==0.3.4",  # the runtime client
            #     "fastapi==0.116.1",
            #     # "structlog==25.4.0",
            # ]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "LOGLEVEL=INFO",
            # ]
            # ///
            from codewords_client import AsyncCodewordsClient, run_service
            from fastapi import FastAPI

            app = FastAPI()
            """
        ),
        # env_vars at the top level, without the table: seen in real files.
        Valid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.4.11", "fastapi==0.116.1"]
            # env_vars = ["PORT=8000"]
            # ///
            from codewords_client import run_service
            from fastapi import FastAPI

            app = FastAPI()
            """
        ),
        # A helper module and a test import the client without serving anything.
        Valid(
            """
            from codewords_client import AsyncCodewordsClient

            async def summarize(text: str) -> str:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="openai", inputs={"prompt": text, "model": "gpt-4o-mini"})
                    return resp.json()["response"]
            """,
            path="helpers.py",
        ),
        Valid(
            """
            from codewords_client import run_service
            from fastapi import FastAPI
            from workflow import app
            """,
            path="tests/test_workflow.py",
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # [tool.env-checker]
            # env_vars = ["PORT=8000"]
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # ///
            from codewords_client import run_service
            from fastapi import FastAPI

            app = FastAPI()
            """,
            expected=(("CW401", 4, 3), ("CW401", 5, 3)),
            unsafe=True,
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000"]
            # ///
            from codewords_client import run_service
            from fastapi import FastAPI

            app = FastAPI()
            """,
            message="after `[tool.env-checker]` belongs to that table",
        ),
        # A multi-line array moves whole, comments included.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # [tool.env-checker]
            # env_vars = ["PORT=8000", "LOGLEVEL=INFO"]
            # dependencies = [
            #     "codewords-client==0.3.4",  # runtime
            #     "fastapi==0.116.1",
            # ]
            # ///
            from codewords_client import run_service
            from fastapi import FastAPI
            """,
            expected=(("CW401", 5, 3),),
            unsafe=True,
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #     "codewords-client==0.3.4",  # runtime
            #     "fastapi==0.116.1",
            # ]
            # [tool.env-checker]
            # env_vars = ["PORT=8000", "LOGLEVEL=INFO"]
            # ///
            from codewords_client import run_service
            from fastapi import FastAPI
            """,
        ),
        # No block at all in a served workflow.
        Invalid(
            """
            import os

            from codewords_client import AsyncCodewordsClient, run_service
            from fastapi import FastAPI

            app = FastAPI()
            """,
            expected=(("CW401", 3, 6),),
            message="no `# /// script` block",
        ),
        # Never closed: the code starts right after the last header line.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4"]
            from codewords_client import run_service
            """,
            expected=(("CW401", 1, 1),),
            message="never closed",
        ),
        # A line without the space after `#` ends the block early.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            #dependencies = ["codewords-client==0.3.4"]
            # ///
            from codewords_client import run_service
            """,
            expected=(("CW401", 3, 1),),
            message="`# `",
        ),
        # Invalid TOML, at the file's line and column; and a second block.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4" "fastapi==0.116.1"]
            # ///
            # /// script
            # dependencies = []
            # ///
            from codewords_client import run_service
            """,
            expected=(("CW401", 3, 45), ("CW401", 5, 1)),
        ),
        # Wrong types.
        Invalid(
            """
            # /// script
            # requires-python = 3.11
            # dependencies = "codewords-client==0.3.4"
            # [tool.env-checker]
            # env_vars = "PORT=8000"
            # ///
            from codewords_client import run_service
            """,
            expected=(("CW401", 2, 3), ("CW401", 3, 3), ("CW401", 5, 3)),
        ),
    ]

    def leave_Module(self, node: cst.Module) -> None:
        header = self.ctx.header
        if header is None:
            self._missing()
            return
        if header.end_line is None:
            self._unterminated()
        elif header.error:
            self._toml_error()
        else:
            self._structure()
        if header.duplicate_line is not None:
            report_at(
                self,
                header.duplicate_line,
                1,
                13,
                "a second `# /// script` block: tools that read PEP 723 headers refuse the file; merge the two blocks",
            )

    # -- the problems ---------------------------------------------------------------------
    def _missing(self) -> None:
        if self.ctx.imports.client_import is None or _is_test_file(self.ctx.path) or not _DEPLOYED.search(self.ctx.text):
            return
        self.report(
            self.ctx.imports.client_import,
            "no `# /// script` block: the platform installs no dependencies and injects no env vars;"
            " add a PEP 723 header with `dependencies` and `[tool.env-checker] env_vars`",
        )

    def _unterminated(self) -> None:
        header = self.ctx.header
        assert header is not None
        lines = self.ctx.text.splitlines()
        body = content_lines(self.ctx.text, header)
        after = (body[-1][0] if body else header.start_line) + 1
        if after <= len(lines) and lines[after - 1].startswith("#"):
            report_at(
                self,
                after,
                1,
                2,
                "inside the `# /// script` block every line must be `#` or start with `# `; this line ends"
                " the block before its `# ///`, so the header is never closed",
            )
            return
        report_at(
            self,
            header.start_line,
            1,
            13,
            "the `# /// script` block is never closed with a `# ///` line: the header is ignored",
        )

    def _toml_error(self) -> None:
        header = self.ctx.header
        assert header is not None
        try:
            tomllib.loads(header.content)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
        else:  # pragma: no cover - the header parsed it with the same library
            return
        match = _POSITION.search(message)
        reason = _POSITION.sub("", message)
        body = content_lines(self.ctx.text, header)
        line, column = header.start_line, 1
        if match and match.group("line") and int(match.group("line")) <= len(body):
            number, _, offset = body[int(match.group("line")) - 1]
            line, column = number, int(match.group("column")) + offset
        elif body:
            number, content, offset = body[-1]
            line, column = number, offset + len(content) + 1
        report_at(self, line, column, None, f"the `# /// script` header is not valid TOML: {reason}; it is ignored")

    def _structure(self) -> None:
        header = self.ctx.header
        assert header is not None
        data = header.data
        layout = _LazyLayout(self.ctx.text, header)
        tool = data.get("tool")
        checker = tool.get("env-checker") if isinstance(tool, dict) else None
        if isinstance(checker, dict):
            for key in _MISPLACED:
                if key in checker:
                    self._misplaced(layout, key)
        self._check_type(layout, "", "requires-python", data, str, "a string such as `\"==3.11.*\"`")
        self._check_type(layout, "", "dependencies", data, list, "an array of strings")
        if isinstance(checker, dict) and "env_vars" in checker:
            self._check_type(layout, "tool.env-checker", "env_vars", checker, list, "an array of strings")
        elif "env_vars" in data:
            self._check_type(layout, "", "env_vars", data, list, "an array of strings")

    def _misplaced(self, layout, key: str) -> None:
        where = layout.key("tool.env-checker", key)
        table_line = layout.tables.get("tool.env-checker")
        if where is None or table_line is None:
            return
        fix = None
        if key not in self.ctx.header.data and where.line > table_line:  # type: ignore[union-attr]
            starts = line_starts(self.ctx.text)
            begin = starts[where.line - 1]
            end = starts[where.end_line] if where.end_line < len(starts) else len(self.ctx.text)
            block = self.ctx.text[begin:end]
            if not block.endswith(("\n", "\r")):
                block += self.ctx.newline
            insert = starts[table_line - 1]
            fix = self.make_fix(
                f"Move `{key}` above `[tool.env-checker]`",
                [Edit(insert, insert, block), Edit(begin, end, "")],
                Applicability.UNSAFE,
            )
        report_at(
            self,
            where.line,
            where.column,
            where.column + len(key),
            f"`{key}` after `[tool.env-checker]` belongs to that table and is ignored; move it above the table",
            fix=fix,
        )

    def _check_type(self, layout, table: str, key: str, data: dict, kind: type, wanted: str) -> None:
        if key not in data:
            return
        value = data[key]
        ok = isinstance(value, kind) and (kind is not list or (isinstance(value, list) and all(isinstance(item, str) for item in value)))
        if ok:
            return
        where = layout.key(table, key)
        line, column = (where.line, where.column) if where else (self.ctx.header.start_line, 1)  # type: ignore[union-attr]
        report_at(self, line, column, column + len(key), f"`{key}` must be {wanted}; the platform cannot read it")
