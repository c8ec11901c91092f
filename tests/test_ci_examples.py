"""The CI examples users copy (docs/ci/): valid for GitHub and pre-commit, and saying what they should.

* ``docs/ci/github-actions.yml`` (and ``github-actions-matrix.yml``, whose group commands, SARIF categories
  and report merge are run here too) against GitHub's workflow schema, with check-jsonschema's
  vendored copy (``--builtin-schema vendor.github-workflows``: no network), and a broken copy of
  it rejected, so the check is known to bite; its steps are the ones the issue lists, in an order
  that works, with options cwlint and the plugin accept.
* ``docs/ci/.pre-commit-config.yaml`` through pre-commit's own ``validate-config``, and its hook
  ids against the ones ``.pre-commit-hooks.yaml`` publishes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
import xml.etree.ElementTree as ET

import pytest
import yaml

from cwtest.harness.sandbox import SandboxUnavailable, choose

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "docs" / "ci"
WORKFLOW = CI / "github-actions.yml"
PRECOMMIT = CI / ".pre-commit-config.yaml"


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120)


def steps() -> list[dict[str, Any]]:
    document = yaml.safe_load(WORKFLOW.read_text())
    [job] = document["jobs"].values()
    return job["steps"]


def step_index(predicate: Any) -> int:
    return next(i for i, step in enumerate(steps()) if predicate(step))


def runs(command: str) -> int:
    return step_index(lambda s: command in s.get("run", ""))


def test_the_workflow_is_valid_for_github() -> None:
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    document = yaml.safe_load(WORKFLOW.read_text())
    [job] = document["jobs"].values()
    job["runs_on"] = job.pop("runs-on")  # a misspelt key GitHub would refuse
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(document))
    result = check_jsonschema(broken)
    assert result.returncode == 1 and "runs_on" in result.stdout + result.stderr


def test_the_workflow_holds_the_steps_the_sandbox_and_the_reports_need() -> None:
    document = yaml.safe_load(WORKFLOW.read_text())
    [job] = document["jobs"].values()
    assert job["runs-on"] == "ubuntu-24.04"
    assert job["permissions"]["security-events"] == "write"  # upload-sarif
    uses = [step.get("uses", "") for step in steps()]
    assert any(u.startswith("actions/checkout@") for u in uses)
    setup = steps()[step_index(lambda s: s.get("uses", "").startswith("actions/setup-python@"))]
    assert setup["with"]["python-version"] == "3.11"
    sysctl = runs("sysctl")
    assert steps()[sysctl]["run"] == "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
    apt = steps()[runs("apt-get install")]["run"]
    assert re.search(r"apt-get install .*\bbubblewrap\b.*\bredis-server\b", apt)
    assert "pip install cwkit" in steps()[runs("pip install")]["run"]
    sarif = runs("--output-format sarif")
    upload = step_index(lambda s: s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert steps()[upload]["with"]["sarif_file"] == "cwlint.sarif"
    assert steps()[sarif]["run"].endswith("> cwlint.sarif")
    annotations = runs("cwlint --output-format github")
    tests = runs("pytest --cwtest")
    # the sandbox is ready before the tests; the SARIF is written and uploaded before the gate can stop the job
    assert sysctl < tests and runs("apt-get install") < tests
    assert sarif < upload < annotations < tests
    assert steps()[tests]["if"] == "${{ !cancelled() }}"  # the tests run even when lint failed


def test_the_commands_use_options_that_exist(tmp_path: Path) -> None:
    from cwlint.cli import build_parser

    parser = build_parser()
    for index in (runs("--output-format sarif"), runs("cwlint --output-format github")):
        command = steps()[index]["run"].split(">")[0]
        args = shlex.split(command)
        assert args[0] == "cwlint"
        parser.parse_args(args[1:])  # exits (SystemExit 2) on an unknown option
    # The plugin's command, as written, on a project holding one workflow: collected, nothing run.
    pytest_args = shlex.split(steps()[runs("pytest --cwtest")]["run"])
    assert pytest_args[0] == "pytest"
    try:
        choose("strict")
    except SandboxUnavailable:  # a machine with no OS-level sandbox: the options are what is checked
        pytest_args[pytest_args.index("--cwtest-sandbox") + 1] = "auto"
    project = tmp_path / "project"
    (project / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "plugin" / "workflows" / "clean.py", project / "workflows" / "clean.py")
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    plugin = [] if any(ep.name == "cwtest" for ep in entry_points(group="pytest11")) else ["-p", "cwtest.plugin"]
    result = subprocess.run([sys.executable, "-m", *pytest_args, *plugin, "--collect-only", "-q"],
                            capture_output=True, text=True, timeout=180, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "6 tests collected" in result.stdout


# --- the matrix variant: many runners ---------------------------------------------------------------

MATRIX = CI / "github-actions-matrix.yml"


def matrix_jobs() -> dict[str, Any]:
    return yaml.safe_load(MATRIX.read_text())["jobs"]


def matrix_step(job: str, text: str) -> dict[str, Any]:
    return next(s for s in matrix_jobs()[job]["steps"] if text in s.get("run", "") or text in s.get("uses", ""))


def group_command(group: str = "GROUP") -> list[str]:
    """The group's pytest command as a runner sees it, ``${{ matrix.group }}`` replaced by ``group``."""
    run = matrix_step("cwtest", "pytest --cwtest")["run"].replace("${{ matrix.group }}", group)
    return shlex.split(" ".join(run.split()))


