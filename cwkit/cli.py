"""The ``cwkit`` command: ``cwkit mcp`` serves cwlint and cwtest to an agent over MCP (stdio).

Exit codes: 0 when the client closed the connection, 2 for a usage error (or the ``server``
extra missing): one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from cwkit import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cwkit", description="cwlint and cwtest for editors and agents.")
    parser.add_argument("--version", action="version", version=f"cwkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    mcp = commands.add_parser("mcp", help="an MCP server over stdio: lint, fix, explain_rule, list_services, test_workflow")
    mcp.add_argument("--root", metavar="DIR", help="where relative paths start (default: the working directory)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "mcp":
        if args.root is not None and not os.path.isdir(args.root):
            sys.stderr.write(f"error: --root {args.root}: no such directory\n")
            return 2
        if importlib.util.find_spec("mcp") is None:
            sys.stderr.write("error: cwkit mcp needs mcp: pip install 'cwkit[server]'\n")
            return 2
        from cwkit.mcp_server import main as serve

        return serve(args.root)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
