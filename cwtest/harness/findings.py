"""What a run reports: findings (each of a documented kind), route results, one result per workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Every finding kind, with the one-line meaning the report and the docs use.
KINDS: dict[str, str] = {
    # environment and boot
    "header": "the PEP 723 header is missing or invalid, so the environment is unknown",
    "python-unavailable": "requires-python asks for an interpreter that is not installed (never downloaded)",
    "env-build": "uv could not install the header's dependencies",
    "env-mismatch": "--env current: this interpreter does not satisfy the header",
    "syntax-error": "the workflow does not compile",
    "missing-dependency": "an import the environment does not provide",
    "import-crash": "importing the workflow raised",
    "no-app": "no module-level FastAPI object to serve",
    "no-server": "the environment has no uvicorn to serve the app with",
    "boot-crash": "the process died or the server stopped before serving",
    # attempts to leave the sandbox (reported whether or not the kernel blocked them)
    "network": "a connection, name lookup or datagram to somewhere other than the simulator",
    "outbound-http": "an httpx request not for the simulator: intercepted, answered 599 or by a mock, never sent",
    "fs-write": "a write outside the private temporary directory",
    "process": "an attempt to start a process (subprocess, os.system, fork, exec, spawn) or signal another",
    "bind": "a listening socket other than the harness's own (a loopback port-0 probe that never listens is not)",
    "native-syscall": "a raw syscall() through ctypes",
    "protocol": "a message on the event socket that breaks cwtest's protocol (the workflow's process wrote it: "
                "forged, or malformed)",
    # resources
    "memory": "the memory limit was hit (killed by the OOM killer in the workflow's memory cgroup, or MemoryError)",
    "cpu": "the CPU-time limit was hit",
    "timeout": "the wall-clock timeout was hit: the workflow hung",
    "output-flood": "more output than --max-output on stdout/stderr",
    "crash": "the process died while serving",
    # the smoke run and the simulator's records
    "server-error": "a route answered a valid request (the smoke call's or a generated one) with a 5xx",
    "response-model": "a 2xx body breaks the documented response schema",
    "service-contract": "a library-service call broke the catalog's contract (the simulator answered 422)",
    # the search (--examples): generated requests and injected service faults
    "unhandled-exception": "an exception escaped the workflow on a generated request, or under a service fault "
                           "(other than the client's own error)",
    "no-response": "a generated request got no answer, and the workflow neither hung nor died",
    "redis-namespace": "a Redis command outside the run's namespace (refused by Redis' ACL)",
}


@dataclass
class Finding:
    kind: str
    message: str
    location: str | None = None
    stack: list[str] = field(default_factory=list)
    count: int = 1
    route: str | None = None
    #: Which check of the search found it (fuzz, invalid, faults, contract); None: boot, smoke, sandbox.
    check: str | None = None
    #: What reproduces it (the search's findings): input, fault, calls, curl, regression test.
    repro: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "location": self.location, "stack": self.stack,
                "count": self.count, "route": self.route, "check": self.check, "repro": self.repro}


@dataclass
class RouteResult:
    """The smoke call of one route."""

    method: str
    path: str
    status: int | None = None
    seconds: float = 0.0
    outcome: str = "ok"  #: ok, rejected (4xx), finding, not-run, unsupported
    note: str = ""
    request: Any = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "status": self.status, "seconds": round(self.seconds, 3),
                "outcome": self.outcome, "note": self.note, "request": self.request}


@dataclass
class WorkflowResult:
    """Everything the run learned about one workflow."""

    path: str
    environment: dict[str, Any] | None = None
    sandbox: str = ""
    booted: bool = False
    boot_seconds: float = 0.0
    app: str | None = None
    routes: list[RouteResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    external: list[dict[str, Any]] = field(default_factory=list)
    service_calls: int = 0
    warnings: list[str] = field(default_factory=list)
    stdout_bytes: int = 0
    stderr_tail: str = ""
    seconds: float = 0.0
    harness_error: str | None = None
    #: The search's summary (``--examples``): seed, requests, seconds, per-route statistics.
    fuzz: dict[str, Any] | None = None

    def add(self, finding: Finding) -> None:
        """Add a finding, merging repeats of the same kind at the same place."""
        for existing in self.findings:
            if (existing.kind, existing.route, existing.check) == (finding.kind, finding.route, finding.check) and (
                    (finding.location and existing.location == finding.location
                     # the search deduplicates by exception type and line: two types at one line
                     # are two bugs (``httpx.InvalidURL`` and ``httpx.UnsupportedProtocol``)
                     and (finding.check is None or _head(existing.message) == _head(finding.message)))
                    or (not finding.location and not existing.location and existing.message == finding.message)):
                existing.count = max(existing.count, finding.count)
                if not existing.stack and finding.stack:
                    existing.stack = finding.stack
                return
        self.findings.append(finding)

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "environment": self.environment, "sandbox": self.sandbox, "booted": self.booted,
            "boot_seconds": round(self.boot_seconds, 3), "app": self.app,
            "routes": [r.as_json() for r in self.routes], "findings": [f.as_json() for f in self.findings],
            "external_requests": self.external, "service_calls": self.service_calls, "warnings": self.warnings,
            "stdout_bytes": self.stdout_bytes, "stderr_tail": self.stderr_tail, "seconds": round(self.seconds, 3),
            "harness_error": self.harness_error, "fuzz": self.fuzz,
        }


def _head(message: str) -> str:
    """A search finding's exception type: its message up to the first colon."""
    return message.split(":", 1)[0]
