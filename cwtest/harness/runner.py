"""Running workflows: environment, boot in the sandbox against a fresh simulator, smoke, findings.

``Harness`` is the API tests and the CLI share::

    harness = Harness(sandbox="auto", timeout=30)
    harness.mock_external("https://api.example.com/", {"ok": True})
    report = harness.run([Path("workflow.py")])           # RunReport
    with harness.boot(Path("workflow.py")) as booted:     # a live workflow, for tests and `cwtest boot`
        booted.client.post("/", json={...})
        booted.runtime.calls("openai")

Each workflow gets its own simulator (``SimulatedRuntime``, served on a Unix socket), its own run
directory and its own sandboxed process; nothing is shared between two workflows but the
environment cache. A workflow that crashes, hangs or attacks is reported and the run goes on.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from cwlint.header import parse_header
from cwtest.harness.bridge import Relay, UnixServer
from cwtest.harness.child import protocol
from cwtest.harness.env import EnvError, EnvManager, default_cache_dir, spec_for
from cwtest.harness.process import RunDir, WorkflowProcess
from cwtest.harness.sandbox import Limits, choose, format_size
from cwtest.outbound import ExternalResponse, external_response
from cwtest.results import Finding, RunReport, WorkflowResult
from cwtest.workflow_env import workflow_env

if TYPE_CHECKING:
    from cwtest.fuzz.engine import FuzzConfig

#: The runtime URL the workflow sees; its requests for it go over the simulator's Unix socket.
SIM_BASE = "http://runtime.cwtest.invalid"
_PIPEDREAM = re.compile(r"^PIPEDREAM_(?P<app>[A-Z0-9_]+)_ACCESS$")
_SHADOWED = {"fastapi", "pydantic", "httpx", "uvicorn", "starlette", "codewords_client", "redis", "structlog",
             "openai", "anthropic", "anyio", "typing_extensions"}


class _Stop(Exception):
    """Ends the work on one workflow early (its findings say why)."""


class Harness:
    """Options shared by every workflow of a run; see the module docstring."""

    def __init__(self, *, sandbox: str = "auto", layer: str | None = None, env: str = "uv",
                 cache_dir: Path | None = None, timeout: float = 60.0, boot_timeout: float | None = None,
                 limits: Limits | None = None, max_output: int = 10 << 20, jobs: int = 1, seed: int = 0,
                 echo_output: bool = False, fuzz: FuzzConfig | None = None) -> None:
        self.layer = choose(sandbox, force=layer)
        self.envs = EnvManager(env, cache_dir or default_cache_dir())
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
        self._mocks: list[protocol.Mock] = []
        self._active: set[WorkflowProcess] = set()
        self._active_lock = threading.Lock()
        self._interrupted = threading.Event()

    def mock_external(self, url: str, response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes,
                      method: str | None = None) -> None:
        """Answer outbound httpx requests whose URL starts with ``url`` (the longest prefix wins).

        A dict or list is a 200 JSON body, a str a text body, bytes a raw body; ``ExternalResponse``
        sets the status and headers. Matched requests are recorded (``WorkflowResult.external``),
        not reported as findings; every other outbound request is a finding and gets a 599.
        """
        self._mocks.append(external_response(response).as_mock(url, method))

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

    def run_one(self, path: Path) -> WorkflowResult:
        """Environment, boot, smoke and findings of one workflow; never raises for the workflow's faults."""
        result = WorkflowResult(str(path))
        started = time.monotonic()
        try:
            with self._session(path, result) as booted:
                if booted is not None:
                    booted.exercise(self.fuzz)
        except _Stop:
            pass
        except Exception as exc:  # a bug or a broken host, not the workflow's fault
            result.harness_error = f"{type(exc).__name__}: {exc}"
        result.seconds = time.monotonic() - started
        return result

    @contextmanager
    def boot(self, path: Path) -> Iterator[BootedWorkflow]:
        """A live, sandboxed workflow (raises RuntimeError with the findings when it does not boot)."""
        result = WorkflowResult(str(path))
        failed = False
        try:
            with self._session(path, result) as booted:
                if booted is None:
                    failed = True
                else:
                    yield booted
        except _Stop:
            failed = True
        if failed:  # only now: the session's end has turned the events into findings
            raise RuntimeError(_boot_failure(result))

    @contextmanager
    def _session(self, path: Path, result: WorkflowResult) -> Iterator[BootedWorkflow | None]:
        path = path.resolve()
        result.sandbox = self.layer.describe()
        if self.layer.warning:
            result.warnings.append(self.layer.warning)
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            spec = spec_for(path, text)
            environment = self.envs.prepare(spec)
        except EnvError as exc:
            result.add(Finding(exc.kind, exc.message))
            raise _Stop from None
        result.environment = {"description": environment.describe(), **environment.as_json()}
        header = parse_header(text)
        assert header is not None
        from cwtest.simulator import SimulatedRuntime
        from cwtest.simulator.redis_server import RedisUnavailable, redis_available

        apps = {m.group("app").lower() for v in header.env_vars if (m := _PIPEDREAM.match(v.name))}
        runtime = SimulatedRuntime(connected_apps=apps, seed=self.seed)
        run_dir = RunDir()
        sim = UnixServer(runtime.app, run_dir.sim_socket)
        relay: Relay | None = None
        process: WorkflowProcess | None = None
        booted: BootedWorkflow | None = None
        try:
            sim.start()
            redis_port = None
            if "redis_client" in text:
                if redis_available():
                    try:
                        credentials = runtime.redis_credentials()
                        relay = Relay.unix_to_tcp(run_dir.redis_socket, credentials.host, credentials.port).start()
                        redis_port = credentials.port
                    except RedisUnavailable as exc:
                        result.warnings.append(f"redis_client() cannot work: {exc}")
                else:
                    result.warnings.append("redis_client() cannot work: redis-server is not installed "
                                           "(apt-get install redis-server)")
            env = workflow_env(header, api_key=runtime.api_key, runtime_url=SIM_BASE, home=run_dir.home)
            process = WorkflowProcess(
                python=environment.python, workflow=path, env=env, layer=self.layer, limits=self.limits,
                run_dir=run_dir, sim_base=SIM_BASE, redis_port=redis_port, mocks=list(self._mocks),
                module=module_name(path, header.distribution_names()),
                echo=sys.stderr.buffer if self.echo_output else None,
            )
            if self._interrupted.is_set():
                raise _Stop
            with self._active_lock:
                self._active.add(process)
            process.start()
            if process.memory_warning:
                result.warnings.append(process.memory_warning)
            deadline = process.started_at + self.timeout
            booted = BootedWorkflow(self, path, result, runtime, process, deadline)
            booted.wait_ready(min(self.boot_timeout, self.timeout))
            yield booted if result.booted else None
        finally:
            if booted is not None:
                booted.close()
            elif process is not None:
                process.kill()
            if process is not None:
                with self._active_lock:
                    self._active.discard(process)
            try:
                if process is not None:
                    collect(process, result, self.max_output)
                result.service_calls = len(runtime.calls())
                checked = booted.checked_calls if booted is not None else set()
                reported = {f.message for f in result.findings if f.kind == "service-contract"}
                for call in runtime.calls():
                    if call.seq in checked:
                        continue  # a request's calls: the engine reported their problems, with a repro
                    where = f"{call.service}{'/' + call.path if call.path else ''}"
                    for problem in call.problems:
                        if f"{where}: {problem}" not in reported:
                            result.add(Finding("service-contract", f"{where}: {problem}"))
                for violation in runtime.redis_violations():
                    result.add(Finding("redis-namespace", f"Redis refused {violation.command} on "
                                       f"{violation.object!r} ({violation.reason})", count=violation.count))
            finally:
                if relay is not None:
                    relay.stop()
                sim.stop(wait=False)  # the workflow's process is gone: nothing is in flight
                runtime.stop()
                run_dir.cleanup()


