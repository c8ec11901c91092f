from __future__ import annotations

import re

import libcst as cst

from cwlint.analysis.header_layout import dependencies_misplaced, report_at, scan
from cwlint.rule import Invalid, Rule, Valid

_REQUIREMENT = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*
        (?P<rest>[^;]*?)\s*(?:;.*)?$""",
    re.VERBOSE,
)
_EXACT = re.compile(r"^===?\s*[0-9A-Za-z][0-9A-Za-z.+!_-]*$")


def pin_problem(requirement: str) -> str | None:
    """Why ``requirement`` is not an exact pin, or None when it is one (or a direct URL)."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        return None  # not a requirement this rule understands; CW401's business
    rest = match.group("rest").strip()
    if rest.startswith("@"):
        return None  # a direct reference (URL, git commit): pinned by what it points at
    if not rest:
        return "has no version"
    clauses = [c.strip() for c in rest.split(",") if c.strip()]
    if any(_EXACT.match(c) for c in clauses):
        return None
    if any(c.startswith("==") and c.endswith("*") for c in clauses):
        return "allows any version matching a wildcard"
    return f"allows a range (`{rest}`)"


class UnpinnedDependency(Rule):
    """A dependency without an exact `==` pin, or no `codewords-client` dependency at all.

    ## What it does
    Reports each entry of the header's `dependencies` that is not pinned to one version with
    `==` (or `===`): no version, a range (`>=`, `~=`, `<`), or a wildcard (`==0.116.*`).
    Direct references (`name @ https://...`) count as pinned. Also reports an import of
    `codewords_client` in a workflow whose header does not depend on `codewords-client`.

    ## Why is this bad?
    Every run installs the header's dependencies into a fresh sandbox. An unpinned entry
    installs whatever is newest that day, so a workflow that worked yesterday breaks when a
    dependency releases (codewords-client 0.4 changed timeouts, error messages and the
    logger), and a run cannot be reproduced. Without a `codewords-client` dependency the
    import itself fails.

    ## Example
    ```python
    # /// script
    # requires-python = "==3.11.*"
    # dependencies = ["codewords-client", "fastapi>=0.110", "httpx==0.28.*"]
    # ///
    ```

    ## Use instead
    ```python
    # /// script
    # requires-python = "==3.11.*"
    # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1", "httpx==0.28.1"]
    # ///
    ```

    ## Fix safety
    No fix: the version to pin is a decision (the one tested, not the newest). `uv pip
    compile` or `pip freeze` of a working environment gives it.
    """

    code = "CW405"
    name = "unpinned-dependency"
    scope = "workflow"
    triggers = ("# /// script",)

    VALID = [
        Valid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #     "codewords-client==0.3.4",
            #     "uvicorn[standard]==0.35.0",
            #     "tomli==2.0.1; python_version < '3.11'",
            #     "mylib @ git+https://github.com/acme/mylib@4f2c1d9",
            # ]
            # ///
            from codewords_client import AsyncCodewordsClient
            """
        ),
        # A PEP 723 script that is not a workflow may leave the client out.
        Valid(
            """
            # /// script
            # dependencies = ["httpx==0.28.1"]
            # ///
            import httpx
            """
        ),
        # requires-python is a range by nature: not a dependency.
        Valid(
            """
            # /// script
            # requires-python = ">=3.11"
            # dependencies = ["codewords_client==0.4.11"]
            # ///
            import codewords_client
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #     "codewords-client==0.3.4",
            #     "fastapi>=0.110",
            #     "httpx==0.28.*",
            #     "beautifulsoup4",
            #     "pydantic~=2.11",
            # ]
            # ///
            from codewords_client import AsyncCodewordsClient
            """,
            expected=(("CW405", 5, 7), ("CW405", 6, 7), ("CW405", 7, 7), ("CW405", 8, 7)),
            message="`fastapi>=0.110`",
        ),
        # The client is imported but never declared.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["fastapi==0.116.1"]
            # ///
            from codewords_client import AsyncCodewordsClient, run_service
            """,
            expected=(("CW405", 5, 6),),
            message="no `codewords-client` dependency",
        ),
    ]

    def leave_Module(self, node: cst.Module) -> None:
        header = self.ctx.header
        if header is None or header.end_line is None or header.error or dependencies_misplaced(header):
            return  # CW401 reports the header itself
        items = None
        for index, requirement in enumerate(header.dependencies):
            problem = pin_problem(requirement)
            if problem is None:
                continue
            if items is None:
                items = scan(self.ctx.text, header).dependency_items()
            item = items[index] if items else None
            line, column, end = (item.line, item.column, item.end_column) if item else (header.start_line, 1, None)
            report_at(
                self,
                line,
                column,
                end,
                f"`{requirement}` {problem}: pin it with `==` so every run installs the version you tested",
            )
        if self.ctx.imports.client_import is not None and "codewords-client" not in header.distribution_names():
            self.report(
                self.ctx.imports.client_import,
                "`codewords_client` is imported but the header has no `codewords-client` dependency:"
                " add `\"codewords-client==0.3.4\"` (or the version you use) to `dependencies`",
            )