def test_the_matrix_workflow_is_valid_for_github() -> None:
    result = check_jsonschema(MATRIX)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_group_runs_its_share_and_keeps_reports_of_its_own() -> None:
    jobs = matrix_jobs()
    groups = jobs["cwtest"]["strategy"]["matrix"]["group"]
    assert groups == list(range(1, len(groups) + 1)) and jobs["cwtest"]["strategy"]["fail-fast"] is False
    command = group_command()
    assert command[command.index("--splits") + 1] == str(len(groups))  # one group per runner, none left out
    assert command[command.index("--group") + 1] == "GROUP"
    assert "--junitxml=cwtest-junit-GROUP.xml" in command
    upload = matrix_step("cwtest", "actions/upload-artifact@")
    assert "${{ matrix.group }}" in upload["with"]["name"]  # artifacts of one run need distinct names
    assert jobs["report"]["needs"] == "cwtest"
    # Every SARIF upload in the file has a category of its own, and cwlint's log says the same one.
    uploads = [s for job in jobs.values() for s in job["steps"]
               if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    categories = [s["with"]["category"] for s in uploads]
    assert uploads and len(set(categories)) == len(categories)
    assert f"--sarif-category {categories[0]}" in matrix_step("lint", "--output-format sarif")["run"]


def test_the_matrix_commands_use_options_that_exist(tmp_path: Path) -> None:
    """The group's pytest command, as written, on a project holding two workflows: collected, split."""
    command = group_command("2")
    try:
        choose("strict")
    except SandboxUnavailable:  # a machine with no OS-level sandbox: the options are what is checked
        command[command.index("--cwtest-sandbox") + 1] = "auto"
    project = tmp_path / "project"
    (project / "workflows").mkdir(parents=True)
    for name in ("clean", "buggy"):
        shutil.copy(ROOT / "tests" / "plugin" / "workflows" / f"{name}.py", project / "workflows" / f"{name}.py")
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    plugin = [] if any(ep.name == "cwtest" for ep in entry_points(group="pytest11")) else ["-p", "cwtest.plugin"]
    result = subprocess.run([sys.executable, "-m", *command, *plugin, "--collect-only", "-q", "-p", "no:cacheprovider"],
                            capture_output=True, text=True, timeout=180, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^\d+/14 tests collected \(\d+ deselected\)", result.stdout, re.M), result.stdout[-2000:]
    lint = shlex.split(matrix_step("lint", "--output-format sarif")["run"].split(">")[0])
    from cwlint.cli import build_parser

    build_parser().parse_args(lint[1:])


def test_the_report_job_merges_what_the_groups_uploaded(tmp_path: Path) -> None:
    """The report job's commands, run as written on two groups' artifacts laid out as download-artifact
    lays them out: one JUnit report holding both groups' cases, one durations file holding both."""
    for group, (name, outcome) in enumerate([("lint", ""), ("boot", "<failure message='x'/>")], start=1):
        folder = tmp_path / "groups" / f"cwtest-group-{group}"
        folder.mkdir(parents=True)
        (folder / f"cwtest-junit-{group}.xml").write_text(
            f'<testsuites><testsuite name="pytest" tests="1"><testcase classname="workflows.a" name="{name}">'
            f"{outcome}</testcase></testsuite></testsuites>")
        (folder / ".test_durations").write_text(json.dumps({f"workflows/a.py::{name}": float(group)}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for text in ("junitparser merge", "import glob, json"):
        run = " ".join(matrix_step("report", text)["run"].split())
        done = subprocess.run(["bash", "-c", run.replace("python -c", f"{shlex.quote(sys.executable)} -c")],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    cases = [(c.get("name"), [child.tag for child in c]) for c in ET.parse(tmp_path / "cwtest-junit.xml").iter("testcase")]
    assert sorted(cases) == [("boot", ["failure"]), ("lint", [])]
    assert json.loads((tmp_path / "test_durations.json").read_text()) == {"workflows/a.py::lint": 1.0,
                                                                          "workflows/a.py::boot": 2.0}


# --- .ci/run -----------------------------------------------------------------------------------------

def test_ci_runs_the_readmes_test_command_verbatim_and_again_without_bwrap_and_redis() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Run the tests (what CI runs, through `.ci/run`):", 1)[1].split("```sh\n", 1)[1]
    command = block.split("\n```", 1)[0].strip()
    script = (ROOT / ".ci" / "run").read_text()
    assert f'README_TEST="{command}"' in script, command
    assert 'bash -c "$README_TEST"' in script  # the full run, CI=true
    hidden = script.split("unshare", 1)[1]
    assert 'mount --bind /dev/null "$1"' in hidden and 'mount --bind /dev/null "$2"' in hidden
    assert '"$bwrap_path" "$redis_path" "$README_TEST"' in hidden and "env -u CI" in hidden


def test_ci_lints_and_type_checks_every_package_the_wheel_ships() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for tool in (".venv/bin/ruff check", ".venv/bin/mypy"):
        checked = [line for line in lines if line.startswith(tool + " ")]
        assert len(checked) == 1, (tool, checked)
        assert sorted(checked[0][len(tool):].split()) == sorted(f"{p}/" for p in packages), (tool, packages)


# --- pre-commit -----------------------------------------------------------------------------------

def test_the_precommit_example_passes_precommits_own_validation() -> None:
    for command in (["validate-config", str(PRECOMMIT)], ["validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")]):
        result = subprocess.run([sys.executable, "-m", "pre_commit", *command], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_precommit_example_names_hooks_cwkit_publishes() -> None:
    published = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    config = yaml.safe_load(PRECOMMIT.read_text())
    used = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert used and all(hook["id"] in published for hook in used), (used, published)
    for hook in used:
        if "files" in hook:
            re.compile(hook["files"])


@pytest.mark.parametrize("broken", ["cwlint-fixx", None])
def test_a_wrong_hook_id_or_a_missing_rev_is_caught(tmp_path: Path, broken: str | None) -> None:
    config = yaml.safe_load(PRECOMMIT.read_text())
    if broken is None:
        del config["repos"][0]["rev"]  # pre-commit's own validation refuses it
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(path)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "rev" in result.stdout + result.stderr
    else:
        config["repos"][0]["hooks"][0]["id"] = broken
        published = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
        assert broken not in published
