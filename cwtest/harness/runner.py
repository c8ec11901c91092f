"""Running workflows: ``Harness`` holds a run's options and runs each workflow's session.

``Harness`` is the API tests and the CLI share::

    harness = Harness(sandbox="auto", timeout=30)
    harness.mock_external("https://api.example.com/", {"ok": True})
    report = harness.run([Path("workflow.py")])           # RunReport
    with harness.boot(Path("workflow.py")) as booted:     # a live workflow, for tests and `cwtest boot`
        booted.client.post("/", json={...})
        booted.runtime.calls("openai")

Each workflow gets its own session (``cwtest.harness.session``: environment, simulator, Redis,
sandboxed process); nothing is shared between two workflows but the environment cache. Once it
serves, ``cwtest.harness.fuzzing`` sends the smoke calls and the search through the booted
workflow (``cwtest.harness.workflow``), and ``cwtest.harness.collect`` turns what the process left
into findings. A workflow that crashes, hangs or attacks is reported and the run goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwtest.harness import fuzzing
from cwtest.harness.env import EnvManager, default_cache_dir
from cwtest.harness.process import WorkflowProcess
from cwtest.harness.sandbox import Limits, choose
from cwtest.harness.session import SIM_BASE, SessionStopped, module_name, session
from cwtest.harness.workflow import BootedWorkflow
from cwtest.outbound import ExternalResponse, OutsideWorld, external_response
from cwtest.results import RunReport, WorkflowResult

if TYPE_CHECKING:
    from cwtest.fuzz.engine import FuzzConfig
    from cwtest.workflow_env import EnvPlan

__all__ = ["SIM_BASE", "BootedWorkflow", "ExternalResponse", "Harness", "RunReport", "module_name"]


class Harness:
    """Options shared by every workflow of a run; see the module docstring."""

    def __init__(self, *, sandbox: str = "auto", layer: str | None = None, env: str = "uv",
                 cache_dir: Path | None = None, timeout: float = 60.0, boot_timeout: float | None = None,
                 limits: Limits | None = None, max_output: int = 10 << 20, jobs: int = 1, seed: int = 0,
                 echo_output: bool = False, fuzz: FuzzConfig | None = None, env_values: dict[str, str] | None = None,
                 cassettes: bool = True, record: bool = False, runtime_url: str | None = None,
                 runtime_key: str | None = None, allow_direct_references: bool = False,
                 allow_builds: bool = False, lint_fix: bool = False, block_threshold: float = 0.1) -> None:
        self.layer = choose(sandbox, force=layer)
        self.envs = EnvManager(env, cache_dir or default_cache_dir(), layer=self.layer,
                               allow_direct_references=allow_direct_references, allow_builds=allow_builds)
        self.timeout = timeout
        self.boot_timeout = boot_timeout or timeout
        self.limits = limits or Limits()
        self.max_output = max_output
        self.jobs = max(1, jobs)
        self.seed = seed
        #: Copy the workflow's stdout and stderr to ours as they come (``cwtest boot``).
        self.echo_output = echo_output
        #: The smoke calls and the search (``cwtest.harness.fuzzing``); None: the smoke calls only.
        self.fuzz = fuzz
        self._mocks: list[tuple[str, str | None, ExternalResponse]] = []
        #: Values for the workflow's variables (``--env``, ``--env-file``; ``[tool.cwtest] env`` is
        #: read per workflow and comes first).
        self.env_values: dict[str, str] = dict(env_values or {})
        #: Replay the cassette beside each workflow (``cassettes/<name>.yaml``) when there is one.
        self.cassettes = cassettes
        #: ``cwtest record``: perform the outbound requests nothing else answers, from this process,
        #: and write them to the cassette.
        self.record = record
        #: ``cwtest record --runtime URL``: the real runtime the library-service calls go to (with
        #: ``runtime_key``, the user's CODEWORDS_API_KEY), recorded too.
        self.runtime_url = runtime_url
        self.runtime_key = runtime_key
        #: ``--lint-fix``: boot a second copy with cwlint's safe fixes (``cwtest.harness.lint_fix``).
        self.lint_fix = lint_fix
        #: Seconds one callback may run on the workflow's event loop before it counts as blocking it
        #: (``--block-threshold``; 0: no watchdog).
        self.block_threshold = block_threshold
        self._active: set[WorkflowProcess] = set()
        self._active_lock = threading.Lock()
        self._interrupted = threading.Event()

    def mock_external(self, url: str, response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes,
                      method: str | None = None) -> None:
        """Answer outbound httpx requests whose URL starts with ``url`` (the longest prefix wins).

        A dict or list is a 200 JSON body, a str a text body, bytes a raw body; ``ExternalResponse``
        sets the status and headers. Each prefix's hits are counted in the report's egress; every
        request nothing answers is refused (the client's own connection error), never sent.
        """
        self._mocks.append((url, method, external_response(response)))

    # --- running ---------------------------------------------------------------------------------

    def run(self, paths: Sequence[Path], on_start: Callable[[Path], None] | None = None,
            on_done: Callable[[Path, WorkflowResult], None] | None = None) -> RunReport:
        started = time.monotonic()
        results: dict[int, WorkflowResult] = {}

        def one(index: int, path: Path) -> None:
            if on_start:
                on_start(path)
            result = self.run_one(path)
            results[index] = result
            if on_done:
                on_done(path, result)

        if self.jobs == 1 or len(paths) == 1:
            for index, path in enumerate(paths):
                one(index, path)
        else:
            pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="cwtest-run")
            futures = [pool.submit(one, i, p) for i, p in enumerate(paths)]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # Ctrl-C: end the running workflows now, start no other
                self._interrupted.set()
                with self._active_lock:
                    for process in list(self._active):
                        process.kill()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
        return RunReport(self.layer, [results[i] for i in range(len(paths))], time.monotonic() - started)

    def run_one(self, path: Path, *, source: Path | None = None, lint_fix: bool | None = None) -> WorkflowResult:
        """Environment, boot, smoke calls, search and findings of one workflow; never raises for its faults.

        ``source``: the file the workflow's process imports instead of ``path`` (``--lint-fix``'s
        scratch copy; settings, examples and cassette are still ``path``'s). ``lint_fix``: this
        run's ``--lint-fix`` (default: the harness's)."""
        result = WorkflowResult(str(path))
        started = time.monotonic()
        try:
            with session(self, path, result, source=source) as booted:
                if booted is not None:
                    fuzzing.exercise(booted, self.fuzz)
        except SessionStopped:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug or a broken host, not the workflow's fault
            result.harness_error = f"{type(exc).__name__}: {exc}"
        if (self.lint_fix if lint_fix is None else lint_fix) and not result.harness_error \
                and not self._interrupted.is_set():
            from cwtest.harness.lint_fix import second_boot

            try:
                second_boot(self, path, result)
            except Exception as exc:  # noqa: BLE001 - a bug of cwtest's: the first run's findings stand
                result.warnings.append(f"--lint-fix: the fixed copy was not run ({type(exc).__name__}: {exc})")
        result.seconds = time.monotonic() - started
        return result

    @contextmanager
    def boot(self, path: Path, *, source: Path | None = None) -> Iterator[BootedWorkflow]:
        """A live, sandboxed workflow (raises RuntimeError with the findings when it does not boot).
        ``source``: the file its process imports instead of ``path`` (``--lint-fix``'s copy)."""
        result = WorkflowResult(str(path))
        failed = False
        try:
            with session(self, path, result, source=source) as booted:
                if booted is None:
                    failed = True
                else:
                    yield booted
        except SessionStopped:
            failed = True
        if failed:  # only now: the session's end has turned the events into findings
            raise RuntimeError(_boot_failure(result))

    # --- what sessions share ---------------------------------------------------------------------

    @property
    def mocks(self) -> list[tuple[str, str | None, ExternalResponse]]:
        return list(self._mocks)

    def outside_world(self, path: Path, env: EnvPlan) -> OutsideWorld:
        """The outside world of one workflow: the run's mocks, its cassette, and (recording) the network."""
        from cwtest.cassette import Cassette, cassette_path, perform

        cassette = None
        if self.record or self.cassettes:
            file = cassette_path(path)
            if self.record or file.is_file():
                cassette = Cassette.load(file, env.values, recording=self.record)
        world = OutsideWorld(cassette=cassette, perform=perform if self.record else None)
        for url, method, response in self._mocks:
            world.mock(url, response, method)
        return world

    def finish_outside(self, path: Path, world: OutsideWorld, result: WorkflowResult) -> None:
        """After a workflow's run: the mock counts for the report; a recording run writes its cassette."""
        result.mocked = dict(world.mock_hits)
        cassette = world.cassette
        if cassette is not None:
            result.cassette = {"path": str(cassette.path), "played": cassette.played, "recorded": cassette.recorded}
            if self.record and cassette.recorded:
                cassette.save()

    @contextmanager
    def tracking(self, process: WorkflowProcess) -> Iterator[None]:
        """Keep ``process`` where Ctrl-C can kill it; start none once the run is interrupted."""
        if self._interrupted.is_set():
            raise SessionStopped
        with self._active_lock:
            self._active.add(process)
        try:
            yield
        finally:
            with self._active_lock:
                self._active.discard(process)


def _boot_failure(result: WorkflowResult) -> str:
    """Why the workflow did not boot, redacted like every report (``cwtest.redact``)."""
    from cwtest.redact import redactor_for

    return redactor_for(result).text(_boot_failure_text(result))


def _boot_failure_text(result: WorkflowResult) -> str:
    lines = [f"{result.path} did not boot:"]
    if result.harness_error:
        lines.append(f"  harness error: {result.harness_error}")
    lines += [f"  [{f.kind}] {f.message}" + (f" ({f.location})" if f.location else "") for f in result.findings]
    if result.stderr_tail:
        lines.append("stderr:\n" + result.stderr_tail[-2000:])
    return "\n".join(lines)
