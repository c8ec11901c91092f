"""LibCST, imported with the code its dataclasses generate compiled once per installation.

Why: ``import libcst`` takes ~140 ms, and about half of it is :mod:`dataclasses` compiling the
text of the ~620 methods (``__init__``, ``__eq__``, ``__hash__``...) it writes for LibCST's ~200
node classes: the same text in every run. In pre-commit's common case, one changed file, that
import is most of cwlint's run. Python keeps the bytecode of modules (``__pycache__/*.pyc``) but
not of this text, so this module does the same for it: while LibCST is imported, each ``exec`` of
a text by :mod:`dataclasses` gets the code compiled from that very text in an earlier run.

Contract:

* The result is the same LibCST. A code object is used only for the exact text it was compiled
  from, compiled as ``exec`` compiles a text (``compile(text, "<string>", "exec")``), by the same
  Python (``sys.version``, and the cache tag in the file's name). A text not in the cache is
  compiled then.
* Only LibCST's import is affected: ``dataclasses.exec`` shadows the builtin for its duration and
  is removed after it, whatever happens.
* The cache lives where Python writes cwlint's own bytecode (``cwlint/__pycache__``), never in a
  project: a repository must not be able to hand cwlint code to run. It is not written under
  ``PYTHONDONTWRITEBYTECODE``, and not used at all with a ``pycache_prefix`` or
  ``CWLINT_NO_CODE_CACHE=1``. A file that cannot be read or is stale is ignored; a write that
  fails is skipped (the next run compiles again, as without the cache). It is rewritten, with only
  the texts this import used, when a text was missing (a new LibCST or Python).

``cwlint``'s modules that use LibCST import it from here (``from cwlint.libcst_import import cst``)
so that whichever is imported first pays the cached import.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import sys
from types import CodeType
from typing import Any

#: Where the compiled texts are kept; None: no cache (``CWLINT_NO_CODE_CACHE``, a ``pycache_prefix``).
CACHE: str | None = None if os.environ.get("CWLINT_NO_CODE_CACHE") or sys.pycache_prefix else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "__pycache__",
    f"libcst-dataclasses.{sys.implementation.cache_tag}.marshal")


class CodeCache:
    """The compiled texts of one import: ``hits`` and ``misses`` say how it went."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.codes: dict[str, Any] = self._load()
        self.used: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as handle:
                version, codes = marshal.load(handle)
        except (OSError, EOFError, ValueError, TypeError):  # none yet, unreadable, or not ours
            return {}
        if version != sys.version or not isinstance(codes, dict):
            return {}
        return {text: code for text, code in codes.items() if isinstance(text, str) and isinstance(code, CodeType)}

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /, **options: Any) -> None:
        """``exec``, with a text's code taken from the cache (or compiled and kept)."""
        if isinstance(source, str):
            code = self.codes.get(source)
            if code is None:
                self.misses += 1
                code = compile(source, "<string>", "exec")
            else:
                self.hits += 1
            self.used[source] = code
            source = code
        builtins.exec(source, globals, locals, **options)

    def save(self) -> None:
        """Write the texts this import used, when one was missing; atomically, and never an error."""
        if self.path is None or not self.misses or sys.dont_write_bytecode:
            return
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temporary, "wb") as handle:
                marshal.dump((sys.version, self.used), handle)
            os.replace(temporary, self.path)
        except OSError:  # a read-only installation: the next run compiles again
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _import(path: str | None) -> CodeCache:
    if "libcst" in sys.modules:  # imported before cwlint asked: nothing to speed up
        return CodeCache(None)
    cache = CodeCache(path)
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]  # the module's global shadows the builtin
    try:
        import libcst  # noqa: F401
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
    cache.save()
    return cache


#: How LibCST's import went in this process (``hits``, ``misses``; both 0: it was imported before).
last_import = _import(CACHE)

import libcst as cst  # noqa: E402 - in sys.modules now: the import above loaded it

__all__ = ["cst", "last_import", "CodeCache", "CACHE"]
