"""The service catalog: the platform's contract for library services, as data.

One TOML file per service under ``rules/services/`` at the repository root. The wheel ships
those files inside this package as ``cwlint/_catalog/`` (see ``pyproject.toml``); a source
checkout (or an editable install) reads them from ``rules/`` directly.

This module is the bottom layer of cwkit: it imports nothing else from ``cwlint`` but
:mod:`cwlint.records`, so the linter's rules and ``cwtest``'s simulator read the same files
through the same classes.

Every fact carries a ``source`` (where it was seen) and a ``confidence``:

``documented``  stated in the platform's docs (prose, or a "Fixed: was ..." correction)
``source``      read in the ``codewords-client`` wheels
``example``     only seen in code examples of the docs or the design page
``historical``  only in an earlier revision of the docs
``inferred``    a deduction nobody confirmed

Rules turn confidence into severity: ``documented``/``source`` facts give errors (and may be
fixed); the others give warnings without a fix.

Two loaders build the same objects. :func:`load_catalog` validates every file against the
schema (:mod:`cwlint.catalog_schema`, pydantic) and names the first mistake; the tests run it
over the bundled files. :func:`default_catalog`, what a lint reads, builds the bundled files
straight from their TOML without pydantic (whose import alone costs about 100 ms of every
cold start); when that fails, it asks the validating loader why. tests/test_catalog.py checks
that both loaders give equal values for every bundled file.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path  # LibCST imports it too: free in a run that lints

from cwlint.records import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, Literal, TypeAlias

    Confidence: TypeAlias = Literal["documented", "source", "example", "historical", "inferred"]

#: Confidences strong enough for an error (and a fix); the rest give warnings.
FIRM: frozenset[str] = frozenset({"documented", "source"})


class CatalogError(Exception):
    """A catalog file is missing, unreadable or breaks the schema. The message is one line."""


class _Unknown(Exception):
    """The fast loader met a key it does not know (the validating loader will say which)."""


def _known(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict) or not data.keys() <= set(names):
        raise _Unknown(data)
    return data


class InputSpec(Record):
    """One key of a service's ``inputs`` (or a nested property of one)."""

    __slots__ = ("type", "required", "required_when", "allowed", "description", "items", "properties", "source", "confidence")

    def __init__(
        self,
        type: str,
        required: bool = False,
        required_when: dict[str, str | list[str]] | None = None,
        allowed: list[str | int | float | bool] | None = None,
        description: str = "",
        items: InputSpec | None = None,
        properties: dict[str, InputSpec] | None = None,
        source: str | None = None,
        confidence: Confidence | None = None,
    ) -> None:
        self.type = type
        self.required = required
        #: Required only when other inputs hold these values, e.g. ``{operation = "set"}``.
        self.required_when = required_when
        self.allowed = allowed
        self.description = description
        self.items = items
        self.properties = properties
        #: Top-level inputs must name both; nested ones inherit them from their parent.
        self.source = source
        self.confidence = confidence

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        data = _known(data, cls.__slots__)
        items, properties = data.get("items"), data.get("properties")
        return cls(
            data["type"],
            data.get("required", False),
            data.get("required_when"),
            data.get("allowed"),
            data.get("description", ""),
            cls.from_dict(items) if items is not None else None,
            {key: cls.from_dict(value) for key, value in properties.items()} if properties is not None else None,
            data.get("source"),
            data.get("confidence"),
        )

    def is_required(self, inputs: dict[str, Any]) -> bool | None:
        """Whether this key is required given the literal ``inputs``; None when undecidable."""
        if self.required:
            return True
        if not self.required_when:
            return False
        for key, wanted in self.required_when.items():
            if key not in inputs:
                return None
            values = [wanted] if isinstance(wanted, str) else wanted
            if inputs[key] not in values:
                return False
        return True


class Rename(Record):
    """A key that users (and older docs) write under a wrong name."""

    __slots__ = ("to", "source", "confidence")

    def __init__(self, to: str, source: str, confidence: Confidence) -> None:
        self.to = to
        self.source = source
        self.confidence = confidence

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rename:
        data = _known(data, cls.__slots__)
        return cls(data["to"], data["source"], data["confidence"])


class Response(Record):
    """The answer's shape, as a JSON Schema (the simulator validates its answers with it)."""

    __slots__ = ("json_schema", "source", "confidence", "shape_known")

    def __init__(self, json_schema: dict[str, Any], source: str, confidence: Confidence,
                 shape_known: bool = True) -> None:
        self.json_schema = json_schema  #: ``schema`` in the file
        self.source = source
        self.confidence = confidence
        #: False when the schema says nothing of what a caller reads (Composio's tool results: "any
        #: object"): the simulator's answer is then a guess, and a failure after it is inconclusive.
        self.shape_known = shape_known

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Response:
        data = _known(data, ("schema", "source", "confidence", "shape_known"))
        return cls(data["schema"], data["source"], data["confidence"], data.get("shape_known", True))


