"""The run over a booted workflow: per route, the smoke call, then the search.

For each route of the target's OpenAPI document, in order:

0. **smoke**: one minimal valid request (:mod:`cwtest.fuzz.minimal`). It always runs; with
   ``examples=0`` it is all that runs (``cwtest run --examples 0``), and Hypothesis is never
   imported.
1. **fuzz**: ``examples`` valid requests (Hypothesis, from :mod:`cwtest.fuzz.schema`). A valid
   request must not get a 5xx or let an exception escape, and a 2xx body must validate against
   the route's documented response schema.
2. **invalid**: ``invalid_examples`` requests with one defect each must get a 4xx, not a 5xx.
3. **faults**: for every (service, path) a valid request of the route called (the smoke call's
   included), that request is sent again with the endpoint failing, one fault at a time
   (:mod:`cwtest.fuzz.faults`). An escaped exception is a finding unless it is the client's own
   error propagating unchanged. A fault that exposes a finding gets a search of its own, with the
   fault held, so the request is shrunk too.
4. **contract**: every service call made by any of the requests above must pass the simulator's
   catalog check; a 422 is reported with the key it named.

Every request is judged by one classifier (:mod:`cwtest.fuzz.classify`); failures are
deduplicated by signature across the phases, so a bug the smoke call found and the search found
again is one finding. A blocked event loop counts only when the same request blocks at the same
line once more (``Fuzzer._confirm_blocks``): a warm-up or a busy machine is not the workflow's
doing. Each becomes a :class:`cwtest.results.Finding` with a repro
(:mod:`cwtest.fuzz.repro`). A route that cannot be exercised (no request can be built, the
workflow stopped earlier, the search engine failed) is inconclusive, with the reason.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwtest.fuzz.classify import PRIORITY, Judge, Observation, excerpt, request_standins
from cwtest.fuzz.execution import Execution, Representative, Representatives, TargetStopped, remember
from cwtest.fuzz.faults import ALL_FAULTS, DEFAULT_FAULTS, Fault, faults_for, injected
from cwtest.fuzz.minimal import Generator, minimal_request
from cwtest.fuzz.repro import Failure, FuzzReport
from cwtest.fuzz.target import Target
from cwtest.openapi import Route, Unsupported, routes_of
from cwtest.results import Inconclusive, Request, Response, RouteResult, RouteStats, ServiceCall, display_path

if TYPE_CHECKING:
    from cwtest.fuzz.search import Search

#: The checks a run does by default; ``malformed`` (a library service's answer as broken JSON: the
#: runtime never sends one) is opt-in (``--checks ...,malformed``).
CHECKS = ("fuzz", "invalid", "faults", "contract")
ALL_CHECKS = (*CHECKS, "malformed")
#: The client's own errors: propagating one unchanged under a fault is not a finding.
#: requests' errors: firecrawl-py 2.x's ``FirecrawlApp`` (routed to the runtime by the client) raises them.
TOLERATED = ("httpx.HTTPError", "openai.OpenAIError", "anthropic.AnthropicError", "requests.RequestException")
#: How many times a line that held the event loop once is sent again to see it block again, before
#: cwtest lets it be (a real blocking call blocks on the first replay).
CONFIRMATIONS = 2


@dataclass
class FuzzConfig:
    """Options of a run; the CLI's ``--examples``, ``--seed``, ``--shrink-time`` map to these."""

    #: Generated valid requests per route; 0: the smoke call alone.
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
    faults: tuple[str, ...] = DEFAULT_FAULTS
    #: Hypothesis examples of the search that shrinks a failure a fault exposed.
    fault_search_examples: int = 25
    tolerated: tuple[str, ...] = TOLERATED
    #: Packages whose own code raising under a fault is the client's failure, not the workflow's
    #: (``redis_client()`` reading a coordinator answer of ``success: false`` raises a KeyError).
    client_packages: tuple[str, ...] = ("codewords_client",)
    #: Only these routes (``"POST /"``), or all.
    routes: tuple[str, ...] | None = None
    #: Example payloads of routes without a request schema (``"POST /webhook"`` -> payloads): the
    #: smoke call sends the first, the search mutates them (``cwtest.examples``).
    payloads: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.checks) - set(ALL_CHECKS)
        if unknown:
            raise ValueError(f"unknown checks: {', '.join(sorted(unknown))} (known: {', '.join(ALL_CHECKS)})")
        if "malformed" in self.checks and "malformed" not in self.faults:
            self.faults = (*self.faults, "malformed")
        unknown = set(self.faults) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(ALL_FAULTS)})")

    @property
    def searches(self) -> bool:
        return self.examples > 0 and bool(self.checks)


