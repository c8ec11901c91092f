"""The pydantic models a file defines, and the types of their fields, read from the source.

Only what JSON encoding cares about (CW108): which annotations hold values ``json.dumps``
rejects (pydantic URLs, ``datetime``/``date``/``time``, ``UUID``, ``Decimal``, ``bytes``,
sets) and which hold other same-file models. Only top-level classes are read, once, and
only when a rule asks; a base the file does not define or import from pydantic makes a
class unknown rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import libcst as cst

from cwlint.context import dotted_name, string_value

if TYPE_CHECKING:
    from cwlint.context import FileContext

_BASES = frozenset(
    {"pydantic.BaseModel", "pydantic.main.BaseModel", "pydantic_settings.BaseSettings", "pydantic.RootModel"}
)
#: Qualified type names, and the kind of value they hold.
_KINDS: dict[str, str] = {
    **{f"pydantic.{n}": "url" for n in ("HttpUrl", "AnyUrl", "AnyHttpUrl", "FileUrl", "WebsocketUrl")},
    **{f"pydantic.networks.{n}": "url" for n in ("HttpUrl", "AnyUrl", "AnyHttpUrl")},
    "uuid.UUID": "uuid",
    **{f"pydantic.UUID{n}": "uuid" for n in (1, 3, 4, 5)},
    "datetime.datetime": "datetime",
    "pydantic.AwareDatetime": "datetime",
    "pydantic.NaiveDatetime": "datetime",
    "pydantic.PastDatetime": "datetime",
    "pydantic.FutureDatetime": "datetime",
    "datetime.date": "date",
    "pydantic.PastDate": "date",
    "pydantic.FutureDate": "date",
    "datetime.time": "time",
    "decimal.Decimal": "decimal",
    "typing.Set": "set",
    "typing.FrozenSet": "set",
    "typing.AbstractSet": "set",
    "collections.abc.Set": "set",
}
_BUILTIN_KINDS = {"bytes": "bytes", "set": "set", "frozenset": "set", "bytearray": "bytes"}
_OPTIONAL = frozenset({"typing.Optional"})
_UNION = frozenset({"typing.Union"})
_ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
_SEQUENCES = frozenset(
    {"list", "tuple", "typing.List", "typing.Tuple", "typing.Sequence", "collections.abc.Sequence", "typing.Iterable"}
)
_SERIALIZER = re.compile(r"(?:^|\.)(?:Plain|Wrap)?Serializer$|(?:^|\.)(?:field|model)_serializer$")
#: Annotated metadata that may change the stored value's type (``AfterValidator(str)``) or
#: how it is dumped: the field's type is then unknown.
_CONVERTING = re.compile(r"(?:^|\.)(?:Plain|Wrap|Before|After)?(?:Serializer|Validator)$")
_FIELD_VALIDATORS = re.compile(r"(?:^|\.)(?:field_validator|validator)$")
_MODEL_VALIDATORS = re.compile(r"(?:^|\.)(?:model_validator|root_validator)$")


@dataclass(frozen=True)
class ValueType:
    """What a field, parameter or expression holds, as far as JSON encoding is concerned."""

    kind: str  #: url, uuid, datetime, date, time, decimal, bytes, set, or model
    written: str  #: the type as the source names it (``HttpUrl``, ``MonitorRequest``)
    model: str | None = None  #: the class name when kind is "model"
    optional: bool = False  #: ``Optional[...]``/``... | None``: may be None
    container: bool = False  #: a list or tuple of these

    def element(self) -> ValueType:
        return replace(self, container=False, optional=False)


@dataclass
class ModelClass:
    name: str
    node: cst.ClassDef
    bases: list[str]
    annotations: dict[str, cst.BaseExpression]
    #: A ``field_serializer``/``model_serializer``: ``model_dump()`` may already convert.
    custom_serialisation: bool
    #: Fields a validator may replace with another type (``"*"``: all of them).
    validated: set[str]


class ModelIndex:
    """The file's top-level pydantic models, resolved against its imports."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        candidates: dict[str, tuple[cst.ClassDef, list[cst.BaseExpression]]] = {}
        for statement in ctx.module.body:
            if isinstance(statement, cst.ClassDef):
                bases = [arg.value for arg in statement.bases if arg.keyword is None]
                candidates[statement.name.value] = (statement, bases)
        self.models: dict[str, ModelClass] = {}
        changed = True
        while changed:  # bases may come later in the file than the classes using them
            changed = False
            for name, (node, bases) in candidates.items():
                if name in self.models:
                    continue
                local = [dotted_name(b) for b in bases]
                if any(self._qualified(b) in _BASES for b in bases) or any(n in self.models for n in local if n):
                    self.models[name] = self._read(node, [n for n in local if n in self.models])
                    changed = True

    def _qualified(self, expr: cst.BaseExpression) -> str | None:
        if isinstance(expr, cst.Subscript):  # RootModel[list[str]], Generic bases
            expr = expr.value
        return self.ctx.imports.qualified(expr)

    @staticmethod
    def _read(node: cst.ClassDef, bases: list[str]) -> ModelClass:
        annotations: dict[str, cst.BaseExpression] = {}
        custom = False
        validated: set[str] = set()
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        for statement in body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        annotations[small.target.value] = small.annotation.annotation
            elif isinstance(statement, cst.FunctionDef):
                for decorator in statement.decorators:
                    call = decorator.decorator
                    target = call.func if isinstance(call, cst.Call) else call
                    name = dotted_name(target) or ""
                    if _SERIALIZER.search(name):
                        custom = True
                    elif _MODEL_VALIDATORS.search(name):
                        validated.add("*")
                    elif _FIELD_VALIDATORS.search(name):
                        args = call.args if isinstance(call, cst.Call) else ()
                        fields = [string_value(a.value) for a in args if a.keyword is None]
                        validated.update(f if f is not None else "*" for f in fields or [None])
        return ModelClass(node.name.value, node, bases, annotations, custom, validated)

    def is_model(self, name: str | None) -> bool:
        return name is not None and name in self.models

    # -- types -----------------------------------------------------------------------
    def classify(self, annotation: cst.BaseExpression) -> ValueType | None:
        """The kind of value an annotation holds, when JSON encoding cares; else None."""
        expr, optional = annotation, False
        for _ in range(8):  # Optional[Annotated[X | None, ...]] and the like
            inner, is_optional = self._unwrap(expr)
            if inner is None:
                return None
            optional = optional or is_optional
            if inner is expr:
                break
            expr = inner
        container = False
        if isinstance(expr, cst.Subscript):
            head = self._type_name(expr.value)
            if head in _SEQUENCES:
                elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
                if not elements:
                    return None
                if head in ("tuple", "typing.Tuple") and not (
                    len(elements) == 2 and isinstance(elements[1], cst.Ellipsis)
                ):
                    return None
                inner_type = self.classify(elements[0])
                if inner_type is None or inner_type.optional or inner_type.container:
                    return None
                return replace(inner_type, container=True, optional=optional)
            if _BUILTIN_KINDS.get(head or "") == "set" or _KINDS.get(head or "") == "set":
                return ValueType("set", self.ctx.code(expr), optional=optional)
            return None
        name = self._type_name(expr)
        if name is None:
            return None
        kind = _KINDS.get(name) or _BUILTIN_KINDS.get(name)
        if kind is not None:
            return ValueType(kind, dotted_name(expr) or name, optional=optional, container=container)
        if name in self.models:
            return ValueType("model", name, model=name, optional=optional, container=container)
        return None

    def _type_name(self, expr: cst.BaseExpression) -> str | None:
        """``pydantic.HttpUrl`` for an imported name, ``bytes`` for a builtin, a local class."""
        qualified = self.ctx.imports.qualified(expr)
        if qualified is not None:
            return qualified
        dotted = dotted_name(expr)
        if dotted in _BUILTIN_KINDS or dotted in ("list", "tuple"):
            return dotted
        if dotted in self.models:
            return dotted
        return None

    def _unwrap(self, expr: cst.BaseExpression) -> tuple[cst.BaseExpression | None, bool]:
        """One layer of Optional/Union-with-None/Annotated/``X | None``; (None, _) when ambiguous."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            members = [m for m in _union_members(expr) if not _is_none(m)]
            return (members[0], True) if len(members) == 1 else (None, False)
        if isinstance(expr, cst.Subscript):
            head = self.ctx.imports.qualified(expr.value)
            elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
            if head in _OPTIONAL and len(elements) == 1:
                return elements[0], True
            if head in _UNION:
                members = [m for m in elements if not _is_none(m)]
                return (members[0], len(members) < len(elements)) if len(members) == 1 else (None, False)
            if head in _ANNOTATED and elements:
                for meta in elements[1:]:
                    target = meta.func if isinstance(meta, cst.Call) else meta
                    if _CONVERTING.search(dotted_name(target) or ""):
                        return None, False
                return elements[0], False
        return expr, False

    def field(self, model: str, attribute: str) -> ValueType | None:
        """The type of ``model.attribute``, looking through same-file bases."""
        seen: set[str] = set()
        pending = [model]
        while pending:
            name = pending.pop(0)
            if name in seen or name not in self.models:
                continue
            seen.add(name)
            cls = self.models[name]
            if attribute in cls.validated or "*" in cls.validated:
                return None  # a validator may store another type
            annotation = cls.annotations.get(attribute)
            if annotation is not None:
                if _is_classvar(self.ctx, annotation) or attribute.startswith("_"):
                    return None
                return self.classify(annotation)
            pending.extend(cls.bases)
        return None

    def fields(self, model: str) -> dict[str, cst.BaseExpression]:
        out: dict[str, cst.BaseExpression] = {}
        seen: set[str] = set()
        pending = [model]
        while pending:
            name = pending.pop(0)
            if name in seen or name not in self.models:
                continue
            seen.add(name)
            for key, annotation in self.models[name].annotations.items():
                out.setdefault(key, annotation)
            pending.extend(self.models[name].bases)
        return out

    def customised(self, model: str) -> bool:
        """A serializer anywhere in the model or its same-file bases."""
        seen: set[str] = set()
        pending = [model]
        while pending:
            name = pending.pop(0)
            if name in seen or name not in self.models:
                continue
            seen.add(name)
            if self.models[name].custom_serialisation:
                return True
            pending.extend(self.models[name].bases)
        return False

    def non_json_field(self, model: str, kinds: frozenset[str], _seen: frozenset[str] = frozenset()) -> str | None:
        """A dotted path to a field ``model_dump()`` (python mode) leaves as a non-JSON object.

        None when there is none, or when a serializer may convert it.
        """
        if model in _seen or self.customised(model):
            return None
        for key, annotation in self.fields(model).items():
            value_type = self.field(model, key)
            if value_type is None:
                continue
            if value_type.kind == "model" and value_type.model:
                nested = self.non_json_field(value_type.model, kinds, _seen | {model})
                if nested:
                    return f"{key}.{nested}"
            elif value_type.kind in kinds:
                return f"{key}: {self.ctx.code(annotation)}"
        return None


def _union_members(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return _union_members(expr.left) + _union_members(expr.right)
    return [expr]


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _is_classvar(ctx: FileContext, annotation: cst.BaseExpression) -> bool:
    head = annotation.value if isinstance(annotation, cst.Subscript) else annotation
    qualified = ctx.imports.qualified(head)
    return qualified in ("typing.ClassVar", "typing_extensions.ClassVar") or dotted_name(head) == "ClassVar"


def pydantic_major(ctx: FileContext) -> int:
    """The pydantic major version the header pins (``pydantic==1.10.13``, ``pydantic<2``); 2 otherwise."""
    header = ctx.header
    if header is None:
        return 2
    for dep in header.dependencies:
        match = re.match(r"\s*pydantic\s*(?:\[[^\]]*\])?\s*([<>=~!].*)?$", dep, re.IGNORECASE)
        if not match:
            continue
        spec = (match.group(1) or "").split(";")[0].replace(" ", "")
        if re.search(r"(?:==|~=|===)1\.|<2(?:\.0)*(?:,|$)|<=1\.", spec):
            return 1
    return 2
