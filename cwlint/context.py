"""What rules know about the file being linted, computed once and only when asked.

Positions are the expensive part (LibCST's PositionProvider regenerates the whole module):
they are resolved on the first ``range()`` call, so a clean file never pays for them. The
header, the catalog and the shared analyses below are equally lazy or built during the one
walk (:class:`Imports`, :class:`Clients`, which run before the rules on every node).
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cwlint.diagnostics import Edit, Position
from cwlint.header import Header, parse_header
from cwlint.libcst_import import cst
from cwlint.positions import node_offsets
from cwlint.source import SourceFile, line_starts

if TYPE_CHECKING:
    from cwlint.catalog import Catalog
    from cwlint.config import Settings
    from cwlint.modules import ModuleIndex

_CLIENT_IMPORT = re.compile(r"^\s*(?:from|import)\s+codewords_client\b", re.MULTILINE)
CLIENT_CLASSES = frozenset({"AsyncCodewordsClient", "CodewordsClient"})


class FileContext:
    def __init__(self, source: SourceFile, module: cst.Module, settings: Settings, modules: ModuleIndex | None = None) -> None:
        self.source = source
        self.path = source.path
        self.text = source.text
        self.module = module
        self.settings = settings
        self.modules = modules
        self.ancestors: list[cst.CSTNode] = []
        self.imports = Imports(self)
        self.clients = Clients(self)
        self._positions: dict[int, tuple[int, int]] | None = None  #: by id(node)
        self._code_starts: list[int] | None = None

    # -- the file ------------------------------------------------------------------------
    @functools.cached_property
    def header(self) -> Header | None:
        return parse_header(self.text)

    @functools.cached_property
    def is_workflow(self) -> bool:
        """A PEP 723 script block, or an import of codewords_client."""
        return self.header is not None or bool(_CLIENT_IMPORT.search(self.text))

    @functools.cached_property
    def client_version(self) -> tuple[int, ...] | None:
        """The pinned codewords-client version, else the configured target, else None."""
        pinned = self.header.client_version if self.header else None
        return pinned or self.settings.target_client_version

    @functools.cached_property
    def local_modules(self) -> frozenset[str]:
        """Module names importable from beside the file (none when no index was given)."""
        return self.modules.beside(self.path) if self.modules is not None else frozenset()

    @functools.cached_property
    def catalog(self) -> Catalog:
        from cwlint.catalog import default_catalog

        return default_catalog()

    @functools.cached_property
    def _line_starts(self) -> list[int]:
        return line_starts(self.text)

    # -- positions -----------------------------------------------------------------------
    def _offsets(self, node: cst.CSTNode) -> tuple[int, int]:
        """``node``'s offsets into LibCST's code for the module (computed for every node at once)."""
        positions = self._positions
        if positions is None:
            positions, code = node_offsets(self.module)
            self._positions = positions
            self._code_starts = None if code == self.text else line_starts(code)
        return positions[id(node)]

    def range(self, node: cst.CSTNode) -> tuple[Position, Position]:
        """1-based start and exclusive end of ``node``, columns in code points (LibCST's
        PositionProvider's range, tests/test_positions.py)."""
        start, end = self._offsets(node)
        return self._position(start), self._position(end)

    def _position(self, offset: int) -> Position:
        starts = self._code_starts
        if starts is None:
            return self.source_position(offset)
        line = bisect.bisect_right(starts, offset)
        return Position(line, offset - starts[line - 1] + 1)

    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        """``node``'s offsets in the text (end exclusive)."""
        start, end = self._offsets(node)
        if self._code_starts is None:  # the code is the text
            length = len(self.text)  # a last line without a newline: LibCST counts one, the text has none
            return min(start, length), min(end, length)
        first, last = self.range(node)  # LibCST did not round-trip the text: go by line and column
        return self._clamped_offset(first), self._clamped_offset(last)

    def _clamped_offset(self, position: Position) -> int:
        starts = self._line_starts
        if position.line > len(starts):
            return len(self.text)
        return min(starts[position.line - 1] + position.column - 1, len(self.text))

    def offset(self, line: int, column: int) -> int:
        """Offset in the text of a 1-based line and 1-based column."""
        return self._line_starts[line - 1] + column - 1

    def source_position(self, offset: int) -> Position:
        """The 1-based position of an offset into the text.

        Past the end (the newline LibCST generates, then drops, after a last line without
        one): the start of the next line, as LibCST's PositionProvider says.
        """
        if offset > len(self.text):
            return Position(len(self._line_starts) + 1, 1)
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)

    def code(self, node: cst.CSTNode) -> str:
        """The node's source text, exactly as written."""
        start, end = self.span(node)
        return self.text[start:end]

    def line_of(self, node: cst.CSTNode) -> str:
        start, _ = self.range(node)
        begin = self._line_starts[start.line - 1]
        end = self._line_starts[start.line] if start.line < len(self._line_starts) else len(self.text)
        return self.text[begin:end]

    # -- edits ---------------------------------------------------------------------------
    def replace(self, node: cst.CSTNode, content: str) -> Edit:
        start, end = self.span(node)
        return Edit(start, end, content)

    def insert_before(self, node: cst.CSTNode, content: str) -> Edit:
        start, _ = self.span(node)
        return Edit(start, start, content)

    def insert_after(self, node: cst.CSTNode, content: str) -> Edit:
        _, end = self.span(node)
        return Edit(end, end, content)

    def insert_after_offset(self, offset: int, content: str) -> Edit:
        return Edit(offset, offset, content)

    def remove(self, node: cst.CSTNode) -> Edit:
        return self.replace(node, "")

    def statement_line_span(self, statement: cst.CSTNode) -> tuple[int, int]:
        """Offsets of whole lines holding ``statement``, newline included."""
        start, end = self.range(statement)
        first = self._line_starts[start.line - 1]
        last = self._line_starts[end.line] if end.line < len(self._line_starts) else len(self.text)
        return first, last

    def indentation(self, node: cst.CSTNode) -> str:
        line = self.line_of(node)
        return line[: len(line) - len(line.lstrip(" \t"))]

    @property
    def newline(self) -> str:
        return self.module.default_newline

    # -- ancestry ------------------------------------------------------------------------
    def enclosing(self, *kinds: type[cst.CSTNode]) -> cst.CSTNode | None:
        for node in reversed(self.ancestors):
            if isinstance(node, kinds):
                return node
        return None

    def in_import_error_handler(self) -> bool:
        """Inside ``try: ... except ImportError`` (either branch): a deliberate fallback."""
        for node in self.ancestors:
            if isinstance(node, cst.Try):
                for handler in node.handlers:
                    if handler.type is not None and _names_import_error(handler.type):
                        return True
        return False


