"""What one workflow's run leaves behind, as findings: the child's messages, the exit, the output.

Called once the workflow's process is gone (``cwtest.harness.session``):

* ``finding`` messages (attempts the child's audit hook saw), with the exact counts the child
  sent last; ``boot-failure`` messages; the protocol violations the reader counted;
* ``egress`` messages, grouped by host and method (``group_egress``): information, never findings;
* how the process ended: the OOM killer in its memory cgroup (``memory``), the CPU limit
  (``cpu``, with the stacks at SIGXCPU), a death the harness did not cause (``crash``, or
  ``boot-crash`` before it served), or a sandbox that never started (a harness error, not a
  finding: neither the workflow nor the child ran);
* the output's size (``output-flood``);
* the simulator's records: catalog problems of calls no request of the engine made
  (``service-contract``: calls at import or in the lifespan) and Redis' ACL log
  (``redis-namespace``).
"""

from __future__ import annotations

import signal
from collections.abc import Collection
from typing import Any

from cwtest.harness.child import protocol
from cwtest.harness.process import WorkflowProcess
from cwtest.harness.sandbox import format_size
from cwtest.results import Finding, Inconclusive, WorkflowResult

_SIGNALS = {int(s): s.name for s in signal.Signals}


def group_egress(events: list[protocol.Egress]) -> list[dict[str, Any]]:
    """Outbound requests and connections grouped by (host, method, client): the count, the first
    workflow line (None when only library frames made them: SDK telemetry, import-time checks) and
    who answered, with counts."""
    from urllib.parse import urlsplit

    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event in events:
        host = (urlsplit(event.url).hostname or event.url) if "://" in event.url else event.url
        entry = groups.setdefault((host, event.method, event.client), {
            "host": host, "method": event.method, "client": event.client, "count": 0, "location": None,
            "example": event.url.split("?")[0][:300], "answers": {}, "stack": list(event.stack)})
        entry["count"] += 1
        if entry["location"] is None and event.location:
            entry["location"] = event.location
        entry["answers"][event.answer] = entry["answers"].get(event.answer, 0) + 1
    for entry in groups.values():
        entry["library"] = entry["location"] is None
    return sorted(groups.values(), key=lambda e: (e["library"], e["host"], e["method"]))


def collect(process: WorkflowProcess, result: WorkflowResult, max_output: int, world: Any = None) -> None:
    """Turn what the child sent, the exit status and the output into findings."""
    cpu_stacks = None
    counts: dict[tuple[str, ...], int] = {}
    for answer in process.events.of(protocol.Counts):
        counts.update({tuple(key): count for key, count in answer.counts})
    for event in process.events.of(protocol.Message):
        if isinstance(event, protocol.Finding):
            count = max(event.count, counts.get(event.key, 0))
            result.add(Finding(event.kind, event.detail, event.location, list(event.stack), count))
        elif isinstance(event, protocol.BootFailure) and event.kind == "no-app":
            # A file with a header but no app (an excerpt, a helper module) is not a workflow cwtest
            # can serve: not collected, with the reason; never a finding (issue 14).
            result.inconclusive = Inconclusive(f"not collected: {event.detail}",
                                               "a workflow serves a module-level FastAPI app (app = FastAPI(...))")
        elif isinstance(event, protocol.BootFailure):
            failure = "memory" if event.exc_type == "MemoryError" else event.kind
            result.add(Finding(failure, event.detail, event.location, list(event.stack)))
        elif isinstance(event, protocol.Hello):
            result.warnings.extend(event.warnings)
        elif isinstance(event, protocol.SetupWarning):
            result.warnings.append(event.text)
        elif isinstance(event, protocol.Stacks) and event.reason == "cpu":
            cpu_stacks = event
    result.egress = group_egress(process.events.of(protocol.Egress))
    observe(process, result)
    leftovers(process, result)
    for reason, count in process.events.violations.items():
        result.add(Finding("protocol", f"a message from the workflow's process broke cwtest's protocol: {reason}",
                           count=count))
    code = process.returncode
    started = bool(process.events.of(protocol.Hello))
    if process.disk_exceeded:
        result.add(Finding("disk", f"the workflow's directory outgrew its cap ({format_size(process.limits.tmpfs)}): "
                                   f"{process.disk_exceeded}; the process was stopped"))
    if process.oom_killed:  # its cgroup counted an OOM kill: a memory finding, not a crash
        _oom_finding(process, result)
    elif not started and code not in (None, 0) and not process.killed_by_harness:
        # Neither the workflow nor the child ran: bwrap or the interpreter failed. Not a finding.
        result.harness_error = (f"the sandbox did not start (status {code})"
                                + _stderr_hint(process).replace("; stderr ends with", ":"))
    elif cpu_stacks is not None or code in (-signal.SIGXCPU,):
        location, stack = stack_of(cpu_stacks)
        result.add(Finding("cpu", f"the CPU-time limit ({process.limits.cpu} s) was reached", location, stack))
    elif code is not None and code != 0 and not process.killed_by_harness:
        if not process.events.of(protocol.BootFailure):
            how = f"was killed by {_SIGNALS.get(-code, -code)}" if code < 0 else f"exited with status {code}"
            if code in (-signal.SIGKILL, 128 + signal.SIGKILL) and process.cgroup is not None:
                how += " (the CPU limit's hard stop, or a signal from outside: its memory cgroup recorded no OOM kill)"
            elif code == -signal.SIGKILL:
                how += " (the CPU limit's hard stop or the kernel's OOM killer)"
            kind = "boot-crash" if not result.booted else "crash"
            in_flight = next((f for f in result.findings if f.kind == "crash" and f.check is not None), None)
            if in_flight is not None:  # the request's finding has the input that killed it: add how it died
                in_flight.message += f" (the process {how})"
            else:
                result.add(Finding(kind, f"the workflow process {how}" + _stderr_hint(process)))
    total = (process.stdout.total if process.stdout else 0) + (process.stderr.total if process.stderr else 0)
    result.stdout_bytes = process.stdout.total if process.stdout else 0
    result.stderr_tail = process.stderr.text() if process.stderr else ""
    if total > max_output:
        result.add(Finding("output-flood", f"{total / (1 << 20):.1f} MiB written to stdout/stderr (limit "
                                           f"{max_output / (1 << 20):.0f} MiB); only the last 64 KiB were kept"))


