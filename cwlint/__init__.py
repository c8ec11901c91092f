"""cwlint: a linter for CodeWords workflow scripts.

``from cwlint import Linter`` is the library API (:mod:`cwlint.linter`). It is imported on
first use, so that ``import cwlint`` (every CLI start) stays free of LibCST and the rules.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Linter", "__version__"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `import cwlint` stays cheap
if TYPE_CHECKING:
    from typing import Any

    from cwlint.linter import Linter


def __getattr__(name: str) -> Any:
    if name == "Linter":
        from cwlint.linter import Linter

        return Linter
    raise AttributeError(f"module 'cwlint' has no attribute {name!r}")
