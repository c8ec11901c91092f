"""cwlint's library API: ``Linter(settings, modules).check(text, path)`` / ``.fix(text, path)``.

What the contract in cwlint/linter.py promises, each part as a test: text or bytes in, one
result type out, no directory listed without a module index, nothing read from the working
directory, no global change at import, positions convertible to LSP's.
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cwlint import Linter
from cwlint.config import ConfigError, Settings
from cwlint.diagnostics import Position
from cwlint.modules import DirectoryIndex, FixedIndex
from cwlint.results import FileResult

DATA_KWARG = textwrap.dedent(
    """
    from codewords_client import AsyncCodewordsClient

    async def scrape(url: str) -> dict:
        async with AsyncCodewordsClient() as client:
            resp = await client.run(service_id="firecrawl", data={"url": url})
            return resp.json()
    """
).lstrip()

LOCAL_IMPORT = '# /// script\n# dependencies = ["codewords-client==0.3.4"]\n# ///\nfrom enrich_helpers import normalize_domain\n'


def test_check_reports_findings_on_text_held_in_memory() -> None:
    result = Linter().check(DATA_KWARG, "workflows/scrape.py")
    assert isinstance(result, FileResult)
    assert [(d.code, d.start.line, d.start.column) for d in result.diagnostics] == [("CW101", 5, 57)]
    assert result.path == "workflows/scrape.py" and result.text == DATA_KWARG
    assert result.fixed_text is None and result.fixed_count == 0


def test_fix_returns_the_fixed_text_and_what_is_left() -> None:
    result = Linter().fix(DATA_KWARG, "scrape.py")
    assert result.fixed_text == DATA_KWARG.replace("data=", "inputs=")
    assert result.text == result.fixed_text
    assert result.fixed_count == 1 and result.applied[0][0] == "CW101"
    assert [d.code for d in result.diagnostics] == []
    again = Linter().fix(result.fixed_text, "scrape.py")
    assert again.fixed_text is None and again.fixed_count == 0  # nothing left to change


def test_bytes_are_decoded_as_cpython_does_and_undecodable_bytes_are_a_finding() -> None:
    linter = Linter()
    with_bom = codecs.BOM_UTF8 + DATA_KWARG.replace("\n", "\r\n").encode()
    result = linter.fix(with_bom, "scrape.py")
    assert result.source is not None and result.source.bom and result.source.encoding == "utf-8"
    assert result.fixed_text is not None and "\r\n" in result.fixed_text and "inputs=" in result.fixed_text
    assert result.source.encode() == codecs.BOM_UTF8 + result.fixed_text.encode()
    latin = b"# -*- coding: latin-1 -*-\nname = '\xe9'\n"
    assert linter.check(latin, "w.py").text == "# -*- coding: latin-1 -*-\nname = 'é'\n"
    broken = linter.check(b"name = '\xff'\n", "w.py")
    assert [d.code for d in broken.diagnostics] == ["CW903"] and broken.source is None


def test_settings_select_and_per_file_ignores_by_the_path_given(tmp_path: Path) -> None:
    assert Linter(Settings(select=["CW2"])).check(DATA_KWARG, "scrape.py").diagnostics == []
    ignoring = Linter(Settings(per_file_ignores={"legacy/*.py": ["CW101"]}))
    assert ignoring.check(DATA_KWARG, "legacy/scrape.py").diagnostics == []
    assert [d.code for d in ignoring.check(DATA_KWARG, "scrape.py").diagnostics] == ["CW101"]
    with pytest.raises(ConfigError, match="unknown rule selector 'CW999'"):
        Linter(Settings(select=["CW999"]))


def test_local_modules_come_from_the_index_given_and_none_without_one(tmp_path: Path) -> None:
    path = str(tmp_path / "wf.py")
    (tmp_path / "enrich_helpers.py").write_text("def normalize_domain(url):\n    return url\n")
    alone = Linter().check(LOCAL_IMPORT, path)  # a buffer alone: nothing lies beside it
    assert [d.code for d in alone.diagnostics] == ["CW402"]
    assert Linter(modules=FixedIndex(["enrich_helpers"])).check(LOCAL_IMPORT, path).diagnostics == []
    assert Linter(modules=DirectoryIndex()).check(LOCAL_IMPORT, path).diagnostics == []
    assert DirectoryIndex().beside(path) == frozenset({"enrich_helpers"})


def test_without_an_index_no_directory_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a directory was listed: {args}")

    linter = Linter()
    monkeypatch.setattr(os, "listdir", refuse)
    monkeypatch.setattr(os, "scandir", refuse)
    result = linter.check(LOCAL_IMPORT, str(tmp_path / "wf.py"))
    assert [d.code for d in result.diagnostics] == ["CW402"]


def test_results_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    linter = Linter(Settings(per_file_ignores={"wf.py": ["CW402"]}))
    before = linter.check(LOCAL_IMPORT, "sub/wf.py").diagnostics
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "enrich_helpers.py").write_text("")
    monkeypatch.chdir(tmp_path)  # a module beside sub/wf.py, and another root: neither counts
    assert Linter(Settings(per_file_ignores={"wf.py": ["CW402"]})).check(LOCAL_IMPORT, "sub/wf.py").diagnostics == before == []
    assert Settings().root is None
    assert [d.code for d in Linter().check(LOCAL_IMPORT, "sub/wf.py").diagnostics] == ["CW402"]


def test_check_file_reads_one_file_and_reports_what_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "scrape.py"
    path.write_text(DATA_KWARG)
    assert [d.code for d in Linter().check_file(str(path)).diagnostics] == ["CW101"]
    small = Linter(Settings(max_file_size=10)).check_file(str(path))
    assert [d.code for d in small.diagnostics] == ["CW905"]
    assert [d.code for d in Linter().check_file(str(tmp_path)).diagnostics] == ["CW906"]


def test_importing_the_api_changes_nothing_global() -> None:
    probe = (
        "import sys; sys.setrecursionlimit(1234)\n"
        "import cwlint, cwlint.engine, cwlint.linter, cwlint.timing\n"
        "assert sys.getrecursionlimit() == 1234, sys.getrecursionlimit()\n"
        "assert not hasattr(cwlint.engine._parse, '__cwlint_timed__')\n"
        "cwlint.Linter().check('x = ' + '(' * 300 + '1' + ')' * 300 + '\\n', 'deep.py')\n"
        "assert sys.getrecursionlimit() == 10_000, sys.getrecursionlimit()\n"
    )
    env = {**os.environ, "CWLINT_TIMINGS": "1"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_import_cwlint_alone_imports_no_engine() -> None:
    probe = "import sys, cwlint; print(sorted(m for m in sys.modules if m.startswith(('libcst', 'cwlint.'))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


# -- positions for a language server ----------------------------------------------------------


def test_lsp_positions_count_utf16_units_from_zero() -> None:
    line = "s = '😀é' + x\n"  # 😀 is one code point, two UTF-16 units
    assert Position(3, 1).to_lsp(line) == (2, 0)
    assert Position(3, 6).to_lsp(line) == (2, 5)  # after "s = '" : all BMP
    assert Position(3, 7).to_lsp(line) == (2, 7)  # after the emoji: 2 units for 1 code point
    assert Position(3, 8).to_lsp(line) == (2, 8)  # é is one unit
    assert Position(3, 13).to_lsp(line) == (2, 13)  # `x`
    assert Position(1, 1).to_lsp("") == (0, 0)


def test_lsp_range_of_a_finding_after_astral_characters_with_crlf() -> None:
    text = "# 🚀🚀 launch\r\nimport os\r\nx = '𝔘' ; y = undefined_name\r\n"
    result = Linter(Settings(select=["CW207"])).check(text, "w.py")
    [diagnostic] = result.diagnostics
    assert (diagnostic.start.line, diagnostic.start.column) == (3, 15)  # code points
    assert result.lsp_range(diagnostic) == ((2, 15), (2, 29))  # 𝔘 is two UTF-16 units
    # What an LSP client does with it: index the line's UTF-16 encoding.
    units = text.split("\r\n")[2].encode("utf-16-le")
    assert units[15 * 2 : 29 * 2].decode("utf-16-le") == "undefined_name"


@pytest.mark.parametrize("path", ["x.py", "./x.py", "a//b/./c.py", "/abs/./x.py", ".", "./", "a/b/", "../up/x.py", "a/../b.py"])
def test_paths_are_spelled_as_pathlib_spells_them(path: str) -> None:
    from cwlint.config import posix

    assert posix(path) == Path(path).as_posix()


def test_text_that_no_parser_takes_is_a_finding_not_an_exception() -> None:
    """An editor's buffer of a binary file holds NULs; JSON (LSP, MCP) can carry a lone surrogate."""
    linter = Linter()
    binary = linter.check("\x89PNG\r\n\x1a\n\x00\x00", "image.py")
    assert [d.code for d in binary.diagnostics] == ["CW904"] and binary.source is None
    surrogate = linter.fix("name = '\ud800'\n", "w.py")
    assert [d.code for d in surrogate.diagnostics] == ["CW903"] and surrogate.fixed_text is None
    assert "U+D800 at offset 8" in surrogate.diagnostics[0].message
    assert Linter(Settings(ignore=["CW904"])).check("\x00", "w.py").diagnostics == []
