"""Finding the files to lint: ``.py`` files under the given paths, minus what is excluded.

Excludes are gitignore-style globs (``exclude`` replaces the defaults, ``extend-exclude``
adds), matched against paths relative to the configuration's root; ``.gitignore`` files are
honoured from the repository root down. As in ruff, a file named explicitly is linted even
when excluded, unless ``--force-exclude``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from cwlint.config import Settings


class PathError(Exception):
    """A path given on the command line does not exist (exit code 2)."""


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    #: Files that exist but cannot be walked into or stat'ed: (path, reason).
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: Directories given that held no Python file.
    empty: list[str] = field(default_factory=list)


def _spec(patterns: list[str]) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def _repo_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _read_gitignore(folder: Path) -> pathspec.PathSpec | None:
    path = folder / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return _spec(lines) if lines else None


class _Ignorer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = (settings.root if settings.root is not None else Path.cwd()).resolve()
        self.excludes = _spec(settings.exclude + settings.extend_exclude)
        self.gitignores: dict[Path, pathspec.PathSpec | None] = {}

    def _gitignore(self, folder: Path) -> pathspec.PathSpec | None:
        if folder not in self.gitignores:
            self.gitignores[folder] = _read_gitignore(folder)
        return self.gitignores[folder]

    def excluded(self, path: Path, is_dir: bool) -> bool:
        absolute = path.absolute()
        suffix = "/" if is_dir else ""
        try:
            rel = absolute.relative_to(self.root).as_posix()
        except ValueError:
            rel = None
        if rel and self.excludes.match_file(rel + suffix):
            return True
        if self.excludes.match_file(path.name + suffix):
            return True
        if self.settings.respect_gitignore:
            repo = _repo_root(absolute.parent)
            if repo is not None:
                folder = absolute.parent
                while True:
                    spec = self._gitignore(folder)
                    if spec is not None:
                        local = absolute.relative_to(folder).as_posix() + suffix
                        if spec.match_file(local):
                            return True
                    if folder == repo or folder.parent == folder:
                        break
                    folder = folder.parent
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
        path = Path(raw)
        if not os.path.lexists(raw):
            raise PathError(f"{raw}: no such file or directory")
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # a symlink loop
            found.problems.append((raw, exc.strerror or str(exc)))
            continue
        if not is_dir:
            if force_exclude and ignorer.excluded(path, False):
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
            base = Path(folder)
            dirnames[:] = sorted(d for d in dirnames if not ignorer.excluded(base / d, True))
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                file = base / name
                if ignorer.excluded(file, False):
                    continue
                add(str(file))
        if len(found.files) == before:
            found.empty.append(raw)
    return found
