"""The smoke call's request: one minimal valid request per route, built from the route's schema.

For every route the request holds only the *required* parameters and body fields, each with the
smallest valid value that is not degenerate:

* ``const``/``enum``/``Literal``: the first value; ``anyOf``/``oneOf``: the first branch that is
  not ``null`` (``Optional[X]`` gives an X); ``allOf``: the branches merged.
* strings: ``"a"`` repeated to ``minLength`` (at least one character); the formats ``date-time``,
  ``date``, ``time``, ``duration``, ``email``, ``uri``/``url``, ``uuid``, ``ipv4``, ``ipv6``,
  ``hostname`` and ``binary`` get a fixed valid value; a ``pattern`` gets the shortest string the
  regex parser can derive (literals, classes, repeats at their minimum, the first branch), checked
  with ``re.search``; a plain string named like a URL or an e-mail gets that format
  (``cwtest.schema_hints``).
* numbers: ``minimum`` (or just above ``exclusiveMinimum``), else 1 (else ``maximum`` when that is
  below 1), rounded up to ``multipleOf``.
* arrays: ``max(minItems, 1)`` items; objects: required properties only; form bodies the same,
  files as a one-byte ``name.txt``.

Not supported (:class:`~cwtest.openapi.Unsupported`, never guessed): patterns with back-references
or look-arounds the derivation cannot satisfy, ``not``, recursive references deeper than 8 levels.

Why not the empty string, 0 and ``[]``: the smoke call asks whether the plain path works; edge
cases are the search's job. Imports no Hypothesis.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any
from urllib.parse import quote

from cwtest.openapi import JSON, MULTIPART, Resolver, Route, Unsupported
from cwtest.results import Request
from cwtest.schema_hints import with_implied_format

# The regex parser's private modules: 3.11 moved them into re, and typeshed types only their old names.
try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re import _constants as sre_constants  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants
    import sre_parse

MAX_DEPTH = 8


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "time": "00:00:00Z", "duration": "P1D",
    "email": "user@example.com", "idn-email": "user@example.com", "uri": "https://example.com/",
    "url": "https://example.com/", "iri": "https://example.com/", "uri-reference": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000", "ipv4": "127.0.0.1", "ipv6": "::1",
    "hostname": "example.com", "binary": "a", "password": "a", "byte": "YQ==",
    "ipvanyaddress": "127.0.0.1", "ipvanyinterface": "127.0.0.1/32", "ipvanynetwork": "127.0.0.0/8",
    "multi-host-uri": "https://example.com/", "json-string": "{}",
}


class Generator:
    """Minimal values for the JSON schemas of one OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resolver = Resolver(document)

    def resolve(self, schema: Any) -> Any:
        return self.resolver.resolve(schema)

    def value(self, schema: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise Unsupported("a schema nested deeper than 8 levels (recursive model)")
        schema = self.resolve(schema)
        if schema is True or schema == {} or schema is None:
            return "a"
        if schema is False:
            raise Unsupported("a schema that accepts nothing")
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if "enum" in schema and schema["enum"]:
            return copy.deepcopy(schema["enum"][0])
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                for key, val in part.items():
                    if key in ("properties",):
                        merged.setdefault(key, {}).update(val)
                    elif key == "required":
                        merged[key] = sorted(set(merged.get(key, [])) | set(val))
                    else:
                        merged.setdefault(key, val)
            return self.value(merged, depth + 1)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.resolve(b) for b in schema[key]]
                non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
                if non_null:
                    return self.value(non_null[0], depth + 1)
                return None
        if "not" in schema:
            raise Unsupported("'not' schemas")
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if kinds else "null"
        if kind is None:
            if "properties" in schema or "required" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                return "a"
        return getattr(self, f"_{kind}", self._unknown)(schema, depth)

    def _unknown(self, schema: dict[str, Any], depth: int) -> Any:
        raise Unsupported(f"the type {schema.get('type')!r}")

    def _null(self, schema: dict[str, Any], depth: int) -> Any:
        return None

    def _boolean(self, schema: dict[str, Any], depth: int) -> Any:
        return False

    def _string(self, schema: dict[str, Any], depth: int) -> str:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        if pattern:
            text = shortest_match(pattern, max(low, 1), high)
        elif fmt in _FORMATS:
            text = _FORMATS[fmt]
            if len(text) < low and text.endswith("/"):  # a URL: a longer path is as valid
                text += "a" * (low - len(text))
            if len(text) < low:
                raise Unsupported(f"format {fmt} with minLength {low}")
        else:
            text = "a" * max(low, 1)
            if high is not None and len(text) > int(high):
                text = "a" * int(high)
        return text

    def _integer(self, schema: dict[str, Any], depth: int) -> int:
        return int(self._number(schema, depth, integer=True))

    def _number(self, schema: dict[str, Any], depth: int, integer: bool = False) -> float | int:
        step = 1 if integer else 0.5
        low = schema.get("minimum")
        ex_low = schema.get("exclusiveMinimum")
        high = schema.get("maximum")
        ex_high = schema.get("exclusiveMaximum")
        if isinstance(ex_low, bool):  # OpenAPI 3.0 form
            ex_low = low if ex_low else None
            low = None if ex_low is not None else low
        if isinstance(ex_high, bool):
            ex_high = high if ex_high else None
            high = None if ex_high is not None else high
        if low is not None:
            value = low
        elif ex_low is not None:
            value = math.floor(ex_low) + 1 if integer else ex_low + step
            if ex_high is not None and value >= ex_high:
                value = (ex_low + ex_high) / 2
        else:
            value = 1
            upper = high if high is not None else (ex_high - step if ex_high is not None else None)
            if upper is not None and upper < 1:
                value = upper
        multiple = schema.get("multipleOf")
        if multiple:
            value = math.ceil(value / multiple) * multiple
            if integer:
                value = int(value)
        if integer:
            value = math.ceil(value)
        if (high is not None and value > high) or (ex_high is not None and value >= ex_high):
            raise Unsupported(f"no number satisfies minimum/maximum/multipleOf in {schema}")
        return value

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        count = max(int(schema.get("minItems", 0)), 1)
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        prefix = schema.get("prefixItems")
        if prefix:
            values = [self.value(s, depth + 1) for s in prefix]
            items = schema.get("items")
            while len(values) < count and isinstance(items, dict):
                values.append(self.value(items, depth + 1))
            return values
        items = schema.get("items", {})
        values = [self.value(items, depth + 1) for _ in range(count)]
        if schema.get("uniqueItems") and len(values) > 1:
            raise Unsupported("uniqueItems with more than one required item")
        return values

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        result = {}
        for name in schema.get("required", []):
            prop = properties.get(name)
            if prop is None:
                extra = schema.get("additionalProperties")
                prop = extra if isinstance(extra, dict) else {}
            result[name] = self.named(name, prop, depth + 1)
        minimum = int(schema.get("minProperties", 0))
        for name, prop in properties.items():
            if len(result) >= minimum:
                break
            result.setdefault(name, self.named(name, prop, depth + 1))
        return result

    def named(self, name: str, schema: Any, depth: int = 0) -> Any:
        """The value of a field called ``name``: in the format its name implies, if any (``cwtest.schema_hints``)."""
        hinted = with_implied_format(name, self.resolve(schema))
        if hinted is not None:
            try:
                return self.value(hinted, depth)
            except Unsupported:  # e.g. a maxLength no URL fits: the plain value then
                pass
        return self.value(schema, depth)


