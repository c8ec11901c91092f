"""One traversal of a LibCST tree that calls every rule's visitor methods on the way.

LibCST's own ``module.visit`` rebuilds every node it passes (it is written for transformers)
and costs about as much as the parse. A read-only walk over the nodes' dataclass fields is
~3x cheaper; it skips whitespace and punctuation nodes no rule looks at, and visits children
in source order (a test checks that order against LibCST's visitor on the stdlib).

Methods run in the order the visitors were given: the shared analyses first, then rules, so
a rule sees the imports and client bindings of everything before the current node. Each
visitor sees ``ctx.ancestors``: the chain of enclosing nodes, the innermost last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from cwlint.libcst_import import cst

# Fields that hold only whitespace, comments or punctuation.
_SKIP = frozenset(
    {
        "whitespace_after_at", "whitespace_after_func", "whitespace_before_args", "whitespace_after_arg",
        "whitespace_after_star", "whitespace_after_indicator", "whitespace_before_indicator",
        "whitespace_before_as", "whitespace_after_as", "whitespace_after_assert", "whitespace_after_await",
        "whitespace_after_class", "whitespace_after_name", "whitespace_after_type_parameters",
        "whitespace_before_colon", "whitespace_after_colon", "whitespace_before", "whitespace_after",
        "whitespace_after_for", "whitespace_before_in", "whitespace_after_in", "whitespace_before_test",
        "whitespace_after_except", "whitespace_before_expression", "whitespace_after_expression",
        "whitespace_before_from", "whitespace_after_from", "whitespace_after_def", "whitespace_before_params",
        "whitespace_after_global", "whitespace_after_test", "whitespace_before_if", "whitespace_after_if",
        "whitespace_before_else", "whitespace_after_else", "whitespace_after_import", "whitespace_before_import",
        "whitespace_after_match", "whitespace_after_case", "whitespace_after_cls", "whitespace_before_patterns",
        "whitespace_after_kwds", "whitespace_before_walrus", "whitespace_after_walrus",
        "whitespace_after_nonlocal", "whitespace_after_raise", "whitespace_after_return",
        "whitespace_before_value", "whitespace_after_value", "whitespace_after_while", "whitespace_after_with",
        "whitespace_after_yield", "whitespace_between", "whitespace_after_param", "whitespace_after_lambda",
        "whitespace_after_del", "whitespace_after_bitor", "whitespace_before_bitor",
        "whitespace_after_type", "whitespace_after_equals", "whitespace_before_equals",
        "trailing_whitespace", "leading_whitespace", "leading_lines", "lines_after_decorators",
        "header", "footer", "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace",
        "comma", "semicolon", "dot", "colon", "equal", "first_colon", "second_colon",
        "star", "star_tok", "asynchronous", "walrus", "arrow", "newline", "indent",
    }
)

# Node types whose dataclass field order differs from source order (IfExp: evaluation order).
_ORDER: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
    # Evaluation order, so that "checked before used" reads naturally in rules.
    cst.IfExp: ("test", "body", "orelse"),
    cst.Param: ("star", "name", "annotation", "default"),
    cst.Arg: ("keyword", "value"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
}

_FIELDS: dict[type, tuple[str, ...]] = {}
_METHODS: dict[type, tuple[str, ...]] = {}
_NODE_TYPES: dict[type, bool] = {}


def _is_node(kind: type) -> bool:
    """issubclass(kind, CSTNode), cached: CSTNode is an ABC, whose isinstance is slow."""
    known = _NODE_TYPES.get(kind)
    if known is None:
        known = _NODE_TYPES[kind] = issubclass(kind, cst.CSTNode)
    return known
_NO_CHILDREN = (str, int, float, bool, type(None))


def _fields(kind: type) -> tuple[str, ...]:
    names = _ORDER.get(kind)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(kind) if f.name not in _SKIP)
    _FIELDS[kind] = names
    return names


def children(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
    """The node's children that can matter to a rule, in source order."""
    kind = type(node)
    names = _FIELDS.get(kind) or _fields(kind)
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def walk(module: cst.Module, visitors: Iterable[object], ancestors: list[cst.CSTNode]) -> None:
    """Visit ``module`` once, calling each visitor's ``visit_X``/``leave_X`` for node type X."""
    visits: dict[str, list[Callable[[Any], Any]]] = {}
    leaves: dict[str, list[Callable[[Any], Any]]] = {}
    for visitor in visitors:
        names = _METHODS.get(type(visitor))
        if names is None:
            names = _METHODS[type(visitor)] = tuple(
                a for a in dir(type(visitor)) if a.startswith(("visit_", "leave_"))
            )
        for attr in names:
            table = visits if attr[0] == "v" else leaves
            table.setdefault(attr[6:], []).append(getattr(visitor, attr))
    # Per node type, once per walk: its visit and leave methods, and the fields to descend into.
    plans: dict[type, tuple[list[Callable[[Any], Any]], list[Callable[[Any], Any]], tuple[str, ...]]] = {}
    push, pop = ancestors.append, ancestors.pop

    def plan(kind: type) -> tuple[list[Callable[[Any], Any]], list[Callable[[Any], Any]], tuple[str, ...]]:
        name = kind.__name__
        entry = plans[kind] = (visits.get(name, []), leaves.get(name, []), _FIELDS.get(kind) or _fields(kind))
        return entry

    def visit(node: cst.CSTNode) -> None:
        kind = type(node)
        on_visit, on_leave, names = plans.get(kind) or plan(kind)
        for method in on_visit:
            method(node)
        push(node)
        for field_name in names:
            value = getattr(node, field_name)
            value_type = type(value)
            if value_type is tuple or value_type is list:
                for item in value:
                    if _is_node(type(item)):
                        visit(item)
            elif _is_node(value_type):
                visit(value)
        pop()
        for method in on_leave:
            method(node)

    visit(module)
