"""cwtest's pytest plugin (the ``pytest11`` entry point ``cwtest``).

Inert unless asked: ``pytest --cwtest [PATHS]``, or ``cwtest_paths = ["workflows/*.py"]`` in
``[tool.pytest.ini_options]``. Each workflow then becomes the items ``lint``, ``boot`` and, per
route, ``fuzz[METHOD /path]`` and ``faults[METHOD /path]``. The fixtures ``cw_runtime`` and
``cw_workflow`` are always available to hand-written tests. See ``docs/cwtest/plugin.md``.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from cwtest.harness.pool import CwWorkflow, Pool, Settings

STATE = pytest.StashKey["State"]()
SANDBOX_MODES = ("auto", "strict", "off")
_HEADER = re.compile(rb"(?m)^# /// script\s*$")


@dataclass
class State:
    settings: Settings
    pool: Pool
    #: Only the flag: header-based discovery while walking directories.
    flag: bool = False
    globbed: set[Path] = field(default_factory=set)
    #: Files named on the command line: workflows with --cwtest, header or not (the boot item
    #: then reports the missing header), unless they are test modules.
    explicit: set[Path] = field(default_factory=set)


# --- options --------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cwtest", "cwtest: CodeWords workflows as test items")
    group.addoption("--cwtest", action="store_true", default=False,
                    help="collect CodeWords workflows (files with a `# /// script` header, and the cwtest_paths "
                         "globs) as lint, boot, fuzz and faults items")
    group.addoption("--cwtest-examples", type=int, default=None, metavar="N",
                    help="generated requests per route and check (default: 50, or the cwtest_examples ini value)")
    group.addoption("--cwtest-seed", default=None, metavar="N|random",
                    help="the run's seed; each item's seed derives from it and the node id (default 0)")
    group.addoption("--cwtest-sandbox", choices=SANDBOX_MODES, default=None,
                    help="auto: the strongest layer that works; strict: fail unless bubblewrap or Landlock works; "
                         "off: audit hook, rlimits and seccomp only (default: auto)")
    group.addoption("--cwtest-shrink-time", type=float, default=None, metavar="S",
                    help="seconds of shrinking per failure (default 10)")
    group.addoption("--cwtest-timeout", type=float, default=None, metavar="S",
                    help="seconds a workflow may take to boot or to answer one request (default 60)")
    group.addoption("--cwtest-no-lint-fix", action="store_true", default=False,
                    help="do not run a failing item's checks again on a copy with cwlint's safe fixes "
                         "(the cwtest_lint_fix ini option)")
    group.addoption("--cwtest-block-threshold", type=float, default=None, metavar="S",
                    help="seconds one callback of a request may hold the event loop before it is a blocking-call "
                         "finding; 0: no watchdog (default 0.1, or the cwtest_block_threshold ini value)")
    parser.addini("cwtest_paths", type="args", default=[],
                  help="globs of workflow files, relative to the rootdir; setting it enables cwtest")
    parser.addini("cwtest_examples", default="50", help="default of --cwtest-examples")
    parser.addini("cwtest_sandbox", default="auto", help="default of --cwtest-sandbox")
    parser.addini("cwtest_lint_fix", type="bool", default=True,
                  help="when a fuzz or faults item finds something and cwlint has a safe fix for the workflow, "
                       "run the item's checks again on a scratch copy with the fixes applied (default: true)")
    parser.addini("cwtest_block_threshold", default="0.1", help="default of --cwtest-block-threshold")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from cwtest.plugin import hooks

    pluginmanager.add_hookspecs(hooks)


# --- configuration ----------------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    for marker in ("cwtest: every item the cwtest plugin collects from a workflow",
                   "cwtest_lint: cwlint on a workflow", "cwtest_boot: a workflow boots in its sandbox",
                   "cwtest_fuzz: generated requests to one route", "cwtest_faults: service faults under one route",
                   "cw_runtime(**kwargs): a fresh SimulatedRuntime(**kwargs) for this test's cw_runtime"):
        config.addinivalue_line("markers", marker)
    globs = [str(g) for g in config.getini("cwtest_paths")]
    flag = bool(config.getoption("cwtest"))
    settings = _settings(config, enabled=flag or bool(globs))
    state = State(settings, Pool(settings), flag=flag)
    config.stash[STATE] = state
    if not settings.enabled:
        return
    root = config.rootpath
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        for arg in config.args:
            candidate = Path(config.invocation_params.dir, arg.split("::")[0])
            if candidate.suffix == ".py" and candidate.is_file():
                state.explicit.add(candidate.resolve())
    for pattern in globs:
        state.globbed.update(p.resolve() for p in sorted(root.glob(pattern)) if p.is_file() and p.suffix == ".py")
    if state.globbed and config.args_source != pytest.Config.ArgsSource.ARGS:
        # No paths on the command line: collect the cwtest_paths files too, wherever testpaths point.
        present = {(root / a).resolve() for a in config.args}
        for path in sorted(state.globbed):
            if path not in present and not any(parent in present for parent in path.parents):
                config.args.append(str(path))
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(settings), "cwtest-xdist")


def _settings(config: pytest.Config, enabled: bool) -> Settings:
    worker = getattr(config, "workerinput", None)
    raw_seed = config.getoption("cwtest_seed")
    if worker is not None and "cwtest_seed" in worker:
        seed = int(worker["cwtest_seed"])
    elif raw_seed in (None, ""):
        seed = 0
    elif raw_seed == "random":
        seed = random.SystemRandom().randrange(1 << 32)
    else:
        try:
            seed = int(raw_seed)
        except ValueError:
            raise pytest.UsageError(f"--cwtest-seed must be an integer or 'random', not {raw_seed!r}") from None
    examples = config.getoption("cwtest_examples")
    if examples is None:
        examples = int(config.getini("cwtest_examples"))
    sandbox = config.getoption("cwtest_sandbox") or str(config.getini("cwtest_sandbox"))
    if sandbox not in SANDBOX_MODES:
        raise pytest.UsageError(f"cwtest_sandbox must be one of {', '.join(SANDBOX_MODES)}, not {sandbox!r}")
    settings = Settings(enabled=enabled, seed=seed, examples=examples, sandbox=sandbox,
                        readonly_database=worker is not None)
    if config.getoption("cwtest_shrink_time") is not None:
        settings.shrink_time = config.getoption("cwtest_shrink_time")
    if config.getoption("cwtest_timeout") is not None:
        settings.timeout = config.getoption("cwtest_timeout")
    settings.lint_fix = bool(config.getini("cwtest_lint_fix")) and not config.getoption("cwtest_no_lint_fix")
    threshold = config.getoption("cwtest_block_threshold")
    try:
        settings.block_threshold = float(threshold if threshold is not None else config.getini("cwtest_block_threshold"))
    except ValueError:
        raise pytest.UsageError("cwtest_block_threshold must be a number of seconds") from None
    if settings.block_threshold < 0:
        raise pytest.UsageError("--cwtest-block-threshold must be 0 or more")
    cache = getattr(config, "cache", None)
    if cache is not None and enabled:
        settings.cache_dir = Path(cache.mkdir("cwtest"))
    if enabled:
        from cwtest.harness.sandbox import SandboxUnavailable, choose

        try:
            settings.layer = choose(sandbox)
        except SandboxUnavailable as exc:
            raise pytest.UsageError(f"cwtest: {exc}") from None
    return settings


class _XdistController:
    """Sends the controller's seed to every worker (``--cwtest-seed random`` must be one seed)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["cwtest_seed"] = self.settings.seed


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE, None)
    if state is None or not state.settings.enabled:
        return None
    settings = state.settings
    layer = settings.layer.describe() if settings.layer is not None else settings.sandbox
    lines = [f"cwtest: seed {settings.seed} (--cwtest-seed {settings.seed} reproduces the run), "
             f"{settings.examples} examples per route, sandbox: {layer}"]
    if settings.layer is not None and settings.layer.warning:
        lines.append(f"cwtest: WARNING: {settings.layer.warning}")
    if getattr(config.option, "splits", None) and getattr(config.option, "splitting_algorithm", "") == "least_duration":
        # pytest-split: the pool boots a workflow once per process, for whichever of its items come first.
        lines.append("cwtest: NOTE: --splitting-algorithm least_duration spreads a workflow's items over the groups "
                     "and each group boots it again; duration_based_chunks (the default) keeps them together")
    return lines


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.pool.close()


