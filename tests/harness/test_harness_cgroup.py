"""The memory limit as a cgroup (real memory, as on the platform) where the host allows one.

The tests that need cgroups skip where the probe finds none, with its reason, except under
``CI=true``: the CI machines have them (root, a writable v1 memory hierarchy or a delegated v2
subtree), so there their absence fails. ``clean_host`` also checks that no process or run directory
is left; every test here checks that no cgroup of this process is left either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from harness_support import WORKFLOWS, descendants, memory_cgroups_of, start_boot
from needs import need_memory_cgroup

from cwtest.harness import cgroup
from cwtest.harness.runner import Harness
from cwtest.harness.sandbox import GIB, MIB, Layer, Limits, Probe, format_size

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("clean_host")]


def under_rlimit_as(harness: Harness) -> Harness:
    """The same harness with the fallback forced: no cgroup, RLIMIT_AS is the memory limit."""
    harness.layer = replace(harness.layer, probe=replace(harness.layer.probe, cgroup=None))
    return harness


def only(result, kind: str):
    found = [f for f in result.findings if f.kind == kind]
    assert found, [(f.kind, f.message) for f in result.findings]
    return found[0]


# --- without the kernel's cgroups: the description, the message's size, the mountinfo reading --------


def test_the_layer_says_which_memory_limit_is_in_force() -> None:
    bare = Layer("bubblewrap", Probe("/usr/bin/bwrap", None, 7, None))
    assert bare.memory_mode == "address space (RLIMIT_AS)" and bare.memory_cgroup is None
    assert bare.describe().endswith("; memory limit: address space (RLIMIT_AS)")
    v1 = Layer("bubblewrap", Probe("/usr/bin/bwrap", None, 7, None, cgroup.CgroupSupport(1, "/sys/fs/cgroup/x")))
    assert v1.describe().endswith("; memory limit: cgroup memory (v1)")
    assert v1.as_json()["memory_mode"] == "cgroup memory (v1)"
    assert v1.as_json()["probe"]["cgroup"]["parent"] == "/sys/fs/cgroup/x"
    assert Limits().rlimits()["AS"] == 2 * GIB and Limits().rlimits(address_space=False)["AS"] is None
    assert [format_size(n) for n in (2 * GIB, 300 * MIB, 3 * GIB // 2, 512)] == ["2 GiB", "300 MiB", "1.5 GiB",
                                                                               "512 bytes"]


def test_the_cgroup_directory_is_found_from_mountinfo_and_proc_self_cgroup(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
        "50 31 0:40 /user.slice /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n")
    mounts = cgroup._mounts(mountinfo)
    assert [(m.fstype, str(m.point), m.options) for m in mounts] == [
        ("cgroup", "/sys/fs/cgroup/memory", ("rw", "memory")), ("cgroup2", "/sys/fs/cgroup/unified", ("rw",)),
        ("cgroup2", "/mnt/cg v2", ("rw",))]
    own = tmp_path / "cgroup"
    own.write_text("4:memory:/process_api/abc\n0::/user.slice/user-1000.slice/session-2.scope\n")
    assert cgroup._own_cgroups(own) == {"memory": "/process_api/abc", "": "/user.slice/user-1000.slice/session-2.scope"}
    # Top down, from the mount point to this process's cgroup; a mount of a subtree is followed from its root.
    assert [str(p) for p in cgroup._path_down(mounts[0], "/process_api/abc")] == [
        "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/process_api", "/sys/fs/cgroup/memory/process_api/abc"]
    assert [str(p) for p in cgroup._path_down(mounts[2], "/user.slice/user-1000.slice")] == [
        "/mnt/cg v2", "/mnt/cg v2/user-1000.slice"]
    assert [str(p) for p in cgroup._path_down(mounts[2], "/system.slice/x")] == ["/mnt/cg v2"]


# --- the fallback: RLIMIT_AS (always available) ------------------------------------------------------


def test_under_rlimit_as_a_reservation_fails_and_touching_is_a_memory_error() -> None:
    harness = under_rlimit_as(Harness(timeout=60, limits=Limits(memory=300 * MIB)))
    assert harness.layer.memory_mode == "address space (RLIMIT_AS)"
    touched = harness.run_one(WORKFLOWS / "touch_memory.py")
    memory = only(touched, "memory")  # MemoryError, raised where the workflow allocated
    assert memory.location and memory.location.startswith(str(WORKFLOWS / "touch_memory.py")), memory
    reserved = under_rlimit_as(Harness(timeout=60)).run_one(WORKFLOWS / "reserve_address_space.py")
    assert not reserved.booted  # 8 GiB of address space do not fit in RLIMIT_AS = 2 GiB
    assert "Cannot allocate memory" in only(reserved, "import-crash").message


# --- the cgroup -----------------------------------------------------------------------------------------


def test_touching_more_than_the_limit_is_a_memory_finding_from_the_oom_killer() -> None:
    support = need_memory_cgroup()
    harness = Harness(timeout=60, limits=Limits(memory=300 * MIB))
    assert harness.layer.memory_mode == support.mode
    assert f"memory limit: cgroup memory (v{support.version})" in harness.layer.describe()
    result = harness.run_one(WORKFLOWS / "touch_memory.py")  # the smoke call touches 600 MB
    assert result.booted and result.harness_error is None
    memory = only(result, "memory")
    assert memory.message == ("the memory limit (300 MiB) was reached: killed by the kernel's OOM killer "
                              "during POST /"), memory.message
    assert memory.route == "POST /"
    assert "crash" not in result.kinds(), [(f.kind, f.message) for f in result.findings]
    assert memory_cgroups_of(support) == []


def test_a_large_reservation_of_address_space_boots_under_the_cgroup() -> None:
    support = need_memory_cgroup()
    harness = Harness(timeout=60)  # 2 GiB: the 8 GiB reservation would not fit in RLIMIT_AS
    # What any workflow is warned of under this layer (Landlock: no loopback relay, its own warning):
    # the reservation must add nothing to it, whichever layer this host gives.
    with harness.boot(WORKFLOWS / "echo_ok.py") as plain:
        pass
    expected = set(plain.result.warnings)
    with harness.boot(WORKFLOWS / "reserve_address_space.py") as booted:
        group = booted.process.cgroup
        assert group is not None and group.path.parent == Path(support.parent)
        # The workflow (bwrap, and python under it) is inside, RLIMIT_AS is not set, the limit is there.
        python = [pid for pid, cmd in descendants(os.getpid()).items()
                  if "child/__main__.py" in cmd and "bwrap" not in cmd.split()[0]]
        assert python and set(python) <= set(group.pids()), (python, group.pids())
        limits = Path(f"/proc/{python[0]}/limits").read_text()
        assert any(line.startswith("Max address space") and "unlimited" in line for line in limits.splitlines())
        setting = "memory.max" if support.version == 2 else "memory.limit_in_bytes"
        assert int((group.path / setting).read_text()) == 2 * GIB
        assert booted.client.post("/").json() == {"reserved_gib": 8}
    assert not group.path.exists() and not booted.process.oom_killed
    assert booted.result.findings == []
    assert [w for w in booted.result.warnings if w not in expected] == []
    assert memory_cgroups_of(support) == []


def test_the_search_finding_that_ran_out_of_memory_keeps_its_input() -> None:
    """A generated request that gets the workflow OOM-killed: a memory finding with the input."""
    from cwtest.fuzz import FuzzConfig

    support = need_memory_cgroup()
    harness = Harness(timeout=60, limits=Limits(memory=1 * GIB))  # the smoke call's 600 MB fit
    harness.fuzz = FuzzConfig(examples=30, seed=0, shrink_time=0, checks=("fuzz",))
    result = harness.run_one(WORKFLOWS / "touch_memory.py")
    assert [r.status for r in result.routes] == [200]
    memory = only(result, "memory")
    assert memory.message.startswith("the memory limit (1 GiB) was reached: killed by the kernel's OOM killer")
    assert memory.check == "fuzz" and memory.repro is not None and memory.repro.request.json_body["mb"] > 600
    assert "crash" not in result.kinds(), [(f.kind, f.message) for f in result.findings]
    assert memory_cgroups_of(support) == []


def test_a_stale_cgroup_is_swept_only_when_its_owner_is_dead_and_it_is_empty() -> None:
    support = need_memory_cgroup()
    # A private directory under `cwtest`, named so that no other harness's sweep touches it.
    scratch = Path(support.parent) / f"test-sweep-{os.getpid()}"
    scratch.mkdir()
    try:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        dead_pid = int(gone.stdout)
        dead = scratch / f"{dead_pid}-{cgroup._start_ticks(os.getpid())}-0bad"
        alive = scratch / f"{os.getpid()}-{cgroup._start_ticks(os.getpid())}-0ace"
        foreign = scratch / "not-ours"
        for path in (dead, alive, foreign):
            path.mkdir()
        assert cgroup.sweep_stale(scratch) == 1
        assert not dead.exists() and alive.exists() and foreign.exists()
    finally:
        for path in sorted(scratch.iterdir(), reverse=True):
            if path.is_dir():
                path.rmdir()
        scratch.rmdir()


def test_a_harness_killed_with_sigkill_leaves_a_cgroup_that_the_next_probe_removes(short_tmp: Path) -> None:
    support = need_memory_cgroup()
    process = start_boot(WORKFLOWS / "echo_ok.py", short_tmp)
    try:
        [group] = memory_cgroups_of(support, process.pid)
        inside = [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
        assert inside, "the workflow runs in its cgroup"
        process.send_signal(signal.SIGKILL)  # no cleanup at all: the cgroup stays behind
        process.wait()
        deadline = time.monotonic() + 10  # --die-with-parent ends the workflow; its cgroup empties
        while (group / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (group / "cgroup.procs").read_text().strip()
        after = cgroup.probe()  # the next harness's probe sweeps it
        assert after.available and after.parent == support.parent
        assert not group.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
