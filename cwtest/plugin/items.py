"""The items of one workflow: ``lint``, ``boot``, and per route ``fuzz[METHOD /path]`` and ``faults[...]``.

Collection reads the file (``routes.find_routes``) and boots nothing. Each item's failure
output is the report of what it checked (``repr_failure``): cwlint's findings as ``cwlint
--output-format full`` prints them, the harness's boot report, or the fuzzer's failures with
their minimal input, trimmed traceback, service calls, curl command and regression test.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, NoReturn

import pytest
from _pytest._code.code import ReprExceptionInfo, ReprFileLocation, ReprTracebackNative

from cwtest.harness.child import protocol
from cwtest.harness.pool import BootFailed, MockSpec, Pool, Settings, mock_spec
from cwtest.plugin.routes import StaticRoute, StaticRoutes, find_routes

FUZZ_CHECKS = ("fuzz", "invalid", "contract")
FAULT_CHECKS = ("faults", "contract")


class CwtestFailure(Exception):
    """A failed item; ``text`` is its report, ``headline`` its one-line summary."""

    def __init__(self, text: str, headline: str) -> None:
        super().__init__(headline)
        self.text = text
        self.headline = headline


def failure_repr(text: str, headline: str, path: str, lineno: int) -> ReprExceptionInfo:
    """The report as pytest shows it: the text as is, the headline for ``-r`` summaries and JUnit.

    Built from pytest's own serialisable pieces (a native traceback entry and a crash location),
    so that pytest-xdist carries the headline from the workers to the controller unchanged.
    """
    lines = [line + "\n" for line in text.splitlines()]
    return ReprExceptionInfo(reprtraceback=ReprTracebackNative(lines), reprcrash=ReprFileLocation(path, lineno, headline))


def item_seed(run_seed: int, nodeid: str) -> int:
    """Each item's seed: a hash of the run's seed and the node id (so order and workers do not matter)."""
    return int(hashlib.sha256(f"{run_seed}|{nodeid}".encode()).hexdigest()[:8], 16)


def shown_path(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class WorkflowFile(pytest.File):
    """One workflow script."""

    routes: StaticRoutes

    def collect(self) -> Any:
        self.routes = find_routes(self.path)
        yield LintItem.from_parent(self, name="lint")
        yield BootItem.from_parent(self, name="boot")
        for route in self.routes.routes:
            yield FuzzItem.from_parent(self, name=f"fuzz[{route.name}]", route=route)
            yield FaultsItem.from_parent(self, name=f"faults[{route.name}]", route=route)


class CwtestItem(pytest.Item):
    kind = ""

    def __init__(self, *, route: StaticRoute | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route = route
        self.add_marker(pytest.mark.cwtest)
        self.add_marker(getattr(pytest.mark, f"cwtest_{self.kind}"))

    # --- shared state ---------------------------------------------------------------------------

    @property
    def state(self) -> Any:
        from cwtest.plugin import STATE

        return self.config.stash[STATE]

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def pool(self) -> Pool:
        return self.state.pool

    @property
    def seed(self) -> int:
        return item_seed(self.settings.seed, self.nodeid)

    @property
    def workflow(self) -> str:
        return shown_path(self.path)

    @property
    def rooted(self) -> str:
        """The path relative to the rootdir: what ``cw_workflow(...)`` takes."""
        try:
            return self.path.resolve().relative_to(self.config.rootpath.resolve()).as_posix()
        except ValueError:
            return str(self.path)

    def mocks(self) -> tuple[MockSpec, ...]:
        """Outbound answers from the ``pytest_cwtest_mock_external`` hooks of conftest files."""
        specs: list[MockSpec] = []
        for answer in self.ihook.pytest_cwtest_mock_external(path=self.path, config=self.config):
            for url, response in (answer or {}).items():
                specs.append(mock_spec(url, response))
        return tuple(specs)

    # --- reporting ------------------------------------------------------------------------------

    #: The secret values of the booted workflow (``EnvPlan.secrets``), once the item has one.
    secrets: tuple[str, ...] = ()

    def hide(self, text: str) -> str:
        """``text`` through the run's redaction (``cwtest.redact``) and with paths a person can act on
        (``cwtest.results.display_text``): the item's output boundary."""
        from cwtest.redact import Redactor
        from cwtest.results import display_text

        return display_text(Redactor(self.secrets).text(text))

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, CwtestFailure):
            line = self.route.line if self.route is not None else 0
            return failure_repr(self.hide(excinfo.value.text), self.hide(excinfo.value.headline), str(self.path),
                                line)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.route.line - 1 if self.route is not None and self.route.line else None), self.nodeid

    def _record(self) -> None:
        self.user_properties.append(("cwtest.seed", str(self.seed)))
        if self.settings.layer is not None and self.kind != "lint":
            self.user_properties.append(("cwtest.sandbox", self.settings.layer.name))


