"""The harness's parts on their own: sandbox choice, seccomp, env specs, smoke requests, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

import pytest
from harness_support import WORKFLOWS
from needs import in_ci, need_layer
from pydantic import BaseModel, Field

from cwlint.header import parse_header
from cwtest.fuzz import minimal
from cwtest.harness import seccomp
from cwtest.harness.cli import discover, parse_size, run_main, select_shard, shard_of
from cwtest.harness.env import EnvError, spec_for
from cwtest.harness.report import render_json, render_junit
from cwtest.harness.runner import SIM_BASE, module_name
from cwtest.harness.sandbox import Probe, SandboxUnavailable, choose, probe
from cwtest.openapi import Unsupported, response_problem_detail, routes_of
from cwtest.results import KINDS, Finding, Inconclusive, RouteResult, RunReport, WorkflowResult
from cwtest.workflow_env import workflow_env

# --- the sandbox layer -------------------------------------------------------------------------

ALL = Probe("/usr/bin/bwrap", None, 7, None)
NO_BWRAP = Probe(None, "bwrap cannot create a sandbox here: setting up uid map: Permission denied", 7, None)
NOTHING = Probe(None, "bwrap not found", 0, None)


def test_auto_picks_the_strongest_layer() -> None:
    assert choose("auto", found=ALL).name == "bubblewrap"
    fallback = choose("auto", found=NO_BWRAP)
    assert fallback.name == "landlock" and "uid map" in (fallback.warning or "")
    bare = choose("auto", found=NOTHING)
    assert bare.name == "audit" and "NO SANDBOX" in (bare.warning or "")


def test_strict_refuses_to_run_without_an_os_level_layer() -> None:
    with pytest.raises(SandboxUnavailable, match="strict"):
        choose("strict", found=NOTHING)
    with pytest.raises(SandboxUnavailable, match="seccomp"):
        choose("strict", found=Probe("/usr/bin/bwrap", None, 7, "libseccomp not found"))
    assert choose("strict", found=NO_BWRAP).name == "landlock"


def test_off_and_forced_layers() -> None:
    off = choose("off", found=ALL)
    assert off.name == "audit" and "--sandbox off" in (off.warning or "")
    assert choose("auto", force="landlock", found=ALL).name == "landlock"
    with pytest.raises(SandboxUnavailable, match="uid map"):
        choose("auto", force="bubblewrap", found=NO_BWRAP)
    with pytest.raises(SandboxUnavailable):
        choose("strict", force="audit", found=ALL)


def test_this_machine_has_a_working_os_level_layer() -> None:
    found = probe()
    # CI installs bubblewrap; on a laptop where it cannot run, Landlock must (or the harness says why).
    assert "bubblewrap" in found.available or found.landlock_abi >= 1, found
    if in_ci():  # .ci/run installs bubblewrap: there the strongest layer must be the one chosen
        need_layer("bubblewrap")
        assert choose("strict").name == "bubblewrap"


# --- seccomp -----------------------------------------------------------------------------------

SECCOMP_PROBE = r"""
import ctypes, os, socket, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
data = open(sys.argv[1], "rb").read()
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
buf = ctypes.create_string_buffer(data, len(data))
prog = Prog(len(data) // 8, ctypes.cast(buf, ctypes.c_void_p))
assert libc.prctl(38, 1, 0, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0
out = {}
box = []
t = threading.Thread(target=lambda: box.append(1)); t.start(); t.join()
out["thread"] = box == [1]
def attempt(name, fn):
    try:
        fn(); out[name] = "allowed"
    except (OSError, ValueError) as exc:
        out[name] = type(exc).__name__
attempt("fork", os.fork)
attempt("subprocess", lambda: subprocess.run(["/bin/true"]))
attempt("exec", lambda: os.execv("/bin/true", ["true"]))
out["libc_fork"] = libc.fork()
out["clone3_errno"] = (libc.syscall(435, 0, 0), ctypes.get_errno())[1]
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close())
attempt("tcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
print(__import__("json").dumps(out))
"""


@pytest.mark.parametrize("outside", [False, True], ids=["in-namespaces", "outside-namespaces"])
def test_stage_two_denies_processes_and_exec_but_allows_threads(tmp_path: Path, outside: bool) -> None:
    need_layer("seccomp")
    program = tmp_path / "stage2.bpf"
    program.write_bytes(seccomp.programs(outside_namespaces=outside).stage2)
    script = tmp_path / "probe.py"
    script.write_text(SECCOMP_PROBE)
    done = subprocess.run([sys.executable, str(script), str(program)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["thread"] is True
    assert out["fork"] == out["subprocess"] == out["exec"] == "PermissionError"
    assert out["libc_fork"] == -1
    assert out["clone3_errno"] == 38  # ENOSYS, so that glibc falls back to clone for threads
    assert out["tcp"] == "allowed"
    assert out["udp"] == ("PermissionError" if outside else "allowed")


def test_stage_one_lets_bwrap_exec_python(tmp_path: Path) -> None:
    need_layer("seccomp")
    found = need_layer("bubblewrap").probe
    stage1 = tmp_path / "stage1.bpf"
    stage1.write_bytes(seccomp.programs().stage1)
    fd = os.open(stage1, os.O_RDONLY)
    try:
        done = subprocess.run(
            [found.bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc",
             "/proc", "--seccomp", str(fd), sys.executable, "-c",
             "import os\ntry:\n    os.fork()\nexcept PermissionError:\n    print('fork denied')"],
            capture_output=True, text=True, timeout=30, pass_fds=(fd,))
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fork denied"


# --- environments, env vars, module names ------------------------------------------------------

HEADER = """# /// script
# requires-python = "==3.11.*"
# dependencies = [
#     "FastAPI == 0.116.1",
#     "codewords_client==0.3.4",  # trailing comment
# ]
# [tool.env-checker]
# env_vars = ["CODEWORDS_API_KEY", "CODEWORDS_RUNTIME_URI", "PORT=8000", "SLACK_BOT_TOKEN",
#             "PIPEDREAM_SLACK_ACCESS", "RUNTIME_URI"]
# ///
"""


def test_env_spec_normalises_the_header_so_equal_headers_share_an_environment() -> None:
    spec = spec_for(Path("w.py"), HEADER)
    assert spec.dependencies == ("codewords-client==0.3.4", "fastapi==0.116.1")
    assert spec.requires_python == "==3.11.*" and spec.added == ()
    reordered = HEADER.replace('"FastAPI == 0.116.1",\n#     "codewords_client==0.3.4",  # trailing comment',
                               '"codewords-client==0.3.4", "fastapi==0.116.1",')
    assert spec_for(Path("w.py"), reordered).key() == spec.key()
    other = spec_for(Path("w.py"), HEADER.replace("0.116.1", "0.116.2"))
    assert other.key() != spec.key()


def test_env_spec_adds_uvicorn_only_when_nothing_brings_it() -> None:
    bare = "# /// script\n# dependencies = [\"fastapi==0.116.1\"]\n# ///\n"
    assert spec_for(Path("w.py"), bare).added == ("uvicorn",)
    assert spec_for(Path("w.py"), bare.replace("fastapi==0.116.1", "uvicorn==0.35.0")).added == ()


@pytest.mark.parametrize("text, message", [
    ("import fastapi\n", "no PEP 723"),
    ("# /// script\n# dependencies = [\n# ///\n", "invalid"),
])
def test_a_missing_or_broken_header_is_an_env_error(text: str, message: str) -> None:
    with pytest.raises(EnvError, match=message) as caught:
        spec_for(Path("w.py"), text)
    assert caught.value.kind == "header"


def test_workflow_env_holds_exactly_the_declared_variables(tmp_path: Path) -> None:
    header = parse_header(HEADER)
    env = workflow_env(header, api_key="cwtest-key", runtime_url=SIM_BASE, home=tmp_path)
    assert env == {
        "CODEWORDS_API_KEY": "cwtest-key", "CODEWORDS_RUNTIME_URI": SIM_BASE, "RUNTIME_URI": SIM_BASE,
        "PORT": "8000", "SLACK_BOT_TOKEN": "cwtest-slack-bot-token",
        "PIPEDREAM_SLACK_ACCESS": "cwtest-pipedream-slack-access", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
    }


def test_module_name_never_shadows_a_library() -> None:
    assert module_name(Path("lead_enricher.py"), set()) == "lead_enricher"
    assert module_name(Path("redis.py"), set()) == "cwtest_workflow"
    assert module_name(Path("json.py"), set()) == "cwtest_workflow"  # stdlib
    assert module_name(Path("slack_sdk.py"), {"slack-sdk"}) == "cwtest_workflow"
    assert module_name(Path("my-workflow.py"), set()) == "cwtest_workflow"


def test_parse_size_and_discovery(tmp_path: Path) -> None:
    assert parse_size("2G") == 2 << 30 and parse_size("512M") == 512 << 20 and parse_size("1.5GiB") == 3 << 29
    assert parse_size("1024") == 1024
    (tmp_path / "a.py").write_text("# /// script\n# ///\n")
    (tmp_path / "helper.py").write_text("x = 1\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "b.py").write_text("# /// script\n# ///\n")
    assert discover([tmp_path]) == [tmp_path / "a.py"]
    assert discover([tmp_path / "helper.py"]) == [tmp_path / "helper.py"]  # named files are taken as given
    assert WORKFLOWS / "no_header.py" not in discover([WORKFLOWS])


# --- smoke requests ----------------------------------------------------------------------------

class Colour(str, Enum):
    red = "red"
    blue = "blue"


class Address(BaseModel):
    city: str = Field(min_length=2, max_length=40)
    zip_code: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")]


class Kitchen(BaseModel):
    name: str
    count: int
    ratio: float
    flag: bool
    colour: Colour
    mode: Literal["fast", "cheap"]
    bounded: int = Field(ge=10, le=20)
    positive: float = Field(gt=0)
    stepped: float = Field(ge=1.2, multiple_of=0.5)
    negative: int = Field(lt=0)
    code: str = Field(pattern=r"^[A-Z]{2}-[0-9]{3,}$")
    sku: str = Field(pattern=r"(?i)^sku_\w+$", min_length=8)
    when: date
    ident: UUID
    link: str = Field(json_schema_extra={"format": "uri"})
    tags: list[str] = Field(min_length=3)
    pair: tuple[int, str]
    address: Address
    maybe: int | None
    nested: list[Address]
    mapping: dict[str, int]
    optional_with_default: str = "x"


def test_minimal_values_are_valid_for_the_models_they_come_from() -> None:
    schema = Kitchen.model_json_schema(ref_template="#/components/schemas/{model}")
    document = {"components": {"schemas": schema.pop("$defs", {})}}
    value = minimal.Generator(document).value(schema)
    model = Kitchen.model_validate(value)  # raises if any value were invalid
    assert set(value) == set(schema["required"])  # required fields only
    assert "optional_with_default" not in value
    assert model.bounded == 10 and model.negative == -1 and model.stepped == 1.5 and len(model.tags) == 3
    assert model.maybe == 1  # Optional[X] gives an X, not None
    assert model.colour is Colour.red and model.mode == "fast"


@pytest.mark.parametrize("pattern, min_length", [
    (r"^\d{5}$", 1), (r"^[A-Z]{2}-\d+$", 1), (r"^(foo|bar)baz", 1), (r"[^abc]+", 1), (r"^https?://\S+$", 1),
    (r"^[a-z0-9_-]{3,16}$", 1), (r"^a+$", 6), (r"\w+@\w+\.com", 1), (r"^(?:[01]\d|2[0-3]):[0-5]\d$", 1),
])
def test_shortest_match_satisfies_the_pattern(pattern: str, min_length: int) -> None:
    import re

    text = minimal.shortest_match(pattern, min_length)
    assert re.search(pattern, text) and len(text) >= min_length


def test_unsupported_schemas_are_reported_not_guessed() -> None:
    with pytest.raises(Unsupported, match="regex construct"):
        minimal.shortest_match(r"^(a)\1$")
    with pytest.raises(Unsupported, match="'not'"):
        minimal.Generator({}).value({"not": {"type": "string"}})
    document = {"paths": {"/x": {"post": {"requestBody": {"required": True, "content": {"text/csv": {}}},
                                          "responses": {}}}}}
    [route] = routes_of(document)
    assert route.unsupported and "text/csv" in route.unsupported
    with pytest.raises(Unsupported, match="text/csv"):
        minimal.minimal_request(route, minimal.Generator(document))


def test_form_bodies_get_a_minimal_form_with_files_as_one_byte_uploads() -> None:
    document = {"paths": {"/upload": {"post": {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["title", "file"], "properties": {
            "title": {"type": "string"}, "file": {"type": "string", "format": "binary"}}}}}},
        "responses": {}}}}}
    [route] = routes_of(document)
    request = minimal.minimal_request(route, minimal.Generator(document))
    assert request.form == (("title", "a"),) and request.files == (("file", ("file.txt", b"a")),)


def test_response_validation_resolves_component_references() -> None:
    document = {"components": {"schemas": {"Out": {"type": "object", "required": ["value"],
                                                    "properties": {"value": {"type": "integer"}}}}},
                "paths": {"/": {"get": {"responses": {"200": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Out"}}}}}}}}}
    assert response_problem_detail(document, "GET", "/", 200, {"value": 3}, '{"value": 3}') is None
    problem = response_problem_detail(document, "GET", "/", 200, {"value": "three"}, '{"value": "three"}')
    assert problem is not None and problem[0] == "value" and "'three' is not of type 'integer'" in problem[2]


# --- reports -----------------------------------------------------------------------------------

def _report() -> RunReport:
    ok = WorkflowResult("ok.py", booted=True, app="app", routes=[RouteResult("POST", "/", 200)])
    bad = WorkflowResult("bad.py", booted=True, app="app",
                         routes=[RouteResult("POST", "/", 500),
                                 RouteResult("GET", "/x", inconclusive=Inconclusive("cannot build a request", "x"))])
    bad.add(Finding("unhandled-exception", "ZeroDivisionError: division by zero", "bad.py:9", ["bad.py:9 in run"],
                    route="POST /"))
    bad.add(Finding("network", "connect to 1.2.3.4:80", "bad.py:3"))
    bad.add(Finding("network", "connect to 1.2.3.4:80", "bad.py:3", count=4))  # merged into the first
    return RunReport(choose("auto", found=ALL), [ok, bad], 1.5)


def test_findings_merge_per_kind_and_place() -> None:
    report = _report()
    network = [f for f in report.results[1].findings if f.kind == "network"]
    assert len(network) == 1 and network[0].count == 4
    assert report.findings == 2 and report.exit_code() == 1
    assert set(KINDS) >= {f.kind for r in report.results for f in r.findings}


def test_search_findings_of_two_exception_types_at_one_line_stay_two() -> None:
    # Found on a public parking workflow: httpx.InvalidURL ("\x1f") and httpx.UnsupportedProtocol
    # ("") both escape at `await client.get(url)`; the search reports them apart, and so must this.
    result = WorkflowResult("wf.py", booted=True, app="app")
    for message, count in (("httpx.InvalidURL: bad character", 5), ("httpx.UnsupportedProtocol: no scheme", 23),
                           ("httpx.InvalidURL: bad character", 2)):
        result.add(Finding("unhandled-exception", message, "wf.py:120", route="POST /", check="fuzz", count=count))
    assert [(f.message.split(":")[0], f.count) for f in result.findings] == [
        ("httpx.InvalidURL", 5), ("httpx.UnsupportedProtocol", 23)]


def test_json_report_round_trips() -> None:
    data = json.loads(render_json(_report()))
    assert data["summary"] == {"workflows": 2, "findings": 2, "by_kind": {"network": 1, "unhandled-exception": 1},
                               "verdicts": {"passed": 1, "finding": 1, "inconclusive": 0}}
    assert [r["verdict"] for r in data["workflows"][1]["routes"]] == ["finding", "inconclusive"]
    assert data["sandbox"]["layer"] == "bubblewrap"
    assert data["workflows"][1]["findings"][0]["route"] == "POST /"


def test_junit_report_has_a_case_per_route_and_boot() -> None:
    root = ET.fromstring(render_junit(_report()))
    assert root.get("tests") == "5" and root.get("failures") == "2"
    bad = root.findall("testsuite")[1]
    cases = {case.get("name"): case for case in bad.findall("testcase")}
    assert set(cases) == {"boot", "POST /", "GET /x"}
    assert cases["POST /"].find("failure").get("type") == "unhandled-exception"
    assert cases["boot"].find("failure").get("type") == "network"
    assert cases["GET /x"].find("skipped") is not None


def test_verdicts_and_the_strict_exit_code() -> None:
    passed = WorkflowResult("a.py", booted=True, routes=[RouteResult("POST", "/", 200)])
    unsure = WorkflowResult("b.py", booted=True, routes=[RouteResult("GET", "/x", inconclusive=Inconclusive("why"))])
    report = RunReport(choose("auto", found=ALL), [passed, unsure])
    assert [r.verdict.value for r in report.results] == ["passed", "inconclusive"]
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1
    assert unsure.inconclusive_reasons() == ["GET /x: why"]
    with pytest.raises(ValueError, match="unknown finding kind"):
        Finding("not-a-kind", "x")


def test_every_finding_kind_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cwtest" / "harness.md").read_text()
    missing = [kind for kind in KINDS if f"`{kind}`" not in doc]
    assert not missing, f"undocumented finding kinds: {missing}"


# --- cwtest run --shard K/N ---------------------------------------------------------------------


def test_a_shard_is_a_stable_split_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = [Path(f"workflows/w{i:03d}.py") for i in range(200)]
    shards = [select_shard(paths, k, 4) for k in range(1, 5)]
    assert sorted(p for shard in shards for p in shard) == sorted(paths)  # each workflow in exactly one
    assert all(30 < len(shard) < 70 for shard in shards), [len(s) for s in shards]
    # Others added and removed move no workflow to another shard (its runner's cache stays useful).
    changed = paths[20:] + [Path(f"workflows/new{i}.py") for i in range(60)]
    for k in range(1, 5):
        assert [p for p in select_shard(changed, k, 4) if p in paths] == [p for p in shards[k - 1] if p in changed]
    # The key is the path relative to the working directory: every runner's checkout agrees.
    assert shard_of(tmp_path / "workflows" / "w001.py", 4) == shard_of(Path("workflows/w001.py"), 4)
    assert shard_of(Path("workflows/./w001.py"), 4) == shard_of(Path("workflows/w001.py"), 4)
    # Pinned: the split is part of the CLI's contract (changing it would move workflows between runners).
    assert [shard_of(Path(f"workflows/w{i:03d}.py"), 4) for i in range(8)] == [1, 3, 4, 2, 4, 1, 2, 4]
    assert {shard_of(p, 1) for p in paths} == {1}


@pytest.mark.parametrize("bad", ["0/4", "5/4", "2", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main([str(WORKFLOWS / "echo_ok.py"), f"--shard={bad}"]) == 2
    err = capsys.readouterr().err
    assert "--shard: expected K/N with 1 <= K <= N" in err and "Traceback" not in err


def test_run_directories_fall_back_to_tmp_when_tmpdir_is_too_deep_for_socket_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from cwtest.harness.process import RunDir, run_base

    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    assert run_base() == "/tmp"
    run = RunDir()
    try:
        assert len(str(run.events_socket)) <= 107 and str(run.root).startswith("/tmp/cwtest-run-")
    finally:
        run.cleanup()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run_base() == os.path.realpath(tmp_path) or len(str(tmp_path)) > 70
