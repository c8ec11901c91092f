"""What each MCP tool does, over the tools' own APIs; :mod:`cwkit.mcp_server` only serves these.

- ``lint``: :class:`cwlint.Linter` through the language server's engines
  (:mod:`cwlint.lsp.engines`: the folder's ``[tool.cwlint]``, one warm linter per
  configuration), findings as ``cwlint --output-format json`` prints them
  (:func:`cwlint.reporters.json_records`: messages and edits redacted).
- ``fix``: ``Linter.fix``; the diff is ``cwlint --diff``'s (:func:`cwlint.runner.unified_diff`),
  the write is ``cwlint --fix``'s (:func:`cwlint.source.write_atomic`, encoding and BOM kept).
- ``explain_rule``: the page ``cwlint rule CODE`` prints (:meth:`cwlint.rule.Rule.page`).
- ``list_services``: the bundled service catalog (:func:`cwlint.catalog.default_catalog`).
- ``test_workflow``: cwtest's harness (``Harness(...).run([path])``), with a small example
  budget, read through its public results (``WorkflowResult``, ``Finding.as_json``).

Every text that leaves goes through :func:`cwlint.secrets.redact`, with the secrets cwlint
found in the file added, as the CLIs do. A problem the caller can act on (a missing path, a
file that does not parse, an invalid configuration, a workflow that does not boot, the time
budget spent) raises :class:`ToolProblem`, one line that the server returns as a tool error.
"""

from __future__ import annotations

import difflib
import os
import threading
import time
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict  # pydantic (the MCP output schemas) needs it below Python 3.12

from cwlint.diagnostics import Applicability, Diagnostic
from cwlint.lsp.engines import Engine, Engines
from cwlint.reporters import json_records
from cwlint.results import FileResult
from cwlint.runner import unified_diff
from cwlint.secrets import redact
from cwlint.source import FileProblem, read_bytes, write_atomic

#: Codes of a file that cannot be fixed or tested as it is: it does not parse, or cannot be read.
UNUSABLE = ("CW901", "CW902", "CW903", "CW904", "CW905", "CW906")


class ToolProblem(Exception):
    """A problem for the caller to act on, in one line (the MCP server's tool error)."""


# --- output shapes (the MCP server publishes them as each tool's output schema) ------------------


class Location(TypedDict):
    row: int
    column: int


class FixEdit(TypedDict):
    content: str
    location: Location
    end_location: Location


class FixInfo(TypedDict):
    applicability: str
    message: str
    edits: list[FixEdit]


class LintFinding(TypedDict):
    """One finding, as ``cwlint --output-format json`` prints it (1-based rows, code-point columns)."""

    code: str
    name: str
    message: str
    severity: str
    filename: str
    location: Location
    end_location: Location
    noqa_row: int
    url: str
    fix: FixInfo | None


class LintResult(TypedDict):
    path: str
    findings: list[LintFinding]
    #: Findings whose fix ``fix`` applies (``unsafe``: with ``unsafe: true`` only).
    fixable: int
    fixable_unsafe: int
    #: The configuration file the settings came from; None: the defaults.
    settings: str | None


class AppliedFix(TypedDict):
    code: str
    message: str


class FixResult(TypedDict):
    path: str
    changed: bool
    #: The text after fixes (None when nothing changed), secrets cwlint found masked.
    fixed_text: str | None
    #: True when ``fixed_text`` had secrets masked: write it with ``write: true``, not by hand.
    secrets_masked: bool
    diff: str
    applied: list[AppliedFix]
    remaining: list[LintFinding]
    written: bool


class RuleDocs(TypedDict):
    code: str
    name: str
    summary: str
    #: "safe", "unsafe", "display" or None (no fix).
    fix: str | None
    #: "all" files, or "workflow" files only.
    scope: str
    page: str


class ServiceInput(TypedDict):
    type: str
    required: bool
    required_when: dict[str, Any] | None
    allowed: list[Any] | None
    description: str
    items: dict[str, Any] | None
    properties: dict[str, Any] | None
    confidence: str | None


