"""What the examples of CW302-CW406 cannot show: fixes at scale and in other layouts, the
header scanner against the parser, and the distribution data's own consistency."""

from __future__ import annotations

import tomllib
from pathlib import Path

import libcst as cst
import pytest

from cwlint.analysis import distributions
from cwlint.analysis.header_layout import declare_env_vars, scan
from cwlint.config import Settings
from cwlint.engine import MAX_FIX_ITERATIONS, fix_source, lint_source
from cwlint.header import normalize_distribution, parse_header
from cwlint.source import SourceFile, read

ROOT = Path(__file__).resolve().parent.parent


def _with_header(path: Path) -> bool:
    header = parse_header(read(str(path)).text)
    return header is not None and header.end_line is not None and not header.error


FIXTURES = [p for p in sorted((ROOT / "fixtures").rglob("*.py")) if "hostile" not in p.parts and _with_header(p)]

HEADER = """\
# /// script
# requires-python = "==3.11.*"
# dependencies = [
#     "codewords-client==0.3.4",
#     "fastapi==0.116.1",
# ]
# [tool.env-checker]
# env_vars = [
#     "PORT=8000",
# ]
# ///
import os

from codewords_client import AsyncCodewordsClient
"""


def _findings(text: str, codes: list[str]) -> list[tuple[str, int, int]]:
    diagnostics = lint_source(SourceFile("workflow.py", text), Settings(select=codes))
    return [(d.code, d.start.line, d.start.column) for d in diagnostics]


def test_many_undeclared_env_vars_are_declared_in_one_round() -> None:
    """More variables than the engine has fix rounds: one fix declares them all."""
    names = [f"SERVICE_{n}_API_KEY" for n in range(MAX_FIX_ITERATIONS + 5)]
    text = HEADER + "".join(f'K{n} = os.environ["{name}"]\n' for n, name in enumerate(names))
    assert len(_findings(text, ["CW403"])) == len(names)
    outcome = fix_source(SourceFile("workflow.py", text), Settings(select=["CW403"]))
    assert outcome.failure is None
    assert outcome.count == 1
    header = parse_header(outcome.text)
    assert header is not None and [v.name for v in header.env_vars] == ["PORT", *names]
    assert _findings(outcome.text, ["CW403"]) == []
    # The layout is kept: one element per line, the closing bracket on its own line.
    assert '#     "SERVICE_0_API_KEY",\n#     "SERVICE_1_API_KEY",\n' in outcome.text
    assert outcome.text.count("# ]\n") == 2


def test_suppressed_env_var_is_not_declared_by_the_group_fix() -> None:
    text = HEADER + (
        'A = os.environ["FIRST_TOKEN"]\n'
        'B = os.environ["LOCAL_ONLY_TOKEN"]  # noqa: CW403\n'
        'C = os.environ["THIRD_TOKEN"]\n'
    )
    outcome = fix_source(SourceFile("workflow.py", text), Settings(select=["CW403"]))
    header = parse_header(outcome.text)
    assert header is not None
    assert [v.name for v in header.env_vars] == ["PORT", "FIRST_TOKEN", "THIRD_TOKEN"]


def test_env_fixes_keep_crlf_newlines() -> None:
    text = (HEADER + 'TOKEN = os.environ["SLACK_BOT_TOKEN"]\n').replace("\n", "\r\n")
    outcome = fix_source(SourceFile("workflow.py", text), Settings(select=["CW403"]))
    assert outcome.failure is None and outcome.count == 1
    assert "\n" not in outcome.text.replace("\r\n", "")
    assert '#     "SLACK_BOT_TOKEN",\r\n' in outcome.text


def test_cw403_and_cw404_fixes_together_converge() -> None:
    text = HEADER + (
        'TOKEN = os.environ["SLACK_BOT_TOKEN"]\n'
        "async def go(client: AsyncCodewordsClient) -> None:\n"
        '    await client.run(service_id="pipedream", inputs={"app": "notion", "action": "create-page", "props": {}})\n'
    )
    settings = Settings(select=["CW403", "CW404"])
    outcome = fix_source(SourceFile("workflow.py", text), settings)
    assert outcome.failure is None
    header = parse_header(outcome.text)
    assert header is not None
    assert {v.name for v in header.env_vars} == {"PORT", "SLACK_BOT_TOKEN", "PIPEDREAM_NOTION_ACCESS"}
    cst.parse_module(outcome.text)
    assert fix_source(SourceFile("workflow.py", outcome.text), settings).text == outcome.text


def test_declare_env_vars_is_one_edit_and_empty_when_the_header_is_broken() -> None:
    header = parse_header(HEADER)
    assert header is not None
    edits = declare_env_vars(HEADER, header, ["A_TOKEN", "B=1"])
    assert len(edits) == 1
    broken = HEADER.replace('#     "PORT=8000",', '#     "PORT=8000" "X",')
    broken_header = parse_header(broken)
    assert broken_header is not None and broken_header.error
    assert declare_env_vars(broken, broken_header, ["A_TOKEN"]) == []


