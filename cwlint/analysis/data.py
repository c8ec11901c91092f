"""The rules' own data files under ``rules/`` (shipped as ``cwlint/_catalog/``), read lazily.

Facts a rule checks against live in TOML next to the service catalog, each with its source:
provider credential formats (``rules/secrets/``), what blocks an event loop
(``rules/blocking/``), what each distribution installs with it (``rules/distributions/``).
A rule reads its file the first time it needs it, with the stdlib's ``tomllib`` (no pydantic,
no validation pass: the files are checked by ``tests/test_data_files.py``), once per process.
The result cache covers them: its code fingerprint walks the whole ``rules/`` tree.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any


@functools.cache
def data_root() -> Path:
    """``cwlint/_catalog`` in an installed wheel, else the checkout's ``rules/``."""
    packaged = resources.files("cwlint").joinpath("_catalog")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent.parent / "rules"


@functools.cache
def load(relative: str) -> dict[str, Any]:
    """One data file (``"secrets/formats.toml"``), parsed once per process."""
    with open(data_root() / relative, "rb") as handle:
        return tomllib.load(handle)


@functools.cache
def load_dir(relative: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every ``*.toml`` of a data directory, sorted by name: (stem, parsed data)."""
    folder = data_root() / relative
    return tuple((path.stem, load(f"{relative}/{path.name}")) for path in sorted(folder.glob("*.toml")))