class ServiceVariant(TypedDict):
    name: str
    #: The path after ``/run/{service_id}/`` (``""``: the service's root).
    path: str
    #: True: when inputs are sent; False: when none are; None: either.
    body: bool | None
    description: str
    #: ``library``: CodeWords' ``inputs`` dict; ``vendor``: the vendor's own wire format.
    format: str
    #: Keys not listed in ``inputs`` are errors.
    closed: bool
    confidence: str
    inputs: dict[str, ServiceInput]
    #: Old key -> the key to write instead.
    renamed: dict[str, str]
    #: The env var the header must declare for an input's value (``{VALUE}`` is the value, upper-cased).
    env_from_input: str | None


class Service(TypedDict):
    id: str
    summary: str
    confidence: str
    model_prefixes: list[str] | None
    variants: list[ServiceVariant]


class ServicesResult(TypedDict):
    services: list[Service]
    #: How confident each fact is: documented and source facts are firm; example, historical, inferred are not.
    confidence: str


class RouteVerdict(TypedDict):
    route: str
    verdict: str
    #: The smoke call's status (None: not sent, or no answer).
    status: int | None


class TestResult(TypedDict):
    path: str
    #: "passed", "finding" or "inconclusive".
    verdict: str
    #: Each finding as cwtest's JSON report has it (kind, message, location, route, check, count,
    #: exception, repro: the minimal input, a curl command and a pytest regression test).
    findings: list[dict[str, Any]]
    #: Why routes (or the workflow) could not be exercised, each with what would unblock it.
    inconclusive: list[str]
    routes: list[RouteVerdict]
    sandbox: str
    warnings: list[str]
    seconds: float
    stderr_tail: str


# --- the workspace --------------------------------------------------------------------------------


