"""The rules' own data files under ``rules/`` (shipped as ``cwlint/_catalog/``), read lazily.

Facts a rule checks against live in TOML next to the service catalog, each with its source:
provider credential formats (``rules/secrets/``), what blocks an event loop
(``rules/blocking/``), what each distribution installs with it (``rules/distributions/``).
A rule reads its file the first time it needs it, once per process, with no pydantic and no
validation pass (the files are checked by ``tests/test_data_files.py``).

Parsing the TOML costs more than linting a file (tens of ms for these files), so a CLI run
reads them as the first run of this exact code left them in the cache (``data.json`` beside
``rules.json`` and ``catalog.json``, as the catalog's data): the runner passes a reader to
:func:`use_cache`, called at most once, the first time a file is needed. The cache's code key
covers every file under ``rules/``. This module imports neither ``tomllib``, ``pathlib`` nor
``typing`` until it parses a file: a warm run may redact a message and reach the credential
formats through it.
"""

from __future__ import annotations

import functools
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

#: The folder of the service catalog, which ``cwlint.catalog`` reads: not rule data.
_SERVICES = "services"
#: What :func:`use_cache` installed: returns every data file's data, or None.
_reader: Callable[[], dict[str, dict[str, Any]] | None] | None = None


def use_cache(reader: Callable[[], dict[str, dict[str, Any]] | None] | None) -> None:
    """Read the data files through ``reader`` (what :func:`bundled_files` returned in an earlier
    run of the same code), called once, when a file is first needed; None: parse the files."""
    global _reader
    _reader = reader
    _cached.cache_clear()
    load.cache_clear()
    load_dir.cache_clear()


@functools.cache
def _cached() -> dict[str, dict[str, Any]] | None:
    return _reader() if _reader is not None else None


@functools.cache
def data_root() -> Path:
    """``cwlint/_catalog`` in an installed wheel, else the checkout's ``rules/``."""
    from importlib import resources
    from pathlib import Path

    packaged = resources.files("cwlint").joinpath("_catalog")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent.parent / "rules"


@functools.cache
def load(relative: str) -> dict[str, Any]:
    """One data file (``"secrets/formats.toml"``), parsed once per process."""
    cached = _cached()
    if cached is not None and relative in cached:
        return cached[relative]
    import tomllib

    with open(data_root() / relative, "rb") as handle:
        return tomllib.load(handle)


@functools.cache
def load_dir(relative: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every ``*.toml`` of a data directory, sorted by name: (stem, parsed data)."""
    cached = _cached()
    prefix = f"{relative}/"
    if cached is not None:
        names = sorted(name for name in cached if name.startswith(prefix) and "/" not in name[len(prefix):])
        if names:
            return tuple((name[len(prefix):].removesuffix(".toml"), cached[name]) for name in names)
    folder = data_root() / relative
    return tuple((path.stem, load(f"{relative}/{path.name}")) for path in sorted(folder.glob("*.toml")))


def bundled_files() -> dict[str, dict[str, Any]]:
    """Every rule data file's data, by its path under ``rules/`` (the service catalog aside):
    what the runner keeps in the cache for :func:`use_cache`."""
    root = data_root()
    files: dict[str, dict[str, Any]] = {}
    for folder, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(folder, root)
        dirnames[:] = sorted(d for d in dirnames if not (relative == "." and d == _SERVICES) and d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".toml") and relative != ".":
                path = f"{relative.replace(os.sep, '/')}/{name}"
                files[path] = load(path)
    return files
