"""CW301's fix at scale: any number of secrets in one file fixed in one round.

Every CW301 fix of a file carries the same header edit, declaring the names of all the file's
unsuppressed secrets; the engine applies an edit shared by several fixes (same span, same
text) once instead of treating it as an overlap. Before, each fix declared its own name at
the same place, one fix applied per round, and a file with more secrets than the fix loop has
rounds ended in CW907 with nothing fixed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import libcst as cst
import pytest

from cwlint import engine
from cwlint.config import Settings
from cwlint.diagnostics import Applicability, Edit
from cwlint.engine import MAX_FIX_ITERATIONS, selection_for, fix_source, lint_source
from cwlint.header import parse_header
from cwlint.rule import Rule
from cwlint.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
CW301 = Settings(select=["CW301"])

# Fake keys: the right shapes, built from repeated patterns. Twelve names, twelve formats.
SECRETS = {
    "OPENAI_API_KEY": "sk-proj-" + "Q7w8E9r0T1y2U3i4" * 3,
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5P" * 3,
    "SLACK_BOT_TOKEN": "xoxb-2345678901-" + "QwErTyUiOpAsDfGhJkLzXc",
    "GITHUB_TOKEN": "ghp_" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8",
    "STRIPE_API_KEY": "sk_live_" + "51Hc3Dd4Ee5Ff6Gg" * 2,
    "HUBSPOT_API_TOKEN": "pat-na1-" + "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "GOOGLE_API_KEY": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "AWS_ACCESS_KEY_ID": "AKIA" + "Q2W3E4R5T6Y7U8I9",
    "AWS_SECRET_ACCESS_KEY": "Kq7Lp3Mz9Xw2Nv5R" * 2,
    "TELEGRAM_BOT_TOKEN": "7312456789:AA" + "Hq3Lm9Xz2Wv8Ut5Rs1Po4Nk7Ji6Gf0Ed3",
    "SUPABASE_SERVICE_KEY": "eyJhbGciOiJIUzI1NiJ9." + "eyJyb2xlIjoic2VydmljZSJ9." + "c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "CODEWORDS_API_KEY": "cwk-" + "0f1e2d3c4b5a6978" * 4,
}
assert len(SECRETS) == 12 and MAX_FIX_ITERATIONS < len(SECRETS)

LAYOUTS = {
    "inline": '# [tool.env-checker]\n# env_vars = ["PORT=8000"]\n',
    "inline-empty": "# [tool.env-checker]\n# env_vars = []\n",
    "multi-line": '# [tool.env-checker]\n# env_vars = [\n#     "PORT=8000",\n# ]\n',
    "multi-line-no-trailing-comma": '# [tool.env-checker]\n# env_vars = [\n#     "PORT=8000"\n# ]\n',
    "table-without-env-vars": "# [tool.env-checker]\n",
    "no-table": "",
    "root-env-vars": '# env_vars = ["PORT=8000"]\n',
}


def _workflow(layout: str = LAYOUTS["multi-line"], secrets: dict[str, str] = SECRETS, newline: str = "\n") -> str:
    text = (
        '# /// script\n# requires-python = "==3.11.*"\n# dependencies = ["codewords-client==0.3.4"]\n'
        + layout
        + "# ///\n"
        + '"""Keys pasted in while prototyping."""\n\n'
        + "".join(f'{name} = "{value}"\n' for name, value in secrets.items())
    )
    return text.replace("\n", newline)


def _declared(text: str) -> list[str]:
    header = parse_header(text)
    assert header is not None and header.error is None, header and header.error
    return [var.name for var in header.env_vars]


def _assert_fixed(text: str, names: list[str]) -> None:
    cst.parse_module(text)
    ast.parse(text)
    declared = _declared(text)
    assert [name for name, count in Counter(declared).items() if count > 1] == []
    assert set(names) <= set(declared)
    for name in names:
        assert f'{name} = os.environ["{name}"]' in text
    assert not any(value in text for value in SECRETS.values())
    assert text.count("import os") == 1


# -- the engine: identical edits of different fixes are one edit -------------------------


class _SharedPrologue(Rule):
    """Test-only rule: each fix renames a name and adds the same line at the top."""

    code = "CW999"
    name = "shared-prologue"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in ("a", "b", "c"):
            edits = [Edit(0, 0, "import os\n"), self.ctx.replace(node, node.value.upper())]
            if node.value == "c":
                edits[0] = Edit(0, 0, "import sys\n")  # same place, other text: an overlap
            self.report(node, node.value, fix=self.make_fix("rename", edits, Applicability.SAFE))


def test_identical_edits_of_different_fixes_apply_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "all_rules", lambda: (_SharedPrologue,))
    settings = Settings(select=["CW999"])
    selection = selection_for(settings)
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 1)
    outcome = fix_source(SourceFile("w.py", "a = 1\nb = 2\n"), settings, selection=selection)
    assert outcome.failure is None
    assert outcome.text == "import os\nA = 1\nB = 2\n"
    assert outcome.count == 2
    # An insertion with other text at the same place still overlaps: it waits a round.
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 3)
    outcome = fix_source(SourceFile("w.py", "a = 1\nc = 2\n"), settings, selection=selection)
    assert outcome.failure is None
    assert outcome.text == "import sys\nimport os\nA = 1\nC = 2\n"


# -- CW301 ---------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cwlint", "--no-cache", "--no-color", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def test_twelve_secrets_are_fixed_by_one_cli_run(tmp_path: Path) -> None:
    path = tmp_path / "workflow.py"
    original = _workflow()
    path.write_text(original)
    outputs = []

    before = _cli("--output-format", "json", "workflow.py", cwd=tmp_path)
    outputs.append(before)
    assert before.returncode == 1
    assert before.stdout.count('"CW301"') == 12

    preview = _cli("--diff", "--unsafe-fixes", "workflow.py", cwd=tmp_path)
    outputs.append(preview)
    assert path.read_text() == original
    assert preview.stdout.count('os.environ["') == 12

    fixed = _cli("--fix", "--unsafe-fixes", "--show-fixes", "workflow.py", cwd=tmp_path)
    outputs.append(fixed)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "CW907" not in fixed.stdout
    assert "Found 12 errors (12 fixed, 0 remaining)." in fixed.stdout
    text = path.read_text()
    _assert_fixed(text, list(SECRETS))
    assert _declared(text) == ["PORT", *SECRETS]

    again = _cli("--fix", "--unsafe-fixes", "workflow.py", cwd=tmp_path)
    outputs.append(again)
    assert again.returncode == 0 and "All checks passed!" in again.stdout
    assert path.read_text() == text

    for result in outputs:
        for value in SECRETS.values():
            assert value not in result.stdout and value not in result.stderr


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_any_number_of_secrets_in_one_round_in_every_header_layout(
    layout: str, newline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 1)  # converged after one round, or CW907
    text = _workflow(LAYOUTS[layout], newline=newline)
    assert len(lint_source(SourceFile("workflow.py", text), CW301)) == 12
    outcome = fix_source(SourceFile("workflow.py", text), CW301, unsafe=True)
    assert outcome.failure is None and outcome.count == 12 and outcome.diagnostics == []
    if newline == "\r\n":
        assert "\n" not in outcome.text.replace("\r\n", ""), "every line still ends in CRLF"
    else:
        assert "\r" not in outcome.text
    _assert_fixed(outcome.text, list(SECRETS))
    assert fix_source(SourceFile("workflow.py", outcome.text), CW301, unsafe=True).text == outcome.text


def test_secrets_without_a_header_are_fixed_in_one_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """No header to declare in: the shared `import os` is what the fixes have in common."""
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 1)
    text = "".join(f'{name} = "{value}"\n' for name, value in SECRETS.items())
    outcome = fix_source(SourceFile("helper.py", text), CW301, unsafe=True)
    assert outcome.failure is None and outcome.count == 12
    assert outcome.text.startswith("import os\n")
    for name in SECRETS:
        assert f'{name} = os.environ["{name}"]' in outcome.text


def test_a_name_read_by_several_secrets_or_already_declared_is_declared_once() -> None:
    cwk = SECRETS["CODEWORDS_API_KEY"]
    text = _workflow(LAYOUTS["inline"].replace('"PORT=8000"', '"PORT=8000", "OPENAI_API_KEY"')) + (
        "from codewords_client import AsyncCodewordsClient\n\n"
        f'first = AsyncCodewordsClient(api_key="{cwk}")\n'
        f'second = AsyncCodewordsClient(api_key="{cwk}")\n'
    )
    outcome = fix_source(SourceFile("workflow.py", text), CW301, unsafe=True)
    assert outcome.failure is None and outcome.count == 14
    assert _declared(outcome.text) == ["PORT", *SECRETS]
    assert outcome.text.count('AsyncCodewordsClient(api_key=os.environ["CODEWORDS_API_KEY"])') == 2


def test_a_suppressed_secret_gets_no_declaration() -> None:
    text = _workflow().replace(
        f'GITHUB_TOKEN = "{SECRETS["GITHUB_TOKEN"]}"\n',
        f'GITHUB_TOKEN = "{SECRETS["GITHUB_TOKEN"]}"  # noqa: CW301 - revoked, kept for the demo\n',
    )
    outcome = fix_source(SourceFile("workflow.py", text), CW301, unsafe=True)
    assert outcome.failure is None and outcome.count == 11
    declared = _declared(outcome.text)
    assert "GITHUB_TOKEN" not in declared
    assert declared == ["PORT", *(name for name in SECRETS if name != "GITHUB_TOKEN")]
    assert f'GITHUB_TOKEN = "{SECRETS["GITHUB_TOKEN"]}"  # noqa: CW301' in outcome.text
    # Suppressed, but its name is read by an unsuppressed secret too: declared once, for that one.
    token = SECRETS["SLACK_BOT_TOKEN"]
    text = _workflow(secrets={"SLACK_BOT_TOKEN": token}) + (
        f'alerts = dict(token="{token}")  # noqa: CW301\n'
    )
    outcome = fix_source(SourceFile("workflow.py", text), CW301, unsafe=True)
    assert _declared(outcome.text) == ["PORT", "SLACK_BOT_TOKEN"]
    assert f'alerts = dict(token="{token}")  # noqa: CW301' in outcome.text
    # A file-level suppression: nothing reported, nothing changed.
    text = "# cwlint: noqa: CW301\n" + _workflow()
    assert fix_source(SourceFile("workflow.py", text), CW301, unsafe=True).text == text


def test_with_other_rules_declaring_too_the_fix_converges_in_two_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """CW403 declares a getenv read whose default is a secret at the same place in the header:
    the edits differ, so CW301's fixes wait one round, then all apply together."""
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 2)
    anthropic = SECRETS["ANTHROPIC_API_KEY"]
    secrets = {name: value for name, value in SECRETS.items() if name != "ANTHROPIC_API_KEY"}
    text = _workflow(LAYOUTS["inline"], secrets=secrets).replace(
        '"""\n\n', '"""\n\nimport os\n\nfrom codewords_client import AsyncCodewordsClient\n\n', 1
    ) + f'ANTHROPIC_KEY = os.getenv("ANTHROPIC_API_KEY", "{anthropic}")\n'
    settings = Settings(select=["CW301", "CW403"])
    outcome = fix_source(SourceFile("workflow.py", text), settings, unsafe=True)
    assert outcome.failure is None and outcome.diagnostics == []
    declared = _declared(outcome.text)
    assert sorted(declared) == sorted(["PORT", *SECRETS])
    assert 'ANTHROPIC_KEY = os.environ["ANTHROPIC_API_KEY"]' in outcome.text
    _assert_fixed(outcome.text, list(secrets))


