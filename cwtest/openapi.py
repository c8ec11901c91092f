"""The app's OpenAPI document: its routes, their request and response schemas, and response checks.

One reading of the document for everything that sends requests (the smoke call, the search, the
plugin's collection check) and everything that judges answers:

* :func:`routes_of` lists every operation as a :class:`Route`: its parameters, its body (JSON,
  a URL-encoded form or a multipart form) and its documented responses. A route cwtest cannot
  build a request for carries the reason in ``unsupported``.
* :class:`Resolver` resolves local ``$ref`` s against the document, merging the keywords written
  beside a reference (pydantic puts ``description`` and ``default`` there).
* :func:`response_schema` and :func:`response_problem` judge a 2xx body against the documented
  model (``jsonschema``, draft 2020-12, as FastAPI emits OpenAPI 3.1); the validators are cached
  per document and schema.

Imports no Hypothesis: ``cwtest run --examples 0`` reads documents too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
JSON, FORM, MULTIPART = "json", "form", "multipart"
_FORM_TYPES = {"application/x-www-form-urlencoded": FORM, "multipart/form-data": MULTIPART}


class Unsupported(Exception):
    """The schema asks for something cwtest does not build; the message says what."""


@dataclass(frozen=True)
class Param:
    name: str
    location: str  #: path, query or header
    required: bool
    schema: Any


@dataclass
class Route:
    """One operation of the OpenAPI document."""

    method: str
    template: str
    params: tuple[Param, ...] = ()
    #: The body's schema (JSON, or the form's object schema); None when the route takes none.
    body: Any = None
    body_required: bool = False
    #: ``json``, ``form`` (URL-encoded) or ``multipart``; None without a body.
    body_media: str | None = None
    responses: dict[str, Any] = field(default_factory=dict)
    unsupported: str | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


def routes_of(document: dict[str, Any]) -> list[Route]:
    """Every operation of the document, in its order; ``unsupported`` says why one cannot be called."""
    resolver = Resolver(document)
    routes = []
    for template, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters", [])
        for method in METHODS:
            spec = item.get(method)
            if not isinstance(spec, dict):
                continue
            route = Route(method.upper(), template, responses=spec.get("responses") or {})
            try:
                _fill_route(route, resolver, [*shared, *spec.get("parameters", [])], spec.get("requestBody"))
            except Unsupported as exc:
                route.unsupported = str(exc)
            routes.append(route)
    return routes


def _fill_route(route: Route, resolver: Resolver, parameters: list[Any], body: Any) -> None:
    params = []
    for raw in parameters:
        param = resolver.resolve(raw)
        where = param.get("in")
        if where == "cookie":
            if param.get("required"):
                raise Unsupported(f"the required cookie {param.get('name')!r}")
            continue
        params.append(Param(param["name"], where, bool(param.get("required") or where == "path"),
                            param.get("schema", {})))
    route.params = tuple(params)
    if not body:
        return
    body = resolver.resolve(body)
    content = body.get("content") or {}
    media = next((t for t in content if t == "application/json" or t.endswith("+json")), None)
    if media is not None:
        route.body, route.body_media = content[media].get("schema", {}), JSON
    else:
        media = next((t for t in content if t in _FORM_TYPES), None)
        if media is None:
            if body.get("required"):
                raise Unsupported(f"a request body of type {', '.join(content) or 'unknown'} (only JSON and "
                                  f"form bodies)")
            return
        route.body, route.body_media = content[media].get("schema", {}), _FORM_TYPES[media]
    route.body_required = bool(body.get("required"))


class Resolver:
    """Resolves local ``$ref`` against the document, merging keywords beside the reference."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def target(self, ref: str) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise Unsupported(f"the external reference {ref!r}")
        node: Any = self.document
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise Unsupported(f"the unresolvable reference {ref!r}")
            node = node[part]
        return node

    def resolve(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            target = self.target(schema["$ref"])
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra} if extra and isinstance(target, dict) else target
            seen += 1
            if seen > 32:
                raise Unsupported("a reference cycle")
        return schema


# --- responses -----------------------------------------------------------------------------------

def response_schema(document: dict[str, Any], method: str, template: str, status: int) -> dict[str, Any] | None:
    """The JSON schema documented for this status (exact, ``2XX``, then ``default``), or None."""
    operation = ((document.get("paths") or {}).get(template) or {}).get(method.lower()) or {}
    responses = operation.get("responses") or {}
    resolver = Resolver(document)
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        spec = responses.get(key)
        if spec is None:
            continue
        try:
            spec = resolver.resolve(spec)
        except Unsupported:
            return None
        content = (spec or {}).get("content") or {}
        media = next((t for t in content if t == "application/json" or t.endswith("+json")), None)
        if media is None:
            return None
        schema = content[media].get("schema")
        return schema if schema not in (None, {}, True) else None
    return None


def response_problem_detail(document: dict[str, Any], method: str, template: str, status: int | None,
                            body: Any, text: str) -> tuple[str, str, str] | None:
    """(schema path, rule, readable message) of the first way a 2xx body breaks its documented model.

    ``body`` is the parsed JSON (else the text), ``text`` the raw body.
    """
    if status is None or not 200 <= status < 300:
        return None
    schema = response_schema(document, method, template, status)
    if schema is None:
        return None
    if not text and body is None:
        return ("(the body)", "type", "(the body): the answer is empty but the route documents a JSON model")
    if isinstance(body, str) and not _is_json(text):
        return ("(the body)", "type", "(the body): the answer is not JSON but the route documents a JSON model")
    validator = _validator(document, schema)
    errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return None
    error = errors[0]
    path = "/".join("*" if isinstance(p, int) else str(p) for p in error.absolute_path) or "(the body)"
    shown = "/".join(str(p) for p in error.absolute_path) or "(the body)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return path, str(error.validator), f"{shown}: {error.message[:300]}{more}"


def response_problem(document: dict[str, Any], method: str, template: str, response: Any) -> str | None:
    """How a 2xx body breaks the route's documented response schema, or None (for regression tests).

    ``response`` is a :class:`cwtest.results.Response` (what ``send`` returns in a test).
    """
    detail = response_problem_detail(document, method, template, response.status, response.body, response.text)
    return None if detail is None else detail[2]


_VALIDATORS: dict[tuple[int, str], Any] = {}


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    key = (id(document), json.dumps(schema, sort_keys=True, default=str))
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator({**schema, "components": document.get("components", {})})
    return _VALIDATORS[key]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
