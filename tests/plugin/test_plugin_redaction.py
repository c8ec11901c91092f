"""Issue 17: the plugin's item reports go through the same redaction as ``cwtest run``'s outputs:
the key in an outbound query string, a token from ``[tool.cwtest] env`` echoed in an exception
message and in a crash's stderr, and the known-format header the fuzzer generates are never shown
whole, in the terminal or in JUnit."""

from __future__ import annotations

from plugin_support import REPO, Project

pytest_plugins = ["pytester"]

WORKFLOWS = REPO / "tests" / "harness" / "workflows"
WEATHER_KEY = "wk_7Hq2Lm9Vx4Rt8Zp3"
SERVICE_TOKEN = "st-Pq72kLm9Xv3Rz8Wn"

CONFTEST = '''
from cwtest.harness.runner import ExternalResponse


def pytest_cwtest_mock_external(path, config):
    return {"https://api.weather.example/": ExternalResponse(status=503, text="down")}
'''


def test_item_reports_show_no_secret_whole(project: Project) -> None:
    project.add("leaky", source=WORKFLOWS)
    (project.path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n\n[tool.cwtest]\n"
        f'env = {{ WEATHER_API_KEY = "{WEATHER_KEY}", SERVICE_TOKEN = "{SERVICE_TOKEN}" }}\n')
    (project.path / "conftest.py").write_text(CONFTEST)
    result, cases = project.junit("--cwtest", "workflows", "--cwtest-examples", "3",
                                  "--cwtest-shrink-time", "0", "--cwtest-seed", "0", "-k", "fuzz", "-rA")
    weather = cases["workflows/leaky.py::fuzz[POST /weather]"]
    env = cases["workflows/leaky.py::fuzz[POST /env]"]
    zexit = cases["workflows/leaky.py::fuzz[POST /zexit]"]
    assert weather.outcome == env.outcome == zexit.outcome == "failed", result.stdout.str()[-3000:]
    assert "api_key=wk_7****" in weather.text and "x-api-key: sk-p****" in weather.text
    assert "st-P****" in env.message
    assert "SERVICE_TOKEN=st-P****" in zexit.text  # the crash's stderr tail
    junit = (project.path / "report.xml").read_text()
    out = result.stdout.str()
    for text in (junit, out):
        assert WEATHER_KEY not in text and SERVICE_TOKEN not in text
        assert "x-api-key: sk-proj-" not in text
