"""``cwtest run``'s requests: the smoke call of every route, then the search, as findings.

Once the workflow serves, ``Harness`` hands it to the engine (``cwtest.fuzz.engine``): the booted
workflow is the engine's target. Every route's minimal request (the smoke call), then, with ``examples > 0``,
generated valid and invalid requests, injected service faults and the catalog check. Each failure
is shrunk to a minimal input, deduplicated by signature across the phases, and comes back as a
``Finding`` whose ``repro`` holds what reproduces it: the minimal input, the fault, the service
calls that request made, a ``curl`` command (for ``cwtest boot FILE --port 8000``) and a pytest
regression test for the plugin's ``cw_workflow`` fixture (sandboxed like this run, so the
workflow's dependencies need not be importable by the test's interpreter).

A hang or a death ends the run of that workflow (the process cannot answer any more): it is
reported as ``timeout`` or ``crash`` with the input that caused it, and the routes not reached
are inconclusive. An app without a usable OpenAPI document makes the workflow inconclusive.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from cwtest.results import Finding, Inconclusive

if TYPE_CHECKING:
    from cwtest.fuzz.engine import FuzzConfig
    from cwtest.harness.workflow import BootedWorkflow


def exercise(booted: BootedWorkflow, config: FuzzConfig | None) -> None:
    """Run the smoke calls (and the search) on ``booted``; record routes and findings on its result."""
    from dataclasses import replace

    from cwtest.examples import examples_dir, load_payloads
    from cwtest.fuzz.engine import FuzzConfig, Fuzzer
    from cwtest.workflow_env import project_settings

    result = booted.result
    config = config or FuzzConfig(examples=0, seed=booted.seed)
    settings = project_settings(booted.path)
    root = Path(settings["_root"]) if "_root" in settings else None
    try:
        payloads = load_payloads(examples_dir(booted.path, settings, root))
    except ValueError as exc:
        result.warnings.append(f"example payloads not used: {exc}")
        payloads = {}
    if payloads:
        config = replace(config, payloads=payloads)
    fuzzer = Fuzzer(booted, config, workflow=str(booted.path), shown=_shown_path(booted.path))
    try:
        _ = booted.schema  # fetched now, so that a hang or a bad document is reported here
    except httpx.TimeoutException:
        booted.timeout_finding("while serving /openapi.json")
        return
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:
        result.inconclusive = Inconclusive(
            f"the app serves no usable OpenAPI document ({exc}); no request was made",
            "serve the FastAPI app's default /openapi.json (docs_url and openapi_url not None)")
        return
    report = fuzzer.run()
    result.routes = report.routes
    result.findings.extend(report.findings)
    if "contract" in config.checks:
        booted.checked_calls = fuzzer.calls_seen
    if config.searches:
        result.fuzz = {
            "seed": config.seed, "examples": config.examples, "requests": report.requests,
            "seconds": round(report.seconds, 3), "examples_per_second": round(report.examples_per_second, 1),
            "summary": report.summary_lines(),
        }


def write_regression_tests(findings: list[Finding], directory: Path, secrets: list[str] | tuple[str, ...] = ()
                           ) -> list[Path]:
    """One ``test_<name>.py`` per finding with a regression test; returns the files written.

    Each test names its workflow relative to the test's own folder (``cw_workflow`` looks there
    and in pytest's root), so the tests run from any directory. Each goes through the run's
    redaction (``cwtest.redact``; ``secrets``: the values the run knows) like every other output.
    """
    from cwtest.redact import Redactor, redact_fields

    redactor = Redactor(secrets)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for finding in findings:
        finding = redact_fields(finding, redactor)
        repro = finding.repro
        if repro is None or not repro.regression_test:
            continue
        here = os.path.relpath(Path(repro.workflow).resolve(), directory.resolve())
        text = repro.regression_test.replace(f"cw_workflow({repro.workflow!r})", f"cw_workflow({here!r})")
        path = directory / f"{repro.test_name}.py"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _shown_path(path: Path) -> str:
    """The workflow's path as the regression test names it: relative to the current directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
