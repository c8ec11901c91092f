"""Workflows booted in the sandbox against the simulator: boot findings, smoke calls, reach, the CLI."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from harness_support import REPO, WORKFLOWS, descendants, start_boot
from needs import need_layer, need_redis

from cwtest.harness.cli import run_main
from cwtest.results import WorkflowResult
from cwtest.harness.runner import SIM_BASE, Harness
from cwtest.harness.sandbox import LAYERS

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("clean_host")]


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness(timeout=30)


def by_path(results: list[WorkflowResult]) -> dict[str, WorkflowResult]:
    return {Path(r.path).name: r for r in results}


def test_a_well_behaved_workflow_boots_and_passes_the_smoke_run(harness: Harness) -> None:
    result = harness.run_one(WORKFLOWS / "echo_ok.py")
    assert result.findings == [] and result.harness_error is None
    assert result.booted and result.app == "app"
    assert result.environment["kind"] == "uv" and result.environment["python_version"].startswith("3.11")
    [route] = result.routes
    assert (route.method, route.path, route.status, result.route_verdict(route).value) == ("POST", "/", 200, "passed")
    assert route.request.json_body == {"text": "aaa"}  # required field only, minLength 3
    assert result.service_calls == 1


def test_workflows_that_cannot_boot_are_findings_and_the_run_goes_on() -> None:
    names = ["syntax_error.py", "missing_dependency.py", "import_crash.py", "no_app.py", "lifespan_crash.py",
             "python_missing.py", "no_header.py", "echo_ok.py"]
    report = Harness(timeout=30, jobs=2).run([WORKFLOWS / n for n in names])
    results = by_path(report.results)
    assert all(r.harness_error is None for r in report.results)

    def only(name: str) -> tuple[str, str, str | None, list[str]]:
        [finding] = results[name].findings
        return finding.kind, finding.message, finding.location, finding.stack

    kind, message, location, _ = only("syntax_error.py")
    assert kind == "syntax-error" and "never closed" in message and location.endswith("syntax_error.py:17")
    kind, message, location, _ = only("missing_dependency.py")
    assert kind == "missing-dependency" and "'pandas'" in message and location.endswith("missing_dependency.py:15")
    kind, message, location, stack = only("import_crash.py")
    assert kind == "import-crash" and "KeyError: 'NOTION_TOKEN'" in message
    assert location.endswith("import_crash.py:21") and stack[0].endswith("import_crash.py:24 in <module>")
    assert only("no_app.py")[0] == "no-app"
    kind, message, location, _ = only("lifespan_crash.py")
    assert kind == "boot-crash" and "database unreachable" in message and location.endswith("lifespan_crash.py:22")
    kind, message, _, _ = only("python_missing.py")
    assert kind == "python-unavailable" and "3.99" in message
    assert only("no_header.py")[0] == "header"
    assert results["echo_ok.py"].findings == [] and results["echo_ok.py"].booted
    assert report.exit_code() == 1


def test_smoke_calls_every_route_with_a_minimal_valid_request(harness: Harness) -> None:
    result = harness.run_one(WORKFLOWS / "routes.py")
    routes = {r.name: r for r in result.routes}
    assert {n: (r.status, result.route_verdict(r).value) for n, r in routes.items()} == {
        "GET /health": (200, "passed"),
        "GET /items/{item_id}": (200, "passed"),
        "POST /orders": (200, "passed"),
        "POST /crash": (500, "finding"),
        "POST /lies": (200, "finding"),
    }
    assert routes["GET /items/{item_id}"].request.path == "/items/3"
    assert dict(routes["GET /items/{item_id}"].request.query) == {"scale": 2}
    kinds = {f.kind: f for f in result.findings}
    assert set(kinds) == {"unhandled-exception", "response-model"}
    crash = kinds["unhandled-exception"]
    assert "ZeroDivisionError" in crash.message and crash.location.endswith("routes.py:73")
    assert crash.route == "POST /crash" and crash.check == "smoke"
    assert crash.repro is not None and "curl" in crash.repro.curl  # the smoke call's finding has a repro too
    assert "value" in kinds["response-model"].message and kinds["response-model"].route == "POST /lies"


def test_the_process_sees_only_declared_variables_and_a_private_home(harness: Harness) -> None:
    with harness.boot(WORKFLOWS / "env_report.py") as booted:
        seen = booted.client.get("/").json()
        home = str(booted.run_dir.home)
        key = booted.runtime.api_key
    assert seen["env"] == {
        "CODEWORDS_API_KEY": key, "CODEWORDS_RUNTIME_URI": SIM_BASE, "PORT": "8000", "LOGLEVEL": "INFO",
        "SLACK_BOT_TOKEN": "cwtest-slack-bot-token", "PIPEDREAM_SLACK_ACCESS": "cwtest-pipedream-slack-access",
        "HOME": home, "TMPDIR": home,
    }
    assert seen["cwd"] == seen["tmp"] == home
    # Under a memory cgroup RLIMIT_AS is not set (inherited: unlimited here); the cgroup is the limit.
    address_space = [2 << 30, 2 << 30] if harness.layer.memory_cgroup is None else [-1, -1]
    assert seen["limits"] == {"AS": address_space, "CPU": [60, 61], "NOFILE": [1024, 1024],
                              "FSIZE": [64 << 20, 64 << 20]}


@pytest.mark.parametrize("layer", LAYERS)
def test_a_sandboxed_workflow_reaches_the_simulator_and_redis(layer: str) -> None:
    need_redis()
    if layer != "audit":
        need_layer(layer)
    with Harness(timeout=30, layer=layer).boot(WORKFLOWS / "reach.py") as booted:
        response = booted.client.post("/", json={"text": "hello from the sandbox"})
        assert response.status_code == 200, response.text
        body = response.json()
        [llm] = booted.runtime.calls("openai")
        [coordinator] = booted.runtime.calls("redis_coordinator")
        stored = booted.runtime.redis_keys()
        violations = booted.runtime.redis_violations()
    assert body["stored"] == "hello from the sandbox"  # set, then get, through redis_client()
    assert body["llm"] == llm.response["response"]
    assert llm.status == 200 and llm.inputs == {"prompt": "hello from the sandbox", "model": "gpt-4o-mini"}
    assert coordinator.status == 200 and coordinator.inputs is None
    assert list(stored.values()) == ["hello from the sandbox"] and violations == []


def test_outbound_httpx_is_intercepted_or_answered_by_a_mock() -> None:
    plain = Harness(timeout=30).run_one(WORKFLOWS / "external_api.py")
    [finding] = plain.findings
    assert finding.kind == "outbound-http" and "https://api.example.com/v1/quote?symbol=ACME" in finding.message
    assert finding.location.endswith("external_api.py:24")
    mocked = Harness(timeout=30)
    mocked.mock_external("https://api.example.com/v1/", {"price": 3})
    with mocked.boot(WORKFLOWS / "external_api.py") as booted:
        answer = booted.client.post("/").json()
    assert answer == {"status": 200, "body": '{"price": 3}'}
    unmocked = Harness(timeout=30)
    with unmocked.boot(WORKFLOWS / "external_api.py") as booted:
        assert booted.client.post("/").json()["status"] == 599


def test_clients_share_one_ssl_context(harness: Harness) -> None:
    with harness.boot(WORKFLOWS / "ssl_reuse.py") as booted:
        seen = booted.client.get("/").json()
    assert seen["contexts"] == 1, seen


def test_an_attack_at_import_time_is_reported_and_the_workflow_still_boots(harness: Harness, decoy) -> None:
    result = harness.run_one(WORKFLOWS / "import_attack.py")
    assert result.booted and [result.route_verdict(r).value for r in result.routes] == ["passed"]
    [finding] = result.findings
    assert finding.kind == "network" and "127.0.0.2:47291" in finding.message
    assert finding.location.endswith("import_attack.py:20") and "in <module>" in finding.stack[0]
    assert decoy.received == []


# --- the CLI -------------------------------------------------------------------------------------

def test_run_exit_codes_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The smoke run alone: echo_ok's plain path works (the search finds its unguarded
    # result.json() under a malformed-body fault: test_harness_fuzz covers that).
    assert run_main([str(WORKFLOWS / "echo_ok.py"), "--no-progress", "--examples", "0"]) == 0
    out = tmp_path / "report.json"
    assert run_main([str(WORKFLOWS / "routes.py"), "--output-format", "json", "-o", str(out), "--no-progress"]) == 1
    data = json.loads(out.read_text())
    assert data["summary"]["by_kind"] == {"response-model": 1, "unhandled-exception": 1}
    junit = tmp_path / "report.xml"
    assert run_main([str(WORKFLOWS / "routes.py"), "--output-format", "junit", "-o", str(junit),
                     "--no-progress"]) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "6" and suite.get("failures") == "2"
    capsys.readouterr()
    assert run_main([str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert run_main(["--sandbox", "strict", "--layer", "audit", str(WORKFLOWS / "echo_ok.py")]) == 2
    assert run_main(["--sandbox", "sometimes", str(WORKFLOWS / "echo_ok.py")]) == 2
    assert run_main([str(tmp_path)]) == 2  # a directory without workflows


def test_boot_serves_until_ctrl_c_and_leaves_nothing_behind() -> None:
    need_redis()  # reach.py stores through redis_client()
    process = subprocess.Popen(
        [sys.executable, "-m", "cwtest.harness.cli", "boot", str(WORKFLOWS / "reach.py"), "-q"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        app_url = None
        seen = []
        deadline = time.monotonic() + 90
        while app_url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if process.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith("app:"):
                app_url = line.split()[1].rstrip("/")
        assert app_url, f"boot printed no URL: {seen} {process.stderr.read() if process.poll() is not None else ''}"
        response = httpx.post(app_url + "/", json={"text": "by hand"}, timeout=30)
        assert response.status_code == 200 and response.json()["stored"] == "by hand"
        started = descendants(process.pid)
        assert any("bwrap" in cmd or "child/__main__.py" in cmd for cmd in started.values()), started
        assert any("redis-server" in cmd for cmd in started.values()), started
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        time.sleep(0.2)
        alive = [pid for pid in started if os.path.exists(f"/proc/{pid}") and _not_zombie(pid)]
        assert alive == [], {pid: started[pid] for pid in alive}
        with pytest.raises(httpx.ConnectError):
            httpx.get(app_url + "/docs", timeout=5)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    """After a failed assertion: SIGTERM first, so that cwtest still stops its Redis and sandboxes."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("layer", ["bubblewrap", "landlock"])