def _boot_failure(result: WorkflowResult) -> str:
    lines = [f"{result.path} did not boot:"]
    if result.harness_error:
        lines.append(f"  harness error: {result.harness_error}")
    lines += [f"  [{f.kind}] {f.message}" + (f" ({f.location})" if f.location else "") for f in result.findings]
    if result.stderr_tail:
        lines.append("stderr:\n" + result.stderr_tail[-2000:])
    return "\n".join(lines)


def module_name(path: Path, distributions: set[str]) -> str:
    """The workflow's module name: its file name, unless that would shadow a library it imports."""
    stem = path.stem
    shadowed = _SHADOWED | {d.replace("-", "_") for d in distributions} | set(sys.stdlib_module_names)
    if stem.isidentifier() and stem not in shadowed:
        return stem
    return "cwtest_workflow"


class BootedWorkflow:
    """A workflow being served in its sandbox; ``client`` reaches its app over the Unix socket."""

    def __init__(self, harness: Harness, path: Path, result: WorkflowResult, runtime: Any,
                 process: WorkflowProcess, deadline: float) -> None:
        self.harness = harness
        self.path = path
        self.result = result
        self.runtime = runtime
        self.process = process
        self.deadline = deadline
        self.client = httpx.Client(transport=httpx.HTTPTransport(uds=str(process.run_dir.app_socket)),
                                   base_url="http://workflow", timeout=harness.timeout)
        self._stopped = False
        self._timed_out = False
        #: The simulator calls whose contract the engine checked (their problems have a repro).
        self.checked_calls: set[int] = set()

    @property
    def run_dir(self) -> RunDir:
        return self.process.run_dir

    def mock_external(self, url: str, response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes,
                      method: str | None = None) -> None:
        """``Harness.mock_external`` for this running workflow alone, from now on."""
        if not self.process.add_mock(external_response(response).as_mock(url, method)):
            raise RuntimeError("the workflow process did not take the mock (it has stopped?)")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def wait_ready(self, timeout: float) -> None:
        started = time.monotonic()
        event = self.process.wait_ready(timeout)
        self.result.boot_seconds = time.monotonic() - started
        if isinstance(event, protocol.Ready):
            self.result.booted = True
            self.result.app = event.app
            others = [n for n in event.apps if n != event.app]
            if others:
                self.result.warnings.append(f"several FastAPI objects ({', '.join(event.apps)}); served "
                                            f"{event.app!r}")
            return
        if event is not None:  # boot-failure: the collect step turns it into a finding
            return
        if self.process.alive():
            self.timeout_finding("while importing and starting the workflow")
            return
        # Died without saying why: collect() reports the signal or exit status.

    def timeout_finding(self, phase: str, route: str | None = None) -> None:
        stacks = self.process.request_stacks("timeout")
        self._timed_out = True
        location, stack = _stack_of(stacks)
        self.result.add(Finding("timeout", f"no progress after {self.harness.timeout:g} s ({phase})", location,
                                stack, route=route))
        self.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def exercise(self, config: FuzzConfig | None) -> None:
        """The smoke call of every route, then the search (``config``; None: the smoke calls only)."""
        from cwtest.harness.fuzzing import exercise

        exercise(self, config)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.process.request_counts()
            self.process.kill()

    def close(self) -> None:
        self.client.close()
        self.stop()


