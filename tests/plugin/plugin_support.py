"""Temporary projects for the plugin's tests, run by ``pytester`` in a pytest of their own.

pytester points ``HOME`` at the test's temporary directory, which would hide the harness's
environment cache (``~/.cache/cwtest``) and uv's package cache and make every test build the
workflow environment again. The real locations are read here, at import, before pytester moves
``HOME``, and handed to the inner pytest through ``CWTEST_CACHE_DIR`` and ``UV_CACHE_DIR``. Every
workflow under ``workflows/`` shares the harness tests' header, so one environment serves all.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from cwtest.harness.env import default_cache_dir

HERE = Path(__file__).resolve().parent
WORKFLOWS = HERE / "workflows"
REPO = HERE.parent.parent
CWTEST_CACHE = default_cache_dir()
UV_CACHE = Path(os.environ.get("UV_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME")
                                                       or Path.home() / ".cache") / "uv")
#: Until the ``pytest11`` entry point is installed (pyproject), the plugin is named with ``-p``.
PLUGIN_ARGS: tuple[str, ...] = () if any(ep.name == "cwtest" for ep in entry_points(group="pytest11")) \
    else ("-p", "cwtest.plugin")
#: pytest-lsp's plugin off: its runtest wrapper fails every item that is not a test function (pyproject.toml).
NO_LSP: tuple[str, ...] = ("-p", "no:pytest-lsp")

@dataclass
class Case:
    """One ``<testcase>`` of a JUnit report."""

    nodeid: str
    outcome: str  # passed, failed, skipped, error
    message: str
    text: str
    properties: dict[str, str]


def junit_cases(path: Path) -> dict[str, Case]:
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        nodeid = f"{module}::{case.get('name')}"
        outcome, message, text = "passed", "", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message, text = found.get("message", ""), found.text or ""
        properties = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        cases[nodeid] = Case(nodeid, outcome, message, text, properties)
    return cases


class Project:
    """A temporary project: ``workflows/`` with copies of chosen workflows, run with the plugin."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path
        (self.path / "workflows").mkdir()
        pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")

    def add(self, *names: str, source: Path = WORKFLOWS) -> None:
        for name in names:
            shutil.copy(source / f"{name}.py", self.path / "workflows" / f"{name}.py")

    def run(self, *args: str, timeout: float = 300) -> pytest.RunResult:
        # no:pytest-lsp: its runtest wrapper fails every item that is not a test function (pyproject.toml)
        return self.pytester.runpytest_subprocess(*PLUGIN_ARGS, "-p", "no:cacheprovider", "-p", "no:pytest-lsp", *args,
                                                  timeout=timeout)

    def junit(self, *args: str, name: str = "report.xml") -> tuple[pytest.RunResult, dict[str, Case]]:
        report = self.path / name
        result = self.run(*args, f"--junitxml={report}")
        return result, junit_cases(report)


def make_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("CWTEST_CACHE_DIR", str(CWTEST_CACHE))
    monkeypatch.setenv("UV_CACHE_DIR", str(UV_CACHE))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return Project(pytester)
