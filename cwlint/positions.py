"""Every node's span in the text, as offsets: LibCST's ``PositionProvider`` without its costs.

``PositionProvider`` regenerates the module's code and, for every token, splits it on
newlines with a regex to keep a line and a column, and builds two position objects per node.
Offsets need neither: a running count of characters is every token's offset into the
generated code (the source text, which LibCST round-trips for all but a few odd inputs), and
line starts turn an offset into a line and a column only for the few nodes a rule reports.

The ranges are LibCST's: a node's syntactic range when its codegen records one (a function
without its decorators' lines, a name without its parentheses...), else everything it
generates, whitespace included. tests/test_positions.py compares them with
``PositionProvider`` on every fixture, every rule example and generated programs.

``CodegenState`` and ``Module._codegen`` are LibCST internals; libcst is pinned exactly
(pyproject.toml) and the test would catch a change.
"""

from __future__ import annotations

from libcst._nodes.internal import CodegenState

from cwlint.libcst_import import cst


class _OffsetState(CodegenState):
    """A codegen state that counts characters and records each node's (start, end) offsets."""

    __slots__ = ("offset", "ranges", "_starts")

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.offset = 0
        #: By ``id(node)``: a CSTNode's ``__hash__`` is Python code, an int's is not (the nodes
        #: live as long as their module, so their ids stay theirs).
        self.ranges: dict[int, tuple[int, int]] = {}
        self._starts: list[int] = []

    def add_indent_tokens(self) -> None:
        self.tokens.extend(self.indent_tokens)
        for token in self.indent_tokens:
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        # A syntactic range recorded during its codegen wins.
        self.ranges.setdefault(id(node), (self._starts.pop(), self.offset))

    def record_syntactic_position(  # type: ignore[override]  # LibCST types it as contextlib's manager; any will do
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> _Syntactic:
        return _Syntactic(self, node, start_node, end_node)


class _Syntactic:
    """``record_syntactic_position`` as a plain context manager (contextlib's generator-based one
    costs more than the rest of the recording): on exit, the node's syntactic range."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state: _OffsetState, node: cst.CSTNode, start_node: cst.CSTNode | None, end_node: cst.CSTNode | None) -> None:
        self.state = state
        self.node = node
        self.start_node = start_node
        self.end_node = end_node
        self.start = 0

    def __enter__(self) -> None:
        self.start = self.state.offset

    def __exit__(self, *exc: object) -> None:
        ranges = self.state.ranges
        start = ranges[id(self.start_node)][0] if self.start_node is not None else self.start
        end = ranges[id(self.end_node)][1] if self.end_node is not None else self.state.offset
        ranges[id(self.node)] = (start, end)


def node_offsets(module: cst.Module) -> tuple[dict[int, tuple[int, int]], str]:
    """Each node's (start, end) offsets into the module's code (end exclusive), by ``id(node)``,
    and that code.

    The code is the parsed text, except for a few inputs LibCST does not round-trip (stray
    whitespace at the very end): offsets are into the code, as PositionProvider's lines are.
    """
    state = _OffsetState(module)
    module._codegen(state)
    return state.ranges, "".join(state.tokens)