def test_the_fixture_with_fifteen_secrets_is_fixed_in_one_round(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 1)
    path = ROOT / "fixtures" / "cw301" / "ops_digest.py"
    text = path.read_text()
    found = lint_source(SourceFile(str(path), text), Settings())
    assert len([d for d in found if d.code == "CW301" and d.fix is not None]) == 15
    outcome = fix_source(SourceFile(str(path), text), Settings(), unsafe=True)
    assert outcome.failure is None
    assert [code for code, _ in outcome.applied].count("CW301") == 15
    # Left: the password inside the DSN (no fix for part of a string).
    assert [(d.code, d.fix) for d in outcome.diagnostics if d.code == "CW301"] == [("CW301", None)]
    declared = _declared(outcome.text)
    assert len(declared) == len(set(declared)) == 3 + 13  # PORT, LOGLEVEL, OPENAI_API_KEY + 13 new
    cst.parse_module(outcome.text)
    assert outcome.text.count('os.environ["CODEWORDS_API_KEY"]') == 2
    assert fix_source(SourceFile(str(path), outcome.text), Settings(), unsafe=True).text == outcome.text


# --- CW404 shares the same one-edit declaration ------------------------------------------------

CW404 = Settings(select=["CW404"])
APPS = ["slack", "hubspot", "google_sheets", "notion", "gmail", "airtable", "trello", "asana",
        "discord", "linear", "jira", "salesforce"]


