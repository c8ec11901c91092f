"""The search: per route, fuzz valid requests, send invalid ones, inject faults, check the contract.

For each route of the target's OpenAPI document, in order:

1. **fuzz**: ``examples`` valid requests (Hypothesis, from :mod:`cwtest.fuzz.schema`). A valid
   request must not get a 5xx or let an exception escape, and a 2xx body must validate against
   the route's documented response schema.
2. **invalid**: ``invalid_examples`` requests with one defect each must get a 4xx, not a 5xx.
   A 2xx is noted, not reported: custom types and validators make the document looser than the
   app, and pydantic's lax mode accepts more than JSON Schema says (research §1.2).
3. **faults**: for every (service, path) a valid request of the route called, that request is
   sent again with the endpoint failing, one fault at a time (:mod:`cwtest.fuzz.faults`). An
   escaped exception is a finding unless it is the client's own error propagating unchanged
   (``tolerated``: ``httpx.HTTPError``, the vendor SDKs' ``APIError``, requests' errors; or an
   exception raised by the client library's own code, ``client_packages``; the client's handler
   turns ``HTTPStatusError`` into the upstream status, and a timeout or a dropped connection
   surfaces as the client's exception by design). A deliberate ``HTTPException`` is handled by
   the app and never escapes. A fault that exposes a finding gets a Hypothesis search of its own,
   with the fault held, so the request is shrunk too.
4. **contract**: every service call made by any of the requests above must pass the
   simulator's catalog check; a 422 is reported with the key it named.

Every Hypothesis-driven step raises, for a failing request, an exception whose class stands for
the failure's signature (exception type and workflow line; route and status; route and schema
path; service and key). Hypothesis keeps one interesting example per class, so distinct bugs
are shrunk separately, and its final replay of each minimal example is what the report shows.
Shrinking is capped at ``shrink_time`` seconds per failure (Hypothesis' ``MAX_SHRINKING_SECONDS``,
which it documents as monkeypatchable, scaled by the number of distinct failures of the run).
Runs are reproducible: each (route, check, fault) search is seeded from ``seed``; failures are
saved in a Hypothesis ``DirectoryBasedExampleDatabase`` under ``cache_dir`` and replayed first.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
    ReadOnlyDatabase,
    choices_to_bytes,
)
from hypothesis.errors import Flaky, HypothesisException, Unsatisfiable
from hypothesis.internal.conjecture import engine as conjecture_engine

from cwtest.fuzz.faults import ALL_FAULTS, Fault, faults_for, injected
from cwtest.fuzz.report import CallSummary, Failure, FuzzReport, RouteStats
from cwtest.fuzz.schema import RequestSpec, Route, Strategies, Unsupported, routes_of
from cwtest.fuzz.target import ExceptionInfo, Outcome, Target
from cwtest.outbound import unsent_outbound
from cwtest.simulator.records import Call

CHECKS = ("fuzz", "invalid", "faults", "contract")
#: The client's own errors: propagating one unchanged under a fault is not a finding.
#: requests' errors: firecrawl-py 2.x's ``FirecrawlApp`` (routed to the runtime by the client) raises them.
TOLERATED = ("httpx.HTTPError", "openai.APIError", "anthropic.APIError", "requests.RequestException")
#: Observation kinds, most telling first: the first one of a request is the one Hypothesis chases.
PRIORITY = ("unhandled-exception", "no-response", "server-error", "response-model", "service-contract")


@dataclass
class FuzzConfig:
    """Options of a run; the CLI's ``--examples``, ``--seed``, ``--shrink-time`` map to these."""

    examples: int = 50
    #: Requests per route for the invalid check (default: ``examples``).
    invalid_examples: int | None = None
    seed: int = 0
    #: Seconds of shrinking per failure; 0 keeps failures as found.
    shrink_time: float = 10.0
    #: Where the Hypothesis example database lives (``<cache_dir>/examples``); None: no database.
    cache_dir: Path | None = None
    #: Read the database but never write it (pytest-xdist workers).
    readonly_database: bool = False
    checks: tuple[str, ...] = CHECKS
    faults: tuple[str, ...] = ALL_FAULTS
    #: Hypothesis examples of the search that shrinks a failure a fault exposed.
    fault_search_examples: int = 25
    tolerated: tuple[str, ...] = TOLERATED
    #: Packages whose own code raising under a fault is the client's failure, not the workflow's
    #: (``redis_client()`` reading a coordinator answer of ``success: false`` raises a KeyError).
    client_packages: tuple[str, ...] = ("codewords_client",)
    #: Only these routes (``"POST /"``), or all.
    routes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.checks) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown checks: {', '.join(sorted(unknown))} (known: {', '.join(CHECKS)})")
        unknown = set(self.faults) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(ALL_FAULTS)})")


