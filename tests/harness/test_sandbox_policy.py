"""The sandbox as a policy turned into a command: the workflow's, unchanged, and any other command.

The generic command runs for real under each layer this machine has: the launcher
(``child/__main__.py --confine``) applies rlimits, Landlock and seccomp before it execs the
command, bubblewrap its namespaces and mounts. A layer the machine lacks skips with the reason
(and fails under CI=true, where every layer is installed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cwtest.harness import seccomp
from cwtest.harness.sandbox import CHILD, HIDDEN, Layer, Limits, Policy, Probe, command, probe

ALL = Probe("/usr/bin/bwrap", None, 7, None)
CI = os.environ.get("CI") == "true"


def workflow_policy(tmp_path: Path, seccomp_path: Path | None) -> Policy:
    return Policy.workflow(home=tmp_path / "home", app=tmp_path / "app", readable=[tmp_path / "ctl"],
                           env={"HOME": str(tmp_path / "home")}, limits=Limits(), address_space=True,
                           seccomp=seccomp_path, redis_port=6390)


def test_the_workflows_bwrap_command_is_unchanged(tmp_path: Path) -> None:
    """bwrap's options for the workflow, in the order they always were: tmpfs mounts over the hidden
    host directories first, then the binds that live under them, then HOME."""
    stage1 = tmp_path / "stage1.bpf"
    stage1.write_bytes(b"\0" * 8)
    size = str(Limits().tmpfs)
    argv = ["/env/bin/python", "-I", "-B", str(CHILD / "__main__.py"), str(tmp_path / "config.json")]
    with command(Layer("bubblewrap", ALL), workflow_policy(tmp_path, stage1), argv, applies_itself=True) as cmd:
        [fd] = cmd.pass_fds
        hidden = [x for h in HIDDEN if Path(h).is_dir() and not Path(h).is_symlink() for x in ("--size", size, "--tmpfs", h)]
        assert cmd.argv == [
            "/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *hidden,
            "--ro-bind", str(tmp_path / "ctl"), str(tmp_path / "ctl"),
            "--bind", str(tmp_path / "app"), str(tmp_path / "app"),
            "--size", size, "--tmpfs", str(tmp_path / "home"), "--chdir", str(tmp_path / "home"),
            "--seccomp", str(fd), "--", *argv]
        assert cmd.env == {"HOME": str(tmp_path / "home")} and cmd.cwd == tmp_path / "home"
        os.fstat(fd)  # open until the command is closed
    with pytest.raises(OSError):
        os.fstat(fd)


def test_the_workflows_child_applies_the_policy_itself_outside_bubblewrap(tmp_path: Path) -> None:
    policy = workflow_policy(tmp_path, tmp_path / "stage1.bpf")
    argv = ["/env/bin/python", "-I", "-B", "child/__main__.py", "config.json"]
    landlock = Layer("landlock", ALL)
    assert command(landlock, policy, argv, applies_itself=True).argv == argv
    assert command(Layer("audit", ALL), policy, argv, applies_itself=True).argv == argv
    spec = policy.confinement(landlock, seccomp=tmp_path / "stage2.bpf")
    assert spec["landlock"] == {"writable": [str(tmp_path / "home"), str(tmp_path / "app"), "/dev/null"],
                                "connect_ports": [6390], "network": False, "required": True}
    assert spec["seccomp"] == str(tmp_path / "stage2.bpf")
    assert spec["limits"] == Limits().rlimits(address_space=True)
    # Under bubblewrap, bwrap loads stage 1: the child is told only of what it loads itself.
    assert policy.confinement(Layer("bubblewrap", ALL))["seccomp"] is None
    assert policy.writable == [tmp_path / "home", tmp_path / "app"]


PROBE = r"""
import json, os, resource, sys
out = {"env": dict(os.environ), "cwd": os.getcwd(), "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
for name, path in (("private", sys.argv[1]), ("outside", sys.argv[2])):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        out[name] = "written"
    except OSError as exc:
        out[name] = type(exc).__name__
try:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out["fork"] = "forked"
except OSError as exc:
    out["fork"] = type(exc).__name__
print(json.dumps(out))
"""


def layer_here(name: str) -> Layer:
    found = probe()
    if name not in found.available:
        why = found.bwrap_error if name == "bubblewrap" else "Landlock is not available in this kernel"
        if CI:
            pytest.fail(f"the {name} layer must run under CI: {why}")
        pytest.skip(f"the {name} layer cannot run here: {why}")
    return Layer(name, found)


@pytest.mark.parametrize("name", ["bubblewrap", "landlock", "audit"])
def test_any_command_runs_under_the_policy_in_every_layer(name: str, tmp_path: Path) -> None:
    layer = layer_here(name)
    private, outside = tmp_path / "private", tmp_path / "outside"
    private.mkdir()
    outside.mkdir()
    program = None
    if layer.seccomp:
        program = tmp_path / "stage1.bpf"
        program.write_bytes(seccomp.programs(outside_namespaces=name != "bubblewrap").stage1)
    env = {"CWTEST_POLICY_TEST": "1", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}  # no locale coercion
    policy = Policy(private=(private,), seccomp=program, env=env, cwd=private,
                    rlimits={"NOFILE": 77, "AS": None, "CPU": 30, "FSIZE": 1 << 20})
    argv = [sys.executable, "-I", "-c", PROBE, str(private / "file"), str(outside / "file")]
    with command(layer, policy, argv) as cmd:
        done = subprocess.run(cmd.argv, env=cmd.env, cwd=cmd.cwd, pass_fds=cmd.pass_fds, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["env"] == env and seen["cwd"] == str(private)
    assert seen["nofile"] == 77  # the rlimits, from the launcher
    assert seen["private"] == "written"
    if layer.seccomp:
        assert seen["fork"] == "PermissionError"  # seccomp: no new process
    if name == "bubblewrap":
        assert not (private / "file").exists()  # a tmpfs of its own over the host's directory
    if name in ("bubblewrap", "landlock"):
        assert seen["outside"] != "written" and not (outside / "file").exists()
    if name == "landlock":
        assert seen["outside"] == "PermissionError" and (private / "file").read_text() == "x"


@pytest.mark.parametrize("name", ["bubblewrap", "landlock", "audit"])
def test_the_command_gets_exactly_the_policys_environment(name: str, tmp_path: Path) -> None:
    """Not what the launcher's own Python adds at its start (LC_CTYPE, PEP 538), nor the host's."""
    layer = layer_here(name)
    env = {"CWTEST_POLICY_TEST": "yes"}
    policy = Policy(private=(tmp_path,), env=env, cwd=tmp_path, rlimits={"NOFILE": 64})
    with command(layer, policy, ["/usr/bin/env"]) as cmd:
        done = subprocess.run(cmd.argv, env=cmd.env, cwd=cmd.cwd, pass_fds=cmd.pass_fds, capture_output=True,
                              text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "CWTEST_POLICY_TEST=yes\n"), done.stderr


def test_a_policy_the_launcher_cannot_apply_ends_the_command(tmp_path: Path) -> None:
    """A seccomp program that cannot be read: status 126 and one line, the command never runs."""
    policy = Policy(seccomp=tmp_path / "missing.bpf", env={}, cwd=tmp_path)
    found = probe()
    layer = Layer("audit", found)
    if not layer.seccomp:
        pytest.skip(f"seccomp is unavailable here: {found.seccomp_error}")
    with command(layer, policy, [sys.executable, "-c", "open('ran', 'w')"]) as cmd:
        done = subprocess.run(cmd.argv, env=cmd.env, cwd=cmd.cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 126
    assert done.stderr.startswith("cwtest: the sandbox policy could not be applied:") and "missing.bpf" in done.stderr
    assert not (tmp_path / "ran").exists()
