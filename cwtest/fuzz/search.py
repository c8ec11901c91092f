"""The search: Hypothesis-driven requests for one route, every failure shrunk to a minimal input.

Called by :class:`cwtest.fuzz.engine.Fuzzer` after a route's smoke call, when ``examples > 0``
(this module imports Hypothesis; ``--examples 0`` never loads it). Three kinds of runs, all seeded
and all on the same strategies:

* **retry**: the example database's saved failures of (route, check, fault), replayed first;
* **explore**: ``examples`` independently drawn requests, every failure recorded, none raised
  (so the whole budget is spent: Hypothesis' engine stops generating soon after the first failure
  it sees);
* **shrink**: one run per new failure, seeded with its choice sequence, raising only for it,
  capped at ``shrink_time`` seconds; its minimal example is saved for the next retry.

Every Hypothesis-driven step raises, for a failing request, an exception whose class stands for
the failure's signature, so Hypothesis keeps one interesting example per class and distinct bugs
are shrunk separately; its final replay of each minimal example is what the report shows.

Shrinking is capped per run with Hypothesis' ``MAX_SHRINKING_SECONDS`` (documented as
monkeypatchable). It is replaced once, at import, by a float whose value is read per thread, so
runs in parallel threads (``cwtest run -j``) each get their own cap and nothing global is
swapped while they run.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Any

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

from cwtest.fuzz.execution import Representatives, TargetStopped, remember
from cwtest.fuzz.faults import Fault
from cwtest.fuzz.schema import Strategies
from cwtest.openapi import Route, Unsupported
from cwtest.results import Request, RouteStats

if TYPE_CHECKING:
    from cwtest.fuzz.engine import Fuzzer


class _PerThreadSeconds(float):
    """Hypothesis' ``MAX_SHRINKING_SECONDS``, read per thread.

    Hypothesis computes ``time.perf_counter() + MAX_SHRINKING_SECONDS`` when shrinking starts. As
    a subclass of float overriding ``__radd__``, this value answers that addition itself, with the
    cap of the calling thread's run (Hypothesis' default for other callers, such as a user's own
    Hypothesis tests in the same pytest process).
    """

    local = threading.local()

    def __radd__(self, other: float) -> float:
        return other + getattr(self.local, "seconds", float(self))


if not isinstance(conjecture_engine.MAX_SHRINKING_SECONDS, _PerThreadSeconds):
    # Hypothesis' constant (an int), replaced on purpose by a float that answers per thread (above).
    conjecture_engine.MAX_SHRINKING_SECONDS = _PerThreadSeconds(  # type: ignore[assignment]
        conjecture_engine.MAX_SHRINKING_SECONDS)


class _FindingError(Exception):
    """Base of the per-signature exception classes raised inside Hypothesis."""


class Search:
    """The Hypothesis side of one :class:`~cwtest.fuzz.engine.Fuzzer`: its strategies and database."""

    def __init__(self, fuzzer: Fuzzer) -> None:
        self.fuzzer = fuzzer
        self.config = fuzzer.config
        self.workflow = fuzzer.workflow
        self.strategies = Strategies(fuzzer.judge.document)
        self._errors: dict[tuple[str, ...], type[_FindingError]] = {}
        self._database = self._open_database()
        #: Route -> why its search stopped early (a Hypothesis or engine error): inconclusive.
        self.failed: dict[str, str] = {}

    @property
    def failures(self) -> dict[tuple[str, ...], Any]:
        return self.fuzzer.failures

    def route(self, route: Route, stats: RouteStats, representatives: Representatives) -> None:
        """The checks of one route (raises Unsupported when no valid request can be generated)."""
        checks = set(self.config.checks)
        import time

        valid = self.strategies.request(route)
        examples = self.config.payloads.get(route.name)
        if route.schemaless_body and examples:
            from dataclasses import replace

            from cwtest.examples import mutations

            valid = st.tuples(valid, mutations(examples)).map(lambda pair: replace(pair[0], json_body=pair[1]))
            checks.discard("invalid")  # nothing is documented, so nothing is invalid
        if checks & {"fuzz", "faults", "contract"}:
            started = time.perf_counter()
            before = self.fuzzer._sent
            self._explore(route, "fuzz", [("", valid)], self.config.examples, stats,
                          representatives=representatives)
            stats.fuzz_requests = self.fuzzer._sent - before
            stats.fuzz_seconds = time.perf_counter() - started
        if "invalid" in checks:
            defects = self.strategies.invalid_requests(route)
            if not defects:
                stats.notes.append("invalid: nothing the route rejects can be sent (no body or parameters)")
            else:
                before = self.fuzzer._sent
                count = self.config.invalid_examples
                if count is None:
                    count = self.config.examples
                self._explore(route, "invalid", defects, count, stats)
                stats.invalid_requests = self.fuzzer._sent - before
        if "faults" in checks:
            before = self.fuzzer._sent

            def shrink(fault: Fault, signature: tuple[str, ...] | None, choices: tuple[Any, ...] | None,
                       retry_only: bool = False) -> None:
                if retry_only:
                    self._retry(route, "faults", valid, stats, fault)
                elif signature is not None:
                    self._shrink(route, "faults", valid, signature, choices, stats, fault)

            self.fuzzer.faults(route, stats, representatives, shrink)
            stats.fault_requests = self.fuzzer._sent - before

    def _explore(self, route: Route, check: str, variants: list[tuple[str, st.SearchStrategy[Request]]],
                 examples: int, stats: RouteStats, *,
                 representatives: Representatives | None = None) -> None:
        """``examples`` requests; request i comes from variant i (mod their number, in a seeded order).

        The valid check has one variant; the invalid check one per defect, so that a budget at least
        as large as the number of defects sends each defect at least once.
        """
        if examples <= 0 or not variants:
            return
        for label, strategy in variants:
            self._retry(route, check, strategy, stats, None, label)
        first_seen: dict[tuple[str, ...], tuple[int, tuple[Any, ...] | None]] = {}

        def one(index: int, request: Request, choices: tuple[Any, ...] | None) -> None:
            execution = self.fuzzer.execute(route, check, request, None, stats)
            if representatives is not None:
                remember(representatives, execution, choices)  # not after a failure (engine.ANSWERED aside)
            if not execution.observations:
                return
            for observation in execution.observations:
                if observation.signature not in self.failures and observation.signature not in first_seen:
                    first_seen[observation.signature] = (index, choices)
                self.fuzzer.observe(observation, route, check, execution, None, minimal=False)

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

    def _explore_with_engine(self, route: Route, check: str, strategy: st.SearchStrategy[Request],
                             examples: int, stats: RouteStats,
                             one: Callable[[Request, tuple[Any, ...] | None], None]) -> None:
        """The fallback: Hypothesis' own generation (it spends part of the budget on near-duplicates)."""
        def test(request: Request) -> None:
            try:
                one(request, _choices())
            except TargetStopped:
                return

        self._run(test, strategy, examples, self._key(route, check, None) + "|explore", [Phase.generate], None,
                  route, check, None, stats)

    def _retry(self, route: Route, check: str, strategy: st.SearchStrategy[Request], stats: RouteStats,
               fault: Fault | None, variant: str = "") -> None:
        """Replay the failures the database kept for this (route, check, fault); they stay while they fail."""
        key = self._key(route, check, fault, variant)
        if self._database is None or not list(self._database.fetch(_digest(key))):
            return

        def test(request: Request) -> None:
            try:
                execution = self.fuzzer.execute(route, check, request, fault, stats)
            except TargetStopped:
                return
            if execution.observations:
                primary = execution.observations[0]
                final = _is_final()
                for observation in execution.observations:
                    self.fuzzer.observe(observation, route, check, execution, fault,
                                        minimal=final and observation is primary, counted=False)
                raise self._error_for(primary.signature)(primary.message)

        self._run(test, strategy, 10, key, [Phase.reuse], self._database, route, check, fault, stats)

    def _shrink(self, route: Route, check: str, strategy: st.SearchStrategy[Request], signature: tuple[str, ...],
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

        def test(request: Request) -> None:
            try:
                execution = self.fuzzer.execute(route, check, request, fault, stats)
            except TargetStopped:
                return
            hit = next((o for o in execution.observations if o.signature == signature), None)
            if hit is None:
                return
            final = _is_final()
            choices = _choices() if final else None
            if choices is not None:
                minimal.append(choices)
            self.fuzzer.observe(hit, route, check, execution, fault, minimal=final, counted=False)
            raise self._error_for(signature)(hit.message)

        self._run(test, strategy, 10, key, [Phase.reuse, Phase.shrink], seeds, route, check, fault, stats)
        if minimal and self._database is not None and not self.config.readonly_database:
            self._database.save(_digest(self._key(route, check, fault, variant)), choices_to_bytes(minimal[-1]))

    def _run(self, test: Callable[[Request], None], strategy: st.SearchStrategy[Request], examples: int,
             key: str, phases: list[Phase], database: ExampleDatabase | None, route: Route, check: str,
             fault: Fault | None, stats: RouteStats) -> None:
        seed = int(hashlib.sha256(f"{self.config.seed}|{key}".encode()).hexdigest()[:16], 16)
        run = settings(
            max_examples=examples, deadline=None, database=database, phases=phases,
            suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=True,
            print_blob=False, derandomize=False,
        )(given(strategy)(test))
        # Hypothesis' own per-test settings, set on the test it wrapped (what @seed does) on purpose.
        run._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
        run._hypothesis_internal_database_key = _digest(key)  # type: ignore[attr-defined]
        _PerThreadSeconds.local.seconds = float(max(1, round(self.config.shrink_time)))
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every way a search ends is reported, never raised
            if self.fuzzer.stopped is None:
                self._search_ended(exc, route, check, fault, stats)
        finally:
            del _PerThreadSeconds.local.seconds
        if self.fuzzer.stopped is not None:
            raise TargetStopped(self.fuzzer.stopped)

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
            self.failed.setdefault(route.name, f"{where}: Hypothesis could not generate enough requests ({exc})")
            return
        unexpected = [e for e in leaves if not isinstance(e, _FindingError)]
        first = unexpected[0] if unexpected else exc
        if isinstance(first, Unsupported):
            self.failed.setdefault(route.name, f"{where}: cannot generate requests: {first}")
            return
        kind = "Hypothesis" if isinstance(first, HypothesisException) else "engine"
        self.failed.setdefault(route.name, f"{where}: {kind} error {type(first).__name__}: {first}")

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
        # Hypothesis' internal context, here without a test to wrap (this version only keeps it).
        with BuildContext(data, is_final=False, wrapped_test=None):  # type: ignore[arg-type]
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


