"""From the app's OpenAPI document to Hypothesis strategies: valid requests, then invalid ones.

Hypothesis is driven directly (hypothesis-jsonschema crashes on current Hypothesis, research §2).
Every JSON Schema construct FastAPI and pydantic v2 emit for a request is covered:

* ``$ref`` (against the document) with sibling keywords merged, ``allOf`` merged, ``anyOf`` /
  ``oneOf`` as a choice of branches (``X | None``, discriminated unions), ``not`` as a filter;
* ``const`` and ``enum`` (``Literal``, ``Enum``), ``type`` lists;
* integers and numbers with ``minimum`` / ``maximum`` / ``exclusive*`` (OpenAPI 3.1 numbers and
  the 3.0 booleans) and ``multipleOf``;
* strings with ``minLength`` / ``maxLength``, ``pattern`` (``st.from_regex(fullmatch=True)``),
  the formats ``email`` (EmailStr: no special-use domains, which email-validator refuses),
  ``uri`` (HttpUrl), ``date``, ``date-time``, ``time``, ``duration``, ``uuid``, ``ipv4``,
  ``ipv6``, ``hostname``, and JSON-in-a-string (``contentMediaType``, pydantic's ``Json[...]``);
* arrays (``items``, ``prefixItems``, ``minItems``, ``maxItems``, ``uniqueItems``), objects
  (required and optional properties, ``additionalProperties``), ``{}`` (any JSON value).

**Boundaries first.** Each scalar draws, with a fixed share of the draws, from its boundary
values: the minimum and maximum and their neighbours, the empty and the longest string, a
whitespace-only string, non-ASCII text (accents, CJK, an emoji, a non-breaking space), each
format's edge dates and addresses. The choice is a Hypothesis draw that shrinks towards the
boundary, so a failure at a boundary shrinks to that boundary rather than away from it.

Invalid requests are built from the same schema, one defect each, with a label saying which:
a required field missing, a field of the wrong JSON type, a value out of range (below the minimum,
too long, not a member of the enum, not matching the pattern, too many items, a bad format), or
a body that is not an object. Wrong types avoid what pydantic's lax mode coerces (``"1"`` for an
int, ``false`` for a float, research §1.2): objects, arrays and non-numeric strings.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from cwtest.fuzz.formats import (
    FORMATS,
    NON_ASCII,
    WHITESPACE,
    fit_length,
    json_values,
    weighted,
)
from cwtest.openapi import JSON, Resolver, Route, Unsupported
from cwtest.results import NO_BODY, Request
from cwtest.schema_hints import with_implied_format
from cwtest.simulator.validation import json_type_name

#: How deep a recursive model is unrolled before only its terminal forms are generated.
MAX_REF_DEPTH = 3
#: Arrays and free-form objects without a maximum get at most this many items.
DEFAULT_MAX_ITEMS = 5


class Strategies:
    """Hypothesis strategies for the schemas of one OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resolver = Resolver(document)

    # --- requests --------------------------------------------------------------------------------

    def request(self, route: Route) -> st.SearchStrategy[Request]:
        """Valid requests for the route (raises Unsupported when none can be built)."""
        if route.unsupported:
            raise Unsupported(route.unsupported)
        if route.body_media not in (None, JSON):
            raise Unsupported(f"a {route.body_media} body (the search generates JSON bodies only)")
        params = {p.name: self.named(p.name, p.schema) if p.location == "query" else self.value(p.schema)
                  for p in route.params if p.required}
        optional = {p.name: self.named(p.name, p.schema) if p.location == "query" else self.value(p.schema)
                    for p in route.params if not p.required}
        parts: dict[str, st.SearchStrategy[Any]] = {"params": st.fixed_dictionaries(params, optional=optional)}
        if route.body is not None:
            body = self.value(route.body)
            parts["body"] = body if route.body_required else st.one_of(body, st.just(NO_BODY))
        return st.fixed_dictionaries(parts).map(lambda drawn: self._spec(route, drawn.get("params", {}),
                                                                         drawn.get("body", NO_BODY)))

    def invalid_requests(self, route: Route) -> list[tuple[str, st.SearchStrategy[Request]]]:
        """One (defect, strategy) per way a request can be invalid: each strategy's requests carry that defect.

        Empty when nothing the route rejects can be sent (no body, no parameters).
        """
        if route.unsupported or route.body_media not in (None, JSON):
            return []
        valid_params = {p.name: self.value(p.schema) for p in route.params if p.required}
        options: list[tuple[str, st.SearchStrategy[Request]]] = []
        for param in route.params:
            if param.location not in ("query", "path"):
                continue
            others = {k: v for k, v in valid_params.items() if k != param.name}
            if param.required and param.location == "query":
                label = f"the required query parameter {param.name!r} is missing"
                options.append((label, self._with_params(route, others, None, None, label)))
            for label, bad in self.invalid_values(param.schema, param.name):
                if param.location == "path" and isinstance(bad, (dict, list)):
                    continue
                options.append((label, self._with_params(route, others, param.name, bad, label)))
        if route.body is not None:
            params = st.fixed_dictionaries(valid_params)
            for label, bad_body in self.invalid_bodies(route.body):
                options.append((label, st.tuples(params, bad_body).map(self._spec_of_pair(route, label))))
            if route.body_required:
                label = "the required body is missing"
                options.append((label, params.map(lambda p: self._spec(route, p, NO_BODY, label))))
        return options

    def _with_params(self, route: Route, others: dict[str, Any], name: str | None, bad: Any,
                     label: str) -> st.SearchStrategy[Request]:
        body = self.value(route.body) if route.body is not None else st.just(NO_BODY)
        bad_strategy = bad if isinstance(bad, st.SearchStrategy) else st.just(bad)

        def build(drawn: tuple[dict[str, Any], Any, Any]) -> Request:
            params = dict(drawn[0])
            if name is not None:
                params[name] = drawn[2]
            return self._spec(route, params, drawn[1], label)

        return st.tuples(st.fixed_dictionaries(others), body, bad_strategy).map(build)

    def _spec_of_pair(self, route: Route, label: str) -> Callable[[tuple[dict[str, Any], Any]], Request]:
        """``_spec`` of a drawn (params, body) pair, with ``label`` as the defect."""
        return lambda pair: self._spec(route, pair[0], pair[1], label)

    def _spec(self, route: Route, params: dict[str, Any], body: Any, defect: str | None = None) -> Request:
        path = route.template
        query, headers = [], []
        by_name = {p.name: p for p in route.params}
        for name, value in params.items():
            where = by_name[name].location if name in by_name else "query"
            if where == "path":
                path = path.replace("{" + name + "}", quote(_text(value), safe=""))
            elif where == "header":
                headers.append((name, _header_text(value)))
            else:
                query.append((name, value))
        for name, param in by_name.items():
            if param.location == "path" and "{" + name + "}" in path:
                path = path.replace("{" + name + "}", "cwtest")  # only an invalid request lacks one
        return Request(route.method, route.template, path, tuple(query), tuple(headers), body, defect)

    # --- values ----------------------------------------------------------------------------------

    def value(self, schema: Any, refs: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
        """Values valid for ``schema``."""
        if isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if refs.count(ref) >= MAX_REF_DEPTH:
                return self._terminal(self.resolver.resolve(schema), (*refs, ref))
            return self.value(self.resolver.resolve(schema), (*refs, ref))
        if schema is True or schema is None or schema == {}:
            return json_values()
        if schema is False:
            raise Unsupported("a schema that accepts nothing")
        if not isinstance(schema, dict):
            raise Unsupported(f"the schema {schema!r}")
        if "const" in schema:
            return st.just(copy.deepcopy(schema["const"]))
        if "enum" in schema:
            if not schema["enum"]:
                raise Unsupported("an empty enum")
            return st.sampled_from([copy.deepcopy(v) for v in schema["enum"]])
        if "allOf" in schema:
            return self.value(self.merged(schema), refs)
        if "not" in schema:
            rest = {k: v for k, v in schema.items() if k != "not"}
            forbidden = self.matcher(schema["not"])
            return self.value(rest, refs).filter(lambda v: not forbidden(v))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                base = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
                branches = []
                for branch in schema[key]:
                    merged = {**base, **self.resolver.resolve(branch)} if base.keys() - _ANNOTATIONS else branch
                    branches.append(self.value(merged, refs))
                return st.one_of(branches)
        if "contentMediaType" in schema and "json" in str(schema["contentMediaType"]) and "contentSchema" in schema:
            return self.value(schema["contentSchema"], refs).map(lambda v: json.dumps(v, ensure_ascii=False))
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return st.one_of([self.value({**schema, "type": k}, refs) for k in kinds])
        if kinds is None:
            if "properties" in schema or "required" in schema or "additionalProperties" in schema:
                kinds = "object"
            elif "items" in schema or "prefixItems" in schema:
                kinds = "array"
            else:
                return json_values()
        builder = getattr(self, f"_{kinds}", None)
        if builder is None:
            raise Unsupported(f"the JSON type {kinds!r}")
        return builder(schema, refs)

    def _null(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        return st.none()

    def _boolean(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        return st.booleans()

    def _integer(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        low, high = bounds(schema, integer=True)
        if low is not None and high is not None and low > high:
            raise Unsupported(f"no integer between {low} and {high}")
        multiple = schema.get("multipleOf")
        if multiple:
            m = int(multiple) if float(multiple).is_integer() else None
            if m is None:
                raise Unsupported(f"an integer multipleOf {multiple}")
            k_low = None if low is None else math.ceil(low / m)
            k_high = None if high is None else math.floor(high / m)
            return weighted([k * m for k in (k_low, k_high, 0) if k is not None and _within(k * m, low, high)],
                            st.integers(k_low, k_high).map(lambda k: k * m))
        # The endpoints only, when there are two: every extra edge dilutes the maximum, which
        # Hypothesis' own integer draws reach far less often than the minimum.
        edges: list[int | None] = [low, high]
        if low is None or high is None:
            edges += [0, 1, -1]
            edges += [2**31 - 1, -(2**31), 2**53 + 1, 10**12] if high is None else [-(2**31), -(2**53)]
        return weighted([e for e in edges if e is not None and _within(e, low, high)], st.integers(low, high))

    def _number(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        low, high, ex_low, ex_high = float_bounds(schema)
        multiple = schema.get("multipleOf")
        if multiple:
            k_low = None if low is None else math.ceil(low / multiple + (1e-9 if ex_low else 0))
            k_high = None if high is None else math.floor(high / multiple - (1e-9 if ex_high else 0))
            return st.integers(k_low, k_high).map(lambda k: round(k * multiple, 10))
        general = st.floats(min_value=low, max_value=high, exclude_min=ex_low and low is not None,
                            exclude_max=ex_high and high is not None, allow_nan=False, allow_infinity=False)
        edges: list[Any] = [low, high, 0, 0.5, -1.5, 1e-9, 1e15, 1]
        edges = [e for e in edges if e is not None and _within_float(e, low, high, ex_low, ex_high)]
        if low is not None and high is not None and ex_low:
            edges.append(math.nextafter(low, math.inf))
        if low is not None and high is not None and ex_high:
            edges.append(math.nextafter(high, -math.inf))
        return weighted([e for e in edges if _within_float(e, low, high, ex_low, ex_high)], general)

    def _string(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        high = int(high) if high is not None else None
        if high is not None and low > high:
            raise Unsupported(f"a string of at least {low} and at most {high} characters")
        pattern = schema.get("pattern")
        fmt = schema.get("format")
        if pattern:
            try:
                compiled = re.compile(pattern)
                general = st.from_regex(compiled, fullmatch=True)
            except (re.error, Exception) as exc:  # noqa: BLE001 - an unparsable pattern is unsupported
                raise Unsupported(f"the pattern {pattern!r} ({exc})") from None
            if low or high is not None:
                general = general.filter(lambda s: len(s) >= low and (high is None or len(s) <= high))
            return general
        if fmt in FORMATS:
            strategy = FORMATS[fmt](high) if fmt in ("uri", "url", "iri", "uri-reference", "multi-host-uri") \
                else FORMATS[fmt]()
            if low or high is not None:
                strategy = strategy.filter(lambda s: len(s) >= low and (high is None or len(s) <= high))
            return strategy
        general = st.text(min_size=low, max_size=high if high is not None else max(low + 40, 40))
        edges = ["a" * low, "a" * min(high, 5000) if high is not None else "a" * max(low, 1000)]
        for sample in [*NON_ASCII, *WHITESPACE, "0", "null", "<b>&amp;</b>", "' OR 1=1 --", "{}"]:
            fitted = fit_length(sample, low, high)
            if fitted is not None:
                edges.append(fitted)
        # Shortest first: shrinking ends on the first boundary that still fails.
        edges = sorted((e for e in edges if len(e) >= low and (high is None or len(e) <= high)), key=len)
        return weighted(edges, general)

    def _array(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        high = int(high) if high is not None else max(low, DEFAULT_MAX_ITEMS)
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        if prefix:
            head = st.tuples(*(self.value(s, refs) for s in prefix)).map(list)
            if items is False or len(prefix) >= high:
                return head
            tail = st.lists(self.value(items, refs), min_size=max(0, low - len(prefix)), max_size=high - len(prefix))
            return st.tuples(head, tail).map(lambda pair: pair[0] + pair[1])
        element = self.value(items, refs)
        if schema.get("uniqueItems"):
            return st.lists(element, min_size=low, max_size=high, unique_by=_canonical)
        return st.lists(element, min_size=low, max_size=high)

    def _object(self, schema: dict[str, Any], refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        properties = schema.get("properties") or {}
        required = [k for k in schema.get("required", []) if isinstance(k, str)]
        extra = schema.get("additionalProperties")
        fixed, optional = {}, {}
        for name in required:
            sub = properties.get(name, extra if isinstance(extra, dict) else {})
            fixed[name] = self.named(name, sub, refs)
        for name, sub in properties.items():
            if name not in fixed:
                optional[name] = self.named(name, sub, refs)
        order = list(properties)
        base = st.fixed_dictionaries(fixed, optional=optional).map(
            lambda drawn: {k: drawn[k] for k in sorted(drawn, key=lambda k: order.index(k) if k in order else 1 << 30)})
        free: st.SearchStrategy[Any] | None = None
        if isinstance(extra, dict) and extra:
            names = st.text(min_size=1, max_size=12).filter(lambda k: k not in properties)
            free = st.dictionaries(names, self.value(extra, refs), max_size=3)
        elif not properties and extra is not False and not required:
            free = st.dictionaries(st.text(min_size=1, max_size=12), json_values(), max_size=3)
        if free is None:
            return base
        return st.tuples(base, free).map(lambda pair: {**pair[1], **pair[0]})

    def named(self, name: str, schema: Any, refs: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
        """Values of a field called ``name``: also in the format its name implies (``cwtest.schema_hints``).

        Both kinds are drawn, the implied format first (so shrinking ends on it when either fails):
        a validator that refuses anything but a URL no longer refuses every request, and one that
        is looser than the name suggests still meets the edge cases.
        """
        hinted = with_implied_format(name, self.resolver.resolve(schema))
        if hinted is None:
            return self.value(schema, refs)
        try:
            return st.one_of(self.value(hinted, refs), self.value(schema, refs))
        except Unsupported:
            return self.value(schema, refs)

    def _terminal(self, schema: Any, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        """The values of a recursive schema that recurse no further: null, [], or required keys only."""
        schema = self.resolver.resolve(schema)
        if len(refs) > 4 * MAX_REF_DEPTH + 8:
            raise Unsupported("a recursive model that cannot end (a required field refers back to it)")
        if not isinstance(schema, dict):
            return json_values()
        for key in ("anyOf", "oneOf"):
            for branch in schema.get(key, []):
                if self.resolver.resolve(branch).get("type") == "null":
                    return st.none()
        kind = schema.get("type")
        if kind == "array" and not schema.get("minItems"):
            return st.just([])
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties") or {}
            required = {k: self.value(properties.get(k, {}), refs) for k in schema.get("required", [])}
            return st.fixed_dictionaries(required)
        return self.value(schema, refs)

    def merged(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.resolver.resolve(part)
            if "allOf" in part:
                part = self.merged(part)
            for key, val in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(val)
                elif key == "required":
                    merged["required"] = sorted(set(merged.get("required", [])) | set(val))
                elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems") and key in merged:
                    merged[key] = max(merged[key], val)
                elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems") and key in merged:
                    merged[key] = min(merged[key], val)
                else:
                    merged.setdefault(key, val)
        return merged

    def matcher(self, schema: Any) -> Any:
        """A predicate: does a value validate against ``schema`` (refs resolved in the document)?"""
        from jsonschema import Draft202012Validator

        root = {**schema, "components": self.document.get("components", {})} if isinstance(schema, dict) else schema
        validator = Draft202012Validator(root)
        return validator.is_valid

    # --- invalid values --------------------------------------------------------------------------

    def invalid_bodies(self, schema: Any) -> list[tuple[str, st.SearchStrategy[Any]]]:
        """(label, strategy of bodies with that one defect) for a request body."""
        resolved = self.resolver.resolve(schema)
        options: list[tuple[str, st.SearchStrategy[Any]]] = []
        if isinstance(resolved, dict) and _is_object(resolved):
            options += self._object_defects(resolved, "body", 0)
        for label, bad in self.invalid_values(schema, "body", top=True):
            options.append((label, st.just(bad) if not isinstance(bad, st.SearchStrategy) else bad))
        return options

    def _object_defects(self, schema: dict[str, Any], where: str,
                        depth: int) -> list[tuple[str, st.SearchStrategy[Any]]]:
        if "allOf" in schema:
            schema = self.merged(schema)
        properties = schema.get("properties") or {}
        required = [k for k in schema.get("required", []) if k in properties]
        if not properties:
            return []
        valid = self.value(schema)
        options: list[tuple[str, st.SearchStrategy[Any]]] = []
        for name in required:
            options.append((f"{where}.{name} (required) is missing",
                            valid.map(_without_key(name))))
        for name, sub in properties.items():
            for label, bad in self.invalid_values(sub, f"{where}.{name}"):
                bad_strategy = bad if isinstance(bad, st.SearchStrategy) else st.just(bad)
                options.append((label, st.tuples(valid, bad_strategy).map(_with_key(name))))
            resolved = self._single(sub)
            if depth < 2 and isinstance(resolved, dict) and _is_object(resolved) and name in required:
                for label, nested in self._object_defects(resolved, f"{where}.{name}", depth + 1):
                    options.append((label, st.tuples(valid, nested).map(_with_key(name))))
        return options

    def _single(self, schema: Any) -> Any:
        """The schema, or its only non-null branch (``X | None``)."""
        schema = self.resolver.resolve(schema)
        if isinstance(schema, dict) and "anyOf" in schema:
            branches = [self.resolver.resolve(b) for b in schema["anyOf"]]
            non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(non_null) == 1:
                return non_null[0]
        return schema

    def invalid_values(self, schema: Any, where: str, top: bool = False) -> list[tuple[str, Any]]:
        """(label, value) pairs that ``schema`` rejects and pydantic's lax mode does not coerce."""
        accepts = self.matcher(schema)
        resolved = self._single(schema)
        allowed = self.json_types(schema)
        out: list[tuple[str, Any]] = []
        candidates: list[tuple[str, str, Any]] = [
            ("object", "an object", {"cwtest": 1}), ("array", "an array", ["cwtest"]),
            ("string", "a non-numeric string", "cwtest-invalid"), ("null", "null", None),
            ("integer", "a number", 12345),
        ]
        for kind, label, value in candidates:
            if allowed is None or kind in allowed or (kind == "integer" and "number" in allowed):
                continue
            if kind == "integer" and (allowed - {"string"} or not isinstance(resolved, dict) or resolved.get("format")):
                # Numbers only for plain strings: pydantic takes them for floats, bools (0/1), datetimes
                # and durations (seconds), and Decimals.
                continue
            if accepts(value):
                continue
            out.append((f"{where} is {label}", value))
        if top or not isinstance(resolved, dict):
            return out
        out += [(label, value) for label, value in self._out_of_range(resolved, where)
                if not _accepts_safely(accepts, value)]
        out += self._bad_format(resolved, where)
        return out

    def _bad_format(self, schema: dict[str, Any], where: str) -> list[tuple[str, Any]]:
        """A string of the wrong format (JSON Schema validators ignore formats, pydantic does not)."""
        bad_formats = {"email": "not-an-email", "uri": "not a url", "date": "2024-13-45",
                       "date-time": "not-a-date", "uuid": "not-a-uuid", "time": "25:61:00", "ipv4": "999.1.1.1"}
        fmt = schema.get("format")
        if schema.get("type") == "string" and fmt in bad_formats and not schema.get("pattern"):
            return [(f"{where} is not a valid {fmt}", bad_formats[fmt])]
        return []

    def json_types(self, schema: Any, depth: int = 0) -> set[str] | None:
        """The JSON types a schema accepts (None: any), through references and unions."""
        schema = self.resolver.resolve(schema)
        if depth > 16 or not isinstance(schema, dict) or schema == {}:
            return None
        if "const" in schema or "enum" in schema:
            values = schema.get("enum", [schema.get("const")])
            return {json_type_name(v) for v in values}
        if "allOf" in schema:
            return self.json_types(self.merged(schema), depth + 1)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                found: set[str] = set()
                for branch in schema[key]:
                    types = self.json_types(branch, depth + 1)
                    if types is None:
                        return None
                    found |= types
                return found
        kind = schema.get("type")
        if isinstance(kind, list):
            return set(kind)
        if isinstance(kind, str):
            return {kind}
        if "properties" in schema or "additionalProperties" in schema:
            return {"object"}
        if "items" in schema or "prefixItems" in schema:
            return {"array"}
        return None

    def _out_of_range(self, schema: dict[str, Any], where: str) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if "enum" in schema or "const" in schema:
            members = schema.get("enum", [schema.get("const")])
            if all(isinstance(m, str) for m in members):
                out.append((f"{where} is not one of {members!r}", "cwtest-not-a-member"))
            elif all(isinstance(m, int) and not isinstance(m, bool) for m in members):
                out.append((f"{where} is not one of {members!r}", max(members) + 1000))
            return out
        kind = schema.get("type")
        if kind == "integer":
            low, high = bounds(schema, integer=True)
            if low is not None:
                out.append((f"{where} is below its minimum ({low})", low - 1))
            if high is not None:
                out.append((f"{where} is above its maximum ({high})", high + 1))
        elif kind == "number":
            low_f, high_f, ex_low, ex_high = float_bounds(schema)
            if low_f is not None:
                out.append((f"{where} is below its minimum ({low_f})", low_f if ex_low else low_f - 1))
            if high_f is not None:
                out.append((f"{where} is above its maximum ({high_f})", high_f if ex_high else high_f + 1))
        elif kind == "string":
            low = int(schema.get("minLength", 0))
            high = schema.get("maxLength")
            if low > 0:
                out.append((f"{where} is shorter than {low} characters", "a" * (low - 1)))
            if high is not None and int(high) < 100_000:
                out.append((f"{where} is longer than {high} characters", "a" * (int(high) + 1)))
            pattern = schema.get("pattern")
            if pattern:
                for candidate in ("", "cwtest invalid !", "0" * 3, "~"):
                    try:
                        if not re.search(pattern, candidate):
                            out.append((f"{where} does not match {pattern!r}", candidate))
                            break
                    except re.error:
                        break
        elif kind == "array":
            low = int(schema.get("minItems", 0))
            high = schema.get("maxItems")
            items = schema.get("items", {})
            if low > 0:
                out.append((f"{where} has fewer than {low} items",
                            st.lists(self.value(items), min_size=low - 1, max_size=low - 1)))
            if high is not None and int(high) < 1000:
                out.append((f"{where} has more than {high} items",
                            st.lists(self.value(items), min_size=int(high) + 1, max_size=int(high) + 1)))
        return out


_ANNOTATIONS = {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}


def _accepts_safely(accepts: Any, value: Any) -> bool:
    if isinstance(value, st.SearchStrategy):
        return False
    return bool(accepts(value))


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _without_key(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A body without ``name``."""
    return lambda body: {k: v for k, v in body.items() if k != name}


def _with_key(name: str) -> Callable[[tuple[dict[str, Any], Any]], dict[str, Any]]:
    """A drawn (body, value) pair as the body with ``name`` set to the value."""
    return lambda pair: {**pair[0], name: pair[1]}


def bounds(schema: dict[str, Any], integer: bool) -> tuple[int | None, int | None]:
    """Inclusive integer bounds from minimum/maximum/exclusive* (OpenAPI 3.1 numbers or 3.0 booleans)."""
    low_f, high_f, ex_low, ex_high = float_bounds(schema)
    low = high = None
    if low_f is not None:
        low = math.floor(low_f) + 1 if ex_low and float(low_f).is_integer() else math.ceil(low_f)
    if high_f is not None:
        high = math.ceil(high_f) - 1 if ex_high and float(high_f).is_integer() else math.floor(high_f)
    return low, high


def float_bounds(schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    low_excl = high_excl = False
    if isinstance(ex_low, bool):
        low_excl = ex_low and low is not None
    elif ex_low is not None and (low is None or ex_low >= low):
        low, low_excl = ex_low, True
    if isinstance(ex_high, bool):
        high_excl = ex_high and high is not None
    elif ex_high is not None and (high is None or ex_high <= high):
        high, high_excl = ex_high, True
    return low, high, low_excl, high_excl


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _within_float(value: float, low: float | None, high: float | None, ex_low: bool, ex_high: bool) -> bool:
    if low is not None and (value < low or (ex_low and value == low)):
        return False
    return high is None or not (value > high or (ex_high and value == high))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


#: What no HTTP header value can hold (controls but tab; DEL): a client cannot send them at all.
_NOT_IN_HEADERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _header_text(value: Any) -> str:
    """A header parameter's value as HTTP can carry it: without the characters no header may hold, and
    without surrounding whitespace (which servers strip)."""
    return _NOT_IN_HEADERS.sub("", _text(value)).strip(" \t")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