def fuzz(target: Target, config: FuzzConfig | None = None, workflow: str | None = None) -> FuzzReport:
    """Run the smoke call and every check on every route of ``target``; see the module docstring."""
    return Fuzzer(target, config, workflow).run()


class Fuzzer:
    def __init__(self, target: Target, config: FuzzConfig | None = None, workflow: str | None = None, *,
                 shown: str | None = None) -> None:
        self.target = target
        self.config = config or FuzzConfig()
        self.workflow = workflow or target.workflow_file or "workflow"
        #: The workflow's path as the regression tests name it.
        self.shown = shown or display_path(self.workflow)
        self.report = FuzzReport(workflow=self.workflow, seed=self.config.seed, examples=self.config.examples)
        self.report.secrets = _secrets(getattr(target, "env", None))
        self.failures: dict[tuple[str, ...], Failure] = {}
        #: Every simulator call a request of this run made (``seq``): the session reports the others.
        self.calls_seen: set[int] = set()
        self._mark = max((c.seq for c in target.runtime.calls()), default=-1)
        self._sent = 0
        #: Why the target stopped taking requests, once it has.
        self.stopped: str | None = None
        #: The target stopped on cwtest's own error (a request it could not send), not the workflow's.
        self.stopped_by_cwtest = False
        self._search: Search | None = None
        #: The longest block of each ``blocking-call`` signature, in milliseconds.
        self._longest: dict[tuple[str, ...], int] = {}
        #: How often each ``blocking-call`` signature not (yet) found was replayed to confirm it.
        self._replays: dict[tuple[str, ...], int] = {}

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> FuzzReport:
        """Every route; the report (``self.report``) also holds what was found when a route stopped it."""
        started = time.perf_counter()
        document = self.target.schema
        self.judge = Judge(document, frozenset(self.config.checks), tuple(self.config.tolerated),
                           tuple(self.config.client_packages), getattr(self.target.runtime, "catalog", None))
        generator = Generator(document)
        for route in routes_of(document):
            if self.config.routes is not None and route.name not in self.config.routes:
                continue
            result = RouteResult(route.method, route.template, search=RouteStats(route.name))
            self.report.routes.append(result)
            if self.stopped is not None:
                result.inconclusive = Inconclusive(
                    f"not run: {self.stopped}",
                    "a bug of cwtest's: please report it, with the workflow"
                    if self.stopped_by_cwtest else "fix the finding that stopped the workflow, then run again")
                continue
            try:
                self._route(route, generator, result)
            except TargetStopped:
                pass
        return self._finish(started)

    def _finish(self, started: float) -> FuzzReport:
        ordered = sorted(self.failures.values(), key=lambda f: (f.route, PRIORITY.index(f.kind), f.signature))
        for failure in ordered:  # how many of the route's valid requests it happened on
            route = next((r for r in self.report.routes if r.name == failure.route), None)
            if failure.kind == "swallowed-exception" and route is not None and route.search is not None:
                valid = 1 + route.search.fuzz_requests
                failure.message = failure.message.replace(
                    " (swallowed: ", f" (swallowed on {min(failure.count, valid)} of {valid} valid requests: ", 1)
            shown = re.search(r"held the event loop (\d+) ms", failure.message)
            longest = self._longest.get(failure.signature, 0)
            if failure.kind == "blocking-call" and shown is not None and longest > int(shown.group(1)):
                failure.message += f"; the longest block: {longest} ms"
        self.report.findings = [failure.finding(self.workflow, self.shown) for failure in ordered]
        self.report.requests = self._sent
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _route(self, route: Route, generator: Generator, result: RouteResult) -> None:
        stats = result.search
        assert stats is not None
        representatives: Representatives = {}
        examples = self.config.payloads.get(route.name)
        try:
            request = minimal_request(route, generator, examples)
        except Unsupported as exc:
            result.inconclusive = Inconclusive(f"cannot build a request ({exc})",
                                               "write a test with cw_workflow that sends one")
            return
        result.request = request
        execution = self.execute(route, "smoke", request, None, stats)
        response = execution.response
        result.status, result.seconds = response.status, response.elapsed
        result.note = _note(response)
        for observation in execution.observations:
            self.observe(observation, route, "smoke", execution, None, minimal=True)
        if "smoke" in stats.blocked:  # the smoke call failed through a stand-in: not the workflow's failure
            result.inconclusive = stats.blocked["smoke"][0].inconclusive(route.name)
        else:  # a path the catalog lacks: the code past that call never ran, whatever the answer
            gap = next((s for s in request_standins(request, response, execution.calls, self.judge.catalog)
                        if s.kind == "gap"), None)
            if gap is not None:
                result.inconclusive = gap.inconclusive(route.name)
        remember(representatives, execution, None)
        if not self.config.searches:
            return
        if route.schemaless_body and not examples:
            if result.inconclusive is None:
                result.inconclusive = Inconclusive(
                    f"not searched: {route.name} has no request schema and no example payload",
                    "give example payloads (examples/<workflow>/<METHOD>_<path>.json, [tool.cwtest] examples, "
                    "or `cwtest record`)")
            return
        from cwtest.fuzz.search import Search

        if self._search is None:
            self._search = Search(self)
        try:
            self._search.route(route, stats, representatives)
        except Unsupported as exc:
            result.inconclusive = Inconclusive(f"not searched: {exc}",
                                               "write a test with cw_workflow for the requests it takes")
        if self._search.failed.get(route.name):
            result.inconclusive = Inconclusive(f"the search stopped: {self._search.failed[route.name]}",
                                               "report it as a cwtest bug, with this workflow")

    def faults(self, route: Route, stats: RouteStats, representatives: Representatives, shrink: Any) -> None:
        """Each fault of each endpoint a valid request reached, with that request; new failures shrunk.

        A representative from the smoke call is minimal already: its failures are reported as they are.
        """
        chosen = {k: r for k, r in representatives.items() if r.failed_at is None}
        if not chosen and representatives:  # every valid request failed: fault the calls before the failure
            chosen = dict(representatives)
            places = Counter(r.failed_at for r in chosen.values())
            place = places.most_common(1)[0][0] or "?"
            shown = display_path(place) if ":" in place else place
            stats.notes_once(f"faults: every valid request failed at {shown}; faults were injected into the "
                             f"{len(chosen)} call(s) made before it")
        if not chosen:
            stats.notes.append("faults: no valid request called a library service")
            return
        for representative in chosen.values():
            for fault in faults_for(self.target.runtime, representative.call, self.config.faults):
                stats.faults_injected.append(fault.label)
                with injected(self.target.runtime, fault):
                    shrink(fault, None, None, retry_only=True)
                    execution = self.execute(route, "faults", representative.request, fault, stats)
                    for observation in execution.observations:
                        new = observation.signature not in self.failures
                        self.observe(observation, route, "faults", execution, fault,
                                     minimal=representative.choices is None)
                        if new:
                            shrink(fault, observation.signature, representative.choices)

    # --- one request -------------------------------------------------------------------------------

    def execute(self, route: Route, check: str, request: Request, fault: Fault | None,
                stats: RouteStats, confirm: bool = True) -> Execution:
        """Send one request, collect the calls it made, and classify the result (a new blocked loop is
        confirmed by sending it again: ``_confirm_blocks``)."""
        if self.stopped is not None:
            raise TargetStopped(self.stopped)
        headers = {**dict(request.headers), "x-correlation-id": f"cwtest-{check}-{self._sent + 1}"}
        try:
            response = self.target.send(request.method, request.path, request.json_body, headers,
                                        query=dict(request.query) or None,
                                        form=dict(request.form) if request.form is not None else None,
                                        files=dict(request.files) if request.files else None)
        except Exception as exc:  # the target's own failure (it stopped earlier, or cwtest's bug): the run ends
            self.stopped = str(exc) or type(exc).__name__
            if type(exc).__name__ != "WorkflowStopped":  # not the workflow's doing: say so, with the request
                self.stopped_by_cwtest = True
                self.stopped = (f"cwtest could not send {request.method} {request.path} "
                                f"({type(exc).__name__}: {self.stopped})")
            raise TargetStopped(self.stopped) from exc
        self._sent += 1
        if response.stopped is not None:
            self.stopped = response.error or f"the workflow {response.stopped}"
        calls = [c for c in self.target.runtime.calls() if c.seq > self._mark]
        if calls:
            self._mark = max(c.seq for c in calls)
            self.calls_seen.update(c.seq for c in calls)
        if check != "smoke":
            stats.count(check, response.status)
        execution = Execution(request, response, calls)
        before = sum(n for _s, n in stats.blocked.values())
        execution.observations = self.judge.classify(route, check, request, response, calls,
                                                     fault.label if fault else None, stats)
        execution.blocked = sum(n for _s, n in stats.blocked.values()) != before
        if confirm:
            self._confirm_blocks(route, check, request, fault, execution, stats)
        return execution

    def _confirm_blocks(self, route: Route, check: str, request: Request, fault: Fault | None,
                        execution: Execution, stats: RouteStats) -> None:
        """A ``blocking-call`` not yet found counts only when the same request, sent once more (under the
        same fault), blocks at the same line again. A real blocking call does so every time; a one-off
        does not: the first run of a line (a lazy import, a cold disk cache, a first traceback read from
        source files) or a busy machine that kept the loop's thread off the CPU. Each line is tried at
        most ``CONFIRMATIONS`` times; the replay's own hang or death is kept (it is the workflow's)."""
        fresh = [o for o in execution.observations if o.kind == "blocking-call" and o.signature not in self.failures
                 and self._replays.get(o.signature, 0) < CONFIRMATIONS]
        if not fresh:
            return
        for observation in fresh:
            self._replays[observation.signature] = self._replays.get(observation.signature, 0) + 1
        replay = self.execute(route, check, request, fault, RouteStats(stats.route), confirm=False)
        again = {o.signature for o in replay.observations if o.kind == "blocking-call"}
        for observation in fresh:
            if observation.signature in again:
                continue
            execution.observations.remove(observation)
            stats.notes_once(f"{check}: {display_path(observation.location or '?')} held the event loop "
                             f"{observation.milliseconds} ms once, and not when the same request was sent again "
                             f"(a first run's warm-up, or a busy machine); not a finding")
        execution.observations += [o for o in replay.observations if o.kind in ("timeout", "crash")]

    # --- recording -------------------------------------------------------------------------------

    def observe(self, observation: Observation, route: Route, check: str, execution: Execution,
                fault: Fault | None, minimal: bool, counted: bool = True) -> None:
        signature = observation.signature
        if observation.milliseconds:
            self._longest[signature] = max(self._longest.get(signature, 0), observation.milliseconds)
        existing = self.failures.get(signature)
        if existing is None:
            self.failures[signature] = self._failure(observation, route, check, execution, fault, minimal)
            return
        if minimal and check != "smoke" and existing.check == check and existing.fault == fault \
                and existing.route == route.name:
            fresh = self._failure(observation, route, check, execution, fault, True)
            fresh.count, fresh.seen_in = existing.count, existing.seen_in
            self.failures[signature] = fresh
            return
        if counted:
            existing.count += 1
        place = f"{check} {route.name}" + (f" ({fault.label})" if fault else "")
        if place not in existing.seen_in:
            existing.seen_in.append(place)

    def _failure(self, observation: Observation, route: Route, check: str, execution: Execution,
                 fault: Fault | None, minimal: bool) -> Failure:
        faulted = None
        if fault is not None:
            faulted = next((c.response for c in execution.calls
                            if c.service == fault.service and c.path == fault.path), None)
        location, lint = observation.location, None
        if observation.kind == "service-contract":
            location, lint = contract_place(observation, execution.calls)
        return Failure(
            kind=observation.kind, check=check, route=route.name, message=observation.message,
            signature=observation.signature, request=execution.request, fault=fault,
            status=execution.response.status, exception=observation.exception,
            calls=[ServiceCall.of(c) for c in execution.calls], shrunk=minimal, key=observation.key,
            location=location, stack=observation.stack, fault_answer=faulted, lint=lint,
            seen_in=[f"{check} {route.name}" + (f" ({fault.label})" if fault else "")],
            response_excerpt=excerpt(execution.response),
            tolerated=tuple(self.config.tolerated) if check == "faults" else (),
            runtime_seed=int(getattr(self.target.runtime, "seed", 0)),
            connected_apps=tuple(sorted(getattr(self.target.runtime, "connected_apps", ()))),
        )