class Workspace:
    """Where relative paths start (the server's working directory), and the warm lint engines."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = os.path.abspath(root if root is not None else os.getcwd())
        self.engines = Engines()

    def resolve(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.root, os.path.expanduser(path)))

    def engine(self, path: str) -> Engine:
        engine = self.engines.for_path(path)
        if engine.error:
            raise ToolProblem(f"invalid configuration: {engine.error}")
        return engine

    def existing_file(self, path: str) -> str:
        resolved = self.resolve(path)
        if not os.path.exists(resolved):
            raise ToolProblem(f"{path}: no such file (paths are relative to {self.root})")
        if os.path.isdir(resolved):
            raise ToolProblem(f"{path}: is a directory; give one workflow file")
        return resolved


def _one_of(path: str | None, source: str | None) -> None:
    if (path is None) == (source is None):
        raise ToolProblem("give either `path` (a file) or `source` (the text, with `filename`), not both" if path is not None
                          else "give `path` (a file) or `source` (the text, with `filename`)")


def _read(path: str, engine: Engine) -> bytes:
    try:
        return read_bytes(path, engine.linter.settings.max_file_size)
    except FileProblem as problem:
        raise ToolProblem(f"{path}: {problem.message}") from None


def _counts(result: FileResult) -> tuple[int, int]:
    safe = sum(1 for d in result.diagnostics if d.fix and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for d in result.diagnostics if d.fix and d.fix.applicability is Applicability.UNSAFE)
    return safe, unsafe


def _unusable(result: FileResult) -> Diagnostic | None:
    return next((d for d in result.diagnostics if d.code in UNUSABLE), None)


def _where(d: Diagnostic) -> str:
    return f"{d.code} at {d.start.line}:{d.start.column}: {redact(d.message, d.secrets)}"


# --- lint, fix --------------------------------------------------------------------------------------


def lint(ws: Workspace, path: str | None = None, source: str | None = None, filename: str = "workflow.py") -> LintResult:
    _one_of(path, source)
    if path is not None:
        target = ws.existing_file(path)
        engine = ws.engine(target)
        result = engine.linter.check_file(target)
    else:
        assert source is not None
        target = ws.resolve(filename)
        engine = ws.engine(target)
        result = engine.check(source, target)
    safe, unsafe = _counts(result)
    return LintResult(
        path=target, findings=json_records([result]),  # type: ignore[typeddict-item]  # json_records' dicts have this shape
        fixable=safe, fixable_unsafe=unsafe, settings=engine.source,
    )


def fix(ws: Workspace, path: str | None = None, source: str | None = None, filename: str = "workflow.py",
        unsafe: bool = False, write: bool = False) -> FixResult:
    _one_of(path, source)
    if write and path is None:
        raise ToolProblem("`write: true` needs a `path`: there is no file to write for `source`")
    text: str | bytes
    if path is not None:
        target = ws.existing_file(path)
        engine = ws.engine(target)
        text = _read(target, engine)
    else:
        assert source is not None
        target = ws.resolve(filename)
        engine = ws.engine(target)
        text = source
    before = engine.check(text, target) if isinstance(text, str) else engine.linter.check(text, target)
    broken = _unusable(before)
    if broken is not None:
        raise ToolProblem(f"{target} cannot be fixed as it is ({_where(broken)}); nothing was changed")
    result = engine.fix(text, target, unsafe=unsafe) if isinstance(text, str) else engine.linter.fix(text, target, unsafe=unsafe)
    failed = next((d for d in result.diagnostics if d.code == "CW907"), None)
    if failed is not None:
        raise ToolProblem(f"{target}: {redact(failed.message)}")
    assert before.source is not None and result.source is not None
    original = before.source.text
    secrets = tuple(value for d in [*before.diagnostics, *result.diagnostics] for value in d.secrets)
    diff = unified_diff(target, original, result.fixed_text, [*before.diagnostics, *result.diagnostics]) if result.fixed_text is not None else ""
    shown = redact(result.fixed_text, secrets) if result.fixed_text is not None else None
    written = False
    if write and result.fixed_text is not None:
        try:
            write_atomic(target, result.source.encode(result.fixed_text))
        except OSError as exc:
            raise ToolProblem(f"{target}: cannot write: {exc.strerror or exc}") from None
        written = True
    return FixResult(
        path=target, changed=result.fixed_text is not None, fixed_text=shown,
        secrets_masked=shown is not None and shown != result.fixed_text, diff=diff,
        applied=[AppliedFix(code=code, message=redact(message, secrets)) for code, message in result.applied],
        remaining=json_records([result]), written=written,  # type: ignore[typeddict-item]
    )


# --- rules, services --------------------------------------------------------------------------------


def explain_rule(code: str) -> RuleDocs:
    from cwlint.rules import all_rules, rule_by_code

    rule = rule_by_code(code.strip())
    if rule is None:
        codes = [r.code for r in all_rules()]
        close = difflib.get_close_matches(code.strip().upper(), codes, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(codes)})"
        raise ToolProblem(f"unknown rule {code!r}{hint}")
    return RuleDocs(
        code=rule.code, name=rule.name, summary=rule.summary(),
        fix=rule.fix_availability.value if rule.fix_availability else None, scope=rule.scope, page=rule.page(),
    )


def _input(spec: Any) -> ServiceInput:
    def nested(value: Any) -> dict[str, Any] | None:
        return dict(_input(value)) if value is not None else None

    return ServiceInput(
        type=spec.type, required=bool(spec.required), required_when=dict(spec.required_when) if spec.required_when else None,
        allowed=list(spec.allowed) if spec.allowed is not None else None, description=spec.description or "",
        items=nested(spec.items),
        properties={key: dict(_input(value)) for key, value in spec.properties.items()} if spec.properties else None,
        confidence=spec.confidence,
    )


def list_services(service: str | None = None) -> ServicesResult:
    from cwlint.catalog import default_catalog

    catalog = default_catalog()
    ids = catalog.ids
    if service is not None:
        if service not in catalog:
            close = difflib.get_close_matches(service, ids, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(ids)})"
            raise ToolProblem(f"unknown service {service!r}{hint}")
        ids = [service]
    services = []
    for service_id in ids:
        entry = catalog.services[service_id]
        variants = [
            ServiceVariant(
                name=v.name, path=v.path, body=v.body, description=v.description or "", format=v.format,
                closed=bool(v.closed), confidence=v.confidence, inputs={k: _input(s) for k, s in v.inputs.items()},
                renamed={old: rename.to for old, rename in v.renamed.items()},
                env_from_input=f"{v.env_from_input.input}: {v.env_from_input.template}" if v.env_from_input else None,
            )
            for v in entry.variants
        ]
        services.append(Service(
            id=entry.id, summary=entry.summary, confidence=entry.confidence,
            model_prefixes=list(entry.models.prefixes) if entry.models is not None else None, variants=variants,
        ))
    return ServicesResult(
        services=services,
        confidence="documented and source facts are firm; example, historical and inferred ones may be out of date",
    )


# --- test ---------------------------------------------------------------------------------------------


def _redacted(value: Any, known: tuple[str, ...]) -> Any:
    """``value`` (JSON-like) with every string passed through :func:`redact`."""
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, dict):
        return {key: _redacted(item, known) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item, known) for item in value]
    return value


def test_workflow(ws: Workspace, path: str, examples: int = 10, timeout: float = 180.0) -> TestResult:
    """Boot ``path`` in cwtest's sandbox, call every route, search with ``examples`` requests per route.

    ``timeout`` bounds the whole run; a request or the boot gets at most 30 s of it.
    """
    target = ws.existing_file(path)
    engine = ws.engine(target)
    checked = engine.linter.check(_read(target, engine), target)
    known = tuple(value for d in checked.diagnostics for value in d.secrets)
    broken = _unusable(checked)
    if broken is not None:
        raise ToolProblem(f"{target} cannot be run as it is ({_where(broken)})")

    from cwtest.fuzz.engine import FuzzConfig
    from cwtest.harness.env import default_cache_dir
    from cwtest.harness.runner import Harness

    fuzz = FuzzConfig(examples=examples, shrink_time=min(5.0, timeout / 10), cache_dir=default_cache_dir())
    try:
        harness = Harness(timeout=min(30.0, timeout), fuzz=fuzz)
    except Exception as exc:  # noqa: BLE001 - SandboxUnavailable and a broken host read the same to the caller
        raise ToolProblem(f"cwtest cannot start a sandbox here: {redact(str(exc))}") from None
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = harness.run([Path(target)])
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, name="cwkit-test-workflow", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise ToolProblem(
            f"{target}: no result within {timeout:g} s (building its environment or running it took longer); "
            "the run goes on in the background until its own limits stop it. Retry with a larger `timeout` or "
            "fewer `examples`"
        )
    if "error" in outcome:
        failure = outcome["error"]
        raise ToolProblem(f"cwtest failed on {target}: {type(failure).__name__}: {redact(str(failure), known)}")
    from cwtest.redact import redact_report

    # cwtest's one redaction step (the values it injected, credential-named fields, known formats),
    # as its reporters take it; cwlint's redaction with the lint's secrets follows below
    result = redact_report(outcome["report"]).results[0]
    if not result.booted:
        reasons = [f"[{f.kind}] {f.message}" + (f" ({f.location})" if f.location else "") for f in result.findings]
        if result.harness_error:
            reasons.append(f"harness error: {result.harness_error}")
        tail = result.stderr_tail.strip()[-800:]
        message = f"{target} did not boot: " + ("; ".join(reasons) or "no reason recorded")
        if tail:
            message += f"\nstderr (last lines):\n{tail}"
        raise ToolProblem(redact(message, known))
    warnings = list(result.warnings)
    layer_warning = getattr(harness.layer, "warning", None)
    if layer_warning:
        warnings.insert(0, str(layer_warning))
    routes = [RouteVerdict(route=r.name, verdict=result.route_verdict(r).value, status=r.status) for r in result.routes]
    return _redacted(TestResult(
        path=target, verdict=result.verdict.value, findings=[f.as_json() for f in result.findings],
        inconclusive=result.inconclusive_reasons(), routes=routes, sandbox=result.sandbox, warnings=warnings,
        seconds=round(time.monotonic() - started, 3), stderr_tail=result.stderr_tail[-2000:],
    ), known)
