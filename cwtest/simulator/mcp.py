"""``devx_mcp``: the CodeWords MCP server that ``SubAgent`` and IDE agents connect to, spoken as MCP.

What the reference material says, and so what is simulated:

- **Where and how**: ``{CODEWORDS_RUNTIME_URI}/run/devx_mcp/mcp/`` with ``Authorization: Bearer
  <key>``, over MCP's *streamable HTTP* transport (the IDE setup page's ``mcp.json``; client
  0.4.11's ``agent.py`` connects the OpenAI Agents SDK's ``MCPServerStreamableHttp`` there).
  The exchange is therefore MCP's: JSON-RPC 2.0 messages POSTed to that URL, as the MCP
  specification defines them and as the real ``mcp`` client under ``SubAgent`` sends them.
- **Which tools**: the catalog's (``[[variants.tools]]`` of ``rules/services/devx_mcp.toml``):
  the names and parameter names of the MCP doc's tool list (research F8,
  ``codewords-mcp-agent-your-ai-development-toolkit.md``), in its order. The doc describes
  parameters in prose, so their JSON types are read from its wording ("Set to ``true``" is a
  boolean, "A list of" an array) and nothing is marked required. ``tools/list`` answers each as
  an MCP ``Tool``: name, description and an ``inputSchema`` built from its parameters.
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

import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cwlint.catalog import Catalog, default_catalog
from cwlint.catalog import Tool as ToolSpec
from cwtest.simulator.validation import did_you_mean

#: Handshake protocol revisions of the MCP specification whose ``initialize``, ``tools/list`` and
#: ``tools/call`` this server speaks; a client asking for another one gets the newest.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
SERVER_INFO = {"name": "devx-mcp (cwtest simulation)", "version": "0"}

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603

#: What ``ToolScripts.answer`` returns for a tool no script answers.
NOT_SCRIPTED: Any = object()


#: Where the catalog lists the server's tools: this service's variant at this path.
SERVICE_ID, PATH = "devx_mcp", "mcp"


@dataclass(frozen=True)
class Tool:
    """One tool of the server, as the catalog lists it; ``as_json`` is its MCP ``Tool`` object."""

    spec: ToolSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    def as_json(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for parameter in self.spec.parameters:
            schema: dict[str, Any] = {"type": parameter.type, "description": parameter.description}
            if parameter.enum is not None:
                schema["enum"] = list(parameter.enum)
            properties[parameter.name] = schema
        return {"name": self.name, "description": self.description,
                "inputSchema": {"type": "object", "properties": properties}}


def catalog_tools(catalog: Catalog) -> tuple[Tool, ...]:
    """The tools ``catalog`` gives the server (none if it has no devx_mcp variant at ``mcp``)."""
    service = catalog.get(SERVICE_ID)
    variant = service.variant(PATH, has_body=None) if service is not None else None
    return tuple(Tool(spec) for spec in variant.tools) if variant is not None else ()


@functools.cache
def _bundled() -> tuple[tuple[Tool, ...], dict[str, Tool]]:
    tools = catalog_tools(default_catalog())
    return tools, {tool.name: tool for tool in tools}


if TYPE_CHECKING:
    #: The bundled catalog's tools, in its order, and by name (read on first use, not on import).
    TOOLS: tuple[Tool, ...]
    TOOLS_BY_NAME: dict[str, Tool]


def __getattr__(name: str) -> Any:
    if name == "TOOLS":
        return _bundled()[0]
    if name == "TOOLS_BY_NAME":
        return _bundled()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        tools = _bundled()[1]
        if name not in tools:
            guess = did_you_mean(name, tools)
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
    guess = did_you_mean(name, _bundled()[1]) if isinstance(name, str) else None
    hint = f'; did you mean "{guess}"?' if guess else ""
    return f'unknown tool "{name}"{hint}'


def not_simulated_message(name: str) -> str:
    return (f'cwtest does not simulate the devx_mcp tool "{name}": its results are not documented; '
            f'script it with runtime.tool("{name}").respond(...)')
