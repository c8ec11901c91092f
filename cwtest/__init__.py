"""cwtest: a test harness for CodeWords workflow scripts.

Its first part is a simulated CodeWords runtime (:class:`SimulatedRuntime`) that the real
``codewords-client`` talks to unchanged, so a workflow runs without the internet or an account.
"""

from cwtest.simulator import (
    Call,
    Delay,
    DropConnection,
    HttpError,
    Malformed,
    Reply,
    SimulatedRuntime,
    Unsuccessful,
)

__version__ = "0.1.0"

__all__ = [
    "Call", "Delay", "DropConnection", "HttpError", "Malformed", "Reply", "SimulatedRuntime", "Unsuccessful",
    "__version__",
]