def _stack_of(stacks: protocol.Stacks | None) -> tuple[str | None, list[str]]:
    """The most telling stack of a ``stacks`` message: a task or thread inside the workflow."""
    if not stacks:
        return None, ["(no stack: the process did not answer the stack request)"]
    located: list[protocol.TaskStack | protocol.ThreadStack] = [
        *(s for s in stacks.tasks if s.location), *(s for s in stacks.threads if s.location)]
    if not located:
        lines: list[str] = []
        for thread in stacks.threads[:3]:
            lines.append(f"thread {thread.thread}:")
            lines += ["  " + line for line in thread.stack[-8:]]
        return None, lines
    lines = []
    for entry in located[:3]:
        label = f"task {entry.task}" if isinstance(entry, protocol.TaskStack) else f"thread {entry.thread}"
        lines.append(f"{label}:")
        lines += ["  " + line for line in entry.stack]
    return located[0].location, lines


_SIGNALS = {int(s): s.name for s in signal.Signals}


def collect(process: WorkflowProcess, result: WorkflowResult, max_output: int) -> None:
    """Turn what the child sent, the exit status and the output into findings."""
    cpu_stacks = None
    counts: dict[tuple[str, ...], int] = {}
    for answer in process.events.of(protocol.Counts):
        counts.update({tuple(key): count for key, count in answer.counts})
    for event in process.events.of(protocol.Message):
        if isinstance(event, protocol.Finding):
            count = max(event.count, counts.get(event.key, 0))
            result.add(Finding(event.kind, event.detail, event.location, list(event.stack), count))
        elif isinstance(event, protocol.BootFailure):
            failure = "memory" if event.exc_type == "MemoryError" else event.kind
            result.add(Finding(failure, event.detail, event.location, list(event.stack)))
        elif isinstance(event, protocol.External):
            result.external.append({"method": event.method, "url": event.url, "location": event.location,
                                    "mocked": event.mocked})
        elif isinstance(event, protocol.Hello):
            result.warnings.extend(event.warnings)
        elif isinstance(event, protocol.SetupWarning):
            result.warnings.append(event.text)
        elif isinstance(event, protocol.Stacks) and event.reason == "cpu":
            cpu_stacks = event
    for reason, count in process.events.violations.items():
        result.add(Finding("protocol", f"a message from the workflow's process broke cwtest's protocol: {reason}",
                           count=count))
    code = process.returncode
    started = bool(process.events.of(protocol.Hello))
    if process.oom_killed:  # its cgroup counted an OOM kill: a memory finding, not a crash
        _oom_finding(process, result)
    elif not started and code not in (None, 0) and not process.killed_by_harness:
        # Neither the workflow nor the child ran: bwrap or the interpreter failed. Not a finding.
        result.harness_error = (f"the sandbox did not start (status {code})"
                                + _stderr_hint(process).replace("; stderr ends with", ":"))
    elif cpu_stacks is not None or code in (-signal.SIGXCPU,):
        location, stack = _stack_of(cpu_stacks)
        result.add(Finding("cpu", f"the CPU-time limit ({process.limits.cpu} s) was reached", location, stack))
    elif code is not None and code != 0 and not process.killed_by_harness:
        has_boot_failure = bool(process.events.of(protocol.BootFailure))
        if not has_boot_failure:
            how = f"was killed by {_SIGNALS.get(-code, -code)}" if code < 0 else f"exited with status {code}"
            if code in (-signal.SIGKILL, 128 + signal.SIGKILL) and process.cgroup is not None:
                how += " (the CPU limit's hard stop, or a signal from outside: its memory cgroup recorded no OOM kill)"
            elif code == -signal.SIGKILL:
                how += " (the CPU limit's hard stop or the kernel's OOM killer)"
            kind = "boot-crash" if not result.booted else "crash"
            searched = next((f for f in result.findings if f.kind == "crash" and f.check is not None), None)
            if searched is not None:  # the search's finding has the input that killed it: add how it died
                searched.message += f" (the process {how})"
            else:
                result.add(Finding(kind, f"the workflow process {how}" + _stderr_hint(process)))
    total = (process.stdout.total if process.stdout else 0) + (process.stderr.total if process.stderr else 0)
    result.stdout_bytes = process.stdout.total if process.stdout else 0
    result.stderr_tail = process.stderr.text() if process.stderr else ""
    if total > max_output:
        result.add(Finding("output-flood", f"{total / (1 << 20):.1f} MiB written to stdout/stderr (limit "
                                           f"{max_output / (1 << 20):.0f} MiB); only the last 64 KiB were kept"))


def _oom_finding(process: WorkflowProcess, result: WorkflowResult) -> None:
    """The kernel's OOM killer ended the workflow in its memory cgroup: a ``memory`` finding.

    There is no Python frame to show (SIGKILL runs no handler); the route in flight is named when
    one was, and a search's crash finding (which has the input) becomes the memory finding.
    """
    message = (f"the memory limit ({format_size(process.limits.memory)}) was reached: killed by the kernel's "
               f"OOM killer")
    searched = next((f for f in result.findings if f.kind == "crash" and f.check is not None), None)
    if searched is not None:  # the request that was in flight: its finding has the input
        searched.kind = "memory"
        searched.message = message + (f" during {searched.route}" if searched.route else "")
        return
    route = next((f.route for f in result.findings if f.kind == "crash"), None)
    phase = "" if result.booted else " before it served"
    result.add(Finding("memory", message + phase + (f" during {route}" if route else ""), route=route))


def _stderr_hint(process: WorkflowProcess) -> str:
    tail = process.stderr.text(600).strip() if process.stderr else ""
    return f"; stderr ends with: {tail[-400:]}" if tail else ""