class LintItem(CwtestItem):
    """cwlint on the file; fails with its findings as ``cwlint --output-format full`` prints them.

    Through cwlint's API (``cwlint.Linter``), with what ``cwlint --force-exclude PATH`` would
    use: the configuration found from the working directory, the files beside the workflow as
    its local modules, and the file skipped when the configuration excludes it.
    """

    kind = "lint"

    def runtest(self) -> None:
        from cwlint import Linter, reporters
        from cwlint.config import ConfigError, discover
        from cwlint.discovery import discover as discover_files
        from cwlint.modules import DirectoryIndex

        self._record()
        try:
            settings = discover(Path.cwd())  # as the CLI finds it: from the working directory
            if not discover_files([self.workflow], settings, force_exclude=True).files:
                return  # excluded by the project's configuration
            result = Linter(settings, DirectoryIndex()).check_file(self.workflow)
        except Exception as exc:  # noqa: BLE001 - cwlint's own failure (configuration, install) is the item's, as the CLI's exit 2 was
            message = str(exc) if isinstance(exc, ConfigError) else f"internal error: {type(exc).__name__}: {exc}"
            raise CwtestFailure(f"cwlint could not lint {self.workflow}:\n{message}", f"cwlint could not lint: {message[:200]}") from None
        if not result.diagnostics:
            return
        findings, summary = io.StringIO(), io.StringIO()
        reporters.write_full([result], findings, unsafe=False, color=False)
        reporters.write_summary([result], summary, fixing=False, diff=False, unsafe=False)
        headline = f"{summary.getvalue().splitlines()[0]} {reporters.concise_line(result, result.diagnostics[0], False)}"
        raise CwtestFailure((findings.getvalue() + summary.getvalue()).rstrip(), headline)


class BootItem(CwtestItem):
    """The workflow boots in its environment and sandbox, cleanly, with the routes collection found."""

    kind = "boot"

    def runtest(self) -> None:
        from cwtest.openapi import routes_of

        self._record()
        parent = self.parent
        assert isinstance(parent, WorkflowFile)
        static = parent.routes
        try:
            entry = self.pool.acquire(self.path, self.mocks())
        except BootFailed as exc:
            text = str(exc).replace(str(self.path.resolve()), self.workflow)
            first = next((line.strip() for line in text.splitlines()[1:] if line.strip()), text)
            raise CwtestFailure(f"cwtest boot: {text}", first) from None
        booted = entry.booted
        self.secrets = tuple(booted.env.secrets())
        self.user_properties.append(("cwtest.environment", str((booted.result.environment or {}).get("description"))))
        self.user_properties.append(("cwtest.boot_seconds", f"{booted.result.boot_seconds:.2f}"))
        problems: list[str] = []
        # What the workflow tried while it was imported and started: the events before "ready".
        for event in _boot_events(booted.process.events.of(protocol.Message)):
            where = f" at {event.location}" if event.location else ""
            problems.append(f"✗ [{event.kind}] {event.detail}{where}")
            problems += [f"      {line}" for line in event.stack[-8:]]
        try:
            document = entry.booted.schema
        except Exception as exc:  # noqa: BLE001 - the app serves no document: the fuzz items cannot run
            problems.append(f"✗ [no-openapi] {exc}")
            document = None
        if document is not None:
            real = [r.name for r in routes_of(document)]
            seen = static.names
            unseen = [name for name in real if name not in seen]
            absent = [name for name in seen if name not in real]
            if unseen:
                problems.append("✗ [routes] the app has routes collection did not find statically (they get no fuzz "
                                "or faults item): " + ", ".join(unseen))
                problems += [f"      {line}" for line in static.dynamic] or \
                    ["      declare routes with @app.<method>(\"/path\") on the module-level FastAPI object"]
            if absent:
                problems.append("✗ [routes] collection found routes the app does not serve: " + ", ".join(absent))
        layer_warning = self.settings.layer.warning if self.settings.layer is not None else None
        for warning in booted.result.warnings:
            if warning != layer_warning:  # that one is in the header already
                self.warn(pytest.PytestWarning(self.hide(f"cwtest {self.workflow}: {warning}")))
        if problems:
            head = f"cwtest boot: {self.workflow} booted in {booted.result.boot_seconds:.2f} s " \
                   f"({self.settings.layer.describe() if self.settings.layer else 'sandbox'})"
            problems = [line.replace(str(self.path.resolve()), self.workflow) for line in problems]
            first = next(p for p in problems if p.startswith("✗")).removeprefix("✗ ")
            raise CwtestFailure("\n".join([head, *problems]), first)


def _boot_events(events: list[protocol.Message]) -> list[protocol.Finding]:
    """The sandbox findings sent before ``ready`` (the last message of each place)."""
    out: dict[tuple[str, ...], protocol.Finding] = {}
    for event in events:
        if isinstance(event, protocol.Ready):
            break
        if isinstance(event, protocol.Finding):
            out[event.key] = event
    return list(out.values())