def test_a_killed_cwtest_takes_its_workflow_with_it(layer: str, short_tmp: Path) -> None:
    """SIGKILL gives cwtest no chance to clean up: bwrap's --die-with-parent, or the child seeing its
    event socket close, must end the workflow anyway."""
    need_layer(layer)
    process = start_boot(WORKFLOWS / "echo_ok.py", short_tmp, "--layer", layer)
    try:
        workflow = {pid: cmd for pid, cmd in descendants(process.pid).items() if "child/__main__.py" in cmd}
        assert any("bwrap" not in cmd.split()[0] for cmd in workflow.values()), workflow
        process.kill()
        process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_not_zombie(pid) for pid in workflow):
            time.sleep(0.1)
        assert not [pid for pid in workflow if _not_zombie(pid)], workflow
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_booting_a_broken_workflow_raises_with_its_findings(harness: Harness) -> None:
    with pytest.raises(RuntimeError, match=r"\[import-crash\] KeyError: 'NOTION_TOKEN'"):
        with harness.boot(WORKFLOWS / "import_crash.py"):
            pytest.fail("a workflow that crashes at import must not be served")


def test_ctrl_c_during_a_parallel_run_ends_the_running_workflows_at_once() -> None:
    hanging = [str(REPO / "fixtures" / "hostile" / name) for name in ("sleep_forever.py", "busy_loop.py")]
    process = subprocess.Popen([sys.executable, "-m", "cwtest.harness.cli", "run", *hanging, "-j", "2",
                                "--timeout", "120", "--no-progress"], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        workflows: dict[int, str] = {}
        while len(workflows) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            workflows = {pid: cmd for pid, cmd in descendants(process.pid).items()
                         if "child/__main__.py" in cmd and "bwrap" not in cmd.split()[0]}
        assert len(workflows) == 2, workflows
        time.sleep(1.5)  # both are now inside their smoke call, which would take 60 s
        started = descendants(process.pid)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 2
        assert time.monotonic() - interrupted < 15
        assert "interrupted" in process.stderr.read()
        time.sleep(0.2)
        assert not [pid for pid in started if _not_zombie(pid)], started
    finally:
        _stop(process)


def test_a_stack_probe_at_import_is_not_a_bind_but_a_loopback_listener_is(harness: Harness) -> None:
    """urllib3 binds ::1 port 0 at import to learn whether IPv6 works; only a socket that listens is a server."""
    need_layer("bubblewrap")  # its own network namespace: Landlock (ABI >= 4) refuses every TCP bind
    [result] = harness.run([WORKFLOWS / "ipv6_probe.py"]).results
    assert result.booted, result.findings
    binds = [f for f in result.findings if f.kind == "bind"]
    assert [f.message for f in binds] == ["bind 127.0.0.1:0 and listen"], result.findings
    assert binds[0].location is not None and binds[0].location.endswith("ipv6_probe.py:52")  # the bind, not the listen


def test_clients_not_built_on_httpx_reach_the_simulator_too(harness: Harness) -> None:
    """urllib (and requests, aiohttp) resolve the runtime's name to a loopback relay to the simulator."""
    need_layer("bubblewrap")  # the relay listens on loopback: under Landlock only httpx reaches the runtime
    with harness.boot(WORKFLOWS / "urllib_runtime.py") as booted:
        response = booted.client.post("/", json={"prompt": "Say hi"})
        assert response.status_code == 200, response.text
        assert response.json()["answer"]
        [call] = booted.runtime.calls("openai")
        assert call.status == 200 and call.inputs["prompt"] == "Say hi"
    assert not booted.result.findings  # no network finding, no process finding for platform's `uname -p`


def test_run_answers_outbound_requests_given_on_the_command_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    quote = tmp_path / "quote.json"
    quote.write_text('{"price": 3}')
    args = [str(WORKFLOWS / "external_api.py"), "--examples", "0", "--no-progress", "--output-format", "json",
            "-o", str(out)]
    assert run_main([*args, "--mock-external", f"https://api.example.com/v1/=@{quote}"]) == 0
    [workflow] = json.loads(out.read_text())["workflows"]
    assert workflow["external_requests"][0]["url"] == "https://api.example.com/v1/quote?symbol=ACME"
    assert run_main([*args, "--mock-external", 'https://api.example.com/={"price": 4}']) == 0
    assert run_main(args) == 1  # unanswered: an outbound-http finding
    capsys.readouterr()
    for bad in ("api.example.com/=1", "https://api.example.com/", f"https://x/=@{tmp_path / 'missing.json'}"):
        assert run_main([*args, "--mock-external", bad]) == 2
        err = capsys.readouterr().err
        assert "--mock-external" in err and "Traceback" not in err



def test_shards_of_a_run_together_report_what_one_run_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``cwtest run --shard K/N`` on each of N runners, JUnit reports merged (junitparser, as a CI job
    would): the same test cases with the same outcomes as one run, none twice, an empty shard included."""
    from junitparser import JUnitXml

    project = tmp_path / "project"
    (project / "workflows").mkdir(parents=True)
    for name in ("echo_ok", "routes", "import_crash"):
        shutil.copy(WORKFLOWS / f"{name}.py", project / "workflows" / f"{name}.py")
    monkeypatch.chdir(project)
    common = ["workflows", "--examples", "0", "--no-progress", "--output-format", "junit"]

    def cases(xml: JUnitXml) -> list[tuple[str, str, str]]:
        found = []
        for suite in xml:
            for case in suite:
                outcome = type(case.result[0]).__name__ if case.result else "passed"
                found.append((case.classname, case.name, outcome))
        return sorted(found)

    whole = run_main([*common, "-o", str(tmp_path / "whole.xml")])
    merged = JUnitXml()
    codes = []
    for k in range(1, 5):
        codes.append(run_main([*common, "--shard", f"{k}/4", "-o", str(tmp_path / f"shard-{k}.xml")]))
        merged += JUnitXml.fromfile(str(tmp_path / f"shard-{k}.xml"))
    merged.write(str(tmp_path / "merged.xml"))
    expected = cases(JUnitXml.fromfile(str(tmp_path / "whole.xml")))
    assert cases(JUnitXml.fromfile(str(tmp_path / "merged.xml"))) == expected
    assert len(expected) == len(set(expected)) and {c[0] for c in expected} == {
        "workflows/echo_ok.py", "workflows/routes.py", "workflows/import_crash.py"}
    assert max(codes) == whole == 1  # the shard with import_crash fails, as the whole run does
    err = capsys.readouterr().err
    counts = [int(n) for n in re.findall(r"cwtest: shard \d/4: (\d) of 3 workflow", err)]
    assert len(counts) == 4 and sum(counts) == 3 and 0 in counts  # 4 shards for 3 workflows: one is empty