#: The kinds the observer judges by itself when the workflow's process did not report them.
OBSERVED_KINDS = {"process": "tried to start a process", "fs-write": "tried to write outside its directories",
                  "bind": "tried to bind a socket of its own"}


def observe(process: WorkflowProcess, result: WorkflowResult) -> None:
    """What the process tried, seen from outside (``cwtest.harness.observe``): recorded in the
    result whatever its process said; and for the kinds in ``OBSERVED_KINDS`` a finding when its
    own messages reported none of that kind (a workflow that silenced or forged them is judged by
    what it did)."""
    observer = process.observer
    if observer is None:
        return
    records = observer.observed()
    result.observed = [r.as_json() for r in records]
    if observer.dropped:
        result.observed.append({"kind": "more", "call": "", "target": f"{observer.dropped} more attempts",
                                "allowed": False, "count": observer.dropped})
    reported = {e.kind for e in process.events.of(protocol.Finding)}
    for kind, what in OBSERVED_KINDS.items():
        seen = [r for r in records if r.kind == kind]
        if not seen or kind in reported:
            continue
        targets = ", ".join(f"{r.call} {r.target}" + (f" (x{r.count})" if r.count > 1 else "") for r in seen[:5])
        more = f" and {len(seen) - 5} more" if len(seen) > 5 else ""
        result.add(Finding(kind, f"the workflow's process {what}, seen from outside it (its own reports did not say "
                                 f"so): {targets}{more}", count=sum(r.count for r in seen)))


def leftovers(process: WorkflowProcess, result: WorkflowResult) -> None:
    """The app's directory is writable only for the socket the child binds there (it is a host
    directory in every layer): anything else found in it after the run is a write outside the
    workflow's own directory, whatever its process said."""
    app = process.run_dir.app
    try:
        names = sorted(p.name for p in app.iterdir() if p != process.run_dir.app_socket)
    except OSError:
        return
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        result.add(Finding("fs-write", f"the workflow left {len(names)} file(s) in the directory of its app's socket "
                                       f"(found after the run): {shown}", count=len(names)))


def collect_runtime(runtime: Any, result: WorkflowResult, checked: Collection[int]) -> None:
    """The simulator's records: contract problems of calls no checked request made, Redis' ACL log."""
    result.service_calls = len(runtime.calls())
    from cwtest.simulator.validation import lint_code

    reported = {f.message for f in result.findings if f.kind == "service-contract"}
    for call in runtime.calls():
        if call.seq in checked:
            continue  # a request's calls: the engine reported their problems, with a repro
        where = f"{call.service}{'/' + call.path if call.path else ''}"
        kinds = tuple(getattr(call, "problem_kinds", ()) or ()) + (None,) * len(call.problems)
        for problem, kind in zip(call.problems, kinds, strict=False):  # kinds padded with None
            if f"{where}: {problem}" not in reported:
                # the line of the call: the child adds it to every runtime request it routes
                result.add(Finding("service-contract", f"{where}: {problem}", call.headers.get("x-cwtest-location"),
                                   lint=lint_code(kind)))
    for violation in runtime.redis_violations():
        result.add(Finding("redis-namespace", f"Redis refused {violation.command} on {violation.object!r} "
                                              f"({violation.reason})", count=violation.count))


def stack_of(stacks: protocol.Stacks | None) -> tuple[str | None, list[str]]:
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


def _oom_finding(process: WorkflowProcess, result: WorkflowResult) -> None:
    """The kernel's OOM killer ended the workflow in its memory cgroup: a ``memory`` finding.

    There is no Python frame to show (SIGKILL runs no handler); the request in flight, whose
    ``crash`` finding has the input, becomes the memory finding.
    """
    message = (f"the memory limit ({format_size(process.limits.memory)}) was reached: killed by the kernel's "
               f"OOM killer")
    in_flight = next((f for f in result.findings if f.kind == "crash" and f.check is not None), None)
    if in_flight is not None:
        in_flight.kind = "memory"
        in_flight.message = message + (f" during {in_flight.route}" if in_flight.route else "")
        return
    phase = "" if result.booted else " before it served"
    result.add(Finding("memory", message + phase))


def _stderr_hint(process: WorkflowProcess) -> str:
    tail = process.stderr.text(600).strip() if process.stderr else ""
    return f"; stderr ends with: {tail[-400:]}" if tail else ""
