"""``devx_mcp``: the CodeWords MCP server that ``SubAgent`` and IDE agents connect to, spoken as MCP.

What the reference material says, and so what is simulated:

- **Where and how**: ``{CODEWORDS_RUNTIME_URI}/run/devx_mcp/mcp/`` with ``Authorization: Bearer
  <key>``, over MCP's *streamable HTTP* transport (the IDE setup page's ``mcp.json``; client
  0.4.11's ``agent.py`` connects the OpenAI Agents SDK's ``MCPServerStreamableHttp`` there).
  The exchange is therefore MCP's: JSON-RPC 2.0 messages POSTed to that URL, as the MCP
  specification defines them and as the real ``mcp`` client under ``SubAgent`` sends them.
- **Which tools**: the names and parameter names of the MCP doc's tool list (research F8,
  ``codewords-mcp-agent-your-ai-development-toolkit.md``). The doc describes parameters in
  prose, so their JSON types below are read from its wording ("Set to ``true``" is a boolean,
  "A list of" an array) and nothing is marked required.
- **Not documented**: what any tool returns. A test scripts a tool's result
  (``runtime.tool(name)``); unscripted, ``discover_library_services`` lists the catalog or runs
  the simulated service (it is the one tool the simulator can answer from what it knows), and
  every other tool answers an MCP tool error saying it is not simulated.

This server is stateless (no ``Mcp-Session-Id``), answers every request with one JSON body
(never an event stream), offers no server-to-client stream (``GET`` and ``DELETE`` are 405, as
the transport allows), and knows ``initialize``, ``ping``, ``tools/list`` and ``tools/call``;
any other method is JSON-RPC's ``-32601`` (which is also how a handshake-era server answers the
newer clients' ``server/discover`` probe, so they fall back to ``initialize``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cwtest.simulator.validation import did_you_mean

#: Handshake protocol revisions of the MCP specification whose ``initialize``, ``tools/list`` and
#: ``tools/call`` this server speaks; a client asking for another one gets the newest.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
SERVER_INFO = {"name": "devx-mcp (cwtest simulation)", "version": "0"}

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603

#: What ``ToolScripts.answer`` returns for a tool no script answers.
NOT_SCRIPTED: Any = object()


@dataclass(frozen=True)
class Tool:
    """One tool of the MCP doc: its name, purpose and parameters (name: JSON type and description)."""

    name: str
    description: str
    parameters: tuple[tuple[str, str, str], ...] = ()
    #: Values the doc enumerates for a parameter, e.g. ``operation``.
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def as_json(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        allowed = dict(self.choices)
        for name, kind, description in self.parameters:
            spec: dict[str, Any] = {"type": kind, "description": description}
            if name in allowed:
                spec["enum"] = list(allowed[name])
            properties[name] = spec
        return {"name": self.name, "description": self.description,
                "inputSchema": {"type": "object", "properties": properties}}


_S, _B, _A, _O, _N, _I = "string", "boolean", "array", "object", "number", "integer"

#: The MCP doc's tools, in its order (source: research F8 and the MCP doc's per-tool parameters).
TOOLS: tuple[Tool, ...] = (
    Tool("get_workflow_building_instructions", "Guidance on the whole workflow development lifecycle."),
    Tool("list_practices", "Lists best-practice sections by category.",
         (("practice_type", _S, "category, e.g. codewords, linkedin, monitoring, library_services, all"),
          ("include_descriptions", _B, "include a brief description of each practice"))),
    Tool("view_practice", "The full content of best-practice sections.",
         (("section_ids", _A, 'section ids, e.g. ["3.1", "9.2"]'), ("practice_type", _S, "category to read from"),
          ("include_code_examples", _B, "include code blocks"),
          ("include_subsection_content", _B, "include subsections"))),
    Tool("list_template_workflows", "Lists pre-built workflow templates.",
         (("category", _S, "e.g. all, linkedin, monitoring, enrichment, integration"),
          ("include_full_description", _B, "include complete descriptions"))),
    Tool("discover_library_services", "Lists the built-in library services, or executes one.",
         (("operation", _S, '"list" or "execute"'), ("service_id", _S, "the service to execute"),
          ("inputs", _O, "the service's inputs")),
         (("operation", ("list", "execute")),)),
    Tool("discover_pipedream_integrations", "Searches Pipedream integrations, their actions and schemas.",
         (("operation", _S, "search, actions, schema, check_auth or execute"),),
         (("operation", ("search", "actions", "schema", "check_auth", "execute")),)),
    Tool("write_workflow_file", "Writes workflow code to a file and optionally uploads it.",
         (("workflow_code", _S, 'the code, or "workflow_skeleton" for a template'), ("filename", _S, "file name"),
          ("local_path", _S, "local path to save to"), ("upload_to_storage", _B, "upload and return a URL"))),
    Tool("edit_workflow", "Replaces a unique piece of a workflow file.",
         (("file_path", _S, "path or URL of the file"), ("old_str", _S, "the exact text to replace (unique)"),
          ("new_str", _S, "the replacement"), ("description", _S, "what the change does"))),
    Tool("create_implementation_plan", "Formats implementation steps with embedded best practices.",
         (("steps", _A, "implementation steps, with references to practices"),)),
    Tool("validate_workflow", "Validates workflow code without deploying it.",
         (("workflow_code_or_file_url", _S, "the code, a local path or a URL"),)),
    Tool("deploy_workflow", "Deploys a workflow to the platform.",
         (("workflow_code_or_file_url", _S, "the code or a URL"), ("workflow_name", _S, "a readable name"),
          ("workflow_id", _S, "unique id ending with _{uuid}"), ("description", _S, "what it does"),
          ("public", _B, "publicly accessible"), ("override_existing", _B, "update the workflow with this id"),
          ("is_template", _B, "mark as a template"))),
    Tool("retrieve_workflow", "The code and metadata of a deployed workflow.",
         (("workflow_id", _S, "the workflow"), ("upload_code", _B, "upload the code and return a URL"))),
    Tool("manage_user_secrets", "Adds, gets or lists the user's secrets.",
         (("operation", _S, "add, get or list"), ("name", _S, "secret name"), ("value", _S, "secret value (add)")),
         (("operation", ("add", "get", "list")),)),
    Tool("run_workflow", "Runs a deployed workflow, synchronously or in the background.",
         (("workflow_id", _S, "the workflow"), ("inputs", _O, "its inputs"), ("run_async", _B, "run in the background"),
          ("timeout_seconds", _N, "longest wait for a synchronous run"))),
    Tool("get_workflow_logs", "Log entries of a workflow run.",
         (("request_id", _S, "the run's request id"), ("follow", _B, "stream entries as they come"),
          ("max_entries", _I, "most entries to return"))),
    Tool("get_workflow_output", "Waits for a run and returns its output.",
         (("request_id", _S, "the run's request id"), ("timeout_seconds", _N, "longest wait"))),
    Tool("get_workflow_requests", "Recent runs of a workflow.",
         (("workflow_id", _S, "the workflow"), ("limit", _I, "how many runs"))),
    Tool("upload_file", "Uploads content to CodeWords storage and returns a URL.",
         (("file_content_or_local_path", _S, "content or a local path"), ("filename", _S, "file name"),
          ("content_type", _S, "MIME type"), ("is_local", _B, "return a shell command instead"))),
    Tool("download_file", "Downloads a file from a URL.",
         (("file_url", _S, "the URL"), ("decode_text", _B, "decode as UTF-8"),
          ("is_local", _B, "return a shell command instead"), ("local_path", _S, "where to save it (is_local)"))),
)
TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


# --- scripted tool results ---------------------------------------------------------------------

@dataclass(frozen=True)
class ToolError:
    """A tool's failure: an MCP result with ``isError: true`` and this text."""

    message: str


