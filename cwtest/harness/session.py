"""One workflow's session: its environment, simulator, Redis and sandboxed process, and their end.

``session(harness, path, result)`` is a context manager that yields the booted workflow (or None
when it did not boot; the findings say why) and, whatever happens, ends everything it started:
the process group is killed, the findings are collected from what the child sent and how it
ended (``cwtest.harness.collect``), the simulator and its Redis relay are stopped and the run
directory is removed. In order:

1. **Environment**: the header's environment, built by uv or this interpreter
   (``cwtest.harness.env``); a header that cannot give one is a finding and ``SessionStopped``.
2. **Simulator**: a fresh ``SimulatedRuntime`` (its calls, files and Redis keys are this
   workflow's), served on ``ctl/sim.sock``; its connected apps come from the declared
   ``PIPEDREAM_<APP>_ACCESS`` variables. When the workflow mentions ``redis_client``, the
   simulator's TLS redis-server is relayed on ``ctl/redis.sock``.
3. **Outside world**: the workflow's ``OutsideWorld`` (``cwtest.outbound``: the run's mocks, the
   cassette beside the workflow, and in a recording run the network), served on
   ``ctl/outside.sock``; the child forwards every request that is not the runtime's there.
4. **Process**: the child in the sandbox, with exactly the declared variables and the values the
   user gave (``cwtest.workflow_env``: placeholders where nobody gave one), less the names the
   allow-list refuses (``cwtest.env_names``; each is a ``refused-env-var`` finding), then
   ``wait_ready``. The values reach the workflow's process only (through its config): the
   sandbox's command runs with none of them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cwlint.header import parse_header
from cwtest.env_names import split_env_names
from cwtest.harness.bridge import Relay, UnixServer
from cwtest.harness.collect import collect, collect_runtime
from cwtest.harness.env import EnvError, spec_for
from cwtest.harness.policy import run_identity
from cwtest.harness.process import RunDir, WorkflowProcess
from cwtest.harness.workflow import BootedWorkflow
from cwtest.outbound import outside_app
from cwtest.results import Finding, Inconclusive, WorkflowResult
from cwtest.workflow_env import EnvPlan, plan_env, project_settings

if TYPE_CHECKING:
    from cwtest.harness.runner import Harness

#: The runtime URL the workflow sees; its requests for it go over the simulator's Unix socket.
SIM_BASE = "http://runtime.cwtest.invalid"
_PIPEDREAM = re.compile(r"^PIPEDREAM_(?P<app>[A-Z0-9_]+)_ACCESS$")
_SHADOWED = {"fastapi", "pydantic", "httpx", "uvicorn", "starlette", "codewords_client", "redis", "structlog",
             "openai", "anthropic", "anyio", "typing_extensions"}


class SessionStopped(Exception):
    """Ends the work on one workflow early (its findings say why)."""


@contextmanager
def session(harness: Harness, path: Path, result: WorkflowResult,
            source: Path | None = None) -> Iterator[BootedWorkflow | None]:
    """The booted workflow at ``path`` (None when it did not boot); see the module docstring.
    ``source``: the file its process imports instead (``--lint-fix``'s scratch copy)."""
    path = path.resolve()
    imported = source.resolve() if source is not None else path
    result.sandbox = harness.layer.describe()
    if harness.layer.warning:
        result.warnings.append(harness.layer.warning)
    text = imported.read_text(encoding="utf-8", errors="replace")
    try:
        environment = harness.envs.prepare(spec_for(path, text))
    except EnvError as exc:
        if exc.unblock:  # cwtest's own restriction (no sdist builds by default): not the workflow's bug
            result.inconclusive = Inconclusive(exc.message, exc.unblock)
        else:
            result.add(Finding(exc.kind, exc.message))
        raise SessionStopped from None
    result.environment = {"description": environment.describe(), **environment.as_json()}
    header = parse_header(text)
    assert header is not None  # spec_for has read it
    from cwtest.simulator import SimulatedRuntime
    from cwtest.simulator.redis_server import RedisUnavailable, redis_available

    apps = {m.group("app").lower() for v in header.env_vars if (m := _PIPEDREAM.match(v.name))}
    runtime = SimulatedRuntime(connected_apps=apps, seed=harness.seed)
    run_dir = RunDir(run_identity())
    settings = project_settings(path)
    user = {**{str(k): str(v) for k, v in (settings.get("env") or {}).items() if k != "_root"},
            **harness.env_values}
    plan = plan_env(header, api_key=runtime.api_key, runtime_url=SIM_BASE, home=run_dir.home, user=user,
                    source=text)
    refuse_env_names(plan, {var.name for var in header.env_vars}, result)
    result.secrets = plan.secrets()
    world = harness.outside_world(path, plan)
    sim_app = runtime.app
    if world.cassette is not None:
        from cwtest.cassette import runtime_proxy, script_runtime

        if harness.record and harness.runtime_url:  # library calls go to the real runtime, and are recorded
            sim_app = runtime_proxy(harness.runtime_url, harness.runtime_key or "", world.cassette, SIM_BASE)
        elif not harness.record:
            script_runtime(runtime, world.cassette, SIM_BASE)
    sim = UnixServer(sim_app, run_dir.sim_socket)
    outside = UnixServer(outside_app(world), run_dir.outside_socket)
    relay: Relay | None = None
    process: WorkflowProcess | None = None
    booted: BootedWorkflow | None = None
    try:
        sim.start()
        outside.start()
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
        process = WorkflowProcess(
            python=environment.python, workflow=imported, env=plan.values, layer=harness.layer, limits=harness.limits,
            run_dir=run_dir, sim_base=SIM_BASE, redis_port=redis_port,
            module=module_name(path, header.distribution_names()),
            echo=sys.stderr.buffer if harness.echo_output else None, placeholders=plan.distinctive(),
            watching={"block_threshold": harness.block_threshold, "wait": harness.timeout},
        )
        with harness.tracking(process):
            process.start()
            if process.memory_warning:
                result.warnings.append(process.memory_warning)
            booted = BootedWorkflow(path, result, runtime, process, timeout=harness.timeout, seed=harness.seed,
                                    world=world, env=plan)
            booted.wait_ready(min(harness.boot_timeout, harness.timeout))
            try:
                yield booted if result.booted else None
            finally:
                booted.close()
    finally:
        if booted is None and process is not None:
            process.kill()
        try:
            if process is not None:
                collect(process, result, harness.max_output, world)
            collect_runtime(runtime, result, booted.checked_calls if booted is not None else ())
        finally:
            if relay is not None:
                relay.stop()
            sim.stop(wait=False)  # the workflow's process is gone: nothing is in flight
            outside.stop(wait=False)
            harness.finish_outside(path, world, result)
            runtime.stop()
            run_dir.cleanup()


def refuse_env_names(plan: EnvPlan, declared: set[str], result: WorkflowResult) -> None:
    """Drop from ``plan`` the names the allow-list refuses (``cwtest.env_names``), whoever set them
    (the header, ``[tool.cwtest] env`` or ``--env``): each is a ``refused-env-var`` finding and is
    never set, so that no name such as ``LD_PRELOAD`` reaches a loader."""
    _, refused = split_env_names([name for name in plan.values if name not in ("HOME", "TMPDIR")])
    for name, reason in refused.items():
        source = "the header declares" if name in declared else "--env, --env-file or [tool.cwtest] env sets"
        result.add(Finding("refused-env-var", f"{source} {name}: refused and not set: {reason}"))
        plan.values.pop(name, None)
        plan.placeholders.pop(name, None)


def module_name(path: Path, distributions: set[str]) -> str:
    """The workflow's module name: its file name, unless that would shadow a library it imports."""
    stem = path.stem
    shadowed = _SHADOWED | {d.replace("-", "_") for d in distributions} | set(sys.stdlib_module_names)
    if stem.isidentifier() and stem not in shadowed:
        return stem
    return "cwtest_workflow"
