"""A lint run over many files: the cache first, then the engine in-process or in workers.

This module is light on purpose: it imports neither LibCST nor any rule. A file whose
cached entry matches its bytes is replayed from the cache; the engine (and with it LibCST,
the rules and the catalog) is imported only when some file needs linting. That keeps a warm
run on unchanged files to the cost of starting Python, reading the files and hashing them.

Files that need linting are linted in this process when there are few of them, and in a
process pool (``--jobs``, default: the CPUs this process may use) when there are at least
:data:`POOL_THRESHOLD`. Under pre-commit (the ``PRE_COMMIT`` variable), which partitions
files and may run hook processes in parallel itself, the default is one job, so pools never
nest; ``--jobs N`` overrides. Each worker reads nothing the parent did not send, lints,
fixes and writes the file and its cache entry itself, and sends back its result.
"""

from __future__ import annotations

import math
import os
import sys

from cwlint.config import Selection
from cwlint.diagnostics import Diagnostic
from cwlint.modules import DirectoryIndex, ModuleIndex
from cwlint.records import Record
from cwlint.results import FileResult, applicable, problem_diagnostic, problem_result
from cwlint.source import FileProblem, SourceFile, decode, read_bytes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a warm run never needs it)
if TYPE_CHECKING:
    from typing import Any

    from cwlint.cache import Cache
    from cwlint.config import Settings, StrPath
    from cwlint.linter import Linter
    from cwlint.timing import Timer

#: Below this many files to lint, a pool costs more than it saves. On 2 CPUs (bench/README.md)
#: starting two workers and shipping results back costs about 40 ms, three workflows' worth:
#: two workers break even near 8 files on an idle machine and save about a third at 16; on
#: a busy machine (shared CI) they save nothing below that.
POOL_THRESHOLD = 16
#: A worker is worth starting only for at least this many files.
FILES_PER_WORKER = 4


class RunOptions(Record):
    """What a run does besides linting: fix (or show the diff), with unsafe fixes, in how many processes."""

    __slots__ = ("fix", "diff", "unsafe", "jobs")

    def __init__(self, fix: bool = False, diff: bool = False, unsafe: bool = False, jobs: int = 1) -> None:
        self.fix = fix
        self.diff = diff
        self.unsafe = unsafe
        self.jobs = jobs

    @property
    def fixing(self) -> bool:
        return self.fix or self.diff


class CatalogProblem(Exception):
    """The bundled service catalog does not load (a usage error: exit 2)."""


# -- rules without importing them ----------------------------------------------------------


def registry() -> dict[str, dict[str, Any]]:
    """Every rule's code, name, summary, docs, severity and fix availability (imports them)."""
    from cwlint.rules import all_rules

    return {
        rule.code: {
            "name": rule.name,
            "summary": rule.summary(),
            "doc": rule.documentation(),
            "severity": rule.severity.value,
            "fix": rule.fix_availability.value if rule.fix_availability else None,
        }
        for rule in all_rules()
    }


def rule_index(cache: Cache | None) -> dict[str, dict[str, Any]]:
    """The rule registry: from the cache when this exact code recorded it, else by import.

    A cold index also validates the bundled service catalog (raising ``CatalogError``), so
    that a broken catalog is a usage error before any file is linted, and is recorded only
    once that passed.
    """
    if cache is not None:
        rules = cache.rules()
        if rules is not None:
            cache.touch()
            return rules
    from cwlint.catalog import CatalogError, bundled_data, default_catalog

    rules = registry()
    try:
        default_catalog()
    except CatalogError as exc:
        raise CatalogProblem(str(exc)) from None
    if cache is not None:
        from cwlint.analysis.data import bundled_files

        cache.save_catalog_data(bundled_data())
        try:
            cache.save_rule_data(bundled_files())
        except (OSError, ValueError):  # a broken data file: the rule that reads it says so, not the cache
            pass
        cache.save_rules(rules)
    return rules


def unified_diff(path: str, before: str, after: str, diagnostics: list[Diagnostic]) -> str:
    import difflib

    from cwlint.secrets import redact

    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=path, tofile=path
    )
    secrets = tuple(value for d in diagnostics for value in d.secrets)
    text = "".join(line if line.endswith(("\n", "\r")) else line + "\n" for line in lines)
    return redact(text, secrets)


# -- linting one file (in this process or a worker) ----------------------------------------


