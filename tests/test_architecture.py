"""ARCHITECTURE.md's code map, enforced: every module imports only what its row's "May import" allows.

The table is the single source: this test parses it (the grammar is written under the table),
so the document and the check cannot disagree. Imports are read with ``ast``, top-level and
inside functions ("lazily"); imports under ``if TYPE_CHECKING:`` never run and are skipped.

Packages are checked one by one (:data:`CHECKED`): every module of a checked package must be
covered by exactly one row. A dotted name that is not one of :data:`OURS` is read in the row's
package (``harness.child`` in a cwtest row). :func:`test_the_invariants_are_in_the_rows` pins the
layers the rows must keep (the child's stdlib only, cwlint without cwtest, pytest only in the
plugin, Hypothesis only in the search), so a row loosened past them fails too.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The packages whose rows are written in the checked grammar.
CHECKED = ("cwlint", "cwtest", "cwkit")
#: Top-level names that are this project's packages (absolute when named in a row).
OURS = ("cwlint", "cwtest", "cwkit")


@dataclass
class Row:
    number: int  #: position in the table
    paths: list[str]
    package: str
    modules: set[str] = field(default_factory=set)
    eager: set[str] = field(default_factory=set)  #: allowed at module level (and lazily)
    lazy: set[str] = field(default_factory=set)  #: allowed inside functions only
    everything_above: str = ""  #: "", "eager" or "lazy"


@dataclass(frozen=True)
class Import:
    module: str  #: the imported module (a package's submodule when ``from pkg import sub``)
    line: int
    lazy: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def code_map() -> list[Row]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Code map", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    rows = []
    for number, line in enumerate(lines[1:]):  # the first line is the header
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) != 3 or set(cells[0]) <= set("-: "):
            continue
        paths = re.findall(r"`([^`]+)`", cells[0])
        packages = {p.split("/")[0] for p in paths}
        if not paths or len(packages) != 1 or next(iter(packages)) not in CHECKED:
            continue
        row = Row(number, paths, next(iter(packages)))
        for path in paths:
            if path.endswith("/"):
                files = sorted((ROOT / path).rglob("*.py"))
            else:
                files = sorted(ROOT.glob(path))
            assert files, f"ARCHITECTURE.md: the code map's `{path}` matches no file"
            row.modules.update(module_name(f) for f in files)
        _allowed(row, cells[2])
        rows.append(row)
    return rows


def _allowed(row: Row, cell: str) -> None:
    cell = re.sub(r"\([^)]*\)", "", cell).strip()  # parenthesised comments
    if cell in ("—", "-", ""):
        return
    eager, _, lazy = cell.partition("lazily:")
    eager = eager.strip().rstrip(";")
    for names, target, kind in ((eager, row.eager, "eager"), (lazy, row.lazy, "lazy")):
        for raw in names.split(","):
            name = raw.strip()
            if not name:
                continue
            if name == "everything above":
                row.everything_above = kind
                continue
            assert re.fullmatch(r"[A-Za-z_][\w.]*", name), f"ARCHITECTURE.md, row {row.paths}: cannot read {name!r}"
            if name.split(".")[0] in OURS:
                assert _is_module(name), f"ARCHITECTURE.md, row {row.paths}: {name} is no module"
                target.add(name)
            elif _is_module(f"{row.package}.{name}"):  # `analysis`, `harness.child`: the row's package's
                target.add(f"{row.package}.{name}")
            else:
                assert "." not in name, f"ARCHITECTURE.md, row {row.paths}: {name} is no module"
                target.add(name)  # a third-party distribution's import name


def imports(path: Path) -> list[Import]:
    """Every import the module runs: (module, line, inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join([*base, node.module] if node.module else base)

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit_one(other, lazy)
                continue
            visit_one(child, lazy)

    def visit_one(child: ast.AST, lazy: bool) -> None:
        if isinstance(child, ast.Import):
            found.extend(Import(alias.name, child.lineno, lazy) for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            module = resolve(child)
            for alias in child.names:
                sub = f"{module}.{alias.name}"
                found.append(Import(sub if module.split(".")[0] in OURS and _is_module(sub) else module, child.lineno, lazy))
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(child, True)
        else:
            visit(child, lazy)

    visit(tree, False)
    return found


def _covers(allowed: set[str], module: str, own: str = "") -> bool:
    """``module`` is allowed: named, or inside a named package (the row's own top package, named,
    stands for its ``__init__`` alone: ``cwlint (its version)``)."""
    return any(module == name or (name != own and module.startswith(name + ".")) for name in allowed)


def violations(rows: list[Row]) -> list[str]:
    problems = []
    for row in rows:
        above = set().union(*(r.modules for r in rows if r.package == row.package and r.number < row.number))
        eager = row.eager | (above if row.everything_above == "eager" else set())
        lazy = row.lazy | (above if row.everything_above == "lazy" else set())
        for module in sorted(row.modules):
            path = ROOT.joinpath(*module.split("."))
            path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
            for imp in imports(path):
                top = imp.module.split(".")[0]
                if top == "__future__" or top in sys.stdlib_module_names:
                    continue
                name = imp.module if top in OURS else top
                if top in OURS and (imp.module in row.modules or _covers({module}, imp.module)):
                    continue  # the row's own modules (a package's submodules)
                if _covers(eager, name, row.package) or (imp.lazy and _covers(lazy, name, row.package)):
                    continue
                how = "at module level (allowed only lazily)" if _covers(lazy, name, row.package) else "not allowed"
                problems.append(f"{path.relative_to(ROOT)}:{imp.line}: imports {name}: {how} by the code map's row {row.paths}")
    return problems


ROWS = code_map()


def test_the_code_map_has_rows_for_the_checked_packages() -> None:
    assert {row.package for row in ROWS} == set(CHECKED)


@pytest.mark.parametrize("package", CHECKED)
def test_every_module_is_in_exactly_one_row(package: str) -> None:
    modules = {module_name(p) for p in sorted((ROOT / package).rglob("*.py"))}
    counted: dict[str, int] = {}
    for row in ROWS:
        for module in row.modules:
            counted[module] = counted.get(module, 0) + 1
    assert sorted(m for m in modules if m not in counted) == [], "modules missing from ARCHITECTURE.md's code map"
    assert sorted(m for m, n in counted.items() if n > 1) == [], "modules in several rows of the code map"


def test_every_import_is_allowed_by_the_code_map() -> None:
    assert violations(ROWS) == []



def _effective(row: Row) -> tuple[set[str], set[str]]:
    """A row's names allowed at module level, and inside functions only, ``everything above`` expanded."""
    above = set().union(*(r.modules for r in ROWS if r.package == row.package and r.number < row.number))
    eager = row.eager | (above if row.everything_above == "eager" else set())
    lazy = row.lazy | (above if row.everything_above == "lazy" else set())
    return eager, lazy - eager


def test_the_invariants_are_in_the_rows() -> None:
    """The layers ARCHITECTURE.md promises, as the rows state them: a row loosened past one fails here."""
    child = next(r for r in ROWS if r.paths == ["cwtest/harness/child/"])
    eager, lazy = _effective(child)
    # The workflow's process: the standard library, and the workflow's own packages only in functions.
    assert eager == set() and lazy <= {"aiohttp", "fastapi", "httpx", "multidict", "requests", "uvicorn", "yarl"}
    for row in ROWS:
        eager, lazy = _effective(row)
        if row.package == "cwlint":
            assert not any(n.split(".")[0] in ("cwtest", "cwkit") for n in eager | lazy), f"cwlint never imports cwtest: {row.paths}"
        if row.paths != ["cwtest/plugin/"]:
            assert not {"pytest", "_pytest"} & (eager | lazy), f"only cwtest's plugin imports pytest: {row.paths}"
        if "cwtest/fuzz/search.py" not in row.paths:
            # Hypothesis, and the modules that import it, only inside functions (``--examples 0``).
            hypothesis = {"hypothesis", "cwtest.fuzz", "cwtest.fuzz.search", "cwtest.fuzz.schema", "cwtest.fuzz.formats"}
            assert not hypothesis & eager, f"Hypothesis at module level: {row.paths}"

# -- the checker itself: it finds what it must find ---------------------------------------------


def test_the_checker_reports_a_forbidden_import_and_an_eager_import_of_a_lazy_one(tmp_path: Path) -> None:
    row = next(r for r in ROWS if "cwlint/runner.py" in r.paths)
    assert "cwlint.linter" in row.lazy and "cwlint.linter" not in row.eager
    strict = Row(row.number, row.paths, row.package, set(row.modules), set(row.eager) - {"cwlint.results"}, set(row.lazy))
    problems = violations([strict])
    assert any("imports cwlint.results: not allowed" in p for p in problems), problems
    eager_only = Row(row.number, row.paths, row.package, set(row.modules), set(row.eager), set(row.lazy) - {"cwlint.cache"})
    lazy_only = Row(row.number, row.paths, row.package, set(row.modules), set(row.eager) - {"cwlint.config"}, set(row.lazy) | {"cwlint.config"})
    assert any("imports cwlint.cache: not allowed" in p for p in violations([eager_only]))
    assert any("imports cwlint.config: at module level" in p for p in violations([lazy_only]))
    # Naming its own package allows its __init__ (the version), not every module of it.
    cache = next(r for r in ROWS if "cwlint/cache.py" in r.paths)
    assert "cwlint" in cache.eager and not _covers(cache.eager, "cwlint.engine", "cwlint")


def test_imports_are_read_top_level_lazy_and_not_under_type_checking() -> None:
    found = {(imp.module, imp.lazy) for imp in imports(ROOT / "cwlint" / "runner.py")}
    assert ("cwlint.results", False) in found and ("cwlint.linter", True) in found
    assert ("cwlint.cache", False) not in found  # only under TYPE_CHECKING at module level