@pytest.mark.parametrize("path", FIXTURES, ids=[str(p.relative_to(ROOT / "fixtures")) for p in FIXTURES])
def test_scanner_agrees_with_the_parser_on_every_fixture(path: Path) -> None:
    """Every dependency and env var string is found where the file has it."""
    text = read(str(path)).text
    header = parse_header(text)
    assert header is not None
    layout = scan(text, header)
    lines = text.splitlines()
    deps = layout.dependency_items()
    assert [item.value for item in deps] == header.dependencies or not header.dependencies
    for item in [*deps, *layout.env_var_items()]:
        line = lines[item.line - 1]
        assert line[item.column - 1 : item.end_column - 1] == item.raw
        assert tomllib.loads(f"v = {item.raw}")["v"] == item.value


def test_distribution_data_is_normalised_and_not_stdlib() -> None:
    for module, names in distributions.IMPORT_TO_DISTRIBUTIONS.items():
        assert module.split(".")[0] not in distributions.STDLIB or module.startswith("google"), module
        assert all(normalize_distribution(name) == name for name in names), module
    for key, brought in distributions.closures().items():
        name, _, extra = key.partition("[")
        assert normalize_distribution(name) == name, key
        assert all(normalize_distribution(b) == b for b in brought), key


def test_closure_without_the_client() -> None:
    """fastapi brings starlette and pydantic whether codewords-client is declared or not."""
    installed = distributions.provided({"fastapi"}, with_client=False)
    assert {"fastapi", "starlette", "pydantic", "anyio"} <= installed
    assert "httpx" not in installed and "redis" not in installed


def test_requirement_data_is_generated_with_its_source() -> None:
    """The closures come from scripts/generate_requirements.py, which says how in [source]."""
    from cwlint.analysis.data import load

    data = load(distributions.REQUIRES_FILE)
    assert data["source"]["generator"] == "scripts/generate_requirements.py"
    assert "uv" in data["source"]["resolver"]
    closures = distributions.closures()
    # Facts the generated data must hold (fastapi brings starlette and pydantic; the client
    # brings uvicorn[standard]'s pyyaml; pandas brings numpy), whatever the release.
    assert {"starlette", "pydantic"} <= closures["fastapi"]
    assert {"httpx", "fastapi", "pydantic", "structlog", "redis", "uvicorn", "pyyaml", "starlette"} <= closures["codewords-client"]
    assert "numpy" in closures["pandas"]
    assert "openai" in closures["codewords-client[openai]"]
    assert not data.get("unresolved"), data.get("unresolved")


@pytest.mark.parametrize(
    ("module", "declared", "ok"),
    [
        ("bs4", {"beautifulsoup4"}, True),
        ("bs4", {"bs4"}, True),
        ("PIL.Image", {"pillow"}, True),
        ("yaml", set(), True),  # uvicorn[standard] brings pyyaml with codewords-client
        ("numpy", {"pandas"}, True),
        ("numpy", set(), False),
        ("google.cloud.bigquery", {"google-cloud-bigquery"}, True),
        ("google.cloud.pubsub_v1", {"google-cloud-pubsub-v1"}, True),
        ("cv2", {"opencv-python-headless"}, True),
        ("sklearn", {"sklearn"}, False),
    ],
)
def test_candidates_and_provided(module: str, declared: set[str], ok: bool) -> None:
    installed = distributions.provided({normalize_distribution(d) for d in declared}, with_client=True)
    assert any(name in installed for name in distributions.candidates(module)) is ok


def test_cw402_and_cw405_stay_silent_when_cw401_reports_misplaced_dependencies() -> None:
    text = (
        "# /// script\n# [tool.env-checker]\n# env_vars = []\n"
        '# dependencies = ["codewords-client==0.3.4", "beautifulsoup4>=4"]\n# ///\n'
        "from bs4 import BeautifulSoup\nfrom codewords_client import run_service\nfrom fastapi import FastAPI\n"
    )
    assert [code for code, _, _ in _findings(text, ["CW401", "CW402", "CW405"])] == ["CW401"]


def test_declarations_by_several_rules_create_one_table() -> None:
    """Regression (found by tests/test_robustness.py): CW403, CW404 and CW301 each declare a
    variable in a header that has no `[tool.env-checker]` yet; the table must be made once."""
    cwk = "cwk-" + "0123456789abcdef" * 4
    text = (
        '# /// script\n# requires-python = "==3.11.*"\n# dependencies = ["codewords-client==0.3.4"]\n# ///\n'
        "import os\n\nfrom codewords_client import AsyncCodewordsClient\n\n"
        'SIGNING_SECRET = os.environ["SIGNING_SECRET"]\n\n'
        "async def go() -> None:\n"
        f'    async with AsyncCodewordsClient(api_key="{cwk}") as client:\n'
        '        await client.run(service_id="pipedream", inputs={"app": "google_sheets", "action": "add-single-row", "props": {}})\n'
    )
    settings = Settings(select=["CW301", "CW403", "CW404"])
    outcome = fix_source(SourceFile("workflow.py", text), settings, unsafe=True)
    assert outcome.failure is None
    assert outcome.text.count("[tool.env-checker]") == 1
    header = parse_header(outcome.text)
    assert header is not None and header.error is None
    assert {v.name for v in header.env_vars} == {"SIGNING_SECRET", "PIPEDREAM_GOOGLE_SHEETS_ACCESS", "CODEWORDS_API_KEY"}
    assert fix_source(SourceFile("workflow.py", outcome.text), settings, unsafe=True).text == outcome.text