class _FileLinter:
    """A run's linting of one file at a time, through the API: the cache around it, writes after it."""

    def __init__(self, settings: Settings, options: RunOptions, cache: Cache | None, modules: ModuleIndex) -> None:
        from cwlint.linter import Linter

        self.linter: Linter = Linter(settings, modules)
        self.options = options
        self.cache = cache

    def lint(self, path: str, data: bytes) -> FileResult:
        linter, options, cache = self.linter, self.options, self.cache
        enabled = linter.selection.for_file(path)
        if not options.fixing:
            result = linter.check(data, path)
            if cache is not None:
                cache.store(path, data, enabled, result.diagnostics, result.text)
            return result

        result = linter.fix(data, path, unsafe=options.unsafe)
        if result.source is None or result.fixed_text is None:  # undecodable, or nothing changed
            if cache is not None and not result.fix_failed:
                cache.store(path, data, enabled, result.diagnostics, result.text)
            return result
        if options.diff:
            original = decode(data, path).text
            diff = unified_diff(path, original, result.fixed_text, result.diagnostics)
            return FileResult(path=path, source=result.source, diagnostics=result.diagnostics, diff=diff)
        from cwlint.source import write_atomic

        new_data = result.source.encode()
        try:
            write_atomic(path, new_data)
        except OSError as exc:
            problem = FileProblem("CW906", f"cannot write the fixed file: {exc.strerror or exc}")
            remaining = linter.check(data, path)
            failure = problem_diagnostic(problem, linter.names)
            return FileResult(path=path, source=remaining.source, diagnostics=[failure, *remaining.diagnostics])
        if cache is not None:
            cache.store(path, new_data, enabled, result.diagnostics, result.fixed_text)
        return result


_WORKER: _FileLinter | None = None


def _init_worker(settings: Settings, options: RunOptions, cache_args: tuple[Any, ...] | None) -> None:
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle, once
    if _TIMINGS:
        _install_timings()  # a worker started by fork has them already; by spawn, not
    modules = DirectoryIndex()
    cache = None
    if cache_args is not None:
        from cwlint.cache import Cache

        directory, root, code_key, run_dir = cache_args
        cache = Cache(directory, root, code_key, modules)
        cache.run_dir = run_dir
    _WORKER = _FileLinter(settings, options, cache, modules)


def _work(task: tuple[str, bytes]) -> FileResult:
    assert _WORKER is not None
    result = _WORKER.lint(*task)
    if _TIMINGS:
        from cwlint.timing import TIMER

        result.timings = TIMER.take()
    return result


def _dispatch(task: tuple[str, bytes]) -> FileResult:
    """What the pool runs: looks ``_work`` up in the worker, where a test may have replaced it."""
    return _work(task)


_TIMINGS = False


# -- a run ---------------------------------------------------------------------------------


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_jobs(requested: int | None) -> int:
    """``--jobs``: 0 means every CPU; unset means every CPU, or 1 under pre-commit."""
    if requested is not None:
        return requested if requested > 0 else cpu_count()
    if os.environ.get("PRE_COMMIT"):
        return 1
    return cpu_count()


def workers_for(files: int, jobs: int) -> int:
    """How many worker processes to start for ``files`` files (0: lint in this process)."""
    if jobs <= 1 or files < POOL_THRESHOLD:
        return 0
    workers = min(jobs, math.ceil(files / FILES_PER_WORKER))
    return workers if workers >= 2 else 0


def replay(path: str, data: bytes, records: list[dict[str, Any]]) -> FileResult:
    """A cached result; its file is decoded again only when its findings are shown in context
    (or hold secrets, stored as offsets into the text)."""
    from cwlint.cache import load_diagnostic

    if not records:
        return FileResult(path=path, cached=True)
    result = FileResult(path=path, cached=True, data=data)  # decoded when a reporter asks
    text = result.text if any(record["x"] for record in records) else None  # secrets: offsets into it
    result.diagnostics = [load_diagnostic(r, text) for r in records]
    return result