# --- collection ------------------------------------------------------------------------------------

def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(STATE, None)
    if state is None or not state.settings.enabled or file_path.suffix != ".py":
        return None
    if not is_workflow(file_path, state, parent.config):
        return None
    from cwtest.plugin.items import WorkflowFile

    return WorkflowFile.from_parent(parent, path=file_path)


def is_workflow(path: Path, state: State, config: pytest.Config) -> bool:
    """A cwtest_paths match, or (with --cwtest) a file with a PEP 723 header that is not a test module."""
    if path.resolve() in state.globbed:
        return True
    if not state.flag or path.name == "conftest.py":
        return False
    if any(fnmatch(path.name, pattern) for pattern in config.getini("python_files")):
        return False
    if path.resolve() in state.explicit:
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(16384)
    except OSError:
        return False
    return bool(_HEADER.search(head))


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _cw_runtime_shared(request: pytest.FixtureRequest) -> Iterator[Any]:
    from cwtest.simulator import SimulatedRuntime

    runtime = SimulatedRuntime(seed=request.config.stash[STATE].settings.seed)
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture
def cw_runtime(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A served ``SimulatedRuntime``, empty for this test (``@pytest.mark.cw_runtime(connected_apps=[...])``
    gives a fresh one built with those arguments)."""
    marker = request.node.get_closest_marker("cw_runtime")
    if marker is not None:
        from cwtest.simulator import SimulatedRuntime

        kwargs = {"seed": request.config.stash[STATE].settings.seed, **marker.kwargs}
        with SimulatedRuntime(**kwargs) as runtime:
            yield runtime
        return
    runtime = request.getfixturevalue("_cw_runtime_shared")
    runtime.reset()
    yield runtime
    runtime.reset()


@pytest.fixture
def cw_workflow(request: pytest.FixtureRequest) -> Iterator[Callable[..., CwWorkflow]]:
    """``cw_workflow("path/to/script.py")``: the workflow booted in its sandbox (see ``CwWorkflow``).

    Paths are relative to the rootdir (else to the test's directory). Booted workflows are shared
    by every test and item of this pytest process (per xdist worker); the simulator is reset for
    each test. ``fresh=True`` boots one for this test alone; ``mocks={url: response}`` answers
    outbound requests from the start.
    """
    state: State = request.config.stash[STATE]
    handles: list[CwWorkflow] = []

    def factory(path: str | os.PathLike[str], *, fresh: bool = False,
                mocks: dict[str, Any] | None = None) -> CwWorkflow:
        handle = CwWorkflow(state.pool, resolve(path, request), fresh=fresh, mocks=mocks)
        handles.append(handle)
        return handle

    yield factory
    for handle in handles:
        handle.close()


def resolve(path: str | os.PathLike[str], request: pytest.FixtureRequest) -> Path:
    candidate = Path(path)
    tried = [candidate] if candidate.is_absolute() else [request.config.rootpath / candidate,
                                                          request.path.parent / candidate]
    for option in tried:
        if option.is_file():
            return option.resolve()
    raise FileNotFoundError(f"cw_workflow: no workflow at {path} (looked at {', '.join(map(str, tried))})")


__all__ = ["STATE", "State", "cw_runtime", "cw_workflow", "is_workflow"]
