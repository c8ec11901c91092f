"""cwtest: a test harness for CodeWords workflow scripts.

Its first part is a simulated CodeWords runtime (:class:`SimulatedRuntime`) that the real
``codewords-client`` talks to unchanged, so a workflow runs without the internet or an account.
The simulator is imported on first use: the pytest plugin loads this package in every pytest
run, and a run that never asks for ``--cwtest`` should not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SIMULATOR = ("Call", "Delay", "DropConnection", "HttpError", "Malformed", "Reply", "SimulatedRuntime", "Unsuccessful")
__all__ = [*_SIMULATOR, "__version__"]

if TYPE_CHECKING:
    from cwtest.simulator import (  # noqa: F401
        Call,
        Delay,
        DropConnection,
        HttpError,
        Malformed,
        Reply,
        SimulatedRuntime,
        Unsuccessful,
    )


def __getattr__(name: str) -> Any:
    if name in _SIMULATOR:
        import cwtest.simulator

        return getattr(cwtest.simulator, name)
    raise AttributeError(f"module 'cwtest' has no attribute {name!r}")