def run(
    paths: list[str],
    settings: Settings,
    options: RunOptions,
    cache: Cache | None,
    rules: dict[str, dict[str, Any]],
    modules: ModuleIndex,
) -> list[FileResult]:
    """Lint (or fix) ``paths`` in order; every result, cached or fresh.

    ``rules`` is the registry (:func:`rule_index`): the codes and names, so that selecting
    and replaying need no rule imported. ``modules`` says what lies beside each file, for the
    linter and the cache's keys alike.
    """
    global _TIMINGS
    _TIMINGS = bool(os.environ.get("CWLINT_TIMINGS"))
    timer: Timer | None = None
    if _TIMINGS:
        from cwlint.timing import TIMER as timer
    if cache is not None:  # the rules' data as this code's first run read it, if a rule or redaction asks
        from cwlint.analysis.data import use_cache

        use_cache(cache.rule_data)
    names = {code: info["name"] for code, info in rules.items()}
    selection = Selection(settings, list(rules))
    results: list[FileResult | None] = [None] * len(paths)
    todo: list[tuple[int, str, bytes]] = []
    for index, path in enumerate(paths):
        if timer is not None:
            timer.push("read")
        try:
            data = read_bytes(path, settings.max_file_size)
        except FileProblem as problem:
            results[index] = problem_result(path, problem, names, selection.for_file(path))
            continue
        finally:
            if timer is not None:
                timer.pop()
        if cache is not None:
            records = cache.lookup(path, data, selection.for_file(path))
            if records is not None:
                try:
                    result = replay(path, data, records)
                except (ValueError, KeyError, TypeError, IndexError):
                    result = None  # an entry that looked valid but is not: lint again
                if result is not None and not (options.fixing and any(applicable(d, options.unsafe) for d in result.diagnostics)):
                    results[index] = result
                    continue
        todo.append((index, path, data))

    if todo:
        cache_args = None
        if cache is not None:
            cache_args = (cache.directory, cache.root, cache.code_key, cache.run_dir)
        workers = workers_for(len(todo), options.jobs)
        done: dict[int, FileResult] = {}
        if cache is not None:  # the catalog as this code's first run read it: no TOML to parse
            catalog_data = cache.catalog_data()
            if catalog_data is not None:
                from cwlint.catalog import use_bundled_data

                use_bundled_data(catalog_data)
        if _TIMINGS:
            _install_timings()
        if workers:
            done = _run_pool(todo, workers, settings, options, cache_args)
        remaining = [task for task in todo if task[0] not in done]
        if remaining:
            linter = _FileLinter(settings, options, cache, modules)
            for index, path, data in remaining:
                done[index] = linter.lint(path, data)
        for index, result in done.items():
            results[index] = result
    return [result for result in results if result is not None]


def _run_pool(
    todo: list[tuple[int, str, bytes]],
    workers: int,
    settings: Settings,
    options: RunOptions,
    cache_args: tuple[Any, ...] | None,
) -> dict[int, FileResult]:
    """Lint in ``workers`` processes; whatever a broken pool did not finish is left out."""
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # Import the engine and the rules before forking, so that every worker starts with them.
    from cwlint.linter import Linter

    Linter(settings)
    method = "fork" if sys.platform.startswith("linux") else None
    context = multiprocessing.get_context(method)
    done: dict[int, FileResult] = {}
    chunksize = max(1, min(16, len(todo) // (workers * 4)))
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(settings, options, cache_args),
        ) as pool:
            tasks = [(path, data) for _, path, data in todo]
            try:
                for (index, _, _), result in zip(todo, pool.map(_dispatch, tasks, chunksize=chunksize), strict=True):
                    done[index] = result
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    except (BrokenProcessPool, OSError, pickle.PicklingError):
        pass  # a worker died (or none could start): the caller lints the rest in-process
    return done


def run_source(source: SourceFile, settings: Settings, options: RunOptions, modules: ModuleIndex) -> FileResult:
    """Standard input: never cached; the fixed text (``fixed_text``) is the caller's to write."""
    from cwlint.linter import Linter

    if os.environ.get("CWLINT_TIMINGS"):
        _install_timings()
    linter = Linter(settings, modules)
    if not options.fixing:
        return linter.check(source.text, source.path)
    result = linter.fix(source.text, source.path, unsafe=options.unsafe)
    if result.source is not None:
        result.source = SourceFile(source.path, result.source.text, source.encoding, source.bom)
    if options.diff:
        after = result.fixed_text if result.fixed_text is not None else source.text
        result.diff = unified_diff(source.path, source.text, after, result.diagnostics)
        result.fixed_text, result.fixed_count, result.applied = None, 0, []
    return result


def _install_timings() -> None:
    from cwlint import timing

    timing.install()


def stage_totals(results: list[FileResult]) -> dict[str, float]:
    """This process's stage timings plus every worker's."""
    from cwlint.timing import TIMER

    totals = TIMER.take()
    for result in results:
        for name, seconds in (result.timings or {}).items():
            totals[name] = totals.get(name, 0.0) + seconds
    return totals


def cache_for(root: StrPath, directory: str | None, modules: ModuleIndex) -> Cache:
    """The cache of the project at ``root`` (``directory``: --cache-dir)."""
    from cwlint.cache import Cache, cache_directory

    return Cache(cache_directory(root, directory), root, modules=modules)
