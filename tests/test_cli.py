"""The command line: exit codes, output formats, bad input, fixing files in place."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cwlint.cli import main

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


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")


def test_clean_file_exits_zero(tmp_path: Path, capsys) -> None:
    (tmp_path / "ok.py").write_text(FIXED)
    code, out, _ = run(["ok.py"], capsys)
    assert code == 0 and "All checks passed!" in out


def test_findings_exit_one_with_code_frame(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    code, out, _ = run(["check", "bad.py"], capsys)
    assert code == 1
    assert "bad.py:2:53: CW101 [*]" in out
    assert '2 |     return await client.run(service_id="firecrawl", data={"url": url})' in out
    assert "  |" in out and "^^^^" in out
    assert "[*] 1 fixable with the `--fix` option" in out


def test_the_summary_says_which_findings_are_warnings(tmp_path: Path, capsys) -> None:
    """Ruff says "errors" for everything; cwlint has warnings too (facts seen only in examples)."""
    warn = ('async def f(client):\n'
            '    await client.run(service_id="pipedream", inputs={"app": "slack", "action": "a", "props": {}, '
            '"zzz": 1})\n')
    (tmp_path / "warn.py").write_text(warn)
    code, out, _ = run(["warn.py", "--select", "CW104"], capsys)
    assert code == 1 and "Found 1 problem (0 errors, 1 warning)." in out, out
    (tmp_path / "both.py").write_text(BAD + warn.replace("async def f(", "async def g("))
    code, out, _ = run(["both.py", "--select", "CW101,CW104"], capsys)
    assert "Found 2 problems (1 error, 1 warning)." in out, out
    code, out, _ = run(["both.py", "--select", "CW101"], capsys)
    assert "Found 1 error." in out, out


def test_exit_zero(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    assert run(["bad.py", "--exit-zero"], capsys)[0] == 0


def test_missing_path_is_usage_error(capsys) -> None:
    code, out, err = run(["nope.py"], capsys)
    assert code == 2
    assert err == "error: nope.py: no such file or directory\n"


def test_directory_without_python(tmp_path: Path, capsys) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("hi")
    code, _, err = run(["docs"], capsys)
    assert code == 0 and "warning: no Python files found under docs" in err


def test_fix_writes_and_is_idempotent(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text(BAD)
    path.chmod(0o754)
    code, out, _ = run(["bad.py", "--fix"], capsys)
    assert code == 0 and "1 fixed, 0 remaining" in out
    assert path.read_text() == FIXED
    assert stat.S_IMODE(path.stat().st_mode) == 0o754
    before = path.stat().st_mtime_ns
    assert run(["bad.py", "--fix"], capsys)[0] == 0
    assert path.read_text() == FIXED and path.stat().st_mtime_ns == before


def test_diff_writes_nothing_and_exits_one(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text(BAD)
    code, out, err = run(["bad.py", "--diff"], capsys)
    assert code == 1
    assert "-    return await client.run(service_id=\"firecrawl\", data=" in out
    assert "+    return await client.run(service_id=\"firecrawl\", inputs=" in out
    assert path.read_text() == BAD
    assert "would be changed" in err


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("crlf.py", BAD.replace("\n", "\r\n").encode()),
        ("bom.py", b"\xef\xbb\xbf" + BAD.encode()),
        ("tabs.py", BAD.replace("    ", "\t").encode()),
        ("latin1.py", ("# -*- coding: latin-1 -*-\n# Zürich\n" + BAD).encode("latin-1")),
    ],
)
def test_fix_keeps_newlines_bom_tabs_and_encoding(tmp_path: Path, capsys, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert run([name, "--fix"], capsys)[0] == 0
    assert path.read_bytes() == data.replace(b"data=", b"inputs=")


def test_positions_count_code_points(tmp_path: Path, capsys) -> None:
    (tmp_path / "u.py").write_text('async def f(client):\n    x = "é€😀"; await client.run(service_id="a", data={})\n')
    code, out, _ = run(["u.py", "--output-format", "concise"], capsys)
    line = '    x = "é€😀"; await client.run(service_id="a", data={})'
    assert f"u.py:2:{line.index('data') + 1}: CW101" in out


def test_bad_files_each_get_one_line_and_the_run_goes_on(tmp_path: Path, capsys) -> None:
    (tmp_path / "latin.py").write_bytes("x = 'Zürich'\n".encode("latin-1"))
    (tmp_path / "binary.py").write_bytes(b"\x00\x01\x02")
    (tmp_path / "empty.py").write_text("")
    (tmp_path / "big.py").write_text("x = 1\n" * 300_000)
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "dangling.py").symlink_to(tmp_path / "gone.py")
    (tmp_path / "loop_a.py").symlink_to(tmp_path / "loop_b.py")
    (tmp_path / "loop_b.py").symlink_to(tmp_path / "loop_a.py")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "again").symlink_to(tmp_path / "sub")
    (tmp_path / "sub" / "bad.py").write_text(BAD)
    code, out, err = run([".", "--output-format", "concise"], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    lines = out.splitlines()
    def one(name: str, code: str) -> str:
        found = [line for line in lines if line.startswith(f"./{name}:") or line.startswith(f"{name}:")]
        assert len(found) == 1, (name, lines)
        assert f" {code} " in found[0]
        return found[0]
    assert "byte 0xfc" in one("latin.py", "CW903")
    one("binary.py", "CW904")
    assert "over the 1,000,000-byte limit" in one("big.py", "CW905")
    assert "not a regular file" in one("fifo.py", "CW906")
    one("dangling.py", "CW906")
    one("loop_a.py", "CW906")
    one("sub/bad.py", "CW101")
    assert not any("empty.py" in line for line in lines)


def test_unknown_config_key_names_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cwlint]\nselct = ["CW1"]\n')
    (tmp_path / "ok.py").write_text(FIXED)
    code, _, err = run(["ok.py"], capsys)
    assert code == 2
    assert "unknown key 'selct' in [tool.cwlint] (did you mean 'select'?)" in err
    assert err.count("\n") == 1


def test_bad_config_value(tmp_path: Path, capsys) -> None:
    (tmp_path / "cwlint.toml").write_text("max-file-size = 'big'\n")
    (tmp_path / "ok.py").write_text(FIXED)
    code, _, err = run(["ok.py"], capsys)
    assert code == 2 and "'max-file-size' must be a non-negative integer" in err


def test_config_select_and_cli_ignore(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cwlint]\nselect = ["CW3"]\n')
    (tmp_path / "bad.py").write_text(BAD)
    assert run(["bad.py"], capsys)[0] == 0
    assert run(["bad.py", "--select", "CW101"], capsys)[0] == 1
    assert run(["bad.py", "--select", "CW1", "--ignore", "CW101"], capsys)[0] == 0


def test_unknown_selector_is_usage_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "ok.py").write_text(FIXED)
    code, _, err = run(["ok.py", "--select", "CW9999"], capsys)
    assert code == 2 and "unknown rule selector 'CW9999'" in err


def test_excludes_and_gitignore(tmp_path: Path, capsys) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated/\n")
    for folder in ("generated", "vendor", "venv", "src"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "bad.py").write_text(BAD)
    (tmp_path / "pyproject.toml").write_text('[tool.cwlint]\nextend-exclude = ["vendor/"]\n')
    code, out, _ = run([".", "--output-format", "concise"], capsys)
    assert [line.split(":")[0] for line in out.splitlines() if "CW101" in line] == ["src/bad.py"]
    # Named explicitly: linted anyway, unless --force-exclude.
    assert run(["vendor/bad.py"], capsys)[0] == 1
    assert run(["vendor/bad.py", "--force-exclude"], capsys)[0] == 0


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    code, out, _ = run(["--stdin-filename", "w.py", "--output-format", "concise"], capsys)
    assert code == 1 and out.startswith("w.py:2:53: CW101")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    code, out, err = run(["--stdin-filename", "w.py", "--fix"], capsys)
    assert code == 0 and out == FIXED


def test_json_output_carries_fix_edits(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    code, out, _ = run(["bad.py", "--output-format", "json"], capsys)
    [record] = json.loads(out)
    assert record["code"] == "CW101" and record["name"] == "run-data-kwarg"
    assert record["location"] == {"row": 2, "column": 53}
    assert record["end_location"] == {"row": 2, "column": 57}
    assert record["url"] == "docs/rules/CW101.md"
    assert record["fix"]["applicability"] == "safe"
    assert record["fix"]["edits"] == [
        {"content": "inputs", "location": {"row": 2, "column": 53}, "end_location": {"row": 2, "column": 57}}
    ]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--output-format", "concise"],
        ["--output-format", "json"],
        ["--diff", "--unsafe-fixes"],
        ["--fix", "--unsafe-fixes", "--show-fixes"],
    ],
    ids=["full", "concise", "json", "diff", "show-fixes"],
)
def test_secrets_never_printed_whole(tmp_path: Path, capsys, args: list[str]) -> None:
    (tmp_path / "leak.py").write_text(LEAKY)
    code, out, err = run(["leak.py", *args], capsys)
    assert SECRET not in out + err
    assert SECRET[:8] not in out + err  # at most 4 characters survive
    if not args or "--diff" in args:  # the formats that echo source show it masked
        assert "sk-p****" in out


def test_rule_and_rules_commands(capsys) -> None:
    code, out, _ = run(["rule", "CW101"], capsys)
    assert code == 0 and out.startswith("# run-data-kwarg (CW101)")
    assert "## Fix safety" in out
    code, out, _ = run(["rules"], capsys)
    assert code == 0 and "CW101  *  run-data-kwarg" in out
    code, _, err = run(["rule", "CW999"], capsys)
    assert code == 2 and "unknown rule" in err


def test_bad_flag_is_one_line(capsys) -> None:
    code, _, err = run(["--no-such-flag"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_console_script_runs_outside_the_checkout(tmp_path: Path) -> None:
    """The installed command finds its bundled catalog from any directory."""
    (tmp_path / "bad.py").write_text(BAD.replace("firecrawl", "redis_coordinator").replace('{"url": url}', '{"action": "get", "key": "k"}'))
    result = subprocess.run(
        [sys.executable, "-m", "cwlint", "bad.py", "--output-format", "concise"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 1, result.stderr
    assert "CW103" in result.stdout and "CW101" in result.stdout