def contract_place(observation: Any, calls: Any) -> tuple[str | None, str | None]:
    """A ``service-contract`` problem's workflow line (the call's ``x-cwtest-location``, which the
    child adds to every runtime request) and the cwlint code that finds it statically."""
    from cwtest.simulator.validation import lint_code

    _kind, service, path = (tuple(observation.signature) + ("", "", ""))[:3]
    for call in calls:
        if call.service != service or call.path != path or not call.problems:
            continue
        kinds = getattr(call, "problem_kinds", ()) or ()
        kind = next((k for p, k in zip(call.problems, kinds, strict=False) if observation.message.endswith(p)), None)
        return observation.location or call.headers.get("x-cwtest-location"), lint_code(kind)
    return observation.location, None


def _secrets(env: Any) -> list[str]:
    """The secret values of a target's environment (an ``EnvPlan``, or the in-process target's dict)."""
    if env is None:
        return []
    if hasattr(env, "secrets"):
        return list(env.secrets())
    from cwtest.redact import secret_values
    from cwtest.workflow_env import API_KEY_VAR

    return secret_values(dict(env), injected=(API_KEY_VAR,)) if isinstance(env, dict) else []


def _note(response: Response) -> str:
    if response.status is None:
        return response.error or "no answer"
    if response.status >= 400:
        return excerpt(response, 300)
    return ""


__all__ = ["ALL_CHECKS", "CHECKS", "TOLERATED", "Execution", "FuzzConfig", "Fuzzer", "Representative", "Representatives",
           "TargetStopped", "fuzz", "remember"]