class EnvFromInput(Record):
    """An env var the workflow must declare for a literal input value (pipedream's apps)."""

    __slots__ = ("input", "template", "source", "confidence")

    def __init__(self, input: str, template: str, source: str, confidence: Confidence) -> None:
        self.input = input
        #: ``{VALUE}`` is replaced by the input value, upper-cased, ``-`` turned into ``_``.
        self.template = template
        self.source = source
        self.confidence = confidence

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvFromInput:
        data = _known(data, cls.__slots__)
        return cls(data["input"], data["template"], data["source"], data["confidence"])

    def env_var(self, value: str) -> str:
        return self.template.replace("{VALUE}", value.upper().replace("-", "_"))


class ToolParameter(Record):
    """One parameter of a tool: its JSON type, what it is, and the values it takes if enumerated."""

    __slots__ = ("name", "type", "description", "enum")

    def __init__(self, name: str, type: str, description: str, enum: list[str | int | float | bool] | None = None) -> None:
        self.name = name
        self.type = type
        self.description = description
        self.enum = enum

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolParameter:
        data = _known(data, cls.__slots__)
        return cls(data["name"], data["type"], data["description"], data.get("enum"))


class Tool(Record):
    """A tool a variant offers its caller (an MCP server's ``tools/list``); parameters inherit
    the tool's ``source`` and ``confidence``."""

    __slots__ = ("name", "description", "parameters", "source", "confidence")

    def __init__(self, name: str, description: str, parameters: list[ToolParameter], source: str, confidence: Confidence) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.source = source
        self.confidence = confidence

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tool:
        data = _known(data, cls.__slots__)
        parameters = [ToolParameter.from_dict(p) for p in data.get("parameters", [])]
        return cls(data["name"], data["description"], parameters, data["source"], data["confidence"])


class Variant(Record):
    """One contract of a service, chosen by the request's path and whether a body is sent."""

    __slots__ = (
        "name", "path", "body", "format", "closed", "description", "source", "confidence",
        "inputs", "renamed", "response", "env_from_input", "tools",
    )

    def __init__(
        self,
        name: str,
        source: str,
        confidence: Confidence,
        path: str = "",
        body: bool | None = None,
        format: str = "library",
        closed: bool = False,
        description: str = "",
        inputs: dict[str, InputSpec] | None = None,
        renamed: dict[str, Rename] | None = None,
        response: Response | None = None,
        env_from_input: EnvFromInput | None = None,
        tools: list[Tool] | None = None,
    ) -> None:
        self.name = name
        #: Path after ``/run/{service_id}/``, without surrounding slashes; ``""`` is the root. A
        #: segment ``{name}`` matches any one segment (``api/v3/tools/execute/{tool_slug}``).
        self.path = path
        #: True: applies when inputs are sent; False: when none are; None: either.
        self.body = body
        #: ``library``: CodeWords' own ``inputs`` dict; ``vendor``: a vendor's wire format.
        self.format = format
        #: Whether keys the catalog does not list are errors.
        self.closed = closed
        self.description = description
        self.source = source
        self.confidence = confidence
        self.inputs: dict[str, InputSpec] = inputs if inputs is not None else {}
        self.renamed: dict[str, Rename] = renamed if renamed is not None else {}
        self.response = response
        self.env_from_input = env_from_input
        #: The tools the variant offers, in the order it lists them (devx_mcp's MCP server).
        self.tools: list[Tool] = tools if tools is not None else []

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        data = _known(data, cls.__slots__)
        response, env = data.get("response"), data.get("env_from_input")
        return cls(
            name=data["name"],
            source=data["source"],
            confidence=data["confidence"],
            path=data.get("path", ""),
            body=data.get("body"),
            format=data.get("format", "library"),
            closed=data.get("closed", False),
            description=data.get("description", ""),
            inputs={key: InputSpec.from_dict(value) for key, value in data.get("inputs", {}).items()},
            renamed={key: Rename.from_dict(value) for key, value in data.get("renamed", {}).items()},
            response=Response.from_dict(response) if response is not None else None,
            env_from_input=EnvFromInput.from_dict(env) if env is not None else None,
            tools=[Tool.from_dict(tool) for tool in data.get("tools", [])],
        )

    def matches(self, path: str, has_body: bool | None) -> bool:
        if not _path_matches(self.path, path.strip("/")):
            return False
        return self.body is None or has_body is None or self.body == has_body


def _path_matches(pattern: str, path: str) -> bool:
    """``pattern`` equals ``path``, a ``{name}`` segment standing for any one non-empty segment."""
    if "{" not in pattern:
        return pattern == path
    wanted, given = pattern.split("/"), path.split("/")
    return len(wanted) == len(given) and all(
        (w.startswith("{") and w.endswith("}") and g) or w == g for w, g in zip(wanted, given, strict=True))


