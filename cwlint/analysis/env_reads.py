"""Reads of environment variables with a literal name, whatever the aliases (CW302, CW403).

``os.environ["X"]``, ``os.environ.get("X"[, default])``, ``os.getenv("X"[, default])`` and
``os.environ.setdefault("X", value)``, through ``import os as o``, ``from os import environ,
getenv``, and a module-level ``env = os.environ``. Membership tests (``"X" in os.environ``)
and writes (``os.environ["X"] = ...``) are not reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from cwlint.context import FileContext, dotted_name, string_value

ReadKind = Literal["subscript", "get", "getenv", "setdefault"]

_CALLS: dict[str, ReadKind] = {
    "os.getenv": "getenv",
    "os.environ.get": "get",
    "os.environ.setdefault": "setdefault",
    "posix.getenv": "getenv",
}


@dataclass
class EnvRead:
    name: str
    name_node: cst.BaseExpression  #: the literal naming the variable
    kind: ReadKind
    node: cst.BaseExpression  #: the whole read: the call, or the subscript
    default: cst.BaseExpression | None  #: the default expression, when one is given
    default_arg: cst.Arg | None = None

    @property
    def has_default(self) -> bool:
        """A default other than ``None``: the read never fails when the variable is unset."""
        return self.kind == "setdefault" or (
            self.default is not None and not (isinstance(self.default, cst.Name) and self.default.value == "None")
        )


class EnvAliases:
    """Names bound to ``os.environ`` by assignment (``env = os.environ``); imports are
    already resolved by ``ctx.imports``. Feed it ``visit_Assign`` from the rule."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.environ_names: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self.ctx.imports.qualified(node.value) == "os.environ" or dotted_name(node.value) in self.environ_names:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.environ_names.add(target.target.value)

    def qualified(self, expr: cst.BaseExpression) -> str | None:
        qualified = self.ctx.imports.qualified(expr)
        if qualified is not None:
            return qualified
        name = dotted_name(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.environ_names:
            return f"os.environ.{rest}" if rest else "os.environ"
        return None


def call_read(aliases: EnvAliases, node: cst.Call) -> EnvRead | None:
    """The env read ``node`` is, when it is a call with a literal name."""
    kind = _CALLS.get(aliases.qualified(node.func) or "")
    if kind is None:
        return None
    positional = [arg for arg in node.args if arg.keyword is None and arg.star == ""]
    keywords = {arg.keyword.value: arg for arg in node.args if arg.keyword is not None}
    if any(arg.star for arg in node.args):
        return None
    key_arg = positional[0] if positional else keywords.get("key")
    if key_arg is None:
        return None
    name = string_value(key_arg.value)
    if name is None:
        return None
    default_arg = positional[1] if len(positional) > 1 else keywords.get("default") or keywords.get("value")
    return EnvRead(
        name=name,
        name_node=key_arg.value,
        kind=kind,
        node=node,
        default=default_arg.value if default_arg is not None else None,
        default_arg=default_arg,
    )


def subscript_read(aliases: EnvAliases, node: cst.Subscript, ancestors: list[cst.CSTNode]) -> EnvRead | None:
    """``os.environ["X"]`` as a value (not the target of an assignment or a ``del``)."""
    if aliases.qualified(node.value) != "os.environ" or len(node.slice) != 1:
        return None
    element = node.slice[0].slice
    if not isinstance(element, cst.Index):
        return None
    name = string_value(element.value)
    if name is None:
        return None
    parent = ancestors[-1] if ancestors else None
    if isinstance(parent, cst.AssignTarget) or isinstance(parent, cst.Del):
        return None
    if isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is node:
        return None
    if isinstance(parent, cst.Element) and len(ancestors) >= 3 and isinstance(ancestors[-2], cst.Tuple | cst.List):
        if isinstance(ancestors[-3], cst.AssignTarget):
            return None
    return EnvRead(name=name, name_node=element.value, kind="subscript", node=node, default=None)


_ENV_STYLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_env_style(name: str) -> bool:
    """A name that can be declared in ``env_vars`` as it stands."""
    return bool(_ENV_STYLE.match(name))
