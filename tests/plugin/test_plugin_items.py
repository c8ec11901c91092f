"""The plugin's items on temporary projects: exact outcomes, the reports, xdist, JUnit, the seed.

Each test runs pytest in a subprocess on a project holding copies of ``workflows/``: ``clean``
(every item passes), ``buggy`` (one lint finding, one fuzz bug, one fault bug), ``import_crash``
(boot fails, its route items are skipped), ``hidden_route`` (a route collection cannot see) and
``import_reach`` (an outbound request while it is imported: egress, information; everything passes).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from needs import in_ci, need_layer
from plugin_support import NO_LSP, PLUGIN_ARGS, Case, Project

from cwtest.harness.sandbox import SandboxUnavailable, choose
from cwtest.plugin.items import item_seed

pytest_plugins = ["pytester"]

FAST = ("--cwtest-examples", "10", "--cwtest-shrink-time", "3")

EXPECTED = {
    "workflows/clean.py::lint": "passed",
    "workflows/clean.py::boot": "passed",
    "workflows/clean.py::fuzz[GET /health]": "passed",
    "workflows/clean.py::faults[GET /health]": "passed",
    "workflows/clean.py::fuzz[POST /]": "passed",
    "workflows/clean.py::faults[POST /]": "passed",
    "workflows/buggy.py::lint": "failed",
    "workflows/buggy.py::boot": "passed",
    "workflows/buggy.py::fuzz[GET /health]": "passed",
    "workflows/buggy.py::faults[GET /health]": "passed",
    "workflows/buggy.py::fuzz[POST /quote]": "failed",
    "workflows/buggy.py::faults[POST /quote]": "passed",
    "workflows/buggy.py::fuzz[POST /triage]": "passed",
    "workflows/buggy.py::faults[POST /triage]": "failed",
    "workflows/import_crash.py::lint": "passed",
    "workflows/import_crash.py::boot": "failed",
    "workflows/import_crash.py::fuzz[POST /]": "skipped",
    "workflows/import_crash.py::faults[POST /]": "skipped",
    "workflows/hidden_route.py::lint": "passed",
    "workflows/hidden_route.py::boot": "failed",
    "workflows/hidden_route.py::fuzz[GET /ping]": "passed",
    "workflows/hidden_route.py::faults[GET /ping]": "passed",
    "workflows/import_reach.py::lint": "passed",
    "workflows/import_reach.py::boot": "passed",
    "workflows/import_reach.py::fuzz[GET /greeting]": "passed",
    "workflows/import_reach.py::faults[GET /greeting]": "passed",
}


def outcomes(cases: dict[str, Case]) -> dict[str, str]:
    return {nodeid: case.outcome for nodeid, case in cases.items()}


def check_reports(cases: dict[str, Case]) -> None:
    """The failure messages (one line each) and the reports behind them."""
    lint = cases["workflows/buggy.py::lint"]
    assert lint.message.startswith("Found 1 error.") and "CW403" in lint.message
    assert "workflows/buggy.py:33:27: CW403" in lint.text and "help: Declare `QUOTE_CURRENCY=EUR`" in lint.text

    quote = cases["workflows/buggy.py::fuzz[POST /quote]"]
    assert quote.message.startswith("[unhandled-exception] KeyError: 'yearly' at workflows/buggy.py:68")
    for part in ("check: fuzz", "minimal input (shrunk): POST /quote", '{"plan": "yearly", "seats": 1}',
                 "traceback (the workflow's frames):", "workflows/buggy.py:68 in quote",
                 "return Quote(total=PRICES[request.plan] * request.seats, currency=CURRENCY)",
                 "curl -sS -X POST http://127.0.0.1:8000/quote",
                 "def test_post_quote_unhandled_exception_", "workflow = cw_workflow('workflows/buggy.py')",
                 "rerun: pytest 'workflows/buggy.py::fuzz[POST /quote]' --cwtest --cwtest-seed 0"):
        assert part in quote.text, part

    triage = cases["workflows/buggy.py::faults[POST /triage]"]
    assert triage.message.startswith("[unhandled-exception] KeyError: 'labels' at workflows/buggy.py:87")
    for part in ("fault: openai: llm_missing_key", "service calls:", "      openai POST -> 200",
                 "runtime.script('openai', '').respond(", "# only with openai failing (llm_missing_key)"):
        assert part in triage.text, part
    assert triage.text.count("✗ [") == 1  # every other fault is handled: one failure, not seven

    crash = cases["workflows/import_crash.py::boot"]
    assert crash.message == "[import-crash] KeyError: 'retry_count' (workflows/import_crash.py:21)"
    for node in ("fuzz[POST /]", "faults[POST /]"):
        skipped = cases[f"workflows/import_crash.py::{node}"]
        assert "not run: workflows/import_crash.py did not boot" in skipped.message

    hidden = cases["workflows/hidden_route.py::boot"]
    assert hidden.message.startswith("[routes] the app has routes collection did not find statically")
    assert "GET /echo/alpha, GET /echo/beta" in hidden.message
    assert "hidden_route.py:34: app route with a path cwtest cannot read statically" in hidden.text



def test_a_clean_workflow_passes_and_a_buggy_one_fails_exactly_the_expected_items(project: Project) -> None:
    project.add("clean", "buggy", "import_crash", "hidden_route", "import_reach")
    result, serial = project.junit("--cwtest", "workflows", *FAST, "--cwtest-seed", "0", name="serial.xml")
    assert outcomes(serial) == EXPECTED, result.stdout.str()[-4000:]
    result.assert_outcomes(passed=19, failed=5, skipped=2)
    check_reports(serial)
    layer = choose("auto").name
    for nodeid, case in serial.items():
        assert case.properties["cwtest.seed"] == str(item_seed(0, nodeid))
        if not nodeid.endswith("::lint"):
            assert case.properties["cwtest.sandbox"] == layer
    assert serial["workflows/clean.py::boot"].properties["cwtest.environment"].startswith("uv env ")

    # pytest-xdist: each worker boots its own workflows against its own simulators; same outcomes.
    result, parallel = project.junit("--cwtest", "workflows", *FAST, "--cwtest-seed", "0", "-n", "2",
                                     name="xdist.xml")
    assert outcomes(parallel) == EXPECTED, result.stdout.str()[-4000:]
    assert {n: c.message for n, c in parallel.items()} == {n: c.message for n, c in serial.items()}
    assert re.search(r"created: 2/2 workers", result.stdout.str())


def test_the_regression_test_in_a_report_reproduces_the_failure_until_it_is_fixed(project: Project) -> None:
    project.add("buggy")
    result, cases = project.junit("--cwtest", "workflows", *FAST, "-k", "faults and triage")
    assert outcomes(cases) == {"workflows/buggy.py::faults[POST /triage]": "failed"}, result.stdout.str()
    text = cases["workflows/buggy.py::faults[POST /triage]"].text
    code = extract_regression_test(text)
    assert "cw_workflow('workflows/buggy.py')" in code
    tests = project.path / "tests"
    tests.mkdir()
    (tests / "test_regression.py").write_text(code)

    failing = project.run("tests/test_regression.py")
    failing.assert_outcomes(failed=1)
    assert "KeyError: 'labels'" in failing.stdout.str()

    workflow = project.path / "workflows" / "buggy.py"
    workflow.write_text(workflow.read_text().replace('answer["labels"]', 'answer.get("labels", [])'))
    project.run("tests/test_regression.py").assert_outcomes(passed=1)


def extract_regression_test(text: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("regression test (pytest; the cw_workflow"))
    body = []
    for line in lines[start + 1:]:
        if line and not line.startswith("      "):
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip() + "\n"


def test_the_header_names_the_seed_and_the_sandbox_and_every_worker_uses_that_seed(project: Project) -> None:
    project.add("clean")
    result, cases = project.junit("--cwtest", "workflows", *FAST, "--cwtest-seed", "random", "-n", "2")
    match = re.search(r"^cwtest: seed (\d+) \(--cwtest-seed \1 reproduces the run\), 10 examples per route, "
                      r"sandbox: (.+)$", result.stdout.str(), re.M)
    assert match, result.stdout.str()[:3000]
    seed = int(match.group(1))
    assert match.group(2) == choose("auto").describe()
    if in_ci():  # .ci/run installs bubblewrap: the plugin must use the strongest layer
        need_layer("bubblewrap")
        assert choose("auto").name == "bubblewrap"
    assert set(outcomes(cases).values()) == {"passed"} and len(cases) == 6
    for nodeid, case in cases.items():
        assert case.properties["cwtest.seed"] == str(item_seed(seed, nodeid)), nodeid


@pytest.mark.parametrize("mode", ["off", "strict"])
def test_the_sandbox_option_reaches_the_harness_and_the_header(project: Project, mode: str) -> None:
    project.add("clean")
    result = project.run("--cwtest", "workflows", "--collect-only", "--cwtest-sandbox", mode)
    try:
        layer = choose(mode)
    except SandboxUnavailable as exc:  # strict on a machine with no OS-level layer: a usage error
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert str(exc) in result.stderr.str()
        return
    assert result.ret == pytest.ExitCode.OK
    assert f"sandbox: {layer.describe()}" in result.stdout.str()
    if mode == "off":  # the audit layer: a loud warning in the header
        assert f"cwtest: WARNING: {layer.warning}" in result.stdout.str()


def test_collection_reads_the_routes_and_boots_nothing(project: Project, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    project.add("clean", "buggy", "hidden_route")
    empty_cache = tmp_path / "cache"
    empty_cache.mkdir()
    monkeypatch.setenv("CWTEST_CACHE_DIR", str(empty_cache))
    result = project.run("--cwtest", "workflows", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    collected = [line for line in result.stdout.lines if "::" in line]
    assert collected == [
        "workflows/buggy.py::lint", "workflows/buggy.py::boot",
        "workflows/buggy.py::fuzz[GET /health]", "workflows/buggy.py::faults[GET /health]",
        "workflows/buggy.py::fuzz[POST /quote]", "workflows/buggy.py::faults[POST /quote]",
        "workflows/buggy.py::fuzz[POST /triage]", "workflows/buggy.py::faults[POST /triage]",
        "workflows/clean.py::lint", "workflows/clean.py::boot",
        "workflows/clean.py::fuzz[GET /health]", "workflows/clean.py::faults[GET /health]",
        "workflows/clean.py::fuzz[POST /]", "workflows/clean.py::faults[POST /]",
        "workflows/hidden_route.py::lint", "workflows/hidden_route.py::boot",
        "workflows/hidden_route.py::fuzz[GET /ping]", "workflows/hidden_route.py::faults[GET /ping]",
    ]
    assert list(empty_cache.iterdir()) == []  # no environment was built, so nothing was booted


def test_the_plugin_is_inert_unless_asked(project: Project) -> None:
    project.add("clean")
    result = project.run("workflows", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "cwtest:" not in result.stdout.str()


def test_cwtest_paths_in_the_ini_enables_the_plugin_beside_the_testpaths(project: Project) -> None:
    project.add("clean", "buggy")
    project.pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\ncwtest_paths = ["workflows/clean.py"]\n')
    project.pytester.mkdir("tests")
    (project.path / "tests" / "test_unit.py").write_text("def test_unit():\n    assert True\n")
    result = project.run("--collect-only", "-q")
    collected = [line for line in result.stdout.lines if "::" in line]
    assert collected == ["tests/test_unit.py::test_unit", "workflows/clean.py::lint", "workflows/clean.py::boot",
                         "workflows/clean.py::fuzz[GET /health]", "workflows/clean.py::faults[GET /health]",
                         "workflows/clean.py::fuzz[POST /]", "workflows/clean.py::faults[POST /]"]
    header = project.run("--collect-only")
    assert re.search(r"^cwtest: seed 0 \(--cwtest-seed 0 reproduces the run\), 50 examples per route",
                     header.stdout.str(), re.M)


def test_the_example_database_is_read_only_under_xdist(project: Project) -> None:
    project.add("buggy")
    args = ("--cwtest", "workflows", *FAST, "-k", "fuzz and quote")
    examples = project.path / ".pytest_cache" / "d" / "cwtest" / "examples"
    parallel = project.pytester.runpytest_subprocess(*PLUGIN_ARGS, *NO_LSP, *args, "-n", "2")
    parallel.assert_outcomes(failed=1)
    assert not examples.exists() or not any(p.is_file() for p in examples.rglob("*"))
    serial = project.pytester.runpytest_subprocess(*PLUGIN_ARGS, *NO_LSP, *args)
    serial.assert_outcomes(failed=1)
    assert any(p.is_file() for p in examples.rglob("*"))  # the shrunk failure, replayed first next time


def test_a_workflow_that_hangs_or_dies_fails_the_item_and_is_booted_again_for_the_next(project: Project) -> None:
    project.add("unstable")
    result, cases = project.junit("--cwtest", "workflows", *FAST, "--cwtest-timeout", "3")
    assert outcomes(cases) == {
        "workflows/unstable.py::lint": "passed", "workflows/unstable.py::boot": "passed",
        "workflows/unstable.py::fuzz[POST /wait]": "failed", "workflows/unstable.py::faults[POST /wait]": "failed",
        "workflows/unstable.py::fuzz[POST /exit]": "failed", "workflows/unstable.py::faults[POST /exit]": "failed",
    }, result.stdout.str()[-3000:]
    hang = cases["workflows/unstable.py::fuzz[POST /wait]"]
    assert hang.message.startswith("[timeout] no answer within 3 s: the workflow hung (it was stopped) at "), \
        hang.message
    assert '{"mode": "never"}' in hang.text and "input (as first seen, not shrunk)" in hang.text
    assert re.search(r"where it was .*\n(.*\n)* +\S*workflows/unstable\.py:37 in wait", hang.text)  # the hung task
    # the next item found the process stopped and booted another, which hung again on its own
    assert cases["workflows/unstable.py::faults[POST /wait]"].message.startswith("[timeout] no answer within 3 s")
    died = cases["workflows/unstable.py::fuzz[POST /exit]"]
    assert died.message == "[crash] the workflow process died during the request (exit status 3)", died.message
    assert '{"mode": "leave"}' in died.text and "✗ [crash]" in died.text


def test_a_swallowed_exceptions_regression_test_fails_until_the_key_is_fixed(project: Project) -> None:
    """Issue 17: the plugin's fuzz item reports a swallowed KeyError (a 200 hides it); its regression
    test, run with the cw_workflow fixture, fails while the broad except swallows it and passes once
    the code reads the right key."""
    project.add("swallowed_keyerror", source=Path(__file__).resolve().parents[2] / "fixtures" / "runtime")
    result, cases = project.junit("--cwtest", "workflows", *FAST, "-k", "fuzz")
    assert outcomes(cases) == {"workflows/swallowed_keyerror.py::fuzz[POST /]": "failed"}, result.stdout.str()
    text = cases["workflows/swallowed_keyerror.py::fuzz[POST /]"].text
    assert "swallowed-exception" in text and "caught by `except Exception as exc` at line 52" in text
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_regression.py").write_text(extract_regression_test(text))
    failing = project.run("tests/test_regression.py")
    failing.assert_outcomes(failed=1)
    assert "KeyError: 'weight'" in failing.stdout.str()
    workflow = project.path / "workflows" / "swallowed_keyerror.py"
    workflow.write_text(workflow.read_text().replace('rule["weight"]', 'rule["score"]'))
    project.run("tests/test_regression.py").assert_outcomes(passed=1)