class Models(Record):
    """Model-name prefixes an LLM service accepts (for provider mismatches)."""

    __slots__ = ("prefixes", "source", "confidence")

    def __init__(self, prefixes: list[str], source: str, confidence: Confidence) -> None:
        self.prefixes = prefixes
        self.source = source
        self.confidence = confidence

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Models:
        data = _known(data, cls.__slots__)
        return cls(data["prefixes"], data["source"], data["confidence"])


class Service(Record):
    __slots__ = ("id", "summary", "source", "confidence", "models", "variants")

    def __init__(
        self,
        id: str,
        summary: str,
        source: str,
        confidence: Confidence,
        models: Models | None = None,
        variants: list[Variant] | None = None,
    ) -> None:
        self.id = id
        self.summary = summary
        self.source = source
        self.confidence = confidence
        self.models = models
        self.variants: list[Variant] = variants if variants is not None else []

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Service:
        data = _known(data, cls.__slots__)
        models = data.get("models")
        return cls(
            data["id"],
            data["summary"],
            data["source"],
            data["confidence"],
            Models.from_dict(models) if models is not None else None,
            [Variant.from_dict(variant) for variant in data.get("variants", [])],
        )

    def variant(self, path: str = "", has_body: bool | None = True) -> Variant | None:
        """The variant a request to ``path`` (with or without a body) addresses."""
        for variant in self.variants:
            if variant.matches(path, has_body):
                return variant
        return None


class Catalog(Record):
    __slots__ = ("services",)

    def __init__(self, services: dict[str, Service]) -> None:
        self.services = services

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        """From ``{"services": {id: service table}}`` as the files hold them (not validated)."""
        return cls({key: Service.from_dict(value) for key, value in _known(data, cls.__slots__)["services"].items()})

    def __contains__(self, service_id: object) -> bool:
        return service_id in self.services

    def get(self, service_id: str) -> Service | None:
        return self.services.get(service_id)

    @property
    def ids(self) -> list[str]:
        return sorted(self.services)


# -- loading -----------------------------------------------------------------------------------


def catalog_dir() -> Path:
    """Where the TOML files are: inside the installed package, else the checkout's ``rules/``."""
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "_catalog", "services")
    if os.path.isdir(packaged):
        return Path(packaged)
    return Path(here).parent / "rules" / "services"


def _read(path: Path) -> dict[str, Any]:
    import tomllib  # only to parse: a run builds the catalog from the cache's catalog.json

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: invalid TOML: {exc}") from None


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise CatalogError(f"{directory}: service catalog not found")
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogError(f"{directory}: service catalog is empty")
    return files


def _checked_id(service: Service, path: Path) -> Service:
    if service.id != path.stem:
        raise CatalogError(f"{path}: id {service.id!r} does not match the file name")
    return service


def load_service(path: Path) -> Service:
    """One file, validated against the schema (pydantic): CatalogError names the first mistake."""
    from pydantic import ValidationError

    from cwlint.catalog_schema import first_error, validate_service

    data = _read(path)
    try:
        validate_service(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {first_error(exc)}") from None
    return _checked_id(Service.from_dict(data), path)


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate every service file; raise CatalogError naming the first bad entry."""
    files = _files(directory or catalog_dir())
    return Catalog({service.id: service for service in map(load_service, files)})


_PRELOADED: dict[str, dict[str, Any]] | None = None


def use_bundled_data(data: dict[str, dict[str, Any]] | None) -> None:
    """Build :func:`default_catalog` from ``data`` (what :func:`bundled_data` returned in an
    earlier run of the same code) rather than from the files: the runner keeps it in its cache,
    whose key covers every catalog file's size and mtime, and parsing TOML costs a cold start.
    None: read the files again."""
    global _PRELOADED
    _PRELOADED = data
    bundled_data.cache_clear()
    default_catalog.cache_clear()


@functools.cache
def bundled_data() -> dict[str, dict[str, Any]]:
    """Every bundled service file's data (its TOML, unvalidated), by file name without ``.toml``."""
    if _PRELOADED is not None:
        return _PRELOADED
    return {path.stem: _read(path) for path in _files(catalog_dir())}


@functools.cache
def default_catalog() -> Catalog:
    """The bundled catalog, loaded once per process, without validating it again.

    The bundled files are validated by the tests; should one still not build (an edited
    checkout), the validating loader says where, or the error is reported as it is.
    """
    services: dict[str, Service] = {}
    for stem, data in bundled_data().items():
        path = catalog_dir() / f"{stem}.toml"
        try:
            service = Service.from_dict(data)
        except (_Unknown, KeyError, TypeError, AttributeError, ValueError) as exc:
            load_service(path)  # raises CatalogError naming the mistake
            raise CatalogError(f"{path}: cannot be read as a service ({type(exc).__name__}: {exc})") from None
        services[service.id] = _checked_id(service, path)
    return Catalog(services)
