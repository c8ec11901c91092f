"""Finding the files to lint: ``.py`` files under the given paths, minus what is excluded.

Excludes are gitignore-style globs (``exclude`` replaces the defaults, ``extend-exclude``
adds), matched against paths relative to the configuration's root; ``.gitignore`` files are
honoured from the repository root down. As in ruff, a file named explicitly is linted even
when excluded, unless ``--force-exclude``.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from cwlint.config import Settings, posix
from cwlint.records import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a warm run never needs it)
if TYPE_CHECKING:
    import pathspec


class PathError(Exception):
    """A path given on the command line does not exist (exit code 2)."""


class Discovery(Record):
    """The files to lint, in order; what could not be walked; the folders that held no file."""

    __slots__ = ("files", "problems", "empty")

    def __init__(self) -> None:
        self.files: list[str] = []
        #: Files that exist but cannot be walked into or stat'ed: (path, reason).
        self.problems: list[tuple[str, str]] = []
        #: Directories given that held no Python file.
        self.empty: list[str] = []


#: A pattern that is a plain name (no glob, no slash, no negation) matches, as gitignore says,
#: any file or folder of that name at any depth: a set lookup per path component, with no
#: pathspec (the defaults are all such names, so a run without other patterns never imports it).
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]+")


def _spec(patterns: list[str]) -> pathspec.PathSpec:
    import pathspec

    return pathspec.PathSpec.from_lines("gitignore", patterns)


def _read_gitignore(folder: str) -> pathspec.PathSpec | None:
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return _spec(lines) if lines else None


class _Ignorer:
    """Whether a path is excluded: by ``exclude``/``extend-exclude``, or by a ``.gitignore``.

    Paths are strings and every per-folder answer (the repository root, the ``.gitignore``
    files that apply) is computed once per folder: a warm run asks for every file.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = settings.root if settings.root is not None else os.getcwd()
        self.root = os.path.join(os.path.abspath(root), "")  # with a trailing separator
        patterns = settings.exclude + settings.extend_exclude
        self.names = frozenset(p for p in patterns if _PLAIN.fullmatch(p) and p not in (".", ".."))
        others = [p for p in patterns if p not in self.names]
        self.excludes = _spec(others) if others else None
        self._repos: dict[str, str | None] = {}
        self._chains: dict[str, list[tuple[str, pathspec.PathSpec]]] = {}

    def _repo_root(self, folder: str) -> str | None:
        if folder not in self._repos:
            if os.path.exists(os.path.join(folder, ".git")):
                self._repos[folder] = folder
            else:
                parent = os.path.dirname(folder)
                self._repos[folder] = None if parent == folder else self._repo_root(parent)
        return self._repos[folder]

    def _gitignores(self, folder: str) -> list[tuple[str, pathspec.PathSpec]]:
        """The ``.gitignore`` files that apply in ``folder``: its own, then its parents' up to the repository root."""
        chain = self._chains.get(folder)
        if chain is None:
            repo = self._repo_root(folder)
            chain = []
            if repo is not None:
                spec = _read_gitignore(folder)
                if spec is not None:
                    chain.append((folder, spec))
                parent = os.path.dirname(folder)
                if folder != repo and parent != folder:
                    chain.extend(self._gitignores(parent))
            self._chains[folder] = chain
        return chain

    def excluded(self, path: str, is_dir: bool) -> bool:
        absolute = os.path.abspath(path)
        suffix = "/" if is_dir else ""
        rel = absolute[len(self.root) :].replace(os.sep, "/") if absolute.startswith(self.root) else None
        name = os.path.basename(absolute)
        if self.names and (name in self.names or (rel and any(part in self.names for part in rel.split("/")))):
            return True
        if self.excludes is not None and ((rel and self.excludes.match_file(rel + suffix)) or self.excludes.match_file(name + suffix)):
            return True
        if self.settings.respect_gitignore:
            for folder, spec in self._gitignores(os.path.dirname(absolute)):
                if spec.match_file(absolute[len(folder) + 1 :].replace(os.sep, "/") + suffix):
                    return True
        return False


def _is_dir(path: str) -> bool:
    """``pathlib.Path.is_dir``: False when missing, not a folder, or a symlink loop; other errors raise."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return False
        raise
    except ValueError:  # a NUL in the path
        return False


def discover(paths: list[str], settings: Settings, force_exclude: bool = False) -> Discovery:
    found = Discovery()
    ignorer = _Ignorer(settings)
    seen: set[str] = set()

    def add(path: str) -> None:
        if path not in seen:
            seen.add(path)
            found.files.append(path)

    for raw in paths:
        if not os.path.lexists(raw):
            raise PathError(f"{raw}: no such file or directory")
        try:
            is_dir = _is_dir(raw)
        except OSError as exc:  # a symlink loop
            found.problems.append((raw, exc.strerror or str(exc)))
            continue
        if not is_dir:
            if force_exclude and ignorer.excluded(raw, False):
                continue
            add(raw)
            continue
        before = len(found.files)
        visited: set[tuple[int, int]] = set()
        for folder, dirnames, filenames in os.walk(raw, followlinks=True):
            try:
                info = os.stat(folder)
            except OSError as exc:
                found.problems.append((folder, exc.strerror or str(exc)))
                dirnames[:] = []
                continue
            key = (info.st_dev, info.st_ino)
            if key in visited:  # a symlink loop: walk each real directory once
                dirnames[:] = []
                continue
            visited.add(key)
            # Paths as pathlib spells them ("x.py", not "./x.py"), built once per folder.
            base = posix(folder).replace("/", os.sep)
            prefix = "" if base == "." else base if base.endswith(os.sep) else base + os.sep
            dirnames[:] = sorted(d for d in dirnames if not ignorer.excluded(prefix + d, True))
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                file = prefix + name
                if ignorer.excluded(file, False):
                    continue
                add(file)
        if len(found.files) == before:
            found.empty.append(raw)
    return found