@dataclass(frozen=True)
class Observation:
    """One way one request failed a check, with the signature failures are deduplicated by."""

    kind: str
    signature: tuple[str, ...]
    message: str
    exception: ExceptionInfo | None = None
    key: str | None = None


@dataclass
class _Execution:
    request: RequestSpec
    outcome: Outcome
    calls: list[Call]
    observations: list[Observation] = field(default_factory=list)


@dataclass(frozen=True)
class _Representative:
    """The first valid request that reached a service endpoint, and its Hypothesis choices."""

    request: RequestSpec
    call: Call
    choices: tuple[Any, ...] | None


class _FindingError(Exception):
    """Base of the per-signature exception classes raised inside Hypothesis."""


class _TargetStopped(Exception):
    """The target raised (its workflow hung or died): no more requests; ``run`` re-raises the cause."""


def fuzz(target: Target, config: FuzzConfig | None = None, workflow: str | None = None) -> FuzzReport:
    """Run every check on every route of ``target``; see the module docstring."""
    return Fuzzer(target, config, workflow).run()


class Fuzzer:
    def __init__(self, target: Target, config: FuzzConfig | None = None, workflow: str | None = None) -> None:
        self.target = target
        self.config = config or FuzzConfig()
        self.workflow = workflow or target.workflow_file or "workflow"
        self.report = FuzzReport(workflow=self.workflow, seed=self.config.seed, examples=self.config.examples)
        self.failures: dict[tuple[str, ...], Failure] = {}
        self._errors: dict[tuple[str, ...], type[_FindingError]] = {}
        self._mark = max((c.seq for c in target.runtime.calls()), default=-1)
        self._sent = 0
        self._database = self._open_database()
        #: What the target raised, if it did: the run stops and re-raises it.
        self._target_error: Exception | None = None

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> FuzzReport:
        started = time.perf_counter()
        document = self.target.schema
        strategies = Strategies(document)
        self._document = document
        for route in routes_of(document):
            if self.config.routes is not None and route.name not in self.config.routes:
                continue
            stats = RouteStats(route.name)
            self.report.routes.append(stats)
            if route.unsupported:
                stats.skipped = f"not fuzzed: {route.unsupported}"
                continue
            try:
                self._route(route, strategies, stats)
            except Unsupported as exc:
                stats.skipped = f"not fuzzed: {exc}"
            except _TargetStopped:
                self._finish(started)
                assert self._target_error is not None
                raise self._target_error from None
        return self._finish(started)

    def _finish(self, started: float) -> FuzzReport:
        """Fill in the report (also when the target stopped: ``fuzzer.report`` holds what was found)."""
        self.report.failures = sorted(self.failures.values(),
                                      key=lambda f: (f.route, PRIORITY.index(f.kind), f.signature))
        self.report.requests = self._sent
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _route(self, route: Route, strategies: Strategies, stats: RouteStats) -> None:
        checks = set(self.config.checks)
        valid = strategies.request(route)
        representatives: dict[tuple[str, str], _Representative] = {}
        if checks & {"fuzz", "faults", "contract"}:
            started = time.perf_counter()
            before = self._sent
            self._explore(route, "fuzz", [("", valid)], self.config.examples, stats,
                          representatives=representatives)
            stats.fuzz_requests = self._sent - before
            stats.fuzz_seconds = time.perf_counter() - started
        if "invalid" in checks:
            defects = strategies.invalid_requests(route)
            if not defects:
                stats.notes.append("invalid: nothing the route rejects can be sent (no body or parameters)")
            else:
                before = self._sent
                count = self.config.invalid_examples
                if count is None:
                    count = self.config.examples
                self._explore(route, "invalid", defects, count, stats)
                stats.invalid_requests = self._sent - before
        if "faults" in checks:
            before = self._sent
            self._faults(route, valid, representatives, stats)
            stats.fault_requests = self._sent - before

    def _faults(self, route: Route, valid: st.SearchStrategy[RequestSpec],
                representatives: dict[tuple[str, str], _Representative], stats: RouteStats) -> None:
        if not representatives:
            stats.notes.append("faults: no valid request called a library service")
            return
        for representative in representatives.values():
            for fault in faults_for(self.target.runtime, representative.call, self.config.faults):
                stats.faults_injected.append(fault.label)
                with injected(self.target.runtime, fault):
                    self._retry(route, "faults", valid, stats, fault)
                    execution = self._execute(route, "faults", representative.request, fault, stats)
                    for observation in execution.observations:
                        new = observation.signature not in self.failures
                        self._observe(observation, route, "faults", execution, fault, minimal=False)
                        if new:
                            self._shrink(route, "faults", valid, observation.signature, representative.choices,
                                         stats, fault)

    # --- Hypothesis ------------------------------------------------------------------------------
    #
    # Three kinds of runs, all seeded and all on the same strategies:
    #   retry:   the database's saved failures of (route, check, fault), replayed first;
    #   explore: ``examples`` generated requests, every failure recorded, none raised (so the whole
    #            budget is spent: Hypothesis stops generating soon after the first failure it sees);
    #   shrink:  one run per new failure, seeded with its choice sequence, raising only for it, capped
    #            at ``shrink_time`` seconds; its minimal example is saved for the next retry.

    def _explore(self, route: Route, check: str, variants: list[tuple[str, st.SearchStrategy[RequestSpec]]],
                 examples: int, stats: RouteStats, *,
                 representatives: dict[tuple[str, str], _Representative] | None = None) -> None:
        """``examples`` requests; request i comes from variant i (mod their number, in a seeded order).

        The valid check has one variant; the invalid check one per defect, so that a budget at least
        as large as the number of defects sends each defect at least once.
        """
        if examples <= 0 or not variants:
            return
        for label, strategy in variants:
            self._retry(route, check, strategy, stats, None, label)
        first_seen: dict[tuple[str, ...], tuple[int, tuple[Any, ...] | None]] = {}

        def one(index: int, request: RequestSpec, choices: tuple[Any, ...] | None) -> None:
            execution = self._execute(route, check, request, None, stats)
            if not execution.observations:
                if representatives is not None and execution.outcome.status is not None \
                        and execution.outcome.status < 500:
                    for call in execution.calls:
                        if call.status is not None and call.status < 400:
                            representatives.setdefault((call.service, call.path),
                                                       _Representative(request, call, choices))
                return
            for observation in execution.observations:
                if observation.signature not in self.failures and observation.signature not in first_seen:
                    first_seen[observation.signature] = (index, choices)
                self._observe(observation, route, check, execution, None, minimal=False)

        key = self._key(route, check, None) + "|explore"
        rng = Random(int(hashlib.sha256(f"{self.config.seed}|{key}".encode()).hexdigest()[:16], 16))
        order = list(range(len(variants)))
        rng.shuffle(order)
        sent = attempts = 0
        while sent < examples and attempts < examples * 10:
            index = order[attempts % len(order)]
            attempts += 1
            try:
                drawn = draw(variants[index][1], rng)
            except Unsupported:
                raise
            except Exception as exc:  # noqa: BLE001 - Hypothesis' internals moved: let its engine generate
                stats.notes_once(f"{check}: direct generation unavailable ({type(exc).__name__}: {exc}); "
                                 f"Hypothesis' engine generated the requests instead")
                self._explore_with_engine(route, check, st.one_of([v for _l, v in variants]), examples - sent,
                                          stats, lambda request, choices: one(-1, request, None))
                break
            if drawn is None:
                continue
            one(index, *drawn)
            sent += 1
        for signature, (index, choices) in first_seen.items():
            failure = self.failures.get(signature)
            if failure is not None and not failure.shrunk and index >= 0:
                label, strategy = variants[index]
                self._shrink(route, check, strategy, signature, choices, stats, None, label)

    def _explore_with_engine(self, route: Route, check: str, strategy: st.SearchStrategy[RequestSpec],
                             examples: int, stats: RouteStats,
                             one: Callable[[RequestSpec, tuple[Any, ...] | None], None]) -> None:
        """The fallback: Hypothesis' own generation (it spends part of the budget on near-duplicates)."""
        def test(request: RequestSpec) -> None:
            try:
                one(request, _choices())
            except _TargetStopped:
                return

        self._run(test, strategy, examples, self._key(route, check, None) + "|explore", [Phase.generate], None,
                  route, check, None, stats)

    def _retry(self, route: Route, check: str, strategy: st.SearchStrategy[RequestSpec], stats: RouteStats,
               fault: Fault | None, variant: str = "") -> None:
        """Replay the failures the database kept for this (route, check, fault); they stay while they fail."""
        key = self._key(route, check, fault, variant)
        if self._database is None or not list(self._database.fetch(_digest(key))):
            return

        def test(request: RequestSpec) -> None:
            try:
                execution = self._execute(route, check, request, fault, stats)
            except _TargetStopped:
                return
            if execution.observations:
                primary = execution.observations[0]
                final = _is_final()
                for observation in execution.observations:
                    self._observe(observation, route, check, execution, fault, minimal=final and observation is primary,
                                  counted=False)
                raise self._error_for(primary.signature)(primary.message)

        self._run(test, strategy, 10, key, [Phase.reuse], self._database, route, check, fault, stats)

    def _shrink(self, route: Route, check: str, strategy: st.SearchStrategy[RequestSpec], signature: tuple[str, ...],
                choices: tuple[Any, ...] | None, stats: RouteStats, fault: Fault | None, variant: str = "") -> None:
        """Shrink one failure from its choice sequence; save the minimal one in the database."""
        if choices is None or self.config.shrink_time <= 0:
            return
        key = self._key(route, check, fault, variant) + "|shrink|" + "|".join(signature)
        seeds = InMemoryExampleDatabase()
        # The secondary corpus: a primary entry that still fails counts as "already shrunk" and
        # Hypothesis would not shrink it; a secondary one is replayed and then shrunk.
        seeds.save(_digest(key) + b".secondary", choices_to_bytes(choices))
        minimal: list[tuple[Any, ...]] = []

        def test(request: RequestSpec) -> None:
            try:
                execution = self._execute(route, check, request, fault, stats)
            except _TargetStopped:
                return
            hit = next((o for o in execution.observations if o.signature == signature), None)
            if hit is None:
                return
            final = _is_final()
            if final:
                minimal.append(_choices())
            self._observe(hit, route, check, execution, fault, minimal=final, counted=False)
            raise self._error_for(signature)(hit.message)

        self._run(test, strategy, 10, key, [Phase.reuse, Phase.shrink], seeds, route, check, fault, stats)
        if minimal and self._database is not None and not self.config.readonly_database:
            self._database.save(_digest(self._key(route, check, fault, variant)), choices_to_bytes(minimal[-1]))

    def _run(self, test: Callable[[RequestSpec], None], strategy: st.SearchStrategy[RequestSpec], examples: int,
             key: str, phases: list[Phase], database: ExampleDatabase | None, route: Route, check: str,
             fault: Fault | None, stats: RouteStats) -> None:
        seed = int(hashlib.sha256(f"{self.config.seed}|{key}".encode()).hexdigest()[:16], 16)
        run = settings(
            max_examples=examples, deadline=None, database=database, phases=phases,
            suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=True,
            print_blob=False, derandomize=False,
        )(given(strategy)(test))
        run._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
        run._hypothesis_internal_database_key = _digest(key)  # type: ignore[attr-defined]
        saved = conjecture_engine.MAX_SHRINKING_SECONDS
        conjecture_engine.MAX_SHRINKING_SECONDS = max(1, round(self.config.shrink_time))
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every way a search ends is reported, never raised
            if self._target_error is None:
                self._search_ended(exc, route, check, fault, stats)
        finally:
            conjecture_engine.MAX_SHRINKING_SECONDS = saved
        if self._target_error is not None:
            raise _TargetStopped

    def _key(self, route: Route, check: str, fault: Fault | None, variant: str = "") -> str:
        """The database key of a (route, check, fault, invalid-request defect): stable across runs."""
        return f"{Path(self.workflow).name}|{route.name}|{check}|{fault.label if fault else ''}|{variant}"

    def _search_ended(self, exc: BaseException, route: Route, check: str, fault: Fault | None,
                      stats: RouteStats) -> None:
        where = f"{check}" + (f" ({fault.label})" if fault else "")
        leaves = _leaves(exc)
        if all(isinstance(e, _FindingError) for e in leaves):
            return
        if isinstance(exc, Flaky) or any(isinstance(e, Flaky) for e in leaves):
            stats.notes_once(f"{where}: a failure did not happen again on replay (the workflow keeps state "
                             f"between requests, or depends on time); it is reported as first seen")
            return
        if isinstance(exc, Unsatisfiable):
            stats.notes_once(f"{where}: Hypothesis could not generate enough requests ({exc})")
            return
        unexpected = [e for e in leaves if not isinstance(e, _FindingError)]
        first = unexpected[0] if unexpected else exc
        if isinstance(first, Unsupported):
            stats.notes_once(f"{where}: cannot generate requests: {first}")
            return
        kind = "Hypothesis" if isinstance(first, HypothesisException) else "engine"
        stats.notes_once(f"{where}: {kind} error {type(first).__name__}: {first}")

    def _error_for(self, signature: tuple[str, ...]) -> type[_FindingError]:
        if signature not in self._errors:
            digest = hashlib.sha1("|".join(signature).encode()).hexdigest()[:10]
            self._errors[signature] = type(f"Finding_{digest}", (_FindingError,), {})
        return self._errors[signature]

    def _open_database(self) -> ExampleDatabase | None:
        if self.config.cache_dir is None:
            return None
        database: ExampleDatabase = DirectoryBasedExampleDatabase(str(Path(self.config.cache_dir) / "examples"))
        return ReadOnlyDatabase(database) if self.config.readonly_database else database

    # --- one request -------------------------------------------------------------------------------

    def _execute(self, route: Route, check: str, request: RequestSpec, fault: Fault | None,
                 stats: RouteStats) -> _Execution:
        if self._target_error is not None:
            raise _TargetStopped
        headers = {**dict(request.headers), "x-correlation-id": f"cwtest-fuzz-{self._sent + 1}"}
        try:
            outcome = self.target.send(request.method, request.path, request.json_body, headers,
                                       query=dict(request.query) or None)
        except Exception as exc:  # the target's own failure (hung, died) ends the run; run() re-raises it
            self._target_error = exc
            raise _TargetStopped from exc
        self._sent += 1
        calls = [c for c in self.target.runtime.calls() if c.seq > self._mark]
        if calls:
            self._mark = max(c.seq for c in calls)
        stats.count(check, outcome.status)
        execution = _Execution(request, outcome, calls)
        execution.observations = self._evaluate(route, check, execution, fault, stats)
        return execution

    def _evaluate(self, route: Route, check: str, execution: _Execution, fault: Fault | None,
                  stats: RouteStats) -> list[Observation]:
        enabled = set(self.config.checks)
        outcome = execution.outcome
        found: list[Observation] = []
        reports_own = check in enabled
        if reports_own:
            for exc in outcome.exceptions:
                if check == "faults" and (any(exc.is_a(name) for name in self.config.tolerated)
                                          or self._raised_by_client(exc)):
                    stats.tolerate(fault, exc)
                    continue
                where = exc.location or (f"{exc.frames[-1].file}:{exc.frames[-1].line}" if exc.frames else "?")
                found.append(Observation("unhandled-exception", ("exception", exc.type, where),
                                         f"{exc.type}: {exc.message}", exc))
            status = outcome.status
            if status is None and not outcome.exceptions:
                found.append(Observation("no-response", ("no-response", route.name),
                                         f"no answer: {outcome.error or 'the connection broke'}"))
            elif status is not None and status >= 500 and not outcome.exceptions and check != "faults":
                upstream = [c for c in execution.calls if c.status is not None and c.status >= 500]
                if upstream:
                    stats.notes_once(f"{check}: {status} passed on from {upstream[0].service} (answered "
                                     f"{upstream[0].status}); not a finding")
                elif unsent_outbound(status, _excerpt(outcome)):
                    stats.notes_once(f"{check}: {status} passed on from an outbound request cwtest did not send "
                                     f"(see the outbound-http finding); not a finding")
                else:
                    found.append(Observation("server-error", ("server-error", route.name, str(status)),
                                             f"{route.name} answered {status}: {_excerpt(outcome)}"))
            if check == "invalid" and status is not None and 200 <= status < 300:
                stats.accepted_invalid += 1
                if execution.request.defect:
                    stats.accepted_defects.add(execution.request.defect)
            if check in ("fuzz", "faults") and status is not None and 200 <= status < 300:
                problem = self._response_problem(route, outcome)
                if problem is not None:
                    path, rule, message = problem
                    found.append(Observation("response-model", ("response-model", route.name, path, rule),
                                             f"the {status} body breaks the response model at {message}"))
        for call in execution.calls:
            unknown = _unknown_endpoint(call)
            if unknown:
                stats.notes_once(f"{call.service}{'/' + call.path if call.path else ''}: the simulator does not know "
                                 f"this endpoint ({unknown}), so it answered 404 and the code past that call did not "
                                 f"run; script an answer (runtime.script) to go further")
        if "contract" in enabled:
            for call in execution.calls:
                for key, message in _contract_problems(call):
                    found.append(Observation("service-contract", ("service-contract", call.service, call.path, key),
                                             message, key=key))
        found.sort(key=lambda o: PRIORITY.index(o.kind))
        return found

    def _raised_by_client(self, exc: ExceptionInfo) -> bool:
        """Raised inside a call to the client library: its package is among those the exception
        passed through below the workflow's frames (``via``), or holds the innermost frame."""
        if any(package in exc.via for package in self.config.client_packages):
            return True
        if not exc.frames:
            return False
        parts = exc.frames[-1].file.replace("\\", "/").split("/")
        return any(package in parts for package in self.config.client_packages)

    def _response_problem(self, route: Route, outcome: Outcome) -> tuple[str, str, str] | None:
        return response_problem_detail(self._document, route.method, route.template, outcome)

    # --- recording -------------------------------------------------------------------------------

    def _observe(self, observation: Observation, route: Route, check: str, execution: _Execution,
                 fault: Fault | None, minimal: bool, counted: bool = True) -> None:
        signature = observation.signature
        existing = self.failures.get(signature)
        if existing is None:
            self.failures[signature] = self._failure(observation, route, check, execution, fault, minimal)
            return
        if minimal and existing.check == check and existing.fault == fault and existing.route == route.name:
            fresh = self._failure(observation, route, check, execution, fault, True)
            fresh.count, fresh.seen_in = existing.count, existing.seen_in
            self.failures[signature] = fresh
            return
        if counted:
            existing.count += 1
        place = f"{check} {route.name}" + (f" ({fault.label})" if fault else "")
        if place not in existing.seen_in:
            existing.seen_in.append(place)

    def _failure(self, observation: Observation, route: Route, check: str, execution: _Execution,
                 fault: Fault | None, minimal: bool) -> Failure:
        faulted = None
        if fault is not None:
            faulted = next((c.response for c in execution.calls
                            if c.service == fault.service and c.path == fault.path), None)
        return Failure(
            kind=observation.kind, check=check, route=route.name, message=observation.message,
            signature=observation.signature, request=execution.request, fault=fault,
            status=execution.outcome.status, exception=observation.exception,
            calls=[CallSummary.of(c) for c in execution.calls], shrunk=minimal, key=observation.key,
            fault_answer=faulted, seen_in=[f"{check} {route.name}" + (f" ({fault.label})" if fault else "")],
            response_excerpt=_excerpt(execution.outcome),
            tolerated=tuple(self.config.tolerated) if check == "faults" else (),
            runtime_seed=int(getattr(self.target.runtime, "seed", 0)),
            connected_apps=tuple(sorted(getattr(self.target.runtime, "connected_apps", ()))),
        )


