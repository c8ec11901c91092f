"""``cwtest run`` and ``cwtest boot``: ``run_main(argv)`` and ``boot_main(argv)`` return the exit code.

Exit codes of ``run``: 0 no finding, 1 findings (and, with ``--strict``, inconclusive workflows), 2
usage or harness error (a sandbox that ``--sandbox strict`` cannot have, a file that does not exist,
a bug in the harness).
``cwtest run`` searches every route after the smoke calls unless ``--examples 0``
(``cwtest.harness.fuzzing``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cwtest.harness.runner import Harness
from cwtest.harness.sandbox import LAYERS, MODES, Limits, SandboxUnavailable
from cwtest.results import RunReport, WorkflowResult, printable

_SIZE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".tox"}


def escape(text: object) -> str:
    """Markup escaped and control characters shown (a file name or a workflow's text is never obeyed)."""
    return _markup_escape(printable(text))


def parse_size(text: str) -> int:
    """``2G``, ``512M``, ``1.5GiB``, ``1048576`` -> bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 512M or 2G)")
    unit = (match.group("unit") or "").lower().rstrip("b").rstrip("i")
    return int(float(match.group("n")) * _UNITS[unit])


def _bounded(convert: Callable[[str], float], noun: str, *, zero: bool) -> Callable[[str], Any]:
    """An argparse type: ``convert(text)``, never negative, and 0 only when ``zero``."""
    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError("must be 0 or more" if zero else "must be positive")
        return value
    return parse


_positive = _bounded(float, "a number", zero=False)
_count = _bounded(int, "a whole number", zero=True)
_seconds = _bounded(float, "a number of seconds", zero=True)


def _checks(text: str) -> tuple[str, ...]:
    known = ("fuzz", "invalid", "faults", "contract", "malformed")
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown check {', '.join(unknown) or text!r} (known: {', '.join(known)})")
    return names


_STATUS = re.compile(r"^(?P<status>[1-5]\d\d)(?: (?P<rest>.*))?$", re.DOTALL)


def _mock(text: str) -> tuple[str, Any]:
    """``PREFIX=[STATUS ]ANSWER`` -> (prefix, an ``ExternalResponse``)."""
    from cwtest.outbound import ExternalResponse, external_response

    prefix, sep, answer = text.partition("=")
    if not sep or "://" not in prefix:
        raise argparse.ArgumentTypeError(f"expected PREFIX=ANSWER with a URL prefix, e.g. "
                                         f"https://api.example.com/=@answer.json, not {text!r}")
    status = 200
    match = _STATUS.match(answer)
    if match:
        status, answer = int(match.group("status")), match.group("rest") or ""
    body = _mock_body(answer)
    response = external_response(body) if not isinstance(body, ExternalResponse) else body
    from dataclasses import replace

    return prefix, replace(response, status=status)


def _mock_header(text: str) -> tuple[str, str, str]:
    """``PREFIX=Name: value`` -> (prefix, name, value)."""
    prefix, sep, header = text.partition("=")
    name, colon, value = header.partition(":")
    if not sep or "://" not in prefix or not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected PREFIX=Name: value, e.g. 'https://api.example.com/=Retry-After: "
                                         f"5', not {text!r}")
    return prefix, name.strip(), value.strip()


def _mock_body(answer: str) -> Any:
    if answer.startswith("@"):
        import mimetypes

        from cwtest.harness.runner import ExternalResponse

        path = Path(answer[1:])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror or exc}") from None
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return ExternalResponse(content=content, headers={"content-type": kind})
    if answer == "":
        return ExternalResponse(content=b"")
    try:
        return json.loads(answer)
    except ValueError:
        return answer


def _mocks(harness: Harness, args: argparse.Namespace) -> None:
    from dataclasses import replace

    for prefix, answer in args.mock_external:
        headers = {name: value for p, name, value in args.mock_header if p == prefix}
        harness.mock_external(prefix, replace(answer, headers={**answer.headers, **headers}) if headers else answer)


def _env_values(args: argparse.Namespace, err: Console) -> dict[str, str] | None:
    """``--env-file`` files (python-dotenv), then ``--env NAME=VALUE``; None after an error (printed)."""
    from cwtest.workflow_env import read_env_file

    values: dict[str, str] = {}
    for path in args.env_file:
        try:
            values.update(read_env_file(path))
        except OSError as exc:
            err.print(f"[red]error[/]: --env-file {escape(str(path))}: {escape(str(exc))}")
            return None
    for item in args.env:
        if item in ("uv", "current"):
            continue
        values[item[0]] = item[1]
    return values


def _env_option(text: str) -> Any:
    if text in ("uv", "current"):  # the environment builder's old spelling (--environment)
        return text
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return (name, value)


def _builder(args: argparse.Namespace) -> str:
    return next((e for e in reversed(args.env) if e in ("uv", "current")), args.environment)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", choices=MODES, default="auto",
                        help="auto: strongest layer available; strict: fail unless bubblewrap or Landlock "
                             "works; off: audit hook, rlimits and seccomp only (default: auto)")
    parser.add_argument("--layer", choices=LAYERS, default=None,
                        help="force one layer instead of probing (mostly for testing the fallbacks)")
    parser.add_argument("--environment", choices=("uv", "current"), default="uv",
                        help="uv: an environment per header, built with uv and cached (default); current: this "
                             "interpreter, when it satisfies the header's pins (--env uv|current still works)")
    parser.add_argument("--env", type=_env_option, action="append", default=[], metavar="NAME=VALUE",
                        help="a value for one of the workflow's variables (repeatable; beats --env-file and "
                             "[tool.cwtest] env); variables nobody sets get placeholders that fit their names")
    parser.add_argument("--env-file", type=Path, action="append", default=[], metavar="PATH",
                        help="a dotenv file of values for the workflow's variables (repeatable)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where environments are cached (default: $CWTEST_CACHE_DIR or ~/.cache/cwtest)")
    parser.add_argument("--memory", type=parse_size, default=Limits.memory,
                        help="memory limit of the workflow's process: a memory cgroup where the host allows one, "
                             "else RLIMIT_AS (default: 2G)")
    parser.add_argument("--cpu", type=int, default=Limits.cpu, help="CPU-time limit in seconds (default: 60)")
    parser.add_argument("--mock-external", type=_mock, action="append", default=[], metavar="PREFIX=[STATUS ]ANSWER",
                        help="answer the workflow's outbound requests (httpx, requests, urllib, aiohttp) whose URL "
                             "starts with PREFIX: an optional status (e.g. '503 '), then JSON (a JSON body), @FILE "
                             "(the file's bytes, content type from its name) or any other text; repeatable, the "
                             "longest prefix wins (default: a cassette's answer, else refused as with no network)")
    parser.add_argument("--mock-header", type=_mock_header, action="append", default=[], metavar="PREFIX=NAME: VALUE",
                        help="a header of the --mock-external answer for PREFIX (repeatable)")
    parser.add_argument("--allow-direct-references", action="store_true",
                        help="install dependencies named by URL or file (name @ https://..., name @ file:///...); "
                             "refused by default, with a refused-dependency finding")
    parser.add_argument("--allow-builds", action="store_true",
                        help="build dependencies from source distributions (their build backends run in the build "
                             "sandbox, with a throwaway uv cache); by default only wheels are installed, and a "
                             "dependency without one makes the workflow inconclusive")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the simulator and of the search: the same seed reproduces a run (default: 0)")


class _EnvOptions(TypedDict):
    """The environment builder's options every command passes to ``Harness`` (by name)."""

    allow_direct_references: bool
    allow_builds: bool


def _env_options(args: argparse.Namespace) -> _EnvOptions:
    return {"allow_direct_references": args.allow_direct_references, "allow_builds": args.allow_builds}


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(memory=args.memory, cpu=args.cpu)


def discover(paths: Sequence[Path], skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    """Files as given; directories searched for ``*.py`` files that carry a PEP 723 header.

    Python files of a directory that are not collected go to ``skipped`` with the reason (no PEP
    723 header), so that the summary counts them instead of dropping them silently.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")
                                 and d not in ("cassettes", "examples"))
                for name in sorted(files):
                    candidate = Path(root) / name
                    if not name.endswith(".py"):
                        continue
                    if "# /// script" in candidate.read_text(errors="replace"):
                        found.append(candidate)
                    elif skipped is not None:
                        skipped.append((str(candidate), "no PEP 723 header"))
        else:
            found.append(path)
    return found


def _shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N), 1 <= K <= N."""
    index, sep, count = text.partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        k = n = 0
    if not sep or n < 1 or not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, e.g. 2/4, not {text!r}")
    return k, n


def shard_key(path: Path) -> str:
    """What a workflow's shard is computed from: its path relative to the working directory (POSIX),
    so that every runner of one CI run, each in its own checkout, computes the same split."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def shard_of(path: Path, count: int) -> int:
    """The shard (1..count) of a workflow: a hash of its path, so that it never moves when others are
    added, renamed or removed (a shard's cached environments stay the ones it needs)."""
    digest = hashlib.sha256(shard_key(path).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(workflows: Sequence[Path], index: int, count: int) -> list[Path]:
    """The workflows of shard ``index`` of ``count``: each workflow is in exactly one shard."""
    return [path for path in workflows if shard_of(path, count) == index]


def _skipped_text(skipped: list[tuple[str, str]]) -> str:
    reasons: dict[str, int] = {}
    for _path, reason in skipped:
        reasons[reason] = reasons.get(reason, 0) + 1
    return "; ".join(f"{n} file(s) skipped: {reason}" for reason, n in reasons.items())


def run_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cwtest run", description="Boot each workflow in its own environment and sandbox against the "
                                       "simulated runtime, call every route once, fuzz every route with "
                                       "generated requests and service faults, and report what broke with a "
                                       "minimal reproducing input.")
    parser.add_argument("paths", nargs="+", type=Path, help="workflow files, or directories to search")
    _common(parser)
    parser.add_argument("--timeout", type=_positive, default=60.0,
                        help="wall-clock seconds for the boot and smoke calls of a workflow, and for each "
                             "generated request: a workflow that does not answer within it hangs (default: 60)")
    parser.add_argument("--examples", type=_count, default=50,
                        help="generated valid requests per route, and as many invalid ones; 0: smoke calls only "
                             "(default: 50)")
    parser.add_argument("--block-threshold", type=_seconds, default=0.1, metavar="S",
                        help="seconds one callback of a request may hold the workflow's event loop before it is a "
                             "blocking-call finding; 0: no watchdog (default: 0.1)")
    parser.add_argument("--shrink-time", type=_seconds, default=10.0,
                        help="seconds of shrinking per failure; 0 reports failures as found (default: 10)")
    parser.add_argument("--checks", type=_checks, default=None,
                        help="comma-separated search checks: fuzz, invalid, faults, contract (default: all)")
    parser.add_argument("--write-tests", type=Path, default=None, metavar="DIR",
                        help="write one pytest regression test per failure found by the search into DIR")
    parser.add_argument("--max-output", type=parse_size, default=10 << 20,
                        help="stdout+stderr beyond this is a finding (default: 10M)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="workflows run in parallel (default: 1)")
    parser.add_argument("--output-format", choices=("full", "json", "junit"), default="full")
    parser.add_argument("-o", "--output", type=Path, default=None, help="write the report here instead of stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-cassettes", action="store_true",
                        help="do not replay the cassettes beside the workflows (cassettes/<name>.yaml)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a workflow is inconclusive (cwtest could not exercise it), not only on "
                             "findings")
    parser.add_argument("--lint-fix", action="store_true",
                        help="also boot a scratch copy with cwlint's safe fixes applied (your file is never "
                             "written), to reach the bugs a data= or action key hides; findings seen only there "
                             "say so")
    parser.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                        help="run only shard K of N (one CI runner each): a stable split by each workflow's path "
                             "relative to the working directory (a hash), so a workflow stays in its shard as "
                             "others come and go")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    err = Console(stderr=True, emoji=False, highlight=False)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        err.print(f"[red]error[/]: no such file or directory: {escape(', '.join(map(str, missing)))}")
        return 2
    skipped: list[tuple[str, str]] = []
    workflows = discover(args.paths, skipped)
    if not workflows:
        err.print("[red]error[/]: no workflow found (a workflow is a .py file with a '# /// script' header)"
                  + (f"; {_skipped_text(skipped)}" if skipped else ""))
        return 2
    env_values = _env_values(args, err)
    if env_values is None:
        return 2
    if args.shard is not None:
        index, count = args.shard
        found = len(workflows)
        workflows = select_shard(workflows, index, count)
        # An empty shard (more shards than workflows) still writes its empty report, for the merge.
        err.print(f"cwtest: shard {index}/{count}: {len(workflows)} of {found} workflow(s)", highlight=False)
    from cwtest.fuzz.engine import CHECKS, FuzzConfig
    from cwtest.harness.env import default_cache_dir
    from cwtest.harness.report import render_full, render_json, render_junit

    fuzz = FuzzConfig(examples=args.examples, seed=args.seed, shrink_time=args.shrink_time,
                      cache_dir=args.cache_dir or default_cache_dir(), checks=args.checks or CHECKS)
    try:
        harness = Harness(sandbox=args.sandbox, layer=args.layer, env=_builder(args), cache_dir=args.cache_dir,
                          timeout=args.timeout, limits=_limits(args), max_output=args.max_output, jobs=args.jobs,
                          seed=args.seed, fuzz=fuzz, env_values=env_values, cassettes=not args.no_cassettes,
                          lint_fix=args.lint_fix, block_threshold=args.block_threshold,
                          **_env_options(args))
    except SandboxUnavailable as exc:
        err.print(f"[red]error[/]: {escape(str(exc))}")
        return 2
    _mocks(harness, args)
    if harness.layer.warning and args.output_format != "full":
        err.print(f"[bold red]WARNING[/]: {escape(harness.layer.warning)}")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # clean up (Redis, sandboxes) on SIGTERM too
    try:
        report = _run(harness, workflows, err, not args.no_progress and err.is_terminal)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: the workflows that were running have been stopped")
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    report.skipped = skipped
    if args.output_format == "full":
        if args.output:
            with args.output.open("w", encoding="utf-8") as handle:
                render_full(report, Console(file=handle, no_color=True, soft_wrap=True, emoji=False))
        else:
            render_full(report, Console(highlight=False, soft_wrap=True, emoji=False))  # paths and stacks unbroken
    else:
        text = render_json(report) if args.output_format == "json" else render_junit(report)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if args.write_tests is not None:
        from cwtest.harness.fuzzing import write_regression_tests

        written = write_regression_tests([f for r in report.results for f in r.findings], args.write_tests,
                                         [s for r in report.results for s in r.secrets])
        err.print(f"cwtest: {len(written)} regression test(s) written to {escape(str(args.write_tests))}"
                  + (" (run them with pytest; the cw_workflow fixture boots the workflow sandboxed)" if written else ""),
                  highlight=False)
    return report.exit_code(strict=args.strict)


def _run(harness: Harness, workflows: list[Path], err: Console, show_progress: bool) -> RunReport:
    if show_progress:
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err, transient=True)
        with progress:
            task = progress.add_task("workflows", total=len(workflows))
            return harness.run(
                workflows,
                on_start=lambda p: progress.update(task, description=f"[bold]{escape(p.name)}[/]"),
                on_done=lambda p, r: progress.advance(task),
            )

    def done(path: Path, result: WorkflowResult) -> None:
        err.print(f"cwtest: {escape(str(path))}: {result.verdict.value}, {len(result.findings)} finding(s)",
                  highlight=False)

    return harness.run(workflows, on_done=done)


def boot_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cwtest boot", description="Start one workflow in its sandbox with the simulator and print the URLs "
                                        "to try it by hand; Ctrl-C stops everything.")
    parser.add_argument("file", type=Path, help="the workflow file")
    _common(parser)
    parser.add_argument("--port", type=int, default=0, help="local port for the app (default: a free one)")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not show the workflow's own output")
    parser.add_argument("--boot-timeout", type=_positive, default=120.0,
                        help="seconds allowed for the environment and the import (default: 120)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    out = Console(highlight=False, soft_wrap=True, emoji=False)
    if not args.file.is_file():
        out.print(f"[red]error[/]: no such file: {escape(str(args.file))}")
        return 2
    from cwtest.harness.bridge import Relay

    env_values = _env_values(args, out)
    if env_values is None:
        return 2
    try:
        harness = Harness(sandbox=args.sandbox, layer=args.layer, env=_builder(args), cache_dir=args.cache_dir,
                          timeout=10 ** 7, boot_timeout=args.boot_timeout, limits=_limits(args), seed=args.seed,
                          echo_output=not args.quiet, env_values=env_values, **_env_options(args))
    except SandboxUnavailable as exc:
        out.print(f"[red]error[/]: {escape(str(exc))}")
        return 2
    _mocks(harness, args)
    # Ctrl-C and SIGTERM both stop everything (a shell may start us with SIGINT ignored).
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with harness.boot(args.file) as booted:
            app = Relay.tcp_to_unix(booted.run_dir.app_socket, port=args.port).start()
            sim = Relay.tcp_to_unix(booted.run_dir.sim_socket).start()
            try:
                host, port = app.address
                sim_host, sim_port = sim.address
                out.print(f"[bold]{escape(str(args.file))}[/]: serving `{escape(str(booted.result.app))}` in "
                          f"{escape(harness.layer.describe())}")
                if harness.layer.warning:
                    out.print(f"[bold red]WARNING[/]: {escape(harness.layer.warning)}")
                out.print(f"app:       http://{host}:{port}/   (docs: http://{host}:{port}/docs)")
                out.print(f"simulator: http://{sim_host}:{sim_port}   (CODEWORDS_API_KEY={booted.runtime.api_key})")
                out.print("Press Ctrl-C to stop.", style="dim")
                sys.stdout.flush()
                return _watch(booted, out)
            finally:
                app.stop()
                sim.stop()
    except KeyboardInterrupt:
        out.print("stopped.")
        return 0
    except RuntimeError as exc:
        out.print(f"[red]{escape(str(exc))}[/]")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def record_main(argv: Sequence[str] | None = None) -> int:
    """``cwtest record FILE``: the smoke calls (and ``--examples N``) once with real answers, written to
    the cassette beside the workflow (``cassettes/<name>.yaml``, VCR.py's format, secrets redacted)."""
    parser = argparse.ArgumentParser(
        prog="cwtest record", description="Run a workflow's smoke calls once with real answers: the sandbox still "
                                          "has no network, cwtest performs its outbound requests (and, with "
                                          "--runtime, its library-service calls) and writes them to a cassette "
                                          "that `cwtest run` and the pytest plugin replay offline.")
    parser.add_argument("file", type=Path, help="the workflow file")
    _common(parser)
    parser.add_argument("--examples", type=_count, default=0,
                        help="generated valid requests per route after the smoke call, recorded too (default: 0)")
    parser.add_argument("--timeout", type=_positive, default=60.0, help="seconds per request (default: 60)")
    parser.add_argument("--runtime", default=None, metavar="URL",
                        help="a real CodeWords runtime for the library-service calls (needs CODEWORDS_API_KEY in "
                             "cwtest's environment); without it they are simulated and not recorded")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    out = Console(highlight=False, soft_wrap=True)
    if not args.file.is_file():
        out.print(f"[red]error[/]: no such file: {escape(str(args.file))}")
        return 2
    key = os.environ.get("CODEWORDS_API_KEY")
    if args.runtime and not key:
        out.print("[red]error[/]: --runtime needs CODEWORDS_API_KEY in cwtest's environment")
        return 2
    env_values = _env_values(args, out)
    if env_values is None:
        return 2
    from cwtest.cassette import cassette_path
    from cwtest.fuzz.engine import FuzzConfig

    fuzz = FuzzConfig(examples=args.examples, seed=args.seed, shrink_time=0, checks=("fuzz",))
    try:
        harness = Harness(sandbox=args.sandbox, layer=args.layer, env=_builder(args), cache_dir=args.cache_dir,
                          timeout=args.timeout, limits=_limits(args), seed=args.seed, fuzz=fuzz,
                          env_values=env_values, record=True, runtime_url=args.runtime, runtime_key=key,
                          **_env_options(args))
    except SandboxUnavailable as exc:
        out.print(f"[red]error[/]: {escape(str(exc))}")
        return 2
    _mocks(harness, args)
    result = harness.run_one(args.file)
    cassette = result.cassette or {}
    path = cassette.get("path") or str(cassette_path(args.file))
    out.print(f"cwtest record: {cassette.get('recorded', 0)} interaction(s) written to {escape(path)} "
              f"({result.verdict.value}; secrets redacted)")
    if result.harness_error:
        out.print(f"[red]harness error[/]: {escape(result.harness_error)}")
        return 2
    return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _watch(booted: object, out: Console) -> int:
    """Print findings and library calls as they happen, until Ctrl-C or the workflow dies."""
    from cwtest.harness.child import protocol
    from cwtest.harness.workflow import BootedWorkflow

    assert isinstance(booted, BootedWorkflow)
    from cwtest.redact import Redactor

    hide = Redactor(booted.env.secrets()).text
    seen_events = 0
    printed: set[int] = set()
    try:
        while booted.process.alive():
            events = booted.process.events.of(protocol.Message)
            for event in events[seen_events:]:
                if isinstance(event, protocol.Finding):
                    where = f" at {event.location}" if event.location else ""
                    out.print(f"[red]{escape(event.kind)}[/]: {escape(hide(event.detail))}{escape(where)}")
                elif isinstance(event, protocol.ExceptionReport):
                    where = f"{event.method} {event.path}"
                    out.print(f"[red]exception[/] in {escape(hide(where))}: {escape(hide(event.message))}")
            seen_events = len(events)
            for call in booted.runtime.calls():
                if call.seq in printed or (call.status is None and not call.client_disconnected):
                    continue
                printed.add(call.seq)
                problems = f" ({escape(hide('; '.join(call.problems)))})" if call.problems else ""
                out.print(f"[cyan]call[/] {escape(call.service)}{escape('/' + call.path if call.path else '')} "
                          f"-> {call.status}{problems}", highlight=False)
            sys.stdout.flush()
            time.sleep(0.2)
    except KeyboardInterrupt:
        out.print("stopping...")
        return 0
    out.print(f"[red]the workflow process ended (status {booted.process.returncode})[/]")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("run", "boot", "record"):
        print("usage: python -m cwtest.harness.cli run|boot|record ...", file=sys.stderr)
        return 2
    return {"run": run_main, "boot": boot_main, "record": record_main}[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
