"""The hostile fixtures: each attack is contained and reported, the run goes on, the host is unchanged.

``clean_host`` fails a test that leaves a marker file (in /etc, the home directory, the
checkout, /tmp), a run directory or a process behind; ``decoy`` listens on 127.0.0.2:47291 (TCP
and UDP) for anything that gets out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from harness_support import HOSTILE
from needs import in_ci, need_layer

from cwtest.harness.cli import run_main
from cwtest.results import Finding, WorkflowResult
from cwtest.harness.runner import Harness
from cwtest.harness.sandbox import Limits, choose

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("clean_host")]

#: The finding kind each attack must produce (it may produce others).
EXPECTED = {
    "socket_connect": "network",
    "underscore_socket": "network",
    "httpx_exfil": "outbound-http",
    "urllib_exfil": "network",
    "write_etc": "fs-write",
    "write_home": "fs-write",
    "write_checkout": "fs-write",
    "subprocess_run": "process",
    "os_system": "process",
    "os_fork": "process",
    "posixsubprocess": "process",
    "ctypes_fork": "process",
    "fork_bomb": "process",
    "memory_bomb": "memory",
    "busy_loop": "timeout",
    "sleep_forever": "timeout",
    "stdout_flood": "output-flood",
    "bind_port": "bind",
}
#: Attacks whose containment depends on the layer (the rest are rlimits, timeouts and output).
LAYERED = [n for n, kind in EXPECTED.items() if kind in ("network", "outbound-http", "fs-write", "process", "bind")]
CI = in_ci()


def checkout_digest() -> str:
    """The hostile fixtures' bytes (write_checkout tries to append to itself)."""
    digest = hashlib.sha256()
    for path in sorted(HOSTILE.glob("*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def assert_reported(results: list[WorkflowResult], names: list[str]) -> None:
    by_name = {Path(r.path).stem: r for r in results}
    assert sorted(by_name) == sorted(names)  # every workflow ran: none stopped the run
    missing = {name: sorted(by_name[name].kinds()) for name in names if EXPECTED[name] not in by_name[name].kinds()}
    assert not missing, f"attacks not reported as expected ({ {n: EXPECTED[n] for n in missing} }): {missing}"
    errors = {name: r.harness_error for name, r in by_name.items() if r.harness_error}
    assert not errors, errors
    for name in names:
        result = by_name[name]
        assert result.booted, (name, [f.message for f in result.findings])
        for finding in result.findings:
            if finding.kind == "memory" and "OOM killer" in finding.message:
                # A memory cgroup's limit: the kernel's SIGKILL leaves no Python frame; the route is named.
                assert finding.route == "POST /", (name, finding)
                continue
            if finding.kind in ("network", "fs-write", "process", "bind", "outbound-http", "timeout", "memory"):
                assert finding.location and finding.location.startswith(str(HOSTILE / name)), (name, finding)


def test_every_hostile_fixture_is_contained_and_reported(decoy, tmp_path: Path) -> None:
    mode = "strict" if CI else "auto"
    if CI:
        need_layer("bubblewrap")
        assert choose("strict").name == "bubblewrap"
    before = checkout_digest()
    out = tmp_path / "hostile.json"
    # --examples 0: containment of the import and the smoke call; the search would repeat each attack
    # once per generated request (and multiply the counts asserted below).
    code = run_main([str(HOSTILE), "--sandbox", mode, "-j", "2", "--timeout", "8", "--memory", "512M", "--examples", "0",
                     "--output-format", "json", "-o", str(out), "--no-progress"])
    assert code == 1
    report = json.loads(out.read_text())
    if CI:
        assert report["sandbox"]["layer"] == "bubblewrap"
    results = []
    for workflow in report["workflows"]:
        result = WorkflowResult(workflow["path"], booted=workflow["booted"], harness_error=workflow["harness_error"])
        result.findings = [Finding(f["kind"], f["message"], f["location"], f["stack"], f["count"], f["route"])
                           for f in workflow["findings"]]
        results.append(result)
    assert_reported(results, list(EXPECTED))
    assert decoy.received == []
    assert checkout_digest() == before
    by_name = {Path(w["path"]).stem: w for w in report["workflows"]}
    fork_bomb = next(f for f in by_name["fork_bomb"]["findings"] if f["kind"] == "process")
    assert fork_bomb["count"] == 2000  # 2,000 attempts, reported once, counted exactly
    hang = next(f for f in by_name["sleep_forever"]["findings"] if f["kind"] == "timeout")
    assert any("sleep_forever.py:24 in attack" in line for line in hang["stack"])
    assert by_name["stdout_flood"]["stdout_bytes"] >= 100_000_000


def test_landlock_contains_the_network_write_and_process_attacks(decoy) -> None:
    need_layer("landlock")
    before = checkout_digest()
    harness = Harness(layer="landlock", timeout=15, limits=Limits(memory=512 << 20), jobs=2)
    assert harness.layer.name == "landlock" and "Landlock" in harness.layer.describe()
    report = harness.run([HOSTILE / f"{name}.py" for name in LAYERED])
    assert_reported(report.results, LAYERED)
    assert decoy.received == []
    assert checkout_digest() == before


def test_the_audit_layer_still_stops_processes_and_outbound_httpx(decoy) -> None:
    names = ["subprocess_run", "os_system", "os_fork", "posixsubprocess", "ctypes_fork", "fork_bomb", "httpx_exfil"]
    harness = Harness(sandbox="off", timeout=15, jobs=2)
    assert harness.layer.name == "audit" and "NO SANDBOX" in (harness.layer.warning or "")
    report = harness.run([HOSTILE / f"{name}.py" for name in names])
    assert_reported(report.results, names)
    assert all(harness.layer.warning in r.warnings for r in report.results)
    assert decoy.received == []


def test_the_cpu_limit_stops_a_busy_loop_with_its_stack() -> None:
    harness = Harness(timeout=45, limits=Limits(cpu=2))
    result = harness.run_one(HOSTILE / "busy_loop.py")
    kinds = {f.kind: f for f in result.findings}
    assert "cpu" in kinds and "timeout" not in kinds, [(f.kind, f.message) for f in result.findings]
    assert kinds["cpu"].location.endswith("busy_loop.py:26")


def test_from_inside_every_attempt_to_start_a_process_fails() -> None:
    """The kernel, not only the audit hook: each attack's own answer shows that it was refused."""
    need_layer("seccomp")  # ctypes_fork and fork_bomb call fork() past the audit hook: only seccomp refuses
    harness = Harness(timeout=20)
    answers = {}
    for name in ("subprocess_run", "os_system", "os_fork", "posixsubprocess", "ctypes_fork", "fork_bomb"):
        with harness.boot(HOSTILE / f"{name}.py") as booted:
            answers[name] = booted.client.post("/").json()
    assert "PermissionError" in answers["subprocess_run"]["subprocess"]
    assert answers["os_system"]["status"] == 127 << 8  # glibc's system(): the spawn failed
    assert "PermissionError" in answers["os_fork"]["fork"]
    assert "PermissionError" in answers["posixsubprocess"]["fork_exec"]
    assert answers["ctypes_fork"] == {"pid": -1, "errno": 1}  # EPERM from seccomp
    assert answers["fork_bomb"] == {"forked": 0, "refused": 2000}
