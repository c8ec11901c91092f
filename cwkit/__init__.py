"""cwkit: the front ends that need both tools, cwlint and cwtest.

``cwkit mcp`` (:mod:`cwkit.mcp_server`) serves cwlint's linting and fixing, its rule docs,
the service catalog, and cwtest's harness to an agent over MCP. The work is done by the
tools' own APIs (:mod:`cwkit.tools`); cwlint never imports this package or cwtest.
"""

from __future__ import annotations

from cwlint import __version__

__all__ = ["__version__"]
