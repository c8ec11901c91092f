"""LibCST's import with its dataclasses' code cached (cwlint/libcst_import.py): the same LibCST,
the cache only where cwlint's bytecode lives, and nothing left patched."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cwlint
from cwlint import libcst_import
from cwlint.libcst_import import CodeCache

REPO = Path(__file__).resolve().parents[1]
DATACLASS = "def __create_fn__():\n def __init__(self, x):\n  self.x = x\n return __init__"


def python(code: str, **env: str) -> str:
    """Run ``code`` in a new interpreter (LibCST not yet imported) with bytecode writing allowed."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PYTHONDONTWRITEBYTECODE", "CWLINT_NO_CODE_CACHE", "PYTHONPYCACHEPREFIX")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**environment, **env}, check=True)
    return result.stdout


def test_a_second_import_compiles_nothing_and_leaves_dataclasses_unpatched() -> None:
    probe = ("import dataclasses, cwlint.libcst_import as l; "
             "print(l.last_import.hits, l.last_import.misses, hasattr(dataclasses, 'exec'))")
    python(probe)  # fills the cache (or finds it full)
    hits, misses, patched = python(probe).split()
    assert int(misses) == 0 and int(hits) > 500  # ~620 texts for LibCST 1.x on CPython 3.11
    assert patched == "False"


def test_the_cached_import_gives_the_same_trees_and_the_same_findings() -> None:
    files = sorted(str(p) for p in (REPO / "fixtures").glob("*/*.py"))[::7]
    assert files
    probe = (
        "import json, sys, cwlint.libcst_import as l\n"
        "from cwlint.libcst_import import cst\n"
        "from cwlint.linter import Linter\n"
                "out = {}\n"
        f"for name in {files!r}:\n"
        "    text = open(name, encoding='utf-8').read()\n"
        "    tree = cst.parse_module(text)\n"
        "    out[name] = [repr(tree), tree.code == text, hash(tree.body[0]) == hash(tree.body[0]),\n"
        "                 tree.deep_equals(cst.parse_module(text)),\n"
        "                 [d.message for d in Linter().check(text, name).diagnostics]]\n"
        "print(json.dumps({'hits': l.last_import.hits, 'out': out}))\n")
    cached = json.loads(python(probe))
    plain = json.loads(python(probe, CWLINT_NO_CODE_CACHE="1"))
    assert cached["hits"] > 500 and plain["hits"] == 0
    assert cached["out"] == plain["out"]
    assert all(code_round_trips and equal for _r, code_round_trips, _h, equal, _d in cached["out"].values())


def test_the_cache_lives_beside_cwlints_bytecode_never_in_a_project() -> None:
    assert libcst_import.CACHE is None or libcst_import.CACHE.startswith(
        os.path.join(os.path.dirname(os.path.abspath(cwlint.__file__)), "__pycache__") + os.sep)
    assert python("import cwlint.libcst_import as l; print(l.CACHE)", CWLINT_NO_CODE_CACHE="1").strip() == "None"


def test_a_text_is_compiled_once_kept_and_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "__pycache__" / "codes.marshal")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE: nothing is written
    unwritten = CodeCache(path)
    unwritten.exec(DATACLASS, {}, {})
    unwritten.save()
    assert not Path(path).exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    first = CodeCache(path)
    namespace: dict[str, object] = {}
    first.exec(DATACLASS, {}, namespace)
    assert (first.hits, first.misses) == (0, 1)
    first.save()
    second = CodeCache(path)
    again: dict[str, object] = {}
    second.exec(DATACLASS, {}, again)
    assert (second.hits, second.misses) == (1, 0)
    init = again["__create_fn__"]()  # type: ignore[operator]
    box = type("Box", (), {"__init__": init})(3)
    assert box.x == 3


def test_a_broken_or_foreign_cache_file_is_ignored_and_a_failed_write_is_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    broken = tmp_path / "broken.marshal"
    broken.write_bytes(b"\x00not marshal")
    assert CodeCache(str(broken)).codes == {}
    foreign = tmp_path / "foreign.marshal"
    foreign.write_bytes(marshal.dumps(("2.7.18 (an older Python)", {DATACLASS: compile("x = 1", "<string>", "exec")})))
    assert CodeCache(str(foreign)).codes == {}
    mixed = tmp_path / "mixed.marshal"  # only code objects for texts are taken, whatever else the file holds
    code = compile("x = 1", "<string>", "exec")
    mixed.write_bytes(marshal.dumps((sys.version, {DATACLASS: "print('not code')", "x = 1": code, 3: code})))
    assert CodeCache(str(mixed)).codes == {"x = 1": code}
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    cache = CodeCache(str(blocked / "codes.marshal"))  # its directory cannot be made
    cache.exec(DATACLASS, {}, {})
    cache.save()  # no error
    assert not (blocked / "codes.marshal").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "a-file", "broken.marshal", "foreign.marshal", "mixed.marshal"]
