"""Deterministic, plausible JSON values: from a JSON Schema, or shaped like an example.

The simulator answers LLM calls whose ``example_output`` is either a JSON Schema (pydantic's
``model_json_schema()``) or a sample answer, and answers catalog services whose shape is known
only as a schema. hypothesis-jsonschema would do the first, but it breaks on current Hypothesis
(research: harness.md §0), and a fuzzer's edge cases are the wrong thing here anyway: an answer
should look like what a real service would say, and be the same for the same seed and request.

Everything takes a :class:`random.Random` the caller seeded; nothing here reads global state.
"""

from __future__ import annotations

import random
import re
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

_WORDS = (
    "account analysis answer brief change customer data detail draft team feature growth "
    "insight issue launch market message note order plan price product project report "
    "request result review sales schedule signal source status summary support task "
    "ticket trend update user value version website weekly workflow"
).split()

_NAMES = ("alex", "sam", "jordan", "taylor", "morgan", "casey", "riley", "jamie")

#: Keys whose JSON Schema marks a value as a schema rather than a sample (the issue's test).
SCHEMA_MARKERS = ("type", "properties", "$defs")


class GenerationError(ValueError):
    """The schema asks for something this generator cannot produce (a message says what)."""


def is_json_schema(value: Any) -> bool:
    """Whether an ``example_output`` is a JSON Schema rather than a sample answer."""
    return isinstance(value, dict) and any(marker in value for marker in SCHEMA_MARKERS)


def sentence(rng: random.Random, words: int = 8) -> str:
    """A short sentence of ordinary words, capitalised and ended with a full stop."""
    text = " ".join(rng.choice(_WORDS) for _ in range(max(1, words)))
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, sentences: int = 3) -> str:
    return " ".join(sentence(rng, rng.randint(6, 12)) for _ in range(sentences))


def _slug(rng: random.Random) -> str:
    return "-".join(rng.choice(_WORDS) for _ in range(2))


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def string_for(name: str, rng: random.Random, fmt: str | None = None) -> str:
    """A string that fits a field called ``name`` (or a JSON Schema ``format``)."""
    key = name.lower()
    if fmt in ("uri", "url", "iri") or key in ("url", "link", "href", "sourceurl") or key.endswith("_url"):
        return f"https://example.com/{_slug(rng)}"
    if fmt == "email" or "email" in key:
        return f"{rng.choice(_NAMES)}.{rng.choice(_NAMES)}@example.com"
    if fmt == "date-time" or key.endswith("_at") or key in ("timestamp", "created", "updated"):
        moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 500_000))
        return moment.isoformat().replace("+00:00", "Z")
    if fmt == "date" or key.endswith("date"):
        return (datetime(2025, 1, 1) + timedelta(days=rng.randint(0, 700))).date().isoformat()
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if key == "id" or key.endswith("_id"):
        return f"{key.removesuffix('_id') or 'id'}_{_hex(rng, 12)}"
    if "name" in key:
        return rng.choice(_NAMES).title()
    if "html" in key:
        return f"<html><body><h1>{sentence(rng, 3)}</h1><p>{paragraph(rng, 2)}</p></body></html>"
    if "markdown" in key:
        return f"# {sentence(rng, 3)}\n\n{paragraph(rng, 2)}\n"
    if key in ("summary", "description", "text", "content", "response", "message", "body"):
        return paragraph(rng, 2)
    return sentence(rng, rng.randint(3, 7))


def _literal_suffix(pattern: str) -> str | None:
    """The literal a ``...<literal>$`` pattern ends with, when the rest is unconstrained."""
    match = re.fullmatch(r"(?:\.\*)?((?:\\.|[^\\.^$*+?()\[\]{}|])+)\$", pattern)
    if not match:
        return None
    return re.sub(r"\\(.)", r"\1", match.group(1))


def _fit_string(value: str, schema: dict[str, Any], rng: random.Random) -> str:
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    while len(value) < low:
        value += " " + rng.choice(_WORDS)
    if high is not None:
        value = value[:high]
    pattern = schema.get("pattern")
    if pattern and not re.search(pattern, value):
        suffix = _literal_suffix(pattern)
        candidate = f"{_slug(rng)}{suffix}" if suffix is not None else None
        if candidate is None or not re.search(pattern, candidate):
            raise GenerationError(f"cannot generate a string matching {pattern!r}")
        value = candidate
    return value


