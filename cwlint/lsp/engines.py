"""Which settings lint a document, and one warm :class:`~cwlint.Linter` for each.

An editor keeps a language server running for hours while the user edits the configuration,
adds a helper module, or opens a file of another project. So the settings are never loaded
once and for all: before each lint, the configuration files that could apply to the
document's folder (``cwlint.toml``, ``.cwlint.toml`` and ``pyproject.toml`` in it and every
folder above) are stat'ed, a few dozen microseconds, and the settings are loaded again only
when one of them changed. A configuration that does not load is reported (once per change of
the files) and the folder is linted with the default settings until it is fixed: the server
keeps serving.

The linters are made once per configuration and reused for every edit: an edit never pays for
imports, the catalog or the rule registry (:meth:`Engines.warm` pays for them up front).
Nothing here imports an LSP library.
"""

from __future__ import annotations

import os
import threading

from cwlint import config
from cwlint.linter import Linter
from cwlint.modules import DirectoryIndex, ModuleIndex
from cwlint.results import FileResult
from cwlint.source import FileProblem, too_large

CONFIG_NAMES = ("cwlint.toml", ".cwlint.toml", "pyproject.toml")


class Engine:
    """The linter for one folder's settings, and why the defaults stand in, if they do."""

    __slots__ = ("linter", "error", "source")

    def __init__(self, linter: Linter, error: str | None = None) -> None:
        self.linter = linter
        #: The configuration problem (one line, naming the file and the key); None when it loaded.
        self.error = error
        #: The configuration file the settings come from; None: the defaults.
        self.source = linter.settings.source

    def check(self, text: str, path: str) -> FileResult:
        """``Linter.check``, after the ``max-file-size`` limit (CW905) a file on disk would get."""
        problem = self._too_large(text)
        return self.linter.problem(path, problem) if problem else self.linter.check(text, path)

    def fix(self, text: str, path: str, unsafe: bool = False) -> FileResult:
        problem = self._too_large(text)
        return self.linter.problem(path, problem) if problem else self.linter.fix(text, path, unsafe=unsafe)

    def _too_large(self, text: str) -> FileProblem | None:
        limit = self.linter.settings.max_file_size
        # A code point takes at most 4 bytes in UTF-8: most buffers need no encoding to know.
        if not limit or len(text) * 4 <= limit:
            return None
        size = len(text.encode("utf-8", "surrogatepass"))
        return too_large(size, limit) if size > limit else None


class LiveIndex(ModuleIndex):
    """The modules beside a file, listed again whenever its folder changes (a helper module
    created or deleted while the editor is open changes CW402's answer at the next edit)."""

    def __init__(self) -> None:
        self._folders: dict[str, tuple[int, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def beside(self, path: str) -> frozenset[str]:
        folder = os.path.dirname(os.path.abspath(path))
        try:
            stamp = os.stat(folder).st_mtime_ns
        except OSError:
            return frozenset()
        with self._lock:
            cached = self._folders.get(folder)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        names = DirectoryIndex().beside(path)
        with self._lock:
            self._folders[folder] = (stamp, names)
        return names


def _stamp(folder: str) -> tuple[tuple[str, int, int], ...]:
    """The configuration files that could apply to ``folder``, with their mtime and size."""
    found = []
    while True:
        for name in CONFIG_NAMES:
            candidate = os.path.join(folder, name)
            try:
                info = os.stat(candidate)
            except OSError:
                continue
            found.append((candidate, info.st_mtime_ns, info.st_size))
        parent = os.path.dirname(folder)
        if parent == folder:
            return tuple(found)
        folder = parent


class Engines:
    """One :class:`Engine` per folder, reloaded when a configuration file that applies changes."""

    def __init__(self) -> None:
        self.modules = LiveIndex()
        self._folders: dict[str, tuple[tuple[tuple[str, int, int], ...], Engine]] = {}
        self._lock = threading.Lock()

    def for_path(self, path: str) -> Engine:
        """The engine for a document at ``path`` (which need not exist: an unsaved buffer)."""
        folder = os.path.dirname(os.path.abspath(path))
        stamp = _stamp(folder)
        with self._lock:
            cached = self._folders.get(folder)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        engine = self._load(folder)
        with self._lock:
            self._folders[folder] = (stamp, engine)
        return engine

    def _load(self, folder: str) -> Engine:
        try:
            settings = config.discover(folder)
            return Engine(Linter(settings, self.modules))
        except config.ConfigError as exc:
            return Engine(Linter(config.Settings(root=folder), self.modules), str(exc))

    def warm(self) -> None:
        """Import the engine, the rules and the catalog now, before the first edit needs them."""
        from cwlint.catalog import default_catalog

        default_catalog()
        Linter().check("import os\n", "warm.py")
