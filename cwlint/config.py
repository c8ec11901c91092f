"""``[tool.cwlint]`` in pyproject.toml (or a ``cwlint.toml``): which rules, which files.

Validation is by hand so that a mistake reads as one line naming the key, and so that
starting the CLI does not import pydantic. :class:`Selection` turns the settings into the
codes on for each file; the runner, the engine and the API share it, and it needs the codes
only, never the rule classes, so a warm run can select without importing a rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatch

from cwlint.records import Record
from cwlint.source import DEFAULT_MAX_FILE_SIZE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a warm run never needs it)
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    #: A path as the API takes it: ``pathlib`` stays out of a warm run, paths are strings inside.
    StrPath: TypeAlias = "str | os.PathLike[str]"

DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nox", ".pants.d", ".pytype",
    ".ruff_cache", ".cwlint_cache", ".svn", ".tox", ".venv", "__pypackages__", "_build",
    "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
)


class ConfigError(Exception):
    """A configuration problem, one line, naming the file and the key."""


class Settings(Record):
    """``[tool.cwlint]``, validated: which rules, which files, and the project root."""

    __slots__ = (
        "select", "extend_select", "ignore", "exclude", "extend_exclude", "per_file_ignores",
        "target_client_version", "max_file_size", "bare_noqa", "respect_gitignore", "root", "source",
    )

    def __init__(
        self,
        select: list[str] | None = None,
        extend_select: list[str] | None = None,
        ignore: list[str] | None = None,
        exclude: list[str] | None = None,
        extend_exclude: list[str] | None = None,
        per_file_ignores: dict[str, list[str]] | None = None,
        target_client_version: tuple[int, ...] | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        bare_noqa: bool = False,
        respect_gitignore: bool = True,
        root: StrPath | None = None,
        source: str | None = None,
    ) -> None:
        self.select: list[str] = select if select is not None else ["CW"]
        self.extend_select: list[str] = extend_select if extend_select is not None else []
        self.ignore: list[str] = ignore if ignore is not None else []
        self.exclude: list[str] = exclude if exclude is not None else list(DEFAULT_EXCLUDE)
        self.extend_exclude: list[str] = extend_exclude if extend_exclude is not None else []
        self.per_file_ignores: dict[str, list[str]] = per_file_ignores if per_file_ignores is not None else {}
        self.target_client_version = target_client_version
        self.max_file_size = max_file_size
        self.bare_noqa = bare_noqa
        self.respect_gitignore = respect_gitignore
        #: The project root: ``per-file-ignores`` patterns, excludes and the cache are relative to
        #: it. The configuration's folder when loaded from a file; the CLI passes its working
        #: directory otherwise. None (the default): paths are matched as they are given, and
        #: nothing depends on the working directory.
        self.root = root
        self.source = source  #: the file the settings came from

    def enabled(self, codes: list[str]) -> set[str]:
        """Codes switched on: the most specific matching selector decides (ruff's rule)."""
        positive = [s.upper() for s in self.select + self.extend_select]
        negative = [s.upper() for s in self.ignore]
        out = set()
        for code in codes:
            best_on = max((len(s) for s in positive if _matches(s, code)), default=-1)
            best_off = max((len(s) for s in negative if _matches(s, code)), default=-1)
            if best_on >= 0 and best_on > best_off:
                out.add(code)
        return out

    def ignored_for(self, path: str) -> set[str]:
        """Selectors ``per-file-ignores`` switches off for ``path``."""
        rel = _relative(path, self.root)
        out: set[str] = set()
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch(rel, pattern) or fnmatch(rel.rsplit("/", 1)[-1], pattern) or rel.startswith(pattern.rstrip("/") + "/"):
                out.update(c.upper() for c in codes)
        return out

    def fingerprint(self) -> str:
        """Everything that changes results, for cache keys."""
        return repr(
            (
                sorted(self.select), sorted(self.extend_select), sorted(self.ignore),
                sorted((k, sorted(v)) for k, v in self.per_file_ignores.items()),
                self.target_client_version, self.max_file_size, self.bare_noqa,
            )
        )


class Selection:
    """The codes a run enables (resolved once), and, per file, those its per-file ignores leave on."""

    def __init__(self, settings: Settings, codes: Iterable[str]) -> None:
        codes = list(codes)
        self.settings = settings
        self.enabled = settings.enabled(codes)
        #: Selectors (select, extend-select, ignore) that name no rule: a configuration error.
        self.unknown = [
            selector
            for selector in settings.select + settings.extend_select + settings.ignore
            if selector != "ALL" and not any(code.startswith(selector) for code in codes)
        ]

    def check(self) -> None:
        """Raise :class:`ConfigError` for the first selector that names no rule."""
        if self.unknown:
            raise ConfigError(f"unknown rule selector '{self.unknown[0]}' (see `cwlint rules`)")

    def for_file(self, path: str) -> set[str]:
        """The codes on for ``path``: the enabled ones minus its ``per-file-ignores``."""
        if not self.settings.per_file_ignores:
            return self.enabled
        ignored = self.settings.ignored_for(path)
        if not ignored:
            return self.enabled
        return {code for code in self.enabled if not any(code.startswith(s) or s == "ALL" for s in ignored)}


def _matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def posix(path: str) -> str:
    """``path`` with ``/``, without empty and ``.`` parts: as ``pathlib``'s ``as_posix`` spells it."""
    path = path.replace(os.sep, "/")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    joined = "/".join(parts)
    if path.startswith("/"):
        return "/" + joined
    return joined or "."


def _relative(path: str, root: StrPath | None) -> str:
    if root is None:
        return posix(path)
    # abspath, not resolve(): a symlink loop must not raise here
    absolute, base = os.path.abspath(path), os.path.abspath(root)
    if absolute == base:
        return "."
    if absolute.startswith(os.path.join(base, "")):
        return posix(absolute[len(os.path.join(base, "")) :])
    return posix(path)


def _str_list(key: str, value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return list(value)


_KEYS = {
    "select", "extend-select", "ignore", "exclude", "extend-exclude", "per-file-ignores",
    "target-client-version", "max-file-size", "bare-noqa", "respect-gitignore",
}


def settings_from_table(table: dict[str, Any], where: str, root: StrPath) -> Settings:
    settings = Settings(root=root, source=where)
    for key in table:
        if key not in _KEYS:
            hint = _suggest(key, _KEYS)
            raise ConfigError(f"{where}: unknown key '{key}' in [tool.cwlint]{hint}")
    if "select" in table:
        settings.select = _str_list("select", table["select"], where)
    if "extend-select" in table:
        settings.extend_select = _str_list("extend-select", table["extend-select"], where)
    if "ignore" in table:
        settings.ignore = _str_list("ignore", table["ignore"], where)
    if "exclude" in table:
        settings.exclude = _str_list("exclude", table["exclude"], where)
    if "extend-exclude" in table:
        settings.extend_exclude = _str_list("extend-exclude", table["extend-exclude"], where)
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: 'per-file-ignores' must be a table of glob = [codes]")
        settings.per_file_ignores = {k: _str_list(f"per-file-ignores.{k}", v, where) for k, v in value.items()}
    if "target-client-version" in table:
        value = table["target-client-version"]
        from cwlint.header import parse_version

        version = parse_version(value) if isinstance(value, str) else None
        if version is None:
            raise ConfigError(f"{where}: 'target-client-version' must be a version string such as \"0.4.11\"")
        settings.target_client_version = version
    if "max-file-size" in table:
        value = table["max-file-size"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: 'max-file-size' must be a non-negative integer (bytes; 0 = no limit)")
        settings.max_file_size = value
    for flag in ("bare-noqa", "respect-gitignore"):
        if flag in table:
            if not isinstance(table[flag], bool):
                raise ConfigError(f"{where}: '{flag}' must be true or false")
            setattr(settings, flag.replace("-", "_"), table[flag])
    return settings


def _suggest(key: str, options: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def load_file(path: StrPath) -> Settings:
    import tomllib

    path = os.fspath(path)
    try:
        data = tomllib.loads(_read(path))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        table = data.get("tool", {}).get("cwlint", {})
    else:
        table = data.get("tool", {}).get("cwlint", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.cwlint] must be a table")
    return settings_from_table(table, path, os.path.realpath(os.path.dirname(os.path.abspath(path))))


def _folders(start: str) -> list[str]:
    """``start`` and every folder above it, up to the root."""
    out = [start]
    while (parent := os.path.dirname(out[-1])) != out[-1]:
        out.append(parent)
    return out


def discover(start: StrPath) -> Settings:
    """The nearest ``cwlint.toml``/``.cwlint.toml``, or ``pyproject.toml`` with [tool.cwlint]."""
    directory = os.path.realpath(start)
    for folder in _folders(directory):
        for name in ("cwlint.toml", ".cwlint.toml"):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return load_file(candidate)
        pyproject = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(pyproject):
            try:
                text = _read(pyproject)
            except (OSError, UnicodeDecodeError):
                continue
            if "cwlint" not in text:  # no [tool.cwlint] table: no need to parse (or import tomllib)
                continue
            import tomllib

            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                continue
            if "cwlint" in data.get("tool", {}):
                return load_file(pyproject)
    return Settings(root=directory)