def _pipedream_workflow(layout: str, suppressed: str | None = None) -> str:
    calls = "".join(
        f'    await client.run(service_id="pipedream", inputs={{"app": "{app}", "action": "a", "props": {{}}}})'
        + ("  # noqa: CW404 - connected by hand" if app == suppressed else "") + "\n"
        for app in APPS
    )
    return ('# /// script\n# requires-python = "==3.11.*"\n# dependencies = ["codewords-client==0.3.4"]\n'
            f"{layout}# ///\nfrom codewords_client import AsyncCodewordsClient\n\n\n"
            f"async def sync(client: AsyncCodewordsClient) -> None:\n{calls}")


@pytest.mark.parametrize("layout", ["inline", "multi-line", "no-table"])
def test_twelve_pipedream_apps_are_declared_in_one_round(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 1)
    text = _pipedream_workflow(LAYOUTS[layout])
    assert len(lint_source(SourceFile("workflow.py", text), CW404)) == 12
    outcome = fix_source(SourceFile("workflow.py", text), CW404)  # safe fixes
    assert outcome.failure is None and outcome.count == 12 and outcome.diagnostics == []
    declared = _declared(outcome.text)
    assert [d for d in declared if d.startswith("PIPEDREAM_")] == [f"PIPEDREAM_{a.upper()}_ACCESS" for a in APPS]
    assert fix_source(SourceFile("workflow.py", outcome.text), CW404).text == outcome.text


def test_a_suppressed_pipedream_app_is_not_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_FIX_ITERATIONS", 1)
    text = _pipedream_workflow(LAYOUTS["multi-line"], suppressed="notion")
    outcome = fix_source(SourceFile("workflow.py", text), CW404)
    assert outcome.failure is None and outcome.count == 11
    assert "PIPEDREAM_NOTION_ACCESS" not in _declared(outcome.text)
    assert "PIPEDREAM_SLACK_ACCESS" in _declared(outcome.text)
