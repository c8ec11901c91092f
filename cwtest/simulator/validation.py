"""Requests checked against the service catalog, with messages that name the fix.

The linter reads the same catalog statically; here the check runs on what the workflow really
sent, so a key built at run time is caught too. Each problem is one line that names the bad key
and, where the catalog or a close spelling knows it, the right one::

    "action" is not an input of redis_coordinator; did you mean "operation"?

The simulator answers a request with problems with a 422 (see ``app.py``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cwlint.catalog import Catalog, InputSpec, Service, Variant

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}


@dataclass(frozen=True)
class Problem:
    """One way a request breaks the catalog: where (a key path) and what, as one line."""

    location: str
    message: str
    kind: str

    def as_error(self) -> dict[str, Any]:
        return {"loc": self.location.split(".") if self.location else [], "msg": self.message, "type": self.kind}


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate, if one is close enough to be the intended spelling."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _has_type(value: Any, wanted: str) -> bool:
    actual = json_type_name(value)
    if wanted == "any":
        return True
    if wanted == "number":
        return actual in ("integer", "number")
    return actual == wanted


def _quoted(values: Iterable[Any]) -> str:
    return ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in values)


#: Each problem kind -> the cwlint rule that finds the same mistake statically (its module and
#: class; the code is read from the rule, never repeated here): a renamed key is CW103's alone,
#: every other break of the contract CW104's (see their docs).
LINT_RULES = {
    "renamed": "renamed_input_key:RenamedInputKey",
    "unknown": "invalid_service_inputs:InvalidServiceInputs",
    "missing": "invalid_service_inputs:InvalidServiceInputs",
    "type": "invalid_service_inputs:InvalidServiceInputs",
    "allowed": "invalid_service_inputs:InvalidServiceInputs",
}


def lint_code(kind: str | None) -> str | None:
    """The code of the cwlint rule that finds a problem of ``kind`` statically (``CW103``), or None."""
    target = LINT_RULES.get(kind or "")
    if target is None:
        return None
    import importlib

    module, _, name = target.partition(":")
    return str(getattr(importlib.import_module(f"cwlint.rules.{module}"), name).code)


class InputChecker:
    """Checks one request body against one variant; collects every problem, not just the first."""

    def __init__(self, service: Service, variant: Variant) -> None:
        self.service = service
        self.variant = variant
        self.problems: list[Problem] = []

    def _add(self, location: str, message: str, kind: str) -> None:
        self.problems.append(Problem(location, message, kind))

    def check(self, inputs: Any) -> list[Problem]:
        if not isinstance(inputs, dict):
            self._add("", f"inputs of {self.service.id} must be a JSON object, got {json_type_name(inputs)}", "type")
            return self.problems
        self._keys(inputs, self.variant.inputs, owner=self.service.id, prefix="", closed=self.variant.closed)
        return self.problems

    def _keys(self, inputs: dict[str, Any], specs: dict[str, InputSpec], owner: str, prefix: str, closed: bool) -> None:
        renamed = self.variant.renamed if not prefix else {}
        for key in inputs:
            where = f"{prefix}{key}"
            if key in renamed:
                self._add(where, f'"{key}" is not an input of {owner}; did you mean "{renamed[key].to}"?', "renamed")
            elif closed and specs and key not in specs:
                guess = did_you_mean(key, specs)
                hint = f'did you mean "{guess}"?' if guess else f"its inputs are {_quoted(specs)}"
                self._add(where, f'"{key}" is not an input of {owner}; {hint}', "unknown")
        for key, spec in specs.items():
            where = f"{prefix}{key}"
            if key not in inputs:
                if spec.is_required(inputs) and not any(r.to == key and old in inputs for old, r in renamed.items()):
                    self._add(where, f'"{where}" is required by {owner}', "missing")
                continue
            self._value(inputs[key], spec, where, owner)

    def _value(self, value: Any, spec: InputSpec, where: str, owner: str) -> None:
        if not _has_type(value, spec.type):
            wanted = _TYPE_NAMES.get(spec.type, spec.type)
            self._add(where, f'"{where}" of {owner} must be {wanted}, got {json_type_name(value)}', "type")
            return
        if spec.allowed is not None and value not in spec.allowed:
            guess = did_you_mean(value, [a for a in spec.allowed if isinstance(a, str)]) if isinstance(value, str) else None
            hint = f'; did you mean "{guess}"?' if guess else ""
            self._add(
                where,
                f'"{where}" of {owner} must be one of {_quoted(spec.allowed)}, got {_quoted([value])}{hint}',
                "allowed",
            )
        if spec.type == "object" and spec.properties and isinstance(value, dict):
            self._keys(value, spec.properties, owner, prefix=f"{where}.", closed=False)
        if spec.type == "array" and spec.items is not None and isinstance(value, list):
            for index, item in enumerate(value):
                self._item(item, spec.items, f"{where}.{index}", owner)

    def _item(self, item: Any, spec: InputSpec, where: str, owner: str) -> None:
        if not _has_type(item, spec.type):
            wanted = _TYPE_NAMES.get(spec.type, spec.type)
            self._add(where, f'"{where}" of {owner} must be {wanted}, got {json_type_name(item)}', "type")
            return
        if spec.type == "object" and spec.properties and isinstance(item, dict):
            self._keys(item, spec.properties, owner, prefix=f"{where}.", closed=False)
        elif spec.allowed is not None and item not in spec.allowed:
            self._add(where, f'"{where}" of {owner} must be one of {_quoted(spec.allowed)}, got {_quoted([item])}', "allowed")


def check_inputs(service: Service, variant: Variant, inputs: Any) -> list[Problem]:
    """Every way ``inputs`` breaks the catalog's variant; empty when it fits."""
    if variant.body is False:
        return []
    # No body at all (a GET, or a POST without inputs) is checked as empty inputs: only a
    # required key can be missing from it.
    return InputChecker(service, variant).check({} if inputs is None else inputs)


def unknown_service_message(service_id: str, catalog: Catalog) -> str:
    guess = did_you_mean(service_id, catalog.ids)
    hint = f'; did you mean "{guess}"?' if guess else ""
    return f'no service "{service_id}" in the simulated runtime{hint} (script it to simulate another workflow)'


def unknown_path_message(service: Service, path: str, has_body: bool) -> str:
    paths = sorted({v.path for v in service.variants})
    if path in paths:
        sent = "with a body" if has_body else "without a body"
        return f'{service.id} has no contract for "{path or "/"}" {sent}'
    guess = did_you_mean(path, [p for p in paths if p])
    hint = f'; did you mean "{guess}"?' if guess else f"; its paths are {_quoted(p or '/' for p in paths)}"
    return f'{service.id} has no path "{path}"{hint}'
