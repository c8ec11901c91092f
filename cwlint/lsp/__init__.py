"""``cwlint server``: a language server over stdio, a thin layer over :class:`cwlint.Linter`.

- :mod:`cwlint.lsp.engines` finds each document's settings (the workspace's ``[tool.cwlint]``,
  reloaded when a configuration file changes) and keeps one warm ``Linter`` per configuration.
  It imports no LSP library.
- :mod:`cwlint.lsp.convert` turns the engine's results into LSP's types: diagnostics, and the
  engine's fix edits as text edits, with positions converted by ``Position.to_lsp``.
- :mod:`cwlint.lsp.server` is the server (pygls 2, lsprotocol): diagnostics pushed and pulled,
  quick fixes, fix-all, ``# noqa`` actions, hover.

pygls and lsprotocol come with the ``server`` extra (``pip install 'cwkit[server]'``); importing
``cwlint`` never imports them, and ``cwlint server`` without them is a one-line error.
"""

from __future__ import annotations

#: The packages ``cwlint server`` needs, by import name, for the error that names the extra.
REQUIRES = ("pygls", "lsprotocol")


def missing() -> list[str]:
    """The packages of :data:`REQUIRES` that cannot be imported (without importing them)."""
    import importlib.util

    return [name for name in REQUIRES if importlib.util.find_spec(name) is None]
