"""The ``cwlint`` command, with ruff's flags and exit codes.

Exit codes: 0 no findings left; 1 findings left (per-file problems such as an undecodable
file included, ``--diff`` with changes, ``--exit-non-zero-on-fix`` when anything was fixed,
``--add-noqa`` with findings no comment could silence); 2 usage, configuration or internal
error (a path that does not exist included). ``--exit-zero`` turns 1 into 0. Tracebacks are
never shown; set ``CWLINT_DEBUG=1`` to see one for an internal error.

A run reads the cache (``cache.py``) and hands files to ``runner.py``; neither imports
LibCST, the rules or rich, so a warm run on unchanged files never pays for them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from cwlint import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a warm run never needs it)
if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

    from cwlint.config import Settings
    from cwlint.diagnostics import Diagnostic
    from cwlint.results import FileResult

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other usage error
        raise UsageError(message)


def _terminal_width() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (and its archive codecs)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse builds a formatter for every ``add_argument`` (to check metavars), and each one
    imports shutil and asks for the terminal's size: this one asks once, and never imports it."""

    _columns: int | None = None

    def __init__(self, prog: str) -> None:
        if _Formatter._columns is None:
            _Formatter._columns = _terminal_width() - 2  # what HelpFormatter does with the columns
        super().__init__(prog, width=_Formatter._columns)