def _number(schema: dict[str, Any], rng: random.Random, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
    if "exclusiveMinimum" in schema:
        low += 1 if integer else 0.01
    if "exclusiveMaximum" in schema:
        high -= 1 if integer else 0.01
    if integer:
        return rng.randint(int(low), max(int(low), int(high)))
    return round(rng.uniform(float(low), float(max(low, high))), 2)


class SchemaGenerator:
    """Builds one instance of a JSON Schema; ``$ref`` resolves against the schema's root."""

    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise GenerationError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def value(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        if depth > 12:
            raise GenerationError("schema nests too deep (a recursive $ref?)")
        if schema is True or not isinstance(schema, dict) or not schema:
            return string_for(name, self.rng)
        if "$ref" in schema:
            return self.value(self.resolve(schema["$ref"]), name, depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        if "allOf" in schema:
            return self.value(self._merged(schema), name, depth + 1)
        for key in ("anyOf", "oneOf"):
            if key in schema and ("type" in schema or "properties" in schema):
                return self.value(self._narrowed(schema, key), name, depth + 1)
            if key in schema:
                options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")]
                return self.value((options or schema[key])[0], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            # An LLM answers with content where it may: prefer the richer type, never null first.
            kinds = [k for k in kind if k != "null"] or kind
            kind = "object" if "object" in kinds and depth == 0 else kinds[0]
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return self._typed(kind, schema, name, depth)

    def _narrowed(self, schema: dict[str, Any], key: str) -> dict[str, Any]:
        """A typed schema whose ``anyOf``/``oneOf`` only constrains it: take the first branch.

        E.g. JSON-RPC's ``anyOf: [{required: [result]}, {required: [error]}]``: the answer gets
        ``result`` and leaves out ``error``, which only another branch asks for.
        """
        base = {k: v for k, v in schema.items() if k != key}
        first, *others = [self.resolve(o["$ref"]) if "$ref" in o else o for o in schema[key]]
        wanted = set(base.get("required", [])) | set(first.get("required", []))
        unwanted = {p for other in others for p in other.get("required", [])} - wanted
        merged = {**base, **{k: v for k, v in first.items() if k not in ("required", "properties")}}
        properties = {**base.get("properties", {}), **first.get("properties", {})}
        merged["properties"] = {k: v for k, v in properties.items() if k not in unwanted}
        merged["required"] = sorted(wanted)
        return merged

    def _merged(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.resolve(part["$ref"]) if "$ref" in part else part
            for key, val in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(val)
                elif key == "required":
                    merged["required"] = sorted(set(merged.get("required", [])) | set(val))
                else:
                    merged.setdefault(key, val)
        return merged

    def _typed(self, kind: str, schema: dict[str, Any], name: str, depth: int) -> Any:
        if kind == "object":
            props = schema.get("properties", {})
            return {key: self.value(sub, key, depth + 1) for key, sub in props.items()}
        if kind == "array":
            low = schema.get("minItems", 1)
            high = max(low, min(schema.get("maxItems", 3), 3))
            count = self.rng.randint(low, high)
            return [self.value(schema.get("items", {}), name, depth + 1) for _ in range(count)]
        if kind == "string":
            return _fit_string(string_for(name, self.rng, schema.get("format")), schema, self.rng)
        if kind == "integer":
            return _number(schema, self.rng, integer=True)
        if kind == "number":
            return _number(schema, self.rng, integer=False)
        if kind == "boolean":
            # "success" is the one boolean every caller branches on; a plausible answer succeeds.
            return True if name == "success" else self.rng.random() < 0.5
        if kind == "null":
            return None
        raise GenerationError(f"unknown JSON Schema type {kind!r}")


def from_schema(schema: dict[str, Any], rng: random.Random) -> Any:
    """One plausible instance of ``schema``."""
    return SchemaGenerator(schema, rng).value(schema)


def shaped_like(example: Any, rng: random.Random, name: str = "") -> Any:
    """A new value with the example's shape: same keys, same types, other contents."""
    if isinstance(example, dict):
        return {key: shaped_like(value, rng, str(key)) for key, value in example.items()}
    if isinstance(example, list):
        if not example:
            return []
        return [shaped_like(example[0], rng, name) for _ in range(rng.randint(1, 3))]
    if isinstance(example, bool):
        return True if name == "success" else rng.random() < 0.5
    if isinstance(example, int):
        return rng.randint(0, max(10, abs(example) * 2))
    if isinstance(example, float):
        return round(rng.uniform(0, max(1.0, abs(example) * 2)), 2)
    if isinstance(example, str):
        return string_for(name, rng)
    return example


def token(rng: random.Random, prefix: str, length: int = 24) -> str:
    """An id in a vendor's style, such as ``chatcmpl-...`` or ``msg_...``."""
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))
