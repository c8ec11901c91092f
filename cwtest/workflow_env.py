"""The environment a workflow runs with under cwtest: the variables its header declares, with test values.

One rule for both places a workflow runs: the sandboxed harness (``cwtest.harness.runner``, which
adds HOME and TMPDIR) and the in-process fuzz target (``cwtest.fuzz.target``, which points the
runtime variables at its own runtime whether declared or not). A declared variable gets its
declared default, else ``cwtest-<name>``; the API key and the runtime URLs get the simulator's.
Imports only ``cwlint.header``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The variables that name the runtime: they get the simulator's URL.
RUNTIME_VARS = ("CODEWORDS_RUNTIME_URI", "RUNTIME_URI")
API_KEY_VAR = "CODEWORDS_API_KEY"


def workflow_env(header: Any, *, api_key: str, runtime_url: str, home: Path | None = None) -> dict[str, str]:
    """Exactly the variables ``header`` declares, with test values; plus HOME and TMPDIR when ``home``."""
    env: dict[str, str] = {}
    for var in header.env_vars if header is not None else []:
        if var.name == API_KEY_VAR:
            env[var.name] = api_key
        elif var.name in RUNTIME_VARS:
            env[var.name] = runtime_url
        elif var.default is not None:
            env[var.name] = var.default
        else:
            env[var.name] = f"cwtest-{var.name.lower().replace('_', '-')}"
    if home is not None:
        env["HOME"] = env["TMPDIR"] = str(home)
    return env


def header_of(path: Path) -> Any:
    """The PEP 723 header of the workflow at ``path`` (None without one)."""
    from cwlint.header import parse_header

    return parse_header(path.read_text(encoding="utf-8", errors="replace"))