def _split_codes(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip().upper() for part in value.split(",") if part.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    from cwlint.reporters import FORMATS

    parser = _Parser(prog="cwlint", description="Lint CodeWords workflow scripts.", formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"cwlint {__version__}")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes")
    parser.add_argument("--unsafe-fixes", action="store_true", help="also apply (and show) unsafe fixes")
    parser.add_argument("--diff", action="store_true", help="print the diff of the fixes; write nothing")
    parser.add_argument("--show-fixes", action="store_true", help="list the fixes applied")
    parser.add_argument("--select", action="append", metavar="CODES", help="rule codes or prefixes to enable")
    parser.add_argument("--extend-select", action="append", metavar="CODES", help="codes to enable on top")
    parser.add_argument("--ignore", action="append", metavar="CODES", help="codes or prefixes to disable")
    parser.add_argument("--output-format", choices=FORMATS, default=None, help="default: full")
    parser.add_argument("--sarif-category", metavar="NAME", help="SARIF: the analysis' category (runAutomationDetails.id "
                        "NAME/): code scanning keeps one analysis per category, so each CI shard needs its own")
    parser.add_argument("--statistics", action="store_true", help="count findings per rule instead of listing them")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    parser.add_argument("--exit-non-zero-on-fix", action="store_true", help="exit 1 when anything was fixed, even if nothing remains")
    parser.add_argument("--add-noqa", action="store_true", help="add `# noqa: CODE` for every current finding")
    parser.add_argument("--config", metavar="PATH", help="a pyproject.toml or cwlint.toml")
    parser.add_argument("--stdin-filename", metavar="PATH", help="lint standard input as this file")
    parser.add_argument("--force-exclude", action="store_true", help="apply excludes to paths named explicitly")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write .cwlint_cache/")
    parser.add_argument("--cache-dir", metavar="PATH", help="where the cache lives (default: .cwlint_cache in the project root; env CWLINT_CACHE_DIR)")
    parser.add_argument("--jobs", "-j", type=_jobs, metavar="N", help="worker processes (0: one per CPU, the default; 1 under pre-commit)")
    parser.add_argument("--no-color", action="store_true")
    return parser


def _jobs(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of jobs: '{value}'") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"invalid number of jobs: '{value}' (0 means one per CPU)")
    return number


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "rule":
            return _rule(argv[1:])
        if argv and argv[0] == "rules":
            return _rules(argv[1:])
        if argv and argv[0] == "server":
            return _server(argv[1:])
        if argv and argv[0] == "check":
            argv = argv[1:]
        return _check(build_parser().parse_args(argv))
    except UsageError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal error: one line, never a traceback
        if os.environ.get("CWLINT_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (set CWLINT_DEBUG=1 for a traceback)")
        return EXIT_ERROR


def _error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")


def _warning(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def _settings(args: argparse.Namespace) -> Settings:
    from cwlint import config

    try:
        if args.config:
            if not os.path.isfile(args.config):
                raise config.ConfigError(f"{args.config}: no such configuration file")
            settings = config.load_file(args.config)
        else:
            settings = config.discover(os.getcwd())
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.select:
        settings.select = _split_codes(args.select)
    settings.extend_select += _split_codes(args.extend_select)
    settings.ignore += _split_codes(args.ignore)
    return settings


def _check(args: argparse.Namespace) -> int:
    from cwlint import runner
    from cwlint.config import ConfigError, Selection
    from cwlint.discovery import PathError, discover
    from cwlint.modules import DirectoryIndex
    from cwlint.results import problem_result
    from cwlint.source import FileProblem, decode

    started = time.perf_counter()
    settings = _settings(args)
    # The project root: the configuration's folder, else (explicitly) the working directory.
    root = settings.root = settings.root if settings.root is not None else os.getcwd()
    stdin = bool(args.stdin_filename or args.paths == ["-"])
    if args.add_noqa and (args.fix or args.diff):
        raise UsageError("--add-noqa cannot be combined with --fix or --diff")
    if args.sarif_category is not None and (args.output_format != "sarif" or not args.sarif_category.strip("/ ")):
        raise UsageError("--sarif-category needs --output-format sarif and a non-empty NAME")
    if args.add_noqa and stdin:
        raise UsageError("--add-noqa needs files, not standard input")
    options = runner.RunOptions(fix=args.fix, diff=args.diff, unsafe=args.unsafe_fixes, jobs=runner.resolve_jobs(args.jobs))
    modules = DirectoryIndex()  # what lies beside each file, read from disk once per folder
    cache = None
    if not (args.no_cache or stdin or os.environ.get("CWLINT_NO_CACHE")):
        cache = runner.cache_for(root, args.cache_dir, modules)
    try:
        rules = runner.rule_index(cache)
    except runner.CatalogProblem as exc:
        raise UsageError(f"service catalog: {exc}") from None
    selection = Selection(settings, list(rules))
    try:
        selection.check()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if cache is not None:
        cache.bind(settings.fingerprint(), selection.enabled)
    names = {code: info["name"] for code, info in rules.items()}

    results: list[FileResult] = []
    # -- standard input ------------------------------------------------------------------
    if stdin:
        name = args.stdin_filename or "-"
        try:
            source = decode(sys.stdin.buffer.read(), name)
        except FileProblem as problem:
            results.append(problem_result(name, problem, names, {problem.code}))
        else:
            result = runner.run_source(source, settings, options, modules)
            if args.fix and not args.diff:
                sys.stdout.write(result.fixed_text if result.fixed_text is not None else source.text)
                sys.stdout.flush()
            results.append(result)
        out = sys.stderr if args.fix and not args.diff else sys.stdout
        return _finish(args, results, out, rules, settings, started)

    # -- files ---------------------------------------------------------------------------
    try:
        found = discover(args.paths or ["."], settings, args.force_exclude)
    except PathError as exc:
        raise UsageError(str(exc)) from None
    for path, reason in found.problems:
        unreadable = FileProblem("CW906", f"cannot read: {reason}")
        results.append(problem_result(path, unreadable, names, {unreadable.code}))
    for folder in found.empty:
        _warning(f"no Python files found under {folder}")
    results.extend(runner.run(found.files, settings, options, cache, rules, modules))
    if args.add_noqa:
        return _add_noqa(args, results, settings)
    return _finish(args, results, sys.stdout, rules, settings, started)


def _add_noqa(args: argparse.Namespace, results: list[FileResult], settings: Settings) -> int:
    from cwlint.add_noqa import add_noqa
    from cwlint.reporters import concise_line
    from cwlint.source import write_atomic

    lines = files = 0
    skipped: list[tuple[FileResult, Diagnostic, str]] = []
    for result in results:
        if not result.diagnostics:
            continue
        if result.source is None:
            skipped.extend((result, d, "the file cannot be read") for d in result.diagnostics)
            continue
        outcome = add_noqa(result.source.text, result.diagnostics, settings.bare_noqa)
        skipped.extend((result, d, reason) for d, reason in outcome.skipped)
        if outcome.lines:
            try:
                write_atomic(result.path, result.source.encode(outcome.text))
            except OSError as exc:
                _error(f"{result.path}: cannot write: {exc.strerror or exc}")
                skipped.extend((result, d, "the file cannot be written") for d in result.diagnostics)
                continue
            lines += outcome.lines
            files += 1
    for result, diagnostic, reason in skipped:
        _warning(f"not silenced: {concise_line(result, diagnostic, False)} ({reason})")
    sys.stderr.write(f"Added {lines} noqa directive{'s' if lines != 1 else ''} to {files} file{'s' if files != 1 else ''}.\n")
    if skipped and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


def _finish(
    args: argparse.Namespace,
    results: list[FileResult],
    out: TextIO,
    rules: dict[str, dict[str, Any]],
    settings: Settings,
    started: float,
) -> int:
    from cwlint import reporters

    remaining = sum(len(result.diagnostics) for result in results)
    fixed = sum(result.fixed_count for result in results)
    diffs = [result.diff for result in results if result.diff]
    output_format = args.output_format or "full"
    if args.diff:
        for text in diffs:
            out.write(text)
        if diffs:
            _warning(f"{len(diffs)} file(s) would be changed by --fix (nothing written)")
    if args.statistics:
        rows = reporters.statistics(results, args.unsafe_fixes)
        reporters.write_statistics(rows, out, as_json=output_format == "json")
    elif output_format == "json":
        reporters.write_json(results, out)
    elif output_format == "concise":
        reporters.write_concise(results, out, args.unsafe_fixes)
    elif output_format == "sarif":
        reporters.write_sarif(results, out, rules, str(settings.root), __version__, category=args.sarif_category)
    elif output_format == "github":
        reporters.write_github(results, out)
    elif output_format == "junit":
        reporters.write_junit(results, out)
    else:
        color = not args.no_color and reporters.use_color(out)
        reporters.write_full(results, out, args.unsafe_fixes, color)
    applied = [(result.path, result.applied) for result in results if result.applied]
    if args.show_fixes and applied and output_format in ("full", "concise"):
        from collections import Counter

        out.write(f"Fixed {fixed} error{'s' if fixed != 1 else ''}:\n")
        for path, fixes in applied:
            out.write(f"- {path}:\n")
            for (code, message), count in sorted(Counter(fixes).items()):
                out.write(f"    {count} × {code} ({reporters.redact(message)})\n")
    if output_format in ("full", "concise"):
        reporters.write_summary(results, out, fixing=args.fix or args.diff, diff=args.diff, unsafe=args.unsafe_fixes)
    _timings(results, started)
    if args.exit_zero:
        return EXIT_OK
    if args.diff and diffs:
        return EXIT_FINDINGS
    if remaining:
        return EXIT_FINDINGS
    if args.exit_non_zero_on_fix and fixed:
        return EXIT_FINDINGS
    return EXIT_OK


def _timings(results: list[FileResult], started: float) -> None:
    if os.environ.get("CWLINT_TIMINGS"):
        from cwlint import timing
        from cwlint.runner import stage_totals

        timing.report(stage_totals(results), time.perf_counter() - started)


def _rule(argv: list[str]) -> int:
    from cwlint.rules import rule_by_code

    if len(argv) != 1:
        raise UsageError("usage: cwlint rule CODE")
    rule = rule_by_code(argv[0])
    if rule is None:
        raise UsageError(f"unknown rule '{argv[0]}' (see `cwlint rules`)")
    sys.stdout.write(rule.page())
    return EXIT_OK


def _server(argv: list[str]) -> int:
    from cwlint import lsp

    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write("usage: cwlint server\n\nA language server over stdio (see the README's editor setup).\n")
        return EXIT_OK
    if argv:
        raise UsageError("usage: cwlint server (it speaks LSP over stdin/stdout and takes no arguments)")
    missing = lsp.missing()
    if missing:
        raise UsageError(f"cwlint server needs {', '.join(missing)}: pip install 'cwkit[server]'")
    from cwlint.lsp.server import main as serve

    return serve()


def _rules(argv: list[str]) -> int:
    from cwlint.rules import all_rules

    if argv:
        raise UsageError("usage: cwlint rules")
    for rule in all_rules():
        fix = {None: " ", "safe": "*", "unsafe": "~", "display": "?"}[rule.fix_availability.value if rule.fix_availability else None]
        sys.stdout.write(f"{rule.code}  {fix}  {rule.name:<28} {rule.summary()}\n")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
