"""cwtest's fuzzer: every route called, fuzzed, its services faulted, each failure with a minimal repro.

Built against an abstract :class:`Target` so that it runs in-process (:class:`InProcessTarget`,
for tests and benchmarks) and through the sandboxed harness alike::

    from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
    from cwtest.simulator import SimulatedRuntime

    with InProcessTarget.from_path("workflow.py", SimulatedRuntime()) as target:
        report = fuzz(target, FuzzConfig(examples=50, seed=0, cache_dir=Path(".cwtest")))
    print(report.render())

Names are imported lazily: ``cwtest run --examples 0`` uses the engine without importing
Hypothesis (only :mod:`cwtest.fuzz.search` and :mod:`cwtest.fuzz.schema` do). See
``docs/cwtest/fuzz.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "CHECKS": "engine", "TOLERATED": "engine", "FuzzConfig": "engine", "Fuzzer": "engine", "fuzz": "engine",
    "ALL_FAULTS": "faults", "Fault": "faults", "faults_for": "faults", "injected": "faults",
    "FuzzReport": "repro",
    "Strategies": "schema",
    "FAULT_HEADER": "target", "InProcessTarget": "target", "Target": "target", "timeout_fault": "target",
}
#: Names of the results model and the OpenAPI module, re-exported for regression tests and users.
_ELSEWHERE = {
    "NO_BODY": "cwtest.results", "ExceptionInfo": "cwtest.results", "Frame": "cwtest.results",
    "Request": "cwtest.results", "Response": "cwtest.results",
    "Route": "cwtest.openapi", "Unsupported": "cwtest.openapi", "routes_of": "cwtest.openapi",
    "response_problem": "cwtest.openapi", "response_schema": "cwtest.openapi",
}

__all__ = sorted([*_NAMES, *_ELSEWHERE])


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        module = importlib.import_module(f"cwtest.fuzz.{_NAMES[name]}")
    elif name in _ELSEWHERE:
        module = importlib.import_module(_ELSEWHERE[name])
    else:
        raise AttributeError(f"module 'cwtest.fuzz' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value