# --- checks usable on their own ------------------------------------------------------------------

def response_problem_detail(document: dict[str, Any], method: str, template: str,
                            outcome: Outcome) -> tuple[str, str, str] | None:
    """(schema path, rule, readable message) of the first way a 2xx body breaks its documented model."""
    schema = response_schema(document, method, template, outcome.status or 0)
    if schema is None:
        return None
    if not outcome.text and outcome.body is None:
        return ("(the body)", "type", "(the body): the answer is empty but the route documents a JSON model")
    if isinstance(outcome.body, str) and not _is_json(outcome.text):
        return ("(the body)", "type", "(the body): the answer is not JSON but the route documents a JSON model")
    validator = _validator(document, schema)
    errors = sorted(validator.iter_errors(outcome.body),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return None
    error = errors[0]
    path = "/".join("*" if isinstance(p, int) else str(p) for p in error.absolute_path) or "(the body)"
    shown = "/".join(str(p) for p in error.absolute_path) or "(the body)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return path, str(error.validator), f"{shown}: {error.message[:300]}{more}"


def response_problem(document: dict[str, Any], method: str, template: str, outcome: Outcome) -> str | None:
    """How a 2xx body breaks the route's documented response schema, or None (for regression tests)."""
    if outcome.status is None or not 200 <= outcome.status < 300:
        return None
    detail = response_problem_detail(document, method, template, outcome)
    return None if detail is None else detail[2]


def response_schema(document: dict[str, Any], method: str, template: str, status: int) -> dict[str, Any] | None:
    """The JSON schema documented for this status (exact, ``2XX``, then ``default``), or None."""
    operation = ((document.get("paths") or {}).get(template) or {}).get(method.lower()) or {}
    responses = operation.get("responses") or {}
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        spec = responses.get(key)
        if spec is None:
            continue
        while isinstance(spec, dict) and "$ref" in spec:
            spec = _pointer(document, spec["$ref"])
        content = (spec or {}).get("content") or {}
        media = next((t for t in content if t == "application/json" or t.endswith("+json")), None)
        if media is None:
            return None
        schema = content[media].get("schema")
        return schema if schema not in (None, {}, True) else None
    return None


_VALIDATORS: dict[tuple[int, str], Any] = {}


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    import json

    from jsonschema import Draft202012Validator

    key = (id(document), json.dumps(schema, sort_keys=True, default=str))
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator({**schema, "components": document.get("components", {})})
    return _VALIDATORS[key]


def _is_json(text: str) -> bool:
    import json

    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
    return node


def _contract_problems(call: Call) -> list[tuple[str, str]]:
    """(key, message) for each catalog problem the simulator found in a call (its 422)."""
    if not call.problems:
        return []
    where = f"{call.service}/{call.path}" if call.path else call.service
    errors = call.response.get("errors") if isinstance(call.response, dict) else None
    out = []
    if isinstance(errors, list) and len(errors) == len(call.problems):
        for error, message in zip(errors, call.problems):
            loc = error.get("loc") if isinstance(error, dict) else None
            key = ".".join(str(p) for p in loc) if loc else _quoted_key(message)
            out.append((key, f"{where}: {message}"))
        return out
    return [(_quoted_key(m), f"{where}: {m}") for m in call.problems]


def _unknown_endpoint(call: Call) -> str | None:
    """The simulator's 404 for a service or path its catalog lacks (not a contract break: a gap)."""
    if call.status != 404 or not isinstance(call.response, dict):
        return None
    detail = str(call.response.get("detail", ""))
    return detail if " has no path " in detail or detail.startswith("no service ") else None


def _quoted_key(message: str) -> str:
    start = message.find('"')
    end = message.find('"', start + 1)
    return message[start + 1:end] if 0 <= start < end else message[:40]


def _excerpt(outcome: Outcome, limit: int = 300) -> str:
    body = outcome.body
    if isinstance(body, dict) and "detail" in body:
        body = body["detail"]
    text = body if isinstance(body, str) else (outcome.text or "")
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def draw(strategy: st.SearchStrategy[Any], rng: Random) -> tuple[Any, tuple[Any, ...]] | None:
    """One value drawn at random from ``strategy``, and the choice sequence that reproduces it.

    Independent draws, unlike Hypothesis' engine, which starts from the simplest example and
    spends much of a small budget on mutations of earlier ones: for a fixed number of requests,
    independent draws reach the boundaries and the rare enum members far more often. None when
    the draw was rejected (a filter gave up).
    """
    from hypothesis.control import BuildContext
    from hypothesis.errors import StopTest, UnsatisfiedAssumption
    from hypothesis.internal.conjecture.data import ConjectureData

    data = ConjectureData(random=rng)
    try:
        with BuildContext(data, is_final=False, wrapped_test=None):
            value = data.draw(strategy)
    except (StopTest, UnsatisfiedAssumption):
        return None
    return value, tuple(data.choices)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _choices() -> tuple[Any, ...] | None:
    """The choice sequence Hypothesis drew the current example from (to seed its shrinking)."""
    try:
        return tuple(current_build_context().data.choices)
    except Exception:  # noqa: BLE001 - outside a Hypothesis run, or the internals moved
        return None


def _is_final() -> bool:
    try:
        return bool(current_build_context().is_final)
    except Exception:  # noqa: BLE001 - outside a Hypothesis run
        return False


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out += _leaves(inner)
        return out
    return [exc]


__all__ = ["CHECKS", "TOLERATED", "FuzzConfig", "Fuzzer", "Observation", "fuzz", "response_problem",
           "response_schema"]

