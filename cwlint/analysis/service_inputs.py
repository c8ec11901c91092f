"""What the service-call rules (CW102, CW104, CW107) share: literals read as JSON, and the
catalog's confidence read as a severity.

Only literals are read: a name, a call or an f-string part is never guessed at. A value is
described by the JSON type httpx would send (``"3600"`` is a string, ``30 * 24 * 3600`` an
integer); a set is its own kind, since httpx cannot send it at all (CW108's concern).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from cwlint.catalog import FIRM
from cwlint.context import string_value
from cwlint.diagnostics import Severity

#: Returned by :func:`literal_value` for anything that is not a plain literal.
NOT_LITERAL: Any = object()

_BASIS = {
    "documented": "documented",
    "source": "read in the codewords-client source",
    "example": "seen in doc examples only",
    "historical": "seen in an earlier revision of the docs only",
    "inferred": "inferred, unconfirmed",
}

_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "None",
    "set": "a set",
}


def severity_for(confidence: str | None) -> Severity:
    """Documented and source facts give errors; the others warnings (docs/catalog.md)."""
    return Severity.ERROR if confidence in FIRM else Severity.WARNING


def is_firm(confidence: str | None) -> bool:
    return confidence in FIRM


def basis(confidence: str | None, source: str | None = None) -> str:
    """A suffix for a warning's message saying how weak the fact is; empty for firm facts."""
    if confidence in FIRM or confidence is None:
        return ""
    where = f": {source}" if source else ""
    return f" (catalog: {_BASIS.get(confidence, confidence)}{where})"


_STRENGTH = ("documented", "source", "example", "historical", "inferred")


def weakest(facts: list[Any]) -> Any:
    """The fact (anything with a ``confidence``) a finding resting on all of them is as weak as."""
    return max(facts, key=lambda f: _STRENGTH.index(f.confidence) if f.confidence in _STRENGTH else len(_STRENGTH))


def describe(json_type: str) -> str:
    return _ARTICLE.get(json_type, json_type)


def json_type(expr: cst.BaseExpression) -> str | None:
    """The JSON type a literal expression is sent as, ``"set"`` for sets; None when unknown."""
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        if isinstance(expr, cst.SimpleString) and "b" in expr.prefix.lower():
            return None  # bytes: not JSON at all, and not this function's business
        return "string"
    if isinstance(expr, cst.Integer):
        return "integer"
    if isinstance(expr, cst.Float):
        return "number"
    if isinstance(expr, cst.Name):
        if expr.value in ("True", "False"):
            return "boolean"
        if expr.value == "None":
            return "null"
        return None
    if isinstance(expr, (cst.Dict, cst.DictComp)):
        return "object"
    if isinstance(expr, (cst.List, cst.ListComp, cst.Tuple)):
        return "array"
    if isinstance(expr, (cst.Set, cst.SetComp)):
        return "set"
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        inner = json_type(expr.expression)
        return inner if inner in ("integer", "number") else None
    if isinstance(expr, cst.BinaryOperation):
        left, right = json_type(expr.left), json_type(expr.right)
        numeric = ("integer", "number")
        if left in numeric and right in numeric:
            if isinstance(expr.operator, cst.Divide):
                return "number"
            if isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo, cst.Power)):
                return "integer" if left == right == "integer" else "number"
            return None
        if left == "string" and isinstance(expr.operator, cst.Modulo):
            return "string"
        if left == right == "string" and isinstance(expr.operator, cst.Add):
            return "string"
        return None
    return None


def fits(actual: str, expected: str) -> bool:
    """Whether a literal of JSON type ``actual`` satisfies the catalog's ``expected`` type."""
    if expected == "any":
        return True
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


def literal_value(expr: cst.BaseExpression | None) -> Any:
    """The Python value of a plain scalar literal (str, int, float, bool, None), else NOT_LITERAL."""
    if expr is None:
        return NOT_LITERAL
    text = string_value(expr)
    if text is not None:
        return text
    if isinstance(expr, cst.Integer):
        return int(expr.evaluated_value)
    if isinstance(expr, cst.Float):
        return float(expr.evaluated_value)
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = literal_value(expr.expression)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
    return NOT_LITERAL


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (JSON does)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


@dataclass
class LiteralDict:
    """A dict display read key by key: literal string keys, and whether anything is dynamic."""

    node: cst.Dict
    items: list[tuple[str, cst.DictElement]]
    #: A ``**spread`` or a key that is not a string literal: the full key set is unknown.
    dynamic: bool

    @classmethod
    def read(cls, node: cst.Dict) -> LiteralDict:
        items: list[tuple[str, cst.DictElement]] = []
        dynamic = False
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = string_value(element.key)
                if key is None:
                    dynamic = True
                else:
                    items.append((key, element))
            else:
                dynamic = True
        return cls(node, items, dynamic)

    def overridden(self, element: cst.DictElement) -> bool:
        """Whether a later ``**spread`` may replace this element's value."""
        seen = False
        for other in self.node.elements:
            if other is element:
                seen = True
            elif seen and isinstance(other, cst.StarredDictElement):
                return True
        return False
