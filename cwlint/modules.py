"""Which local modules a file can import from beside it: an explicit input of a lint.

A workflow may import a module that sits next to it (``from helpers import x``); CW402 must not
call that import undeclared. What lies beside a file is therefore part of what a lint reads,
so it is passed in, never looked up behind the caller's back: the CLI and the runner list the
folder from disk (:class:`DirectoryIndex`), an editor gives what its workspace holds
(:class:`FixedIndex`) or nothing (a buffer alone: no local modules). The cache keys an entry
on the same names (ARCHITECTURE.md's invariants), so a replayed result and a fresh one agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


class ModuleIndex:
    """The names of the modules importable from the folder of a file (subclass and implement
    :meth:`beside`; a plain base class, not a Protocol, so that no run imports ``typing``)."""

    def beside(self, path: str) -> frozenset[str]:
        """Top-level module names beside ``path``: ``x.py`` files and package folders."""
        raise NotImplementedError


class DirectoryIndex(ModuleIndex):
    """Reads each folder from disk once: ``x.py`` gives ``x``; a folder with an identifier name
    (a package, or a namespace package) gives its name. A folder that cannot be read holds nothing."""

    def __init__(self) -> None:
        self._folders: dict[str, frozenset[str]] = {}

    def beside(self, path: str) -> frozenset[str]:
        folder = os.path.dirname(os.path.abspath(path))
        names = self._folders.get(folder)
        if names is None:
            names = self._folders[folder] = _list(folder)
        return names


class FixedIndex(ModuleIndex):
    """The same names for every file (a workspace an editor knows, a test)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = frozenset(names)

    def beside(self, path: str) -> frozenset[str]:
        return self.names


def _list(folder: str) -> frozenset[str]:
    found: set[str] = set()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(".py"):
                    found.add(name[:-3])
                elif name.isidentifier():
                    try:
                        if entry.is_dir():
                            found.add(name)
                    except OSError:
                        continue
    except OSError:
        return frozenset()
    return frozenset(found)
