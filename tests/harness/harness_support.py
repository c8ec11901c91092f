"""Shared by the harness tests: paths, the decoy's address, and views of the host to compare."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cwtest.harness.cgroup import CgroupSupport
from cwtest.harness.sandbox import probe

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = Path(__file__).resolve().parent / "workflows"
HOSTILE = REPO / "fixtures" / "hostile"
DECOY = ("127.0.0.2", 47291)
#: Files the hostile fixtures try to create or change.
MARKERS = [Path("/etc/cwtest-hostile-etc"), Path(os.path.expanduser("~")) / "cwtest-hostile-home",
           HOSTILE / "cwtest-hostile-checkout", REPO / "cwtest-hostile-checkout", Path("/tmp/cwtest-hostile-pwned")]


@dataclass
class Decoy:
    """TCP and UDP listeners on 127.0.0.2 that remember whoever reached them."""

    received: list[tuple[str, object]] = field(default_factory=list)


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process on the host."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue  # a zombie is already dead
        table[int(entry)] = (int(fields[1]), cmdline)
    return table


def descendants(pid: int) -> dict[int, str]:
    table = process_table()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, cmdline) in table.items():
            if ppid == parent and child not in found:
                found[child] = cmdline
                frontier.append(child)
    return found


#: Command-line fragments of what a harness run starts (and must stop).
RUN_PROCESSES = ("bwrap", "child/__main__.py", "redis-server", "cwtest-run-", "cwtest-hostile", "sleep 30")


def leftover_processes() -> dict[int, str]:
    """Processes of ours that should be gone: sandboxes, children, Redis, what a hostile fixture started."""
    left = {pid: cmd for pid, cmd in descendants(os.getpid()).items() if any(f in cmd for f in RUN_PROCESSES)}
    # A sandbox outlives its harness only as a process of its own; another checkout's harness on the
    # same machine runs in its own TMPDIR, and its processes are not this test's.
    runs = f"{os.environ.get('TMPDIR', '/tmp').rstrip('/')}/cwtest-run-"
    for pid, (_ppid, cmdline) in process_table().items():
        if "cwtest-hostile" in cmdline or runs in cmdline:
            left[pid] = cmdline
    return left


def host_changes() -> list[str]:
    """Marker files that exist (none should), and cwtest run directories left in the temp dir."""
    changes = [str(path) for path in MARKERS if path.exists()]
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    changes += [str(p) for p in tmp.glob("cwtest-run-*")]
    return changes


def require_redis() -> None:
    assert shutil.which("redis-server"), "redis-server is missing: apt-get install redis-server (CI installs it)"


def require_memory_cgroup() -> CgroupSupport:
    """The probe's memory cgroups: skipped where the host has none; in CI their absence is a failure."""
    support = probe().cgroup
    if support is None or not support.available:
        reason = support.reason if support is not None else "not probed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"memory cgroups are expected on the CI machines (root with a writable cgroup v1 memory "
                        f"hierarchy, or a delegated cgroup v2 subtree), but the probe says: {reason}")
        pytest.skip(f"memory cgroups are not available here: {reason}")
    return support


def memory_cgroups_of(support: CgroupSupport, pid: int | None = None) -> list[Path]:
    """The workflow cgroups a harness process (this one by default) owns right now."""
    assert support.parent is not None
    prefix = f"{pid or os.getpid()}-"
    return sorted(p for p in Path(support.parent).iterdir() if p.is_dir() and p.name.startswith(prefix))


def start_boot(workflow: Path, tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    """``cwtest boot WORKFLOW -q OPTIONS`` in a child process, returned once the app is served."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cwtest.harness.cli", "boot", str(workflow), "-q", *options],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "COLUMNS": "200", "TMPDIR": str(tmp_path)},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("app:"):
            break
    return process
