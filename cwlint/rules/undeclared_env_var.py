from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from cwlint import noqa
from cwlint.analysis.env_reads import (
    EnvAliases,
    EnvRead,
    call_read,
    is_env_style,
    subscript_read,
)
from cwlint.analysis.header_layout import declare_env_vars
from cwlint.context import string_value
from cwlint.diagnostics import Applicability
from cwlint.rule import Invalid, Rule, Valid
from cwlint.secrets import secret_kind

_CLIENT_IMPORT = re.compile(r"^\s*(?:from|import)\s+codewords_client\b", re.MULTILINE)
_DEFAULT_TEXT = re.compile(r"^[A-Za-z0-9_.:/@+\- ]{1,200}$")


@dataclass
class _Missing:
    read: EnvRead
    declaration: str  #: what goes into env_vars: the bare name, or NAME=default
    applicability: Applicability


class UndeclaredEnvVar(Rule):
    """An env var read with a literal name that the header's `env_vars` does not declare.

    ## What it does
    Reports the first read of each variable, `os.environ["X"]`, `os.environ.get("X")` or
    `os.getenv("X")`, whatever the aliases (`import os as o`, `from os import getenv,
    environ`, `env = os.environ`), whose name is missing from
    `[tool.env-checker] env_vars` (or a top-level `env_vars`). Applies to CodeWords workflows:
    files that import `codewords_client` or whose header has `env_vars`. Membership tests
    (`"X" in os.environ`) and writes are not reads, and a variable the file sets itself
    (`os.environ["X"] = ...`, `os.environ.setdefault("X", ...)`) is never missing.

    The client's own reads are not reported: `AsyncCodewordsClient()` reads
    `CODEWORDS_API_KEY` and `CODEWORDS_RUNTIME_URI`, and `run_service` reads `PORT`, but
    whether the platform injects them without a declaration is not documented. A workflow
    that reads them itself is reported like any other, since the docs declare them in every
    example.

    ## Why is this bad?
    The platform injects only the env vars the header declares ("You must declare any secrets
    you intend to use in your workflow's PEP 723 header for them to be accessible"). An
    undeclared secret is never set in the sandbox: `os.environ["X"]` raises `KeyError`, and
    `os.getenv("X")` returns `None`, so the workflow fails later and further from the cause,
    even though the user saved the secret.

    ## Example
    ```python
    # [tool.env-checker]
    # env_vars = ["PORT=8000"]
    ...
    slack = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"])
    ```

    ## Use instead
    ```python
    # [tool.env-checker]
    # env_vars = ["PORT=8000", "SLACK_BOT_TOKEN"]
    ...
    slack = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"])
    ```

    ## Fix safety
    Safe: a read without a default (it failed whenever the variable was missing) is declared
    with its bare name; a read with a plain literal default of a non-secret setting is declared
    as `NAME=default`, which gives the code the same value when the user sets nothing. Unsafe:
    a read with any other default (a computed value, an empty string, or a secret's default,
    which CW302 reports) is declared bare, and a bare declaration may make the platform ask
    for a value the code did not need. All undeclared variables of one kind are declared by
    the first finding's fix, in the header's own layout, so a file with many of them is
    fixed in one round.
    """

    code = "CW403"
    name = "undeclared-env-var"
    scope = "workflow"
    triggers = ("environ", "getenv")
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "slack-sdk==3.31.0"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "SLACK_BOT_TOKEN",
            #     "DIGEST_CHANNEL=#general",
            # ]
            # ///
            import os

            from codewords_client import AsyncCodewordsClient
            from slack_sdk.web.async_client import AsyncWebClient

            slack = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"])
            CHANNEL = os.getenv("DIGEST_CHANNEL", "#general")
            PORT = int(os.environ.get("PORT", "8000"))
            """
        ),
        # Presence tests, writes and dynamic names are not literal reads.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["OPENAI_API_KEY"]
            # ///
            import os

            from codewords_client import AsyncCodewordsClient

            if "HTTPS_PROXY" in os.environ:
                del os.environ["HTTPS_PROXY"]
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            os.environ.setdefault("TZ", "UTC")
            PARALLEL = os.environ["TOKENIZERS_PARALLELISM"] == "true"
            ZONE = os.getenv("TZ")

            def read(name: str) -> str:
                return os.environ[name]
            """
        ),
        # A PEP 723 script that is not a CodeWords workflow has no env_vars to declare.
        Valid(
            """
            # /// script
            # dependencies = ["httpx==0.28.1"]
            # ///
            import os

            TOKEN = os.environ["GITHUB_TOKEN"]
            """
        ),
        # The client's implicit reads are not the workflow's to declare.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000", "LOGLEVEL=INFO"]
            # ///
            from codewords_client import AsyncCodewordsClient, run_service
            from fastapi import FastAPI

            app = FastAPI()

            if __name__ == "__main__":
                run_service(app)
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "slack-sdk==3.31.0"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            # ]
            # ///
            import os

            from codewords_client import AsyncCodewordsClient
            from slack_sdk.web.async_client import AsyncWebClient

            slack = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"])
            """,
            expected=(("CW403", 14, 41),),
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "slack-sdk==3.31.0"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "SLACK_BOT_TOKEN",
            # ]
            # ///
            import os

            from codewords_client import AsyncCodewordsClient
            from slack_sdk.web.async_client import AsyncWebClient

            slack = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"])
            """,
            message="`SLACK_BOT_TOKEN`",
        ),
        # Aliases, a literal default (declared as NAME=default), one finding per name, and a
        # header with no table yet.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.4.11"]
            # ///
            from os import environ as env, getenv

            from codewords_client import AsyncCodewordsClient

            HUNTER_KEY = env["HUNTER_API_KEY"]
            TIMEOUT = float(getenv("HUNTER_TIMEOUT", 20))

            def headers() -> dict:
                return {"X-Api-Key": env["HUNTER_API_KEY"]}
            """,
            expected=(("CW403", 9, 18), ("CW403", 10, 24)),
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.4.11"]
            #
            # [tool.env-checker]
            # env_vars = ["HUNTER_API_KEY", "HUNTER_TIMEOUT=20"]
            # ///
            from os import environ as env, getenv

            from codewords_client import AsyncCodewordsClient

            HUNTER_KEY = env["HUNTER_API_KEY"]
            TIMEOUT = float(getenv("HUNTER_TIMEOUT", 20))

            def headers() -> dict:
                return {"X-Api-Key": env["HUNTER_API_KEY"]}
            """,
        ),
        # A computed default: declared bare, an unsafe fix. CODEWORDS_API_KEY read by the
        # workflow itself counts.
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000"]
            # ///
            import os

            import codewords_client

            API_KEY = os.environ["CODEWORDS_API_KEY"]
            REGION = os.getenv("AWS_REGION", os.getenv("AWS_DEFAULT_REGION"))
            """,
            expected=(("CW403", 10, 22), ("CW403", 11, 20), ("CW403", 11, 44)),
            unsafe=True,
            fixed="""
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000", "CODEWORDS_API_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"]
            # ///
            import os

            import codewords_client

            API_KEY = os.environ["CODEWORDS_API_KEY"]
            REGION = os.getenv("AWS_REGION", os.getenv("AWS_DEFAULT_REGION"))
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.aliases = EnvAliases(ctx)
        self.reads: dict[str, EnvRead] = {}
        self.written: set[str] = set()  #: names the file sets itself
        #: Reads passed straight to int()/float(): a number default may become its text.
        self.converted: set[int] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        self.aliases.visit_Assign(node)
        for target in node.targets:
            self._written(target.target)

    def _written(self, target: cst.BaseExpression) -> None:
        """``os.environ["X"] = ...``: the file sets X itself."""
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._written(element.value)
        elif isinstance(target, cst.Subscript) and self.aliases.qualified(target.value) == "os.environ":
            index = target.slice[0].slice if len(target.slice) == 1 else None
            name = string_value(index.value) if isinstance(index, cst.Index) else None
            if name is not None:
                self.written.add(name)

    def visit_Call(self, node: cst.Call) -> None:
        read = call_read(self.aliases, node)
        if read is not None and read.kind == "setdefault":
            self.written.add(read.name)  # set here unless the platform set it: never missing
            return
        if read is not None and read.name not in self.reads:
            self.reads[read.name] = read
            ancestors = self.ctx.ancestors
            if len(ancestors) >= 2 and isinstance(ancestors[-1], cst.Arg) and isinstance(ancestors[-2], cst.Call):
                func = ancestors[-2].func
                if isinstance(func, cst.Name) and func.value in ("int", "float") and len(ancestors[-2].args) == 1:
                    self.converted.add(id(node))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        read = subscript_read(self.aliases, node, self.ctx.ancestors)
        if read is not None:
            self.reads.setdefault(read.name, read)

    def leave_Module(self, node: cst.Module) -> None:
        header = self.ctx.header
        if header is None or header.end_line is None or header.error or not self.reads:
            return  # CW401 reports a missing or broken header
        if not _CLIENT_IMPORT.search(self.ctx.text) and not self._has_env_vars():
            return  # a PEP 723 script, not a CodeWords workflow
        missing = [
            self._missing(read)
            for name, read in self.reads.items()
            if is_env_style(name) and not header.declares_env(name) and name not in self.written
        ]
        if not missing:
            return
        missing.sort(key=lambda m: self.ctx.range(m.read.name_node)[0])
        suppressions = noqa.parse(self.ctx.text) if "noqa" in self.ctx.text else None
        carriers: dict[Applicability, _Missing] = {}
        groups: dict[Applicability, list[str]] = {}
        for item in missing:
            line = self.ctx.range(item.read.name_node)[0].line
            if suppressions is not None and suppressions.suppresses(self.code, line, self.ctx.settings.bare_noqa):
                continue
            carriers.setdefault(item.applicability, item)
            groups.setdefault(item.applicability, []).append(item.declaration)
        for item in missing:
            declarations = [item.declaration]
            if carriers.get(item.applicability) is item:
                declarations = groups[item.applicability]
            edits = declare_env_vars(self.ctx.text, header, declarations)
            if not edits and len(declarations) > 1:
                declarations = [item.declaration]
                edits = declare_env_vars(self.ctx.text, header, declarations)
            fix = None
            if edits:
                listed = ", ".join(f"`{d}`" for d in declarations)
                fix = self.make_fix(f"Declare {listed} in `env_vars`", edits, item.applicability)
            self.report(
                item.read.name_node,
                f"`{item.read.name}` is read but not declared in the header's `env_vars`:"
                " the platform injects only declared variables",
                fix=fix,
            )

    def _has_env_vars(self) -> bool:
        data = self.ctx.header.data  # type: ignore[union-attr]
        tool = data.get("tool")
        return "env_vars" in data or (isinstance(tool, dict) and "env-checker" in tool)

    def _missing(self, read: EnvRead) -> _Missing:
        if not read.has_default:
            return _Missing(read, read.name, Applicability.SAFE)
        text = _literal_text(read.default)
        if not isinstance(read.default, (cst.SimpleString, cst.ConcatenatedString)) and id(read.node) not in self.converted:
            text = None  # a number default would reach the code as a string
        if text is not None and read.kind != "setdefault" and secret_kind(read.name) is None:
            return _Missing(read, f"{read.name}={text}", Applicability.SAFE)
        return _Missing(read, read.name, Applicability.UNSAFE)


def _literal_text(node: cst.BaseExpression | None) -> str | None:
    """The text a literal default stands for in the environment, when it can be written as
    ``NAME=text`` in the header unchanged."""
    if isinstance(node, cst.Integer):
        return str(node.evaluated_value)
    if isinstance(node, cst.Float):
        return node.value if "_" not in node.value else None
    value = string_value(node)
    if value is None or not _DEFAULT_TEXT.match(value) or value != value.strip():
        return None
    return value