def _names_import_error(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in {"ImportError", "ModuleNotFoundError"}
    if isinstance(expr, cst.Tuple):
        return any(_names_import_error(el.value) for el in expr.elements)
    return False


def is_main_guard(node: cst.If) -> bool:
    """``if __name__ == "__main__":`` in either order, any quotes."""
    test = node.test
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    sides = [test.left, target.comparator]
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    strings = [s for s in sides if isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__"]
    return bool(names and strings)


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    # Exact type tests: LibCST's node classes are ABCs, whose isinstance costs several times
    # more, and nothing subclasses Name or Attribute. (Called for most expressions, by most rules.)
    if type(expr) is cst.Name:
        return expr.value
    parts = []
    while type(expr) is cst.Attribute:
        parts.append(expr.attr.value)
        expr = expr.value
    if type(expr) is cst.Name:
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


def string_value(expr: cst.BaseExpression | None) -> str | None:
    """The value of a plain (or implicitly concatenated) string literal; None otherwise."""
    if isinstance(expr, cst.SimpleString):
        raw = expr.value
        if raw[0] in "\"'" and "\\" not in raw and "\r" not in raw:  # no prefix, no escapes
            quotes = 3 if raw[:3] in ('"""', "'''") else 1
            return raw[quotes:-quotes]
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        joined = expr.evaluated_value
        return joined if isinstance(joined, str) else None
    return None


class Imports:
    """Which local names stand for which imported objects (``np`` -> ``numpy``).

    Scope-insensitive by design: workflow scripts import at the top, and a name that is both
    imported and rebound in a function is rare enough to accept the imprecision.
    """

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.names: dict[str, str] = {}
        #: Top-level ``from X import ...`` statements by module, for extending them.
        self.from_statements: dict[str, cst.ImportFrom] = {}
        #: The last top-level import statement line, where new imports go.
        self.last_statement: cst.SimpleStatementLine | None = None
        #: The module name node of the first import of codewords_client, anywhere.
        self.client_import: cst.CSTNode | None = None

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(self.ctx.ancestors) == 1 and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in node.body):
            if not self.ctx.in_import_error_handler():
                self.last_statement = node

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if self.client_import is None and full.split(".")[0] == "codewords_client":
                self.client_import = alias.name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.names[alias.asname.name.value] = full
            else:
                self.names[full.split(".")[0]] = full.split(".")[0]

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            return
        module = dotted_name(node.module)
        if module is None:
            return
        if self.client_import is None and module.split(".")[0] == "codewords_client":
            self.client_import = node.module
        if len(self.ctx.ancestors) == 2 and module not in self.from_statements:
            self.from_statements[module] = node
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else alias.name.value
            self.names[local] = f"{module}.{alias.name.value}"

    def qualified(self, expr: cst.BaseExpression) -> str | None:
        """The imported object an expression names (``uvicorn.run``), or None."""
        dotted = dotted_name(expr)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.names.get(head)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def local_name(self, qualified: str) -> str | None:
        """A local name already bound to ``qualified`` (``run_service``), if any."""
        for local, full in self.names.items():
            if full == qualified:
                return local
        return None


class Clients:
    """Names bound to a CodeWords client: ``client`` in ``async with AsyncCodewordsClient() as
    client``, ``self.client = AsyncCodewordsClient()``, a parameter annotated with the class."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.bound: set[str] = set()

    def is_constructor(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        qualified = self.ctx.imports.qualified(expr.func)
        if qualified is not None:
            return qualified.startswith("codewords_client") and qualified.rsplit(".", 1)[-1] in CLIENT_CLASSES
        name = dotted_name(expr.func)
        return name is not None and name.rsplit(".", 1)[-1] in CLIENT_CLASSES

    def is_client(self, expr: cst.BaseExpression) -> bool:
        if self.is_constructor(expr):
            return True
        name = dotted_name(expr)
        return name is not None and name in self.bound

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and self.is_constructor(node.item):
            name = dotted_name(node.asname.name)
            if name:
                self.bound.add(name)

    def visit_Assign(self, node: cst.Assign) -> None:
        if self.is_constructor(node.value):
            for target in node.targets:
                name = dotted_name(target.target)
                if name:
                    self.bound.add(name)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if (node.value is not None and self.is_constructor(node.value)) or self._annotated(node.annotation):
            name = dotted_name(node.target)
            if name:
                self.bound.add(name)

    def visit_Param(self, node: cst.Param) -> None:
        if node.annotation is not None and self._annotated(node.annotation):
            self.bound.add(node.name.value)

    def _annotated(self, annotation: cst.Annotation) -> bool:
        expr = annotation.annotation
        if isinstance(expr, cst.SimpleString):
            value = expr.evaluated_value
            return isinstance(value, str) and value.rsplit(".", 1)[-1] in CLIENT_CLASSES
        name = dotted_name(expr)
        return name is not None and name.rsplit(".", 1)[-1] in CLIENT_CLASSES


@dataclass
class ServiceCall:
    """A call of a CodeWords client's ``run``/``start_service``, its arguments picked apart."""

    call: cst.Call
    method: str
    service_id: str | None  #: the literal id, or None when dynamic or absent
    service_id_node: cst.BaseExpression | None
    inputs: cst.BaseExpression | None
    path: str | None  #: "" when not given; None when dynamic
    in_background: bool

    @property
    def literal_inputs(self) -> cst.Dict | None:
        return self.inputs if isinstance(self.inputs, cst.Dict) else None


_RUN_POSITIONS = ("service_id", "inputs", "path")


def service_call(ctx: FileContext, node: cst.Call) -> ServiceCall | None:
    """The service call ``node`` is, if it is one.

    A call counts when its receiver is a known client, when it passes ``service_id=``, or
    when its first argument is a catalog id (helpers often receive the client as an
    unannotated parameter).
    """
    func = node.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in ("run", "start_service"):
        return None
    keywords = {arg.keyword.value: arg.value for arg in node.args if arg.keyword is not None}
    positional = [arg.value for arg in node.args if arg.keyword is None and not arg.star]
    if not ctx.clients.is_client(func.value) and "service_id" not in keywords:
        # `helper_client.run("firecrawl", {...})`: a catalog id as the first argument.
        first = string_value(positional[0]) if positional else None
        if first is None or first not in ctx.catalog:
            return None
    values = dict(zip(_RUN_POSITIONS, positional, strict=False))  # extra positionals: not ours
    values.update({k: v for k, v in keywords.items() if k in _RUN_POSITIONS})
    service_node = values.get("service_id")
    path_node = values.get("path")
    background = keywords.get("in_background")
    return ServiceCall(
        call=node,
        method=func.attr.value,
        service_id=string_value(service_node) if service_node is not None else None,
        service_id_node=service_node,
        # `data=` is a mistake (CW101) but still the inputs the author meant.
        inputs=values.get("inputs", keywords.get("data")),
        path="" if path_node is None else string_value(path_node),
        in_background=isinstance(background, cst.Name) and background.value == "True",
    )


def dict_items(node: cst.Dict) -> list[tuple[str, cst.DictElement]]:
    """The literal string keys of a dict display, with their elements."""
    out = []
    for element in node.elements:
        if isinstance(element, cst.DictElement):
            key = string_value(element.key)
            if key is not None:
                out.append((key, element))
    return out
