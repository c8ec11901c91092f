"""``cwkit mcp``: an MCP server over stdio (the official SDK's ``MCPServer``) with five tools.

Each tool is a thin wrapper over :mod:`cwkit.tools`: its arguments and structured output
come with JSON schemas (from the signatures and the TypedDicts of :mod:`cwkit.tools`), its
description says what it does to the world, and its annotations say the same to clients
that read them (read-only, destructive, open world). A :class:`~cwkit.tools.ToolProblem`
becomes a tool error with its one-line message; the SDK turns any other exception into a
tool error too, so no call stops the server.

Relative paths start at the server's working directory (where ``claude mcp add`` or the
client's configuration starts it), or ``--root``.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from cwkit import __version__, tools

INSTRUCTIONS = """\
cwkit checks CodeWords workflow scripts (one-file FastAPI services with a PEP 723 header that call
library services through codewords_client). Before writing `inputs=` for a service, read its
contract with `list_services`. After editing a workflow, `lint` it; apply fixes with `fix`
(it writes only with `write: true`); read a finding's rule with `explain_rule`. `test_workflow`
boots the workflow in cwtest's sandbox against a simulated runtime and reports what broke, with
repros. Secrets are never shown whole in any answer."""

PATH = Annotated[str | None, Field(description="A workflow file, relative to the server's working directory or absolute.")]
SOURCE = Annotated[str | None, Field(description="The workflow's text, instead of `path` (nothing is read from disk but "
                                                 "the configuration and the module names beside `filename`).")]
FILENAME = Annotated[str, Field(description="With `source`: where the text lives or would live (settings, "
                                            "per-file-ignores and local modules are looked up there).")]


def _problem(exc: tools.ToolProblem) -> ToolError:
    return ToolError(str(exc))


def build(root: str | None = None) -> MCPServer:
    """The server, its tools registered, relative paths from ``root`` (default: the working directory)."""
    workspace = tools.Workspace(root)
    server: MCPServer = MCPServer(name="cwkit", version=__version__, instructions=INSTRUCTIONS)

    @server.tool(
        description=(
            "Lint one CodeWords workflow with cwlint: every finding with its code, message, position "
            "(1-based row, code-point column), docs link and fix (as text edits). Give `path`, or `source` "
            "with `filename`. Read-only: reads the file (or takes the text), the project's [tool.cwlint] "
            "settings and the names of the modules beside it; writes nothing, runs nothing."
        ),
        annotations=ToolAnnotations(title="Lint a workflow", read_only_hint=True, open_world_hint=False),
    )
    def lint(path: PATH = None, source: SOURCE = None, filename: FILENAME = "workflow.py") -> tools.LintResult:
        try:
            return tools.lint(workspace, path, source, filename)
        except tools.ToolProblem as exc:
            raise _problem(exc) from None

    @server.tool(
        description=(
            "Apply cwlint's fixes to one workflow and return the fixed text, the unified diff, the fixes "
            "applied and the findings left. Safe fixes only, unless `unsafe: true` (unsafe fixes may change "
            "behaviour: read their rule first). Writes NOTHING unless `write: true`, which rewrites `path` "
            "in place (atomically, encoding kept); with `source`, nothing is ever written. Refuses a file "
            "that does not parse. Runs nothing."
        ),
        annotations=ToolAnnotations(title="Fix a workflow", read_only_hint=False, destructive_hint=True,
                                    idempotent_hint=True, open_world_hint=False),
    )
    def fix(
        path: PATH = None,
        source: SOURCE = None,
        filename: FILENAME = "workflow.py",
        unsafe: Annotated[bool, Field(description="Also apply unsafe fixes.")] = False,
        write: Annotated[bool, Field(description="Write the fixed text to `path`. Default: write nothing.")] = False,
    ) -> tools.FixResult:
        try:
            return tools.fix(workspace, path, source, filename, unsafe=unsafe, write=write)
        except tools.ToolProblem as exc:
            raise _problem(exc) from None

    @server.tool(
        description=(
            "The documentation of one cwlint rule (e.g. CW101, or its name run-data-kwarg): what it "
            "reports, why, an example, what to write instead, and how safe its fix is. Read-only."
        ),
        annotations=ToolAnnotations(title="Explain a rule", read_only_hint=True, open_world_hint=False),
    )
    def explain_rule(code: Annotated[str, Field(description="A rule code (CW101) or name (run-data-kwarg).")]) -> tools.RuleDocs:
        try:
            return tools.explain_rule(code)
        except tools.ToolProblem as exc:
            raise _problem(exc) from None

    @server.tool(
        description=(
            "The CodeWords library services cwkit knows (its service catalog): for each, its variants by "
            "path, the `inputs=` keys each takes (type, required, allowed values), keys that were renamed, "
            "and how sure each fact is. Read it before writing a `client.run(service_id=..., inputs=...)` "
            "call. Give `service` for one service. Read-only."
        ),
        annotations=ToolAnnotations(title="List services", read_only_hint=True, open_world_hint=False),
    )
    def list_services(
        service: Annotated[str | None, Field(description="One service id (firecrawl, openai...); default: all.")] = None,
    ) -> tools.ServicesResult:
        try:
            return tools.list_services(service)
        except tools.ToolProblem as exc:
            raise _problem(exc) from None

    @server.tool(
        description=(
            "Test one workflow with cwtest: RUNS THE WORKFLOW'S (untrusted) CODE inside cwtest's sandbox "
            "(bubblewrap, seccomp, rlimits; no network but a simulated CodeWords runtime), after building "
            "its environment from the PEP 723 header with uv (which downloads the declared packages "
            "from the package index). Calls every route, then sends `examples` generated requests per "
            "route, invalid ones and injected service faults, and returns the verdict, the findings "
            "(each with a minimal input, a curl command and a pytest regression test), and the routes "
            "it could not exercise with why. Writes nothing in the project (caches under ~/.cache/cwtest). "
            "Bounded by `timeout` seconds. Secrets are redacted."
        ),
        annotations=ToolAnnotations(title="Test a workflow in the sandbox", read_only_hint=False,
                                    destructive_hint=False, idempotent_hint=True, open_world_hint=True),
    )
    def test_workflow(
        path: Annotated[str, Field(description="A workflow file, relative to the server's working directory or absolute.")],
        examples: Annotated[int, Field(ge=0, le=200, description="Generated requests per route (0: smoke calls only).")] = 10,
        timeout: Annotated[float, Field(ge=10, le=1800, description="Seconds the whole run may take.")] = 180.0,
    ) -> tools.TestResult:
        try:
            return tools.test_workflow(workspace, path, examples=examples, timeout=timeout)
        except tools.ToolProblem as exc:
            raise _problem(exc) from None

    return server


def main(root: str | None = None) -> int:
    """Serve over stdin/stdout until the client closes them."""
    build(root).run("stdio")
    return 0
