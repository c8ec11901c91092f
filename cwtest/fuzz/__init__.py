"""cwtest's fuzzer: every route fuzzed, faults injected into the services it calls, minimal repros.

Built against an abstract :class:`Target` so that it runs in-process (:class:`InProcessTarget`,
for tests and benchmarks) and through the sandboxed harness alike::

    from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
    from cwtest.simulator import SimulatedRuntime

    with InProcessTarget.from_path("workflow.py", SimulatedRuntime()) as target:
        report = fuzz(target, FuzzConfig(examples=50, seed=0, cache_dir=Path(".cwtest")))
    print(report.render())

See ``docs/cwtest/fuzz.md``.
"""

from cwtest.fuzz.engine import (
    CHECKS,
    TOLERATED,
    FuzzConfig,
    Fuzzer,
    fuzz,
    response_problem,
    response_schema,
)
from cwtest.fuzz.faults import ALL_FAULTS, Fault, faults_for, injected
from cwtest.fuzz.report import CallSummary, Failure, FuzzReport, RouteStats
from cwtest.fuzz.schema import RequestSpec, Route, Strategies, Unsupported, routes_of
from cwtest.fuzz.target import (
    FAULT_HEADER,
    NO_BODY,
    ExceptionInfo,
    Frame,
    InProcessTarget,
    Outcome,
    Target,
    timeout_fault,
)

__all__ = [
    "ALL_FAULTS", "CHECKS", "FAULT_HEADER", "NO_BODY", "TOLERATED", "CallSummary", "ExceptionInfo", "Failure", "Fault",
    "Frame", "FuzzConfig", "FuzzReport", "Fuzzer", "InProcessTarget", "Outcome", "RequestSpec", "Route", "RouteStats",
    "Strategies", "Target", "Unsupported", "faults_for", "fuzz", "injected", "response_problem", "response_schema",
    "routes_of", "timeout_fault",
]
