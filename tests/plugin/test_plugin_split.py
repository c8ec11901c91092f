"""Many runners: pytest-split's ``--splits N --group K`` over the plugin's items.

A CI matrix gives each runner one group; together the groups must run every item of one serial
run exactly once, with the same outcome and the same report (each item's seed derives from the
run's seed and its node id, never from which runner or worker it landed on). The groups are
balanced by the ``.test_durations`` a serial run stored (``--store-durations``); each group
collects on its own, in a process with its own string hashing, and must agree with the others.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import JUnitXml
from plugin_support import Project, junit_cases

pytest_plugins = ["pytester"]

FAST = ("--cwtest-examples", "10", "--cwtest-shrink-time", "3", "--cwtest-seed", "0")
GROUPS = 4


def nodeids(report: Path) -> list[str]:
    """Every ``<testcase>`` of a JUnit report as a node id, repeats kept."""
    return [case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            for case in ET.parse(report).getroot().iter("testcase")]


def test_four_groups_run_each_item_of_a_serial_run_once_with_its_outcome(project: Project,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    project.add("clean", "buggy", "import_crash")
    durations = project.path / ".test_durations"
    result, serial = project.junit("--cwtest", "workflows", *FAST, "--store-durations",
                                   f"--durations-path={durations}", name="serial.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    stored = json.loads(durations.read_text())
    assert set(stored) == set(serial) and len(serial) == 18  # every item's duration, by its node id
    assert {case.outcome for case in serial.values()} == {"passed", "failed", "skipped"}

    merged = JUnitXml()
    ran: list[str] = []
    sizes: list[int] = []
    for group in range(1, GROUPS + 1):
        monkeypatch.setenv("PYTHONHASHSEED", str(group * 7919))  # each runner hashes strings its own way
        report = project.path / f"group-{group}.xml"
        result = project.run("--cwtest", "workflows", *FAST, "--splits", str(GROUPS), "--group", str(group),
                             f"--durations-path={durations}", f"--junitxml={report}")
        assert f"[pytest-split] Running group {group}/{GROUPS}" in result.stdout.str(), result.stdout.str()[-3000:]
        sizes.append(len(nodeids(report)))
        ran += nodeids(report)
        merged += JUnitXml.fromfile(str(report))
    # pytest-split cuts by stored seconds: a group may get nothing when a few items hold most of them
    # (a slow boot), but the work is split.
    assert sum(1 for size in sizes if size) >= 2, sizes
    assert sorted(ran) == sorted(serial)  # every item, none twice
    merged.write(str(project.path / "merged.xml"))
    together = junit_cases(project.path / "merged.xml")
    assert {n: c.outcome for n, c in together.items()} == {n: c.outcome for n, c in serial.items()}
    assert {n: c.message for n, c in together.items()} == {n: c.message for n, c in serial.items()}
    assert {n: c.properties["cwtest.seed"] for n, c in together.items()} == \
        {n: c.properties["cwtest.seed"] for n, c in serial.items()}


def test_the_header_advises_against_an_algorithm_that_scatters_a_workflows_items(project: Project) -> None:
    project.add("clean")
    scattered = project.run("--cwtest", "workflows", "--collect-only", "--splits", "2", "--group", "1",
                            "--splitting-algorithm", "least_duration")
    assert "least_duration spreads a workflow's items over the groups" in scattered.stdout.str()
    chunked = project.run("--cwtest", "workflows", "--collect-only", "--splits", "2", "--group", "1")
    assert "least_duration" not in chunked.stdout.str() and "Running group 1/2" in chunked.stdout.str()