class ToolScript:
    """What one tool of the MCP server returns: ``respond``, ``fail`` or ``using``.

    ``using(function)`` takes the call's arguments and returns a result (any JSON value, or a
    :class:`ToolError`), or None to fall back to the fixed answer, then the simulated one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._fixed: Any = NOT_SCRIPTED
        self._function: Callable[[dict[str, Any]], Any] | None = None
        self._lock = threading.Lock()

    def respond(self, result: Any) -> ToolScript:
        """Return this result (a string is sent as text, anything else as JSON text)."""
        with self._lock:
            self._fixed = result
        return self

    def fail(self, message: str) -> ToolScript:
        with self._lock:
            self._fixed = ToolError(message)
        return self

    def using(self, function: Callable[[dict[str, Any]], Any]) -> ToolScript:
        with self._lock:
            self._function = function
        return self

    def reset(self) -> None:
        with self._lock:
            self._fixed, self._function = NOT_SCRIPTED, None

    def answer(self, arguments: dict[str, Any]) -> Any:
        """The scripted result for these arguments, or ``NOT_SCRIPTED``."""
        with self._lock:
            function, fixed = self._function, self._fixed
        if function is not None:
            result = function(arguments)
            if result is not None:
                return result
        return fixed


class ToolScripts:
    """The tool scripts of one runtime (``runtime.tool(name)``)."""

    def __init__(self) -> None:
        self._scripts: dict[str, ToolScript] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ToolScript:
        if name not in TOOLS_BY_NAME:
            guess = did_you_mean(name, TOOLS_BY_NAME)
            hint = f'; did you mean "{guess}"?' if guess else ""
            raise ValueError(f'devx_mcp has no tool "{name}"{hint}')
        with self._lock:
            return self._scripts.setdefault(name, ToolScript(name))

    def answer(self, name: str, arguments: dict[str, Any]) -> Any:
        with self._lock:
            script = self._scripts.get(name)
        return NOT_SCRIPTED if script is None else script.answer(arguments)

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()


# --- JSON-RPC -----------------------------------------------------------------------------------

def rpc_result(message_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


def rpc_error(message_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": message}}


def tool_result(value: Any, is_error: bool = False) -> dict[str, Any]:
    """An MCP ``CallToolResult``: the value as text content (JSON unless it is a string)."""
    text = value if isinstance(value, str) else json.dumps(value)
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if isinstance(value, dict) and not is_error:
        result["structuredContent"] = value
    return result


def initialize_result(params: dict[str, Any]) -> dict[str, Any]:
    asked = params.get("protocolVersion")
    version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]
    return {"protocolVersion": version, "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": SERVER_INFO}


def unknown_tool_message(name: Any) -> str:
    guess = did_you_mean(name, TOOLS_BY_NAME) if isinstance(name, str) else None
    hint = f'; did you mean "{guess}"?' if guess else ""
    return f'unknown tool "{name}"{hint}'


def not_simulated_message(name: str) -> str:
    return (f'cwtest does not simulate the devx_mcp tool "{name}": its results are not documented; '
            f'script it with runtime.tool("{name}").respond(...)')
