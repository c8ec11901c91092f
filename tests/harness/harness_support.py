"""Shared by the harness tests: paths, the decoy's address, and views of the host to compare."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cwtest.harness.cgroup import CgroupSupport

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


def _environ(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def leftover_processes(root: Path) -> dict[int, str]:
    """Processes of this test's run that should be gone, and only those.

    ``root`` is the test's private temp directory (``clean_host``), where its run directories go.
    Ours: descendants of this process that a harness run starts (sandboxes, bootstraps, Redis),
    and any process whose command line names ``root`` (a sandbox reparented to init) or that a
    hostile fixture started with our run's environment (its ``HOME`` lies under ``root``). Another
    cwtest run on the machine (a developer's, another pytest) has run directories elsewhere.
    """
    mine = str(root)
    left = {pid: cmd for pid, cmd in descendants(os.getpid()).items() if any(f in cmd for f in RUN_PROCESSES)}
    for pid, (_ppid, cmdline) in process_table().items():
        if mine in cmdline or ("cwtest-hostile" in cmdline and mine in _environ(pid)):
            left[pid] = cmdline
    return left


def host_changes(root: Path) -> list[str]:
    """Marker files that exist (none should, whoever made them), and run directories left in ``root``."""
    changes = [str(path) for path in MARKERS if path.exists()]
    changes += [str(p) for p in root.glob("cwtest-run-*")]
    return changes


def memory_cgroups_of(support: CgroupSupport, pid: int | None = None) -> list[Path]:
    """The workflow cgroups a harness process (this one by default) owns right now."""
    assert support.parent is not None
    prefix = f"{pid or os.getpid()}-"
    return sorted(p for p in Path(support.parent).iterdir() if p.is_dir() and p.name.startswith(prefix))


def start_boot(workflow: Path, tmp_dir: Path, *options: str) -> subprocess.Popen[str]:
    """``cwtest boot WORKFLOW -q OPTIONS`` in a child process with ``TMPDIR=tmp_dir`` (its run directory
    goes there: give it a short path, ``short_tmp``), returned once the app is served."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cwtest.harness.cli", "boot", str(workflow), "-q", *options],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "COLUMNS": "200", "TMPDIR": str(tmp_dir)},
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("app:"):
            return process
    raise AssertionError(f"cwtest boot exited {process.wait()} before serving (TMPDIR={tmp_dir}): {''.join(seen)}")