class _RouteItem(CwtestItem):
    checks: tuple[str, ...] = ()
    reported: tuple[str, ...] = ()

    def runtest(self) -> None:
        from cwtest.fuzz.engine import FuzzConfig, Fuzzer
        from cwtest.harness.pool import new_findings
        from cwtest.openapi import routes_of
        from cwtest.plugin.report import headline, render_item

        self._record()
        assert self.route is not None
        try:
            entry = self.pool.acquire(self.path, self.mocks())
        except BootFailed:
            _skip(f"not run: {self.workflow} did not boot (its boot item says why)")
        target = entry.booted
        self.secrets = tuple(target.env.secrets())
        target.runtime.reset()
        try:
            routes = {r.name: r for r in routes_of(target.schema)}
        except Exception as exc:  # noqa: BLE001 - no usable document: inconclusive, not a failure
            _skip(self.hide(f"inconclusive: the app serves no usable OpenAPI document ({exc})"))
        if self.route.name not in routes:
            _skip(f"inconclusive: the app has no route {self.route.name} (its boot item says so)")
        settings = self.settings
        config = FuzzConfig(examples=settings.examples, seed=self.seed, shrink_time=settings.shrink_time,
                            cache_dir=settings.cache_dir, readonly_database=settings.readonly_database,
                            checks=self.checks, routes=(self.route.name,))
        before = target.counts()
        report = Fuzzer(target, config, workflow=str(self.path), shown=self.rooted).run()
        sandbox = new_findings(target, before)
        findings = [f for f in report.findings if f.check in self.reported or f.kind in ("timeout", "crash")]
        if findings and settings.lint_fix:
            findings = self._after_fixes(findings, config)
        [result] = report.routes
        self.user_properties.append(("cwtest.requests", str(report.requests)))
        if findings or sandbox:
            text = render_item(kind=self.kind, route=self.route.name, workflow=self.workflow, report=report,
                               findings=findings, sandbox=sandbox, seed=self.seed, examples=settings.examples,
                               nodeid=self.nodeid, rerun_seed=settings.seed, stderr_tail=_stderr(entry.booted))
            raise CwtestFailure(text, headline(findings, sandbox))
        if result.inconclusive is not None:
            hint = (" (in pytest: answer it with the pytest_cwtest_mock_external hook in conftest.py, or record a "
                    "cassette)" if "--mock-external" in result.inconclusive.unblock else "")
            _skip(self.hide(f"inconclusive: {result.inconclusive.render()}{hint}"))

    def _after_fixes(self, findings: list[Any], config: Any) -> list[Any]:
        """The item's checks again on the copy with cwlint's safe fixes (``cwtest.harness.lint_fix``),
        when the item found something and cwlint has a safe fix: what the first failure hid is reported
        "after cwlint's safe fixes", what the fixes remove names the cwlint code that fixes it."""
        from cwtest.fuzz.engine import Fuzzer
        from cwtest.harness.lint_fix import merge, remap
        from cwtest.results import WorkflowResult

        try:
            fixed = self.pool.acquire_fixed(self.path, self.mocks())
        except BootFailed:
            return findings  # the copy did not boot: the original's findings stand
        if fixed is None:
            return findings
        entry, copy = fixed
        target = entry.booted
        target.runtime.reset()
        report = Fuzzer(target, config, workflow=str(self.path), shown=self.rooted).run()
        seen = [f for f in report.findings if f.check in self.reported or f.kind in ("timeout", "crash")]
        original = WorkflowResult(str(self.path), booted=True, findings=list(findings))
        after = remap(WorkflowResult(str(self.path), booted=True, findings=seen), str(copy.scratch),
                      str(self.path.resolve()), copy)
        merge(original, after, copy)
        self.user_properties.append(("cwtest.lint_fix", ",".join(copy.codes)))
        return original.findings


def _stderr(booted: Any) -> str:
    tail = getattr(booted.process, "stderr", None)
    try:
        return tail.text(4000) if tail is not None else ""
    except Exception:  # noqa: BLE001 - the output reader is gone with the process
        return ""


def _skip(reason: str) -> NoReturn:
    """Skip the item, reported at the workflow's line rather than at this module's."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


class FuzzItem(_RouteItem):
    """Generated valid requests (no 5xx, a 2xx body fits the response model), invalid ones (a 4xx)."""

    kind = "fuzz"
    checks = FUZZ_CHECKS
    reported = ("smoke", "fuzz", "invalid")


class FaultsItem(_RouteItem):
    """Each library service the route calls fails in turn; no exception but the client's own may escape."""

    kind = "faults"
    checks = FAULT_CHECKS
    reported = ("faults",)