def shortest_match(pattern: str, min_length: int = 1, max_length: Any = None) -> str:
    """The shortest string the regex derives, padded to ``min_length`` when the regex allows it."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise Unsupported(f"pattern {pattern!r} is not a valid regex: {exc}") from None
    base = _derive(parsed, [0])
    candidates = [base]
    if len(base) < min_length:
        candidates = [_derive(parsed, [n]) for n in range(1, min_length + 1)]
    for text in candidates:
        if len(text) >= min_length and (max_length is None or len(text) <= int(max_length)) \
                and re.search(pattern, text):
            return text
    raise Unsupported(f"pattern {pattern!r} with minLength {min_length}")


_CATEGORY = {
    sre_constants.CATEGORY_DIGIT: "0", sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_WORD: "a", sre_constants.CATEGORY_NOT_WORD: "-",
    sre_constants.CATEGORY_SPACE: " ", sre_constants.CATEGORY_NOT_SPACE: "a",
}


def _derive(parsed: Any, budget: list[int]) -> str:
    """The shortest derivation; ``budget`` more repeats go to the first open repeats, to pad."""
    return "".join(_derive_one(op, av, budget) for op, av in parsed)


def _derive_one(op: Any, av: Any, budget: list[int]) -> str:
    c = sre_constants
    if op is c.LITERAL:
        return chr(av)
    if op is c.NOT_LITERAL:
        return "a" if chr(av) != "a" else "b"
    if op is c.ANY:
        return "a"
    if op is c.IN:
        return _class_char(av)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        low, high, sub = av
        times = low
        if budget[0] and (high is c.MAXREPEAT or high > low):
            add = budget[0] if high is c.MAXREPEAT else min(budget[0], high - low)
            times += add
            budget[0] -= add
        return "".join(_derive(sub, [0]) for _ in range(times))
    if op is c.SUBPATTERN:
        return _derive(av[-1], budget)
    if op is getattr(c, "ATOMIC_GROUP", object()):
        return _derive(av, budget)
    if op is c.BRANCH:
        return _derive(av[1][0], budget)
    if op is c.AT:
        return ""
    if op is c.CATEGORY:
        return _CATEGORY.get(av, "a")
    raise Unsupported(f"a regex construct ({op}) the derivation does not handle")


def _class_char(items: Any) -> str:
    c = sre_constants
    negate = any(op is c.NEGATE for op, _ in items)
    if negate:
        excluded = set()
        for op, av in items:
            if op is c.LITERAL:
                excluded.add(chr(av))
            elif op is c.RANGE:
                excluded.update(chr(x) for x in range(av[0], min(av[1], 0x2FF) + 1))
        for candidate in "aA0_-. ":
            if candidate not in excluded:
                return candidate
        raise Unsupported("a negated character class")
    for op, av in items:
        if op is c.LITERAL:
            return chr(av)
        if op is c.RANGE:
            return chr(av[0])
        if op is c.CATEGORY:
            return _CATEGORY.get(av, "a")
    raise Unsupported("an empty character class")


# --- requests ----------------------------------------------------------------------------------------

def minimal_request(route: Route, generator: Generator, examples: list[Any] | None = None) -> Request:
    """The smoke call's request for ``route`` (raises Unsupported when none can be built).

    A route without a request schema (``Route.schemaless_body``: a webhook reading ``request:
    Request``) gets its first example payload, else ``{}`` as JSON, marked ``guessed``.
    """
    if route.unsupported:
        raise Unsupported(route.unsupported)
    path = route.template
    query: list[tuple[str, Any]] = []
    headers: list[tuple[str, str]] = []
    for param in route.params:
        if param.location == "path":
            value = generator.value(param.schema)
            path = path.replace("{" + param.name + "}", quote(str(value), safe=""))
        elif param.required and param.location == "query":
            query.append((param.name, generator.named(param.name, param.schema)))
        elif param.required and param.location == "header":
            headers.append((param.name, str(generator.value(param.schema))))
    request = Request(route.method, route.template, path, tuple(query), tuple(headers))
    if route.schemaless_body:
        if examples:
            return _replace(request, json_body=examples[0])
        return _replace(request, json_body={}, guessed="{}: the route documents no body")
    if route.body_media is None:
        return request
    schema = generator.resolve(route.body)
    values = generator.value(schema)
    if route.body_media == JSON:
        return _replace(request, json_body=values)
    form: list[tuple[str, str]] = []
    files: list[tuple[str, tuple[str, bytes]]] = []
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    for name, value in (values or {}).items():
        if _is_binary(generator, properties.get(name, {})):
            files.append((name, (f"{name}.txt", b"a")))
        else:
            form.append((name, value if isinstance(value, str) else str(value)))
    return _replace(request, form=tuple(form), files=tuple(files) if route.body_media == MULTIPART else None)


def _replace(request: Request, **changes: Any) -> Request:
    from dataclasses import replace

    return replace(request, **changes)


def _is_binary(generator: Generator, prop: Any) -> bool:
    prop = generator.resolve(prop)
    if not isinstance(prop, dict):
        return False
    if prop.get("format") == "binary" or prop.get("contentMediaType") == "application/octet-stream":
        return True
    if prop.get("type") == "array":
        return _is_binary(generator, prop.get("items", {}))
    return any(_is_binary(generator, b) for b in prop.get("anyOf", []))
