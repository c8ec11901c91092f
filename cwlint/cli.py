"""The ``cwlint`` command, with ruff's flags and exit codes.

Exit codes: 0 no findings left; 1 findings left (per-file problems such as an undecodable
file included, and ``--diff`` with changes); 2 usage, configuration or internal error (a
path that does not exist included). Tracebacks are never shown; set ``CWLINT_DEBUG=1`` to
see one for an internal error.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections import Counter
from pathlib import Path

from cwlint import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        raise UsageError(message)


def _split_codes(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip().upper() for part in value.split(",") if part.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cwlint", description="Lint CodeWords workflow scripts.")
    parser.add_argument("--version", action="version", version=f"cwlint {__version__}")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes")
    parser.add_argument("--unsafe-fixes", action="store_true", help="also apply (and show) unsafe fixes")
    parser.add_argument("--diff", action="store_true", help="print the diff of the fixes; write nothing")
    parser.add_argument("--show-fixes", action="store_true", help="list the fixes applied")
    parser.add_argument("--select", action="append", metavar="CODES", help="rule codes or prefixes to enable")
    parser.add_argument("--extend-select", action="append", metavar="CODES", help="codes to enable on top")
    parser.add_argument("--ignore", action="append", metavar="CODES", help="codes or prefixes to disable")
    parser.add_argument("--output-format", choices=("full", "concise", "json"), default=None)
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    parser.add_argument("--config", metavar="PATH", help="a pyproject.toml or cwlint.toml")
    parser.add_argument("--stdin-filename", metavar="PATH", help="lint standard input as this file")
    parser.add_argument("--force-exclude", action="store_true", help="apply excludes to paths named explicitly")
    parser.add_argument("--no-color", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "rule":
            return _rule(argv[1:])
        if argv and argv[0] == "rules":
            return _rules(argv[1:])
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


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from cwlint import config

    try:
        if args.config:
            path = Path(args.config)
            if not path.is_file():
                raise config.ConfigError(f"{args.config}: no such configuration file")
            settings = config.load_file(path)
        else:
            settings = config.discover(Path.cwd())
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.select:
        settings.select = _split_codes(args.select)
    settings.extend_select += _split_codes(args.extend_select)
    settings.ignore += _split_codes(args.ignore)
    return settings


def _check(args: argparse.Namespace) -> int:
    from cwlint.catalog import CatalogError
    from cwlint.discovery import PathError, discover
    from cwlint.engine import FileResult, RuleSelection, fix_source, lint_path, lint_source, problem_diagnostic
    from cwlint.rules import all_rules
    from cwlint.source import FileProblem, decode, read, write_atomic

    settings = _settings(args)
    known = [rule.code for rule in all_rules()]
    for selector in settings.select + settings.extend_select + settings.ignore:
        if selector != "ALL" and not any(code.startswith(selector) for code in known):
            raise UsageError(f"unknown rule selector '{selector}' (see `cwlint rules`)")
    selection = RuleSelection(settings)
    fixing = args.fix or args.diff
    output_format = args.output_format or "full"

    try:
        from cwlint.catalog import default_catalog

        default_catalog()
    except CatalogError as exc:
        raise UsageError(f"service catalog: {exc}") from None

    results: list[FileResult] = []
    diffs: list[str] = []
    applied: dict[str, list[tuple[str, str]]] = {}

    # -- standard input ------------------------------------------------------------------
    if args.stdin_filename or args.paths == ["-"]:
        name = args.stdin_filename or "-"
        try:
            source = decode(sys.stdin.buffer.read(), name)
        except FileProblem as problem:
            results.append(FileResult(path=name, diagnostics=[problem_diagnostic(problem)]))
        else:
            if fixing:
                outcome = fix_source(source, settings, args.unsafe_fixes, selection)
                if args.diff:
                    diffs.append(_diff(name, source.text, outcome.text, outcome.diagnostics))
                else:
                    sys.stdout.write(outcome.text)
                    sys.stdout.flush()
                results.append(FileResult(path=name, source=source.__class__(name, outcome.text, source.encoding, source.bom), diagnostics=outcome.diagnostics, fixed_count=outcome.count))
                applied[name] = outcome.applied
            else:
                results.append(FileResult(path=name, source=source, diagnostics=lint_source(source, settings, selection)))
        out = sys.stderr if args.fix and not args.diff else sys.stdout
        return _finish(args, results, diffs, applied, output_format, out)

    # -- files ---------------------------------------------------------------------------
    try:
        found = discover(args.paths or ["."], settings, args.force_exclude)
    except PathError as exc:
        raise UsageError(str(exc)) from None
    for path, reason in found.problems:
        problem = FileProblem("CW906", f"cannot read: {reason}")
        results.append(FileResult(path=path, diagnostics=[problem_diagnostic(problem)]))
    for folder in found.empty:
        _warning(f"no Python files found under {folder}")

    for path in found.files:
        if not fixing:
            results.append(lint_path(path, settings, selection))
            continue
        try:
            source = read(path, settings.max_file_size)
        except FileProblem as problem:
            diagnostic = problem_diagnostic(problem)
            results.append(FileResult(path=path, diagnostics=[diagnostic] if diagnostic.code in selection.for_file(path) else []))
            continue
        outcome = fix_source(source, settings, args.unsafe_fixes, selection)
        if outcome.text != source.text:
            if args.diff:
                diffs.append(_diff(path, source.text, outcome.text, outcome.diagnostics))
            else:
                try:
                    write_atomic(path, source.encode(outcome.text))
                except OSError as exc:
                    problem = FileProblem("CW906", f"cannot write the fixed file: {exc.strerror or exc}")
                    results.append(FileResult(path=path, source=source, diagnostics=[problem_diagnostic(problem), *lint_source(source, settings, selection)]))
                    continue
                applied[path] = outcome.applied
        fixed_source = source.__class__(path, outcome.text, source.encoding, source.bom)
        results.append(FileResult(path=path, source=fixed_source, diagnostics=outcome.diagnostics, fixed_count=0 if args.diff else outcome.count))
    return _finish(args, results, diffs, applied, output_format, sys.stdout)


def _diff(path: str, before: str, after: str, diagnostics) -> str:  # type: ignore[no-untyped-def]
    from cwlint.secrets import redact

    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=path, tofile=path
    )
    secrets = tuple(value for d in diagnostics for value in d.secrets)
    text = "".join(line if line.endswith(("\n", "\r")) else line + "\n" for line in lines)
    return redact(text, secrets)


def _finish(args, results, diffs, applied, output_format, out) -> int:  # type: ignore[no-untyped-def]
    from cwlint import reporters

    remaining = sum(len(result.diagnostics) for result in results)
    fixed = sum(result.fixed_count for result in results)
    if args.diff:
        for text in diffs:
            out.write(text)
        changed = sum(1 for text in diffs if text)
        if changed:
            _warning(f"{changed} file(s) would be changed by --fix (nothing written)")
    if output_format == "json":
        reporters.write_json(results, out)
    elif output_format == "concise":
        reporters.write_concise(results, out, args.unsafe_fixes)
    else:
        color = not args.no_color and reporters.use_color(out)
        reporters.write_full(results, out, args.unsafe_fixes, color)
    if args.show_fixes and applied:
        out.write(f"Fixed {fixed} error{'s' if fixed != 1 else ''}:\n")
        for path, fixes in applied.items():
            if not fixes:
                continue
            out.write(f"- {path}:\n")
            for (code, message), count in sorted(Counter(fixes).items()):
                out.write(f"    {count} × {code} ({reporters.redact(message)})\n")
    if output_format != "json":
        _summary(results, fixed, remaining, args, out)
    if args.diff and any(diffs):
        return EXIT_FINDINGS if not args.exit_zero else EXIT_OK
    if remaining and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


def _summary(results, fixed: int, remaining: int, args, out) -> None:  # type: ignore[no-untyped-def]
    from cwlint.diagnostics import Applicability

    if remaining == 0 and fixed == 0:
        if not args.diff:
            out.write("All checks passed!\n")
        return
    if fixed:
        out.write(f"Found {fixed + remaining} error{'s' if fixed + remaining != 1 else ''} ({fixed} fixed, {remaining} remaining).\n")
    elif remaining:
        out.write(f"Found {remaining} error{'s' if remaining != 1 else ''}.\n")
    diagnostics = [d for r in results for d in r.diagnostics]
    safe = sum(1 for d in diagnostics if d.fix and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for d in diagnostics if d.fix and d.fix.applicability is Applicability.UNSAFE)
    if args.fix or args.diff:
        if unsafe and not args.unsafe_fixes:
            out.write(f"No fixes available ({unsafe} hidden fix{'es' if unsafe != 1 else ''} can be enabled with the `--unsafe-fixes` option).\n")
        return
    fixable = safe + (unsafe if args.unsafe_fixes else 0)
    if fixable:
        line = f"[*] {fixable} fixable with the `--fix` option"
        if args.unsafe_fixes and unsafe:
            line = f"[*] {fixable} fixable with the `--fix --unsafe-fixes` options"
        elif unsafe:
            line += f" ({unsafe} hidden fix{'es' if unsafe != 1 else ''} can be enabled with the `--unsafe-fixes` option)"
        out.write(line + ".\n")
    elif unsafe:
        out.write(f"No fixes available ({unsafe} hidden fix{'es' if unsafe != 1 else ''} can be enabled with the `--unsafe-fixes` option).\n")


def _rule_page(rule) -> str:  # type: ignore[no-untyped-def]
    availability = {
        None: "Fix is not available.",
        "safe": "Fix is always available (safe).",
        "unsafe": "Fix is sometimes available (unsafe: needs `--unsafe-fixes`).",
        "display": "A suggested fix is shown, never applied.",
    }[rule.fix_availability.value if rule.fix_availability else None]
    scope = " Applies to workflows only (a PEP 723 block or an import of codewords_client)." if rule.scope == "workflow" else ""
    return f"# {rule.name} ({rule.code})\n\n{availability}{scope}\n\n{rule.documentation()}\n"


def _rule(argv: list[str]) -> int:
    from cwlint.rules import rule_by_code

    if len(argv) != 1:
        raise UsageError("usage: cwlint rule CODE")
    rule = rule_by_code(argv[0])
    if rule is None:
        raise UsageError(f"unknown rule '{argv[0]}' (see `cwlint rules`)")
    sys.stdout.write(_rule_page(rule))
    return EXIT_OK


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
